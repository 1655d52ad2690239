"""A payment costs two durable units: its record with its hold, and its answer with its debit. One
refused before the hold is recorded with its answer; a repeat of it gets that same answer."""
from __future__ import annotations

from switch.ledger import txns
from tests.support.bank_answers import postpaid_total_minor
from tests.support.handling import Handling
from tests.support.harness import switch_with_bank

CUSTOMER = "532110000123"


def flow_units(running) -> list[str]:
    """The units the flows run from now on: those asked for while the gateway handles a terminal
    request (the switch's housekeeping beats run in tasks of their own and are left out). Told by the
    task, not by the name of the unit's function: compiled with mypyc, the flows' have no __qualname__."""
    names: list[str] = []
    handling = Handling(running.app.terminals)
    db = running.db
    original_unit = db.unit

    async def unit(work):
        if handling.now():
            names.append(getattr(work, "__qualname__", type(work).__name__))
        return await original_unit(work)
    db.unit = unit
    return names


async def stored(running, rrn: str):
    return await running.db.read(lambda tx: txns.find_txn_by_rrn(tx, rrn))


async def test_an_approved_payment_is_two_durable_units_record_with_hold_and_answer_with_debit(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch)
    quote = await terminal.inquiry("PLNPST", CUSTOMER)
    units = flow_units(running)
    paid = await terminal.pay("PLNPST", CUSTOMER, int(quote[4]))
    assert paid[39] == "00"
    assert len(units) == 2, units
    txn = await stored(running, paid[37])
    assert txn.state == "approved" and txn.response[39] == "00" and txn.bank_request[37] == paid[37]
    assert 10_000_000_00 - (await running.balances())[0] == postpaid_total_minor()
    assert await running.books() == []


async def test_a_payment_refused_before_its_hold_is_recorded_in_one_unit_with_its_rrn(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch)
    quote = await terminal.inquiry("PLNPST", CUSTOMER)
    asked = len(peer.received)
    units = flow_units(running)
    refused = await terminal.pay("PLNPST", CUSTOMER, int(quote[4]) - 100)
    assert refused[39] == "13" and len(refused[37]) == 12
    assert len(units) == 1 and len(peer.received) == asked, units
    txn = await stored(running, refused[37])
    assert txn.state == "declined" and txn.rc == "13"
    assert txn.response == {n: v for n, v in refused.fields.items() if n != 64}


async def test_a_repeat_of_a_refused_payment_gets_the_stored_answer_and_other_content_gets_94(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch)
    quote = await terminal.inquiry("PLNPST", CUSTOMER)
    fields = terminal.base("500000", int(quote[4]) - 100, **{"48": "PLNPST" + CUSTOMER.ljust(13)})
    first = await terminal.send("0200", dict(fields))
    again = await terminal.send("0200", dict(fields))
    assert first[39] == "13" and again.fields == first.fields
    fields[4] = f"{int(quote[4]):012d}"   # the right amount now, under the same key
    assert (await terminal.send("0200", fields))[39] == "94"
    assert await running.balances() == (10_000_000_00, 10_000_000_00)
    count = await running.db.read(lambda tx: tx.fetchval(
        "SELECT COUNT(*) FROM txns WHERE kind = 'payment'"))
    assert count == 1


async def test_a_repeat_of_an_approved_postpaid_payment_gets_the_approval_not_88(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch)
    quote = await terminal.inquiry("PLNPST", CUSTOMER)
    fields = terminal.base("500000", int(quote[4]), **{"48": "PLNPST" + CUSTOMER.ljust(13)})
    first = await terminal.send("0200", dict(fields))
    again = await terminal.send("0200", dict(fields))   # its bills are paid now: the checks say 88
    assert first[39] == "00" and again.fields == first.fields
    assert 10_000_000_00 - (await running.balances())[0] == postpaid_total_minor()
