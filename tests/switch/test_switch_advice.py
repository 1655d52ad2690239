"""§8.3 prepaid purchases the bank did not answer in time: never reversed, completed by an advice
(0220, repeated as 0221) until a 0230 comes; the token then reaches the terminal by a status request."""
from __future__ import annotations

from functools import partial

from switch.ledger import txns
from switch.wire.field48 import build_response, parse_request, parse_response
from tests.support.bank_answers import good_bank, prepaid
from tests.support.harness import switch_with_bank, wait_until
from tests.support.peers import ScriptedBank, echo_response

METER = "14234567890"
PRICE = 20_000_00
DEPOSIT = 10_000_000_00
TOKEN = "12345678901234567890"


class AdviceDesk:
    """Ignores prepaid purchases; answers advices only once the test opens the desk."""

    def __init__(self, advice_rc: str = "00") -> None:
        self.advice_rc = advice_rc
        self.open = False

    def __call__(self, msg):
        if msg.mti == "0200" and msg[3] == "500000":
            return None
        if msg.mti in ("0220", "0221"):
            if not self.open:
                return None
            if self.advice_rc != "00":
                return echo_response(msg, self.advice_rc)
            sale = build_response(prepaid(parse_request(msg[48]).customer, sale=True))
            return echo_response(msg, "00", **{"48": sale, "38": "D4E5F6"})
        return good_bank(msg)


up_with = partial(switch_with_bank, timeout_s=1)  # a bank that answers late, soon


def advices(peer: ScriptedBank) -> list:
    return [m for m in peer.received if m.mti in ("0220", "0221")]


async def state_of(running, rrn: str) -> str:
    return (await running.db.read(lambda tx: txns.find_txn_by_rrn(tx, rrn))).state


async def test_an_unanswered_prepaid_purchase_is_advised_with_0221_repeats_and_never_reversed(start_switch):
    desk = AdviceDesk()
    running, peer, terminal = await up_with(start_switch, desk)
    answer = await terminal.pay("PLNPRA", METER, PRICE)
    assert answer[39] == "68"
    assert await wait_until(lambda: len(advices(peer)) >= 3)
    first, *repeats = advices(peer)
    assert first.mti == "0220" and {m.mti for m in repeats} == {"0221"}
    assert all({n: v for n, v in m.fields.items() if n != 7} == {n: v for n, v in first.fields.items() if n != 7}
               for m in repeats)
    original = [m for m in peer.received if m.mti == "0200" and m[3] == "500000"][0]
    assert first[90][:20] == "0200" + original[11] + original[7] and first[48] == original[48]
    assert not [m for m in peer.received if m.mti in ("0400", "0401")]
    assert await running.balances() == (DEPOSIT, DEPOSIT - PRICE)


async def test_status_answers_68_while_the_advice_is_pending(start_switch):
    running, peer, terminal = await up_with(start_switch, AdviceDesk())
    answer = await terminal.pay("PLNPRA", METER, PRICE)
    assert answer[39] == "68"
    status = await terminal.status(answer)
    assert status[39] == "68" and int(status[4]) == PRICE


async def test_a_0230_00_debits_the_deposit_and_the_token_comes_with_a_status_request(start_switch):
    desk = AdviceDesk()
    running, peer, terminal = await up_with(start_switch, desk)
    answer = await terminal.pay("PLNPRA", METER, PRICE)
    assert answer[39] == "68"
    desk.open = True
    assert await wait_until(lambda: _state_is(running, answer[37], "approved"))
    assert await running.balances() == (DEPOSIT - PRICE, DEPOSIT - PRICE)
    status = await terminal.status(answer)
    assert status[39] == "00" and status[37] == answer[37] and int(status[4]) == PRICE
    assert parse_response(status[48]).sale.token == TOKEN and status[38] == "D4E5F6"
    assert await running.books() == []
    # the purchase's own retransmission still gets what it got first: the status request is the way
    again = await terminal.send("0200", terminal.requests[answer[11]].fields)
    assert again[39] == "68"


async def test_any_other_0230_code_releases_the_hold(start_switch):
    desk = AdviceDesk(advice_rc="05")
    desk.open = True
    running, peer, terminal = await up_with(start_switch, desk)
    answer = await terminal.pay("PLNPRA", METER, PRICE)
    assert answer[39] == "68"
    assert await wait_until(lambda: _state_is(running, answer[37], "declined"))
    assert await running.balances() == (DEPOSIT, DEPOSIT)
    assert (await terminal.status(answer))[39] == "05"
    assert await running.books() == []


async def _state_is(running, rrn: str, state: str) -> bool:
    return await state_of(running, rrn) == state
