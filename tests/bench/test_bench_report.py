"""The benchmark's verdicts: each missed target says, from the same run, what held it back."""
from __future__ import annotations

from tests.bench.bench_report import Phase, targets


def phase(label: str, rate: float, *, busy: float = 0.8, db_ms: float | None = None) -> Phase:
    return Phase(label, int(rate * 8), 8.0, 10.0, 15.0, 0.5, 50.0, {"00": int(rate * 8)}, busy, (4.0, 9.0),
                 machine_busy=0.9, db_server_cpu_ms=db_ms)


def run(lite_payments: float, pg_payments: float) -> list[str]:
    relay = {key: phase("relay", 3000) for key in ("inquiry", "payment", "open")}
    lite = {"inquiry": phase("sqlite", 2400), "payment": phase("sqlite", lite_payments), "open": phase("sqlite", 1000)}
    pg = {key: phase("pg", pg_payments, db_ms=1.19) for key in ("inquiry", "payment", "open")}
    return targets(relay, lite, pg, 1000)


def test_a_run_that_meets_every_target_prints_only_the_verdicts():
    lines = run(lite_payments=1800, pg_payments=1000)
    assert [line.split(":")[0] for line in lines] == [
        "target payments >= 0.50 of relay", "target inquiries >= 0.70 of relay", "target p99 <= 20 ms at 1,000/s",
        "target PostgreSQL >= 0.50 of SQLite payments"]
    assert all(line.endswith("met") or "met;" in line for line in lines)


def test_a_missed_target_is_followed_by_where_its_time_went_and_where_to_look_next():
    lines = run(lite_payments=1200, pg_payments=400)
    assert lines[0] == "target payments >= 0.50 of relay: 0.400 MISSED"
    assert lines[1] == ("  where it went: the switch's event-loop thread 80% busy at 0.50 ms of CPU per request"
                        " (the machine 90%), durable units p50 / p99 4.0 / 9.0 ms")
    pg = lines.index("target PostgreSQL >= 0.50 of SQLite payments: 0.333 MISSED")
    assert lines[pg + 1] == ("  where it went: the machine 90% busy; per payment, PostgreSQL's server 1.19 ms of CPU"
                             " and the switch 0.50 ms")
    assert lines[-1] == "  the profile of each measurement: --profile DIR; what was tried: README, Performance"
