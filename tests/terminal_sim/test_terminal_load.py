"""The load generator, bounded in count, against the stand-in switch."""
from __future__ import annotations

from terminal_peer import AGENT
from terminal_peer import KEY

from terminal_sim.load import LoadReport, run_load


async def test_load_runs_exactly_the_requested_count_over_several_terminals(peer):
    terminals = [(f"T000000{i}", AGENT, KEY) for i in (1, 2, 3)]
    mix = {"inquiry:PLNPST": 2, "pay:PLNPRA": 1, "balance": 1, "echo": 1}
    report = await run_load(peer.host, peer.port, terminals, total=150, concurrency=12, mix=mix,
                            progress=False, seed=7)
    print("\n".join(report.lines()))
    assert report.operations == 150 and sum(report.by_rc.values()) == 150 == sum(report.by_operation.values())
    assert report.by_rc == {"00": 150}
    assert {m[41] for m in peer.received} == {"T0000001", "T0000002", "T0000003"}
    prepaid = [m for m in peer.received if m.get(3) == "500000"]
    assert prepaid and all(m[4] == f"{(20_000 + 2_500) * 100:012d}" for m in prepaid)


async def test_load_counts_declines_by_response_code(peer):
    report = await run_load(peer.host, peer.port, [("T0000001", AGENT, KEY)], total=20, concurrency=4,
                            mix={"inquiry:PLNPST": 1}, customers={"PLNPST": ["532110000123", "999999999999"]},
                            progress=False)
    assert report.by_rc == {"00": 10, "14": 10}


async def test_load_stops_at_its_time_bound(peer):
    report = await run_load(peer.host, peer.port, [("T0000001", AGENT, KEY)], total=10**9, concurrency=4,
                            max_seconds=0.5, progress=False)
    assert 0 < report.operations < 10**9


def test_percentiles_are_nearest_rank():
    report = LoadReport(100, 2.0, {"00": 100}, [float(i) for i in range(1, 101)])
    assert (report.p50, report.p90, report.p99, report.max, report.tps) == (50.0, 90.0, 99.0, 100.0, 50.0)
    assert LoadReport(0, 0.0, {}, []).p99 == 0.0
