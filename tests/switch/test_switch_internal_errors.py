"""An unexpected fault while handling a terminal's request — here a storage failure injected at each
database call of a payment and of an inquiry in turn, through a wrapper around the real database — is
answered 96, MAC'd, echoing the request; and the money stays right: a hold never sent is released, a
payment that may have reached the bank is reversed (or advised), the books balance."""
from __future__ import annotations

import pytest

from switch.wire import verify
from tests.support.bank_answers import postpaid_total_minor
from tests.support.faults import FaultyDatabase
from tests.support.harness import switch_with_bank, wait_until
from tests.support.peers import KEY

ECHOED = (3, 4, 7, 11, 12, 13, 18, 41, 42, 49)


async def faulty_switch(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch)
    faulty = FaultyDatabase(running.app.svc.db)
    running.app.svc.db = faulty  # the flows' door to storage; the real database stays behind it
    faulty.watch(running.app.terminals)  # counts the calls made while it handles a request
    return running, peer, terminal, faulty


async def settled(running) -> bool:
    async def quiet() -> bool:
        pending = await running.db.read(lambda tx: tx.fetchval("SELECT COUNT(*) FROM saf WHERE state = 'pending'"))
        held = await running.db.read(lambda tx: tx.fetchval("SELECT COUNT(*) FROM holds WHERE state = 'held'"))
        return pending == 0 and held == 0
    return await wait_until(quiet, timeout=20)


def assert_malfunction(terminal, request_stan: str, answer) -> None:
    assert answer[39] == "96", answer
    raw = terminal.raw_responses[-1]
    assert verify(raw, KEY)
    sent = terminal.requests[request_stan]
    for n in ECHOED:
        if n in sent and not (n == 4 and sent[3] == "380000"):
            assert answer[n] == sent[n], n


async def calls_of(faulty, request) -> list:
    faulty.arm(None)
    answer = await request()
    faulty.disarm()
    assert answer[39] == "00"
    return list(faulty.calls)


@pytest.mark.parametrize("product,customer", [("PLNPST", "532110000123"), ("PLNPRA", "14234567890")])
async def test_a_storage_failure_at_any_step_of_a_payment_is_96_and_moves_no_money(start_switch, product, customer):
    running, peer, terminal, faulty = await faulty_switch(start_switch)
    amount = postpaid_total_minor() if product == "PLNPST" else 20_000_00

    async def pay(i: int, fail_at: int | None):
        if product == "PLNPST":
            assert (await terminal.inquiry(product, f"{customer[:-2]}{i:02d}"))[39] == "00"
        faulty.arm(fail_at)
        try:
            return await terminal.pay(product, f"{customer[:-2]}{i:02d}", amount)
        finally:
            faulty.disarm()

    assert (await pay(99, None))[39] == "00"
    clean = list(faulty.calls)
    # the lookup, the checks (a postpaid bill's inquiry; a prepaid token within the cap reads nothing),
    # the record with the hold, the stored outcome
    assert len(clean) >= (4 if product == "PLNPST" else 3), clean
    before = await running.balances()
    for step, call in enumerate(clean):
        answer = await pay(step, step)
        assert faulty.failed == [call], (step, call, faulty.failed)
        assert_malfunction(terminal, answer[11], answer)
        assert await settled(running), (step, call)
        reached = [m for m in peer.received if m.mti == "0200" and m.get(37) == answer.get(37) and 37 in answer]
        followed = [m for m in peer.received if m.mti in ("0400", "0220") and reached
                    and m[90][4:10] == reached[0][11]]
        assert not reached or followed, (step, call)  # what may have reached the bank was reversed/advised
        status = await terminal.status(answer)
        assert verify(terminal.raw_responses[-1], KEY)
        if product == "PLNPRA" and status[39] == "00":  # the advice completed the purchase (token kept)
            assert followed and status[48], (step, call)
            before = (before[0] - amount, before[1] - amount)
        else:
            assert status[39] in ("05", "96", "25"), (step, call, status[39])
        assert await running.balances() == before, (step, call)
        assert await running.books() == []
    assert terminal.bad_macs == []


async def test_a_storage_failure_at_any_step_of_an_inquiry_is_96_and_nothing_is_remembered(start_switch):
    running, peer, terminal, faulty = await faulty_switch(start_switch)
    clean = await calls_of(faulty, lambda: terminal.inquiry("PLNPST", "532110000199"))
    assert len(clean) >= 3, clean
    for step, call in enumerate(clean):
        customer = f"5321100001{step:02d}"
        faulty.arm(step)
        answer = await terminal.inquiry("PLNPST", customer)
        faulty.disarm()
        assert faulty.failed == [call]
        assert_malfunction(terminal, answer[11], answer)
        remembered = await running.db.read(lambda tx: tx.fetchval(
            "SELECT COUNT(*) FROM last_inquiry WHERE customer = ?", customer))
        assert remembered == 0, (step, call)
        assert (await terminal.inquiry("PLNPST", customer))[39] == "00"  # the next one is served
    assert await running.books() == [] and terminal.bad_macs == []
