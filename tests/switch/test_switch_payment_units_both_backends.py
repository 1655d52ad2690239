"""A payment's units behave the same on SQLite (Python units) and on PostgreSQL (one statement each,
switch/ledger/units.py): approvals, refusals 51/61/88, a bank's decline, repeats, and an answer that
comes after the payment was decided elsewhere."""
from __future__ import annotations

import asyncio

import pytest

from switch.flows.common import answer_fields
from switch.flows.payment import PREPAID_MAX_DENOMINATION
from switch.ledger import txns, units
from switch.ledger.states import TxnState
from switch.wire.field48 import parse_response
from tests.support.bank_answers import good_bank, postpaid_total_minor
from tests.support.harness import AGENT, switch_with_bank
from tests.support.nodes import backend_database
from tests.support.peers import echo_response
from tests.support.postgres import BACKENDS

POSTPAID, PREPAID = "532110000123", "14234567890"
DEPOSIT = 10_000_000_00
@pytest.fixture(params=BACKENDS)
async def database(request):
    async with backend_database(request.param, "ppob_units") as url:
        yield url


async def stored(running, rrn: str) -> txns.Txn:
    txn = await running.db.read(lambda tx: txns.find_txn_by_rrn(tx, rrn))
    assert txn is not None
    return txn


def one_statements(db) -> list[str]:
    """The one-statement units run from now on (PostgreSQL's, switch/ledger/units.py)."""
    calls: list[str] = []
    if hasattr(db, "one_statement"):
        original = db.one_statement

        async def counted(sql, *args, **kwargs):
            calls.append(sql)
            return await original(sql, *args, **kwargs)
        db.one_statement = counted
    return calls


async def hold_of(running, txn_id: int):
    return await running.db.read(lambda tx: tx.fetchone("SELECT state, amount FROM holds WHERE txn_id = ?", txn_id))


async def test_an_approved_payment_is_debited_once_and_its_record_has_what_the_bank_was_sent(
        database, start_switch):
    running, peer, terminal = await switch_with_bank(start_switch, database=database)
    quote = await terminal.inquiry("PLNPST", POSTPAID)
    statements = one_statements(running.db)
    timed = sum(running.db.unit_latency.counts)
    paid = await terminal.pay("PLNPST", POSTPAID, int(quote[4]))
    assert paid[39] == "00"
    assert statements == ([units.HOLD_CALL, units.ANSWER_CALL] if database else [])
    assert sum(running.db.unit_latency.counts) - timed >= 2  # both units timed (ppob_db_unit_seconds)
    txn = await stored(running, paid[37])
    sent = [m for m in peer.received if m.mti == "0200" and m[3] == "500000"]
    assert txn.state == TxnState.APPROVED and txn.rc == "00" and txn.bank_id == "BANKA"
    assert txn.bank_request == sent[0].fields and txn.bank_request[37] == paid[37] == txn.rrn
    assert txn.bank_stan == sent[0][11] and txn.response == {n: v for n, v in paid.fields.items() if n != 64}
    assert (await hold_of(running, txn.txn_id))["state"] == "debited"
    assert DEPOSIT - (await running.balances())[0] == postpaid_total_minor()
    assert (await terminal.pay("PLNPST", POSTPAID, int(quote[4])))[39] == "88"  # its bills are paid
    assert await running.books() == []


async def test_a_payment_the_deposit_does_not_cover_is_refused_51_and_leaves_only_its_record(
        database, start_switch):
    running, peer, terminal = await switch_with_bank(start_switch, database=database, deposit=1_000_00)
    refused = await terminal.pay("PLNPRA", PREPAID, 20_000_00)
    assert refused[39] == "51" and len(refused[37]) == 12
    txn = await stored(running, refused[37])
    assert txn.state == TxnState.DECLINED and txn.rc == "51" and txn.rrn == refused[37]
    assert await hold_of(running, txn.txn_id) is None
    assert not [m for m in peer.received if m.mti == "0200" and m[3] == "500000"]
    assert await running.balances() == (1_000_00, 1_000_00)
    assert await running.books() == []


async def test_a_payment_over_the_daily_limit_is_refused_61_and_does_not_count_against_it(
        database, start_switch):
    running, peer, terminal = await switch_with_bank(start_switch, database=database, daily_limit=30_000_00)
    assert (await terminal.pay("PLNPRA", PREPAID, 20_000_00))[39] == "00"
    assert (await terminal.pay("PLNPRA", PREPAID, 20_000_00))[39] == "61"
    assert (await terminal.pay("PLNPRA", PREPAID, 10_000_00))[39] == "00"  # the limit reached exactly
    used = await running.db.read(lambda tx: tx.fetchval("SELECT used FROM daily_usage WHERE agent_id = ?", AGENT))
    assert used == 30_000_00
    assert await running.books() == []


def declining(msg):
    if msg.mti == "0200" and msg[3] == "500000":
        return echo_response(msg, "05")
    return good_bank(msg)


async def test_a_payment_the_bank_declines_gives_its_hold_and_its_bills_back(
        database, start_switch):
    running, peer, terminal = await switch_with_bank(start_switch, declining, database=database,
                                                     daily_limit=10_000_000_00)
    quote = await terminal.inquiry("PLNPST", POSTPAID)
    declined = await terminal.pay("PLNPST", POSTPAID, int(quote[4]))
    assert declined[39] == "05"
    txn = await stored(running, declined[37])
    assert txn.state == TxnState.DECLINED and (await hold_of(running, txn.txn_id))["state"] == "released"
    assert await running.balances() == (DEPOSIT, DEPOSIT)
    paid_bills = await running.db.read(lambda tx: tx.fetchval("SELECT COUNT(*) FROM paid_bills"))
    used = await running.db.read(lambda tx: tx.fetchval("SELECT used FROM daily_usage WHERE agent_id = ?", AGENT))
    assert paid_bills == 0 and used == 0
    assert await running.books() == []


