"""The console's default periods are the switch's own days, not the machine's or UTC's."""
from __future__ import annotations

from datetime import datetime, timezone

from switch.console.pages_agents import default_days


def test_an_agent_statement_after_midnight_in_jakarta_defaults_to_the_new_local_day():
    half_past_midnight_wib = datetime(2026, 12, 1, 17, 30, tzinfo=timezone.utc)
    assert default_days("Asia/Jakarta", half_past_midnight_wib) == ("2026-11-25", "2026-12-02")


def test_an_agent_statement_before_midnight_in_jakarta_defaults_to_that_day():
    evening_wib = datetime(2026, 12, 1, 16, 30, tzinfo=timezone.utc)
    assert default_days("Asia/Jakarta", evening_wib) == ("2026-11-24", "2026-12-01")
