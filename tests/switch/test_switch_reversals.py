"""§8.3 reversals over real loopback sockets: the switch's own (after a bank timeout) and the
terminal's (0400 for an approved payment), against a bank scripted from the contract."""
from __future__ import annotations

import asyncio
from functools import partial

from structlog.testing import capture_logs

from switch.ledger import txns
from switch.wire import HI, Message, encode, frame
from tests.support.bank_answers import good_bank
from tests.support.harness import bank, switch_with_bank, wait_until
from tests.support.peers import ScriptedBank, echo_response

CUSTOMER = "532110000123"
AMOUNT = 100_000_00
DEPOSIT = 10_000_000_00


class ReversalDesk:
    """A bank that never answers payments it is told to ignore and answers reversals only when the
    test opens the desk, with the code the test chooses."""

    def __init__(self, *, answer_payments: bool = False, reversal_rc: str = "00") -> None:
        self.answer_payments = answer_payments
        self.reversal_rc = reversal_rc
        self.open = False

    def __call__(self, msg):
        if msg.mti == "0200" and msg[3] == "500000" and not self.answer_payments:
            return None
        if msg.mti in ("0400", "0401"):
            return echo_response(msg, self.reversal_rc) if self.open else None
        return good_bank(msg)


up_with = partial(switch_with_bank, timeout_s=1)  # a bank that answers late, soon


def reversals(peer: ScriptedBank) -> list:
    return [m for m in peer.received if m.mti in ("0400", "0401")]


def payments_sent(peer: ScriptedBank) -> list:
    return [m for m in peer.received if m.mti == "0200" and m[3] == "500000"]


async def payment(running, rrn: str) -> txns.Txn:
    return await running.db.read(lambda tx: txns.find_txn_by_rrn(tx, rrn))


async def state_becomes(running, rrn: str, *states: str) -> bool:
    async def reached() -> bool:
        return (await payment(running, rrn)).state in states
    return await wait_until(reached)


async def flags(running, txn_id: int) -> list:
    return await running.db.read(lambda tx: tx.fetchall("SELECT * FROM ops_flags WHERE txn_id = ?", txn_id))


# ---- the switch's reversal after a bank timeout ------------------------------------------------

async def test_an_unanswered_payment_gets_68_keeps_its_hold_and_is_reversed_with_0401_repeats(start_switch):
    desk = ReversalDesk()
    running, peer, terminal = await up_with(start_switch, desk)
    answer = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    assert answer[39] == "68"
    assert await wait_until(lambda: len(reversals(peer)) >= 3)
    assert await running.balances() == (DEPOSIT, DEPOSIT - AMOUNT)  # hold stays until the 0410
    assert (await payment(running, answer[37])).state == "reversing"

    first, *repeats = reversals(peer)
    assert first.mti == "0400" and {m.mti for m in repeats} == {"0401"}
    without_time = {n: v for n, v in first.fields.items() if n != 7}
    assert all({n: v for n, v in m.fields.items() if n != 7} == without_time for m in repeats)
    original = payments_sent(peer)[0]
    assert first[90] == "0200" + original[11] + original[7] + "90001".zfill(11) + "0" * 11
    assert first[37] == original[37] == answer[37] and first[11] != original[11]

    desk.open = True
    assert await state_becomes(running, answer[37], "reversed")
    assert await running.balances() == (DEPOSIT, DEPOSIT)
    assert await running.books() == []


async def test_a_0410_25_releases_the_hold_as_never_paid(start_switch):
    desk = ReversalDesk(reversal_rc="25")
    desk.open = True
    running, peer, terminal = await up_with(start_switch, desk)
    answer = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    assert answer[39] == "68"
    assert await state_becomes(running, answer[37], "void")
    assert await running.balances() == (DEPOSIT, DEPOSIT)
    assert await running.books() == []


async def test_a_refused_reversal_turns_the_hold_into_a_debit_stops_repeating_and_is_flagged(start_switch):
    desk = ReversalDesk(reversal_rc="12")
    desk.open = True
    running, peer, terminal = await up_with(start_switch, desk)
    answer = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    assert answer[39] == "68"
    assert await state_becomes(running, answer[37], "approved")
    assert await running.balances() == (DEPOSIT - AMOUNT, DEPOSIT - AMOUNT)
    txn = await payment(running, answer[37])
    assert txn.flagged and [f["kind"] for f in await flags(running, txn.txn_id)] == ["reversal_refused"]
    sent = len(reversals(peer))
    await asyncio.sleep(4 * 0.5)  # several retry intervals: nothing more goes out
    assert len(reversals(peer)) == sent == 1
    assert await running.books() == []


