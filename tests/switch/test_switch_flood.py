"""A short run of tests/chaos/chaos_flood.py: the non-timing properties of the overload limits with a
real switch process, an abusive terminal and a flood of idle and half-open connections."""
from __future__ import annotations

import pytest

from tests.chaos.chaos_flood import run


@pytest.mark.slow
async def test_an_abusive_terminal_and_a_connection_flood_leave_the_well_behaved_served(tmp_path):
    report = await run(seconds=3, terminals=5, rate=10, abusive_requests=2000, flood=400, workdir=tmp_path,
                       limits={"max_connections": 100, "max_connections_per_address": 6})
    report.print()
    # every well-behaved request was answered, and approved: none was shed for the abuser's sake
    assert set(report.codes_before) == {"00"} and set(report.codes_during) == {"00"}
    assert len(report.before_ms) == len(report.during_ms) == 30
    # the abuser was refused and cut off; the flood met the connection caps (each is tested on its own
    # in test_switch_overload)
    assert report.shed["terminal_in_flight"] + report.shed["terminal_rate"] > 0
    assert report.shed["abuse"] >= 1 and report.abuser.get("abuser_cut_off", 0) >= 1
    assert report.shed["address"] + report.shed["connections"] > 0
    # nothing crashed, memory stayed bounded, and the switch drained cleanly on SIGTERM
    assert report.alive_after and report.exit_code == 0
    assert max(mb for _, mb in report.rss_mb) < 300
