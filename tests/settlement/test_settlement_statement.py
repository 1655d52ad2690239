"""`agent statement`: top-ups, payments, reversals and commissions with a running balance."""
from __future__ import annotations

import csv
import io
from argparse import Namespace
from datetime import datetime, timedelta, timezone

from switch.ledger import money, txns
from switch.settlement.statement import build_statement
from switch.settlement.statement_report import statement_command

from settlement_bed import AGENT, DAY, TERMINAL, add_agents

_today = datetime.now(timezone(timedelta(hours=7))).date()
# a range around today (WIB) that holds whatever the tests post, even across midnight
FROM, TO = (_today - timedelta(days=1)).isoformat(), (_today + timedelta(days=1)).isoformat()
LATER = (_today + timedelta(days=2)).isoformat()


async def pay(db, amount: int, *, reverse: bool = False) -> int:
    """A payment held, debited by the bank's approval and, when asked, credited back."""
    async def work(tx):
        stan = f"{amount % 999999:06d}"
        txn_id = await txns.insert_txn(tx, kind="payment", terminal_id=TERMINAL, agent_id=AGENT, mti="0200",
                                       stan=stan, f7="1124101010", proc_code="500000", product="PLNPST",
                                       customer="532110000123", amount=amount, request_hash=stan,
                                       request={11: stan}, business_date=DAY)
        await txns.update_txn(tx, txn_id, rrn=f"{txn_id:012d}", state="approved", bank_id="BANKA")
        await money.place_hold(tx, txn_id, AGENT, amount, DAY, None)
        await money.debit_hold(tx, txn_id, "BANKA")
        if reverse:
            await money.credit_back(tx, txn_id, "BANKA")
        return txn_id
    return await db.unit(work)


async def books(db):
    await add_agents(db, AGENT)
    await db.unit(lambda tx: money.topup(tx, AGENT, 1_000_000_00, "TOPUP-1"))
    first = await pay(db, 400_000_00)
    await pay(db, 50_000_00, reverse=True)
    await db.unit(lambda tx: money.post_commission(tx, AGENT, 3000_00, f"{DAY}:BANKA:{AGENT}", DAY))
    return first


async def test_the_statement_lists_each_movement_with_its_running_balance(db):
    first = await books(db)
    statement = await build_statement(db, AGENT, FROM, TO)
    assert statement.opening == 0
    assert [(line.kind, line.amount, line.balance) for line in statement.lines] == [
        ("topup", 1_000_000_00, 1_000_000_00),
        ("payment", -400_000_00, 600_000_00),
        ("payment", -50_000_00, 550_000_00),
        ("reversal", 50_000_00, 600_000_00),
        ("commission", 3000_00, 603_000_00)]
    assert statement.lines[1].ref == f"{first:012d}" and statement.lines[1].business_date == DAY
    assert statement.lines[0].ref == "TOPUP-1"
    assert statement.closing == (await db.read(lambda tx: money.balances(tx, AGENT)))[0]


async def test_movements_before_the_range_make_the_opening_balance(db):
    await books(db)
    statement = await build_statement(db, AGENT, LATER, LATER)
    assert statement.lines == [] and statement.opening == statement.closing == 603_000_00


async def test_the_statement_as_csv_on_stdout_starts_with_the_opening_balance(db, capsys):
    await books(db)
    args = Namespace(agent_id=AGENT, date_from=FROM, date_to=TO, csv="-")
    assert await statement_command(db, args) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:3] == ["posted_at", "kind", "ref"]
    assert rows[1][1] == "opening" and rows[1][-1] == "0.00"
    assert [r[1] for r in rows[2:]] == ["topup", "payment", "payment", "reversal", "commission"]
    assert rows[3][6:] == ["400000.00", "", "600000.00"]
    assert rows[-1][7:] == ["3000.00", "603000.00"]


async def test_the_statement_prints_as_a_table_with_opening_and_closing_lines(db, capsys):
    await books(db)
    args = Namespace(agent_id=AGENT, date_from=FROM, date_to=TO, csv=None)
    assert await statement_command(db, args) == 0
    out = capsys.readouterr().out
    assert "opening balance" in out and "closing balance" in out and "Rp 603.000" in out


async def test_a_range_that_ends_before_it_starts_is_a_usage_error(db, capsys):
    args = Namespace(agent_id=AGENT, date_from="2026-11-25", date_to="2026-11-24", csv=None)
    assert await statement_command(db, args) == 2
    assert "after --to" in capsys.readouterr().err