async def test_bills_of_a_payment_that_stands_after_a_refused_reversal_are_not_paid_twice(start_switch):
    desk = ReversalDesk(reversal_rc="12")
    desk.open = True
    running, peer, terminal = await up_with(start_switch, desk)
    quote = await terminal.inquiry("PLNPST", CUSTOMER)
    answer = await terminal.pay("PLNPST", CUSTOMER, int(quote[4]))
    assert answer[39] == "68"
    assert await state_becomes(running, answer[37], "approved")
    asked = len(payments_sent(peer))
    again = await terminal.pay("PLNPST", CUSTOMER, int(quote[4]))
    assert again[39] == "88" and len(payments_sent(peer)) == asked


async def test_a_late_0210_after_the_timeout_changes_nothing_and_is_logged(start_switch):
    desk = ReversalDesk()
    running, peer, terminal = await up_with(start_switch, desk)
    with capture_logs() as logs:
        answer = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
        assert answer[39] == "68"
        late = good_bank(payments_sent(peer)[0])
        peer.writers[-1].write(frame(encode(late, HI), "2B"))
        assert await wait_until(lambda: any(e["event"] == "late_bank_answer_ignored" for e in logs))
    heard = len(terminal.raw_responses)
    assert (await payment(running, answer[37])).state == "reversing"
    assert await running.balances() == (DEPOSIT, DEPOSIT - AMOUNT)
    desk.open = True
    assert await state_becomes(running, answer[37], "reversed")
    assert await running.balances() == (DEPOSIT, DEPOSIT)
    assert len(terminal.raw_responses) == heard  # the terminal heard nothing more
    assert (await terminal.status(answer))[39] == "05"


async def test_a_0410_that_comes_after_its_attempt_stopped_waiting_still_settles_the_reversal(start_switch):
    def late_on_the_first_reversal_only(msg):
        if msg.mti == "0200" and msg[3] == "500000":
            return None
        if msg.mti == "0401":
            return None
        return good_bank(msg)  # the 0400 is answered 00, but late (delay_s below)
    peer = ScriptedBank(late_on_the_first_reversal_only)
    port = await peer.listen()
    running = await start_switch([bank("BANKA", port, timeout_s=1, reversal_retry_s=5)])
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    terminal = await running.terminal().connect()
    await terminal.sign_on()
    peer.delay_s = 1.5  # after the attempt's 1 s wait, before the repeat 5 s on
    answer = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    assert answer[39] == "68"
    assert await state_becomes(running, answer[37], "reversed")
    assert await running.balances() == (DEPOSIT, DEPOSIT)


async def test_a_bank_link_dropping_after_the_payment_left_is_treated_as_unanswered(start_switch):
    desk = ReversalDesk()
    running, peer, terminal = await up_with(start_switch, desk)
    paying = asyncio.create_task(terminal.pay("PLNPST", CUSTOMER, AMOUNT))
    assert await wait_until(lambda: payments_sent(peer))
    peer.drop()
    answer = await paying
    assert answer[39] == "68"
    desk.open = True
    assert await state_becomes(running, answer[37], "reversed")
    assert await running.balances() == (DEPOSIT, DEPOSIT)


# ---- the terminal's own 0400 -------------------------------------------------------------------

async def test_a_terminals_0400_is_acknowledged_at_once_then_credited_back_when_the_bank_agrees(start_switch):
    desk = ReversalDesk(answer_payments=True)
    running, peer, terminal = await up_with(start_switch, desk)
    paid = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    assert paid[39] == "00"
    acknowledged = await terminal.reverse(paid)
    assert acknowledged.mti == "0410" and acknowledged[39] == "00"
    assert acknowledged[90] == terminal.requests[acknowledged[11]][90] and 15 in acknowledged
    assert (await payment(running, paid[37])).state == "reversal_pending"  # the bank has not answered
    assert await running.balances() == (DEPOSIT - AMOUNT, DEPOSIT - AMOUNT)
    assert await wait_until(lambda: reversals(peer))
    assert reversals(peer)[0][90][4:20] == payments_sent(peer)[0][11] + payments_sent(peer)[0][7]

    desk.open = True
    assert await state_becomes(running, paid[37], "reversed")
    assert await running.balances() == (DEPOSIT, DEPOSIT)
    assert await running.books() == []