async def test_a_repeated_payment_gets_the_first_answer_and_is_paid_once_even_sent_twice_at_once(
        database, start_switch):
    running, peer, terminal = await switch_with_bank(start_switch, database=database)
    fields = terminal.base("500000", 20_000_00, **{"48": "PLNPRA" + PREPAID.ljust(13)})
    first, twin = await asyncio.gather(terminal.send("0200", dict(fields)), terminal.send("0200", dict(fields)))
    again = await terminal.send("0200", dict(fields))
    assert first[39] == "00" and twin.fields == first.fields == again.fields
    assert sum(1 for m in peer.received if m.mti == "0200" and m[3] == "500000") == 1
    assert await running.balances() == (DEPOSIT - 20_000_00, DEPOSIT - 20_000_00)
    fields[4] = f"{30_000_00:012d}"  # other content under the same key
    assert (await terminal.send("0200", fields))[39] == "94"
    assert await running.books() == []


async def test_an_answer_that_comes_after_the_payment_was_decided_elsewhere_moves_no_money(
        database, start_switch):
    running, peer, terminal = await switch_with_bank(start_switch, database=database, timeout_s=10)
    peer.delay_s = 1.5
    paying = asyncio.create_task(terminal.pay("PLNPRA", PREPAID, 20_000_00))

    async def sent() -> list[int]:
        return await running.db.read(lambda tx: txns.txn_ids_of_node(tx, running.app.svc.node_id,
                                                                     (TxnState.SENT,)))
    assert await wait_until_async(sent)
    (txn_id,) = await sent()
    txn = await running.db.read(lambda tx: txns.get_known_txn(tx, txn_id))
    request = terminal.requests[txn.stan]
    elsewhere = answer_fields(request.fields, "999999999999", txn.business_date or "", "68")  # another node's

    async def decide(tx) -> bool:
        return await txns.set_state_if(tx, txn_id, (TxnState.SENT,), state=TxnState.ADVISING, rc="68",
                                       response=elsewhere)
    assert await running.db.unit(decide)
    answer = await paying
    assert answer[39] == "68" and answer[37] == "999999999999"
    txn = await running.db.read(lambda tx: txns.get_known_txn(tx, txn_id))
    assert txn.state == TxnState.ADVISING and txn.response == elsewhere
    assert (await hold_of(running, txn_id))["state"] == "held"  # the advice decides it, not this answer
    assert await running.balances() == (DEPOSIT, DEPOSIT - 20_000_00)
    assert await running.books() == []


async def wait_until_async(probe, timeout: float = 10.0) -> bool:
    for _ in range(int(timeout / 0.05)):
        if await probe():
            return True
        await asyncio.sleep(0.05)
    return False



async def test_an_inquiry_is_two_units_its_record_and_its_answer_with_the_quote_remembered(
        database, start_switch):
    running, peer, terminal = await switch_with_bank(start_switch, database=database)
    statements = one_statements(running.db)
    fields = terminal.base("380000", 0, **{"48": "PLNPST" + POSTPAID.ljust(13)})
    quote = await terminal.send("0200", dict(fields))
    assert quote[39] == "00"
    assert statements == ([txns.INSERT_TXN, units.ANSWER_CALL] if database else [])
    remembered = await running.db.read(lambda tx: txns.last_inquiry(tx, "PLNPST", POSTPAID))
    txn = await by_rrn(running, quote[37])
    assert remembered is not None and remembered["txn_id"] == txn.txn_id and remembered["bank_id"] == "BANKA"
    assert remembered["amount"] == int(quote[4]) and remembered["field48"] == quote[48]
    assert remembered["periods"] and txn.state == TxnState.DONE and txn.rrn == quote[37]
    assert (await terminal.send("0200", dict(fields))).fields == quote.fields  # a repeat: the first answer
    later = await terminal.inquiry("PLNPST", POSTPAID)
    again = await running.db.read(lambda tx: txns.last_inquiry(tx, "PLNPST", POSTPAID))
    assert again is not None and again["txn_id"] == (await by_rrn(running, later[37])).txn_id > txn.txn_id
    prepaid_quote = await terminal.inquiry("PLNPRA", PREPAID)
    prepaid = await running.db.read(lambda tx: txns.last_inquiry(tx, "PLNPRA", PREPAID))
    assert prepaid_quote[39] == "00" and prepaid is not None and prepaid["periods"] == []


async def by_rrn(running, rrn: str) -> txns.Txn:
    return await running.db.read(lambda tx: txns.get_known_txn(tx, int(rrn)))  # the RRN is the txn id


async def test_a_prepaid_token_above_the_largest_denomination_is_refused_61_before_the_bank_is_asked(
        database, start_switch):
    running, peer, terminal = await switch_with_bank(start_switch, database=database,
                                                     deposit=2 * PREPAID_MAX_DENOMINATION)
    quote = await terminal.inquiry("PLNPRA", PREPAID)
    admin = parse_response(quote[48]).admin_fee * 100
    over = await terminal.pay("PLNPRA", PREPAID, PREPAID_MAX_DENOMINATION + admin + 100)
    assert over[39] == "61"
    assert not [m for m in peer.received if m.mti == "0200" and m[3] == "500000"]
    largest = await terminal.pay("PLNPRA", PREPAID, PREPAID_MAX_DENOMINATION + admin)
    assert largest[39] == "00"
    assert [int(m[4]) for m in peer.received if m.mti == "0200" and m[3] == "500000"] == [
        PREPAID_MAX_DENOMINATION + admin]
    assert await running.books() == []
