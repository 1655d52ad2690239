"""The operator's audit trail through the real commands: `ppob-switch` changes to money and access
(beside a running `serve` for cutover and settle) are listed by `ppob-switch audit`, as a table and CSV,
with who (the OS user or --operator), when, what, before and after."""
from __future__ import annotations

import csv
import getpass
import io
import json
from datetime import date, timedelta

import pytest

from tests.e2e.conftest import Programs
from tests.e2e.test_e2e_three_programs import AGENT, TERMINAL, set_up


@pytest.fixture(scope="module")
def loket(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit")
    programs = Programs(folder)
    try:
        yield set_up(folder, programs)
    finally:
        programs.end_all()


def window() -> tuple[str, str]:
    today = date.today()
    return (today - timedelta(days=2)).isoformat(), (today + timedelta(days=2)).isoformat()


def trail(loket) -> list[dict]:
    start, end = window()
    done = loket.switch("audit", "--from", start, "--to", end, "--csv", "-")
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def test_every_change_to_money_or_access_is_listed_with_who_what_and_before_after(loket):
    assert loket.switch("agent", "topup", AGENT, "50000", "--ref", "TRF-AUDIT-1", "--operator", "alice").returncode == 0
    assert loket.switch("agent", "block", AGENT, "--operator", "alice").returncode == 0
    assert loket.switch("agent", "unblock", AGENT).returncode == 0
    assert loket.switch("terminal", "block", TERMINAL, "--operator", "bob").returncode == 0
    assert loket.switch("terminal", "unblock", TERMINAL, "--operator", "bob").returncode == 0
    cutover = loket.switch("cutover", "--operator", "carol")
    assert cutover.returncode == 0, cutover.stderr
    closed = cutover.stdout.strip()
    settle = loket.switch("settle", "--date", closed, "--operator", "carol")
    assert settle.returncode == 0, settle.stderr

    rows = trail(loket)
    actions = [(r["action"], r["subject"], r["actor"], r["source"]) for r in rows]
    me = getpass.getuser()
    assert actions[:3] == [("agent.add", AGENT, me, "cli"), ("agent.topup", AGENT, me, "cli"),
                           ("terminal.add", TERMINAL, me, "cli")]  # set_up provisioned as the OS user
    assert actions[3:] == [
        ("agent.topup", AGENT, "alice", "cli"), ("agent.block", AGENT, "alice", "cli"),
        ("agent.unblock", AGENT, me, "cli"), ("terminal.block", TERMINAL, "bob", "cli"),
        ("terminal.unblock", TERMINAL, "bob", "cli"), ("cutover", closed, "carol", "cli"),
        ("settle", closed, "carol", "cli")]
    topup = rows[3]
    assert json.loads(topup["before"])["ledger"] + 50000_00 == json.loads(topup["after"])["ledger"]
    assert json.loads(rows[4]["before"]) == {"blocked": False} and json.loads(rows[4]["after"]) == {"blocked": True}
    assert json.loads(rows[8]["after"])["closed"] == closed
    assert json.loads(rows[9]["after"])["banks"]["BANKA"]["state"] == "settled"
    assert all(r["at_utc"].endswith("Z") for r in rows)
    assert loket.key not in json.dumps(rows) and loket.key.lower() not in json.dumps(rows)


def test_the_table_lists_the_same_records_and_a_window_without_any_says_0(loket):
    start, end = window()
    table = loket.switch("audit", "--from", start, "--to", end)
    assert table.returncode == 0 and "terminal.add" in table.stdout and "agent.topup" in table.stdout
    empty = loket.switch("audit", "--from", "2020-01-01", "--to", "2020-01-02")
    assert empty.returncode == 0 and "0 record(s)" in empty.stdout


def test_a_window_that_ends_before_it_starts_is_exit_2_with_one_line(loket):
    done = loket.switch("audit", "--from", "2026-02-02", "--to", "2026-02-01")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "--from" in done.stderr


def test_the_csv_goes_to_a_file_when_named(loket, tmp_path):
    start, end = window()
    target = tmp_path / "audit.csv"
    done = loket.switch("audit", "--from", start, "--to", end, "--csv", str(target))
    assert done.returncode == 0 and str(target) in done.stdout
    assert next(csv.reader(target.open()))[:3] == ["audit_id", "at_utc", "actor"]