async def test_a_second_0400_for_the_same_payment_is_00_and_moves_no_money(start_switch):
    desk = ReversalDesk(answer_payments=True)
    desk.open = True
    running, peer, terminal = await up_with(start_switch, desk)
    paid = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    assert (await terminal.reverse(paid))[39] == "00"
    assert await state_becomes(running, paid[37], "reversed")
    assert (await terminal.reverse(paid))[39] == "00"
    await asyncio.sleep(1.0)  # two retry intervals: a second reversal would have gone out by now
    assert len({m[11] for m in reversals(peer)}) == 1
    assert await running.balances() == (DEPOSIT, DEPOSIT)
    assert await running.books() == []


async def test_a_0400_after_a_refused_reversal_is_00_and_asks_the_bank_nothing_more(start_switch):
    desk = ReversalDesk(answer_payments=True, reversal_rc="12")
    desk.open = True
    running, peer, terminal = await up_with(start_switch, desk)
    paid = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    assert (await terminal.reverse(paid))[39] == "00"
    assert await wait_until(lambda: _flagged(running, paid[37]))
    assert (await terminal.reverse(paid))[39] == "00"
    await asyncio.sleep(1.0)
    assert len(reversals(peer)) == 1
    assert (await payment(running, paid[37])).state == "approved"
    assert await running.balances() == (DEPOSIT - AMOUNT, DEPOSIT - AMOUNT)


async def _flagged(running, rrn: str) -> bool:
    return bool((await payment(running, rrn)).flagged)


async def test_a_0400_for_an_unknown_payment_is_25(start_switch):
    running, peer, terminal = await up_with(start_switch, good_bank)
    never_sent = Message("0200", terminal.base("500000", AMOUNT, **{"48": "PLNPST" + CUSTOMER.ljust(13)}))
    terminal.requests[never_sent[11]] = never_sent
    answer = await terminal.reverse(never_sent)
    assert answer[39] == "25"
    assert reversals(peer) == []


async def test_a_0400_for_a_prepaid_purchase_is_12_and_the_purchase_stands(start_switch):
    running, peer, terminal = await up_with(start_switch, good_bank)
    paid = await terminal.pay("PLNPRA", "14234567890", 20_000_00)
    assert paid[39] == "00"
    assert (await terminal.reverse(paid))[39] == "12"
    assert reversals(peer) == []
    assert await running.balances() == (DEPOSIT - 20_000_00, DEPOSIT - 20_000_00)


async def test_a_0400_for_a_payment_already_being_reversed_after_a_68_is_00(start_switch):
    desk = ReversalDesk()
    running, peer, terminal = await up_with(start_switch, desk)
    answer = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    assert answer[39] == "68"
    assert (await terminal.reverse(answer))[39] == "00"
    desk.open = True
    assert await state_becomes(running, answer[37], "reversed")
    assert len({m[11] for m in reversals(peer)}) == 1  # one reversal, however often it was asked for
    assert await running.balances() == (DEPOSIT, DEPOSIT)


async def test_a_0400_sent_while_the_payment_is_with_the_bank_waits_for_its_outcome(start_switch):
    desk = ReversalDesk(answer_payments=True)
    desk.open = True
    running, peer, terminal = await up_with(start_switch, desk)
    peer.delay_s = 0.5
    paying = asyncio.create_task(terminal.pay("PLNPST", CUSTOMER, AMOUNT))
    assert await wait_until(lambda: payments_sent(peer))  # with the bank, not answered yet
    original = [m for m in terminal.requests.values() if m.mti == "0200"][-1]
    assert (await terminal.reverse(original))[39] == "00"
    assert (await paying)[39] == "00"
    assert await state_becomes(running, (await paying)[37], "reversed")
    assert await running.balances() == (DEPOSIT, DEPOSIT)


async def test_a_reversed_payment_no_longer_counts_against_the_daily_limit(start_switch):
    desk = ReversalDesk(answer_payments=True)
    desk.open = True
    running, peer, terminal = await up_with(start_switch, desk, daily_limit=AMOUNT)
    paid = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    assert paid[39] == "00"
    assert (await terminal.pay("PLNPST", "532110000124", AMOUNT))[39] == "61"
    assert (await terminal.reverse(paid))[39] == "00"
    assert await state_becomes(running, paid[37], "reversed")
    assert (await terminal.pay("PLNPST", "532110000124", AMOUNT))[39] == "00"
    assert await running.books() == []


async def test_a_retransmitted_0400_gets_the_first_answer(start_switch):
    desk = ReversalDesk(answer_payments=True)
    running, peer, terminal = await up_with(start_switch, desk)
    paid = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    first = await terminal.reverse(paid)
    again = await terminal.send("0400", terminal.requests[first[11]].fields)
    assert first.fields == again.fields and first[39] == "00"
