"""The whole day with the real switch and the simulated bank: pay, cutover, a late reversal, settle
(0510 00), reconcile the bank's own file, settle again (nothing changes)."""
from __future__ import annotations

from argparse import Namespace
from datetime import date
from pathlib import Path

import pytest

from switch.ledger import money, txns
from switch.ledger.storage.sqlite import SqliteDatabase
from switch.admin import AdminError, submit
from switch.settlement.files import read_ctl, read_rcn
from switch.settlement.recon import recon_command
from switch.settlement.report import print_settlement
from tests.support.harness import AGENT, bank, wait_until

bank_sim = pytest.importorskip("bank_sim.host")
from bank_sim.book import Book  # noqa: E402

SHARES = [{"code": "PLNPST", "agent_share": 1500}, {"code": "PLNPRA", "agent_share": 1000},
          {"code": "PLNNTL", "agent_share": 2000}]
pytestmark = pytest.mark.slow


def f90(original: dict[int, str]) -> str:
    return "0200" + original[11] + original[7] + "0" * 22


async def payment_state(db, rrn: str) -> str:
    found = await db.read(lambda tx: txns.find_txn_by_rrn(tx, rrn))
    return found.state


@pytest.fixture
async def day_with_the_bank(start_switch, tmp_path):
    book = Book.generate(seed=11, size=50)
    host = bank_sim.BankHost(book, bank_id="BANKA", settlement_dir=tmp_path / "bank")
    port = await host.listen("127.0.0.1", 0)
    running = await start_switch([bank("BANKA", port)], products=SHARES)
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    terminal = await running.terminal().connect()
    assert (await terminal.sign_on())[39] == "00"
    cli_db = SqliteDatabase(str(tmp_path / "switch.db"))  # what the CLI opens beside `serve`
    await cli_db.open()
    yield running, host, terminal, book.examples(), cli_db
    await terminal.close()
    await cli_db.close()
    await host.stop()


async def test_a_settled_day_agrees_with_the_bank_and_settling_again_changes_nothing(day_with_the_bank, tmp_path,
                                                                                     capsys):
    running, host, terminal, examples, cli_db = day_with_the_bank
    db = running.db
    quote = await terminal.inquiry("PLNPST", examples["postpaid"])
    postpaid = await terminal.pay("PLNPST", examples["postpaid"], int(quote[4]))
    prepaid = await terminal.pay("PLNPRA", examples["prepaid"], (20_000 + 2_500) * 100)
    quote = await terminal.inquiry("PLNNTL", examples["nontaglis"])
    nontaglis_request = terminal.base("500000", int(quote[4]), **{"48": "PLNNTL" + examples["nontaglis"].ljust(13)})
    nontaglis = await terminal.send("0200", nontaglis_request)
    assert [postpaid[39], prepaid[39], nontaglis[39]] == ["00", "00", "00"]
    business_date = running.app.svc.calendar.current

    with pytest.raises(AdminError, match="still open"):
        await submit(cli_db, "settle", {"date": business_date, "bank": None}, timeout_s=20)
    closed = await submit(cli_db, "cutover", {}, timeout_s=20)
    assert closed["closed"] == business_date and closed["banks"]["BANKA"]

    # the agent takes the non-taglis payment back after the cutover: it stays in its own date
    reversal = terminal.base("500000", int(nontaglis_request[4]), **{"48": nontaglis_request[48],
                                                                     "90": f90(nontaglis_request)})
    assert (await terminal.send("0400", reversal))[39] == "00"

    async def reversed_at_the_bank() -> bool:
        return await payment_state(db, nontaglis[37]) == "reversed"
    assert await wait_until(reversed_at_the_bank, timeout=15)

    balance_before = (await running.balances())[0]
    result = await submit(cli_db, "settle", {"date": business_date, "bank": None}, timeout_s=60)
    (outcome,) = result["banks"]
    assert (outcome["rc"], outcome["state"]) == ("00", "settled")
    assert (outcome["credits_count"], outcome["debits_count"]) == (3, 1)
    assert outcome["credits_amount"] == int(postpaid[4]) + int(prepaid[4]) + int(nontaglis[4])
    assert outcome["debits_amount"] == int(nontaglis[4])
    bills = len(_periods(outcome["files"][0], postpaid[37]))
    commission = (bills * 1500 + 1000) * 100
    assert (await running.balances())[0] - balance_before == commission
    assert print_settlement(result) == 0
    host.write_day(date.fromisoformat(business_date))  # the bank's end-of-day file, after the reversal

    bank_file = tmp_path / "bank" / f"BANKA_{business_date.replace('-', '')}.RCN"
    args = Namespace(bank="BANKA", date=business_date, file=str(bank_file), csv=None)
    assert await recon_command(cli_db, running.app.config, args) == 0
    assert "everything matches" in capsys.readouterr().out
    # like with like: the switch's file says what the bank's says, field for field (times aside)
    ours, theirs = list(read_rcn(outcome["files"][0])), list(read_rcn(bank_file))
    assert [line[:11] for line in ours] == [line[:11] for line in theirs]
    assert read_ctl(outcome["files"][1]).totals() == read_ctl(bank_file.with_suffix(".CTL")).totals()

    files = [Path(f).read_bytes() for f in outcome["files"]]
    again = await submit(cli_db, "settle", {"date": business_date, "bank": "BANKA"}, timeout_s=60)
    assert again["banks"][0]["state"] == "settled" and again["banks"][0]["commissions"]["posted_now"] == 0
    assert [Path(f).read_bytes() for f in outcome["files"]] == files
    assert (await running.balances())[0] - balance_before == commission
    assert await db.read(money.check_books) == []
    row = await db.read(lambda tx: tx.fetchone("SELECT state, rc FROM settlements WHERE bank_id = 'BANKA'"))
    assert (row["state"], row["rc"]) == ("settled", "00")
    assert AGENT in open(outcome["files"][0]).read()


def _periods(rcn_file: str, rrn: str) -> list[str]:
    for text in open(rcn_file).read().splitlines()[1:]:
        parts = text.split("|")
        if parts[0] == rrn:
            return parts[6].split(",")
    raise AssertionError(f"{rrn} is not in {rcn_file}")


async def test_settle_without_a_running_switch_fails_with_one_line(tmp_path):
    db = SqliteDatabase(str(tmp_path / "lonely.db"))
    await db.open()
    try:
        with pytest.raises(AdminError, match="no running switch"):
            await submit(db, "settle", {"date": "2026-11-24", "bank": None}, timeout_s=1)
    finally:
        await db.close()
