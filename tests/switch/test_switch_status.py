"""§8.3 status / reprint (0200/390000): the outcome of an earlier payment of the same terminal."""
from __future__ import annotations

from functools import partial

from switch.wire import Message
from tests.support.bank_answers import good_bank
from tests.support.harness import switch_with_bank, wait_until
from tests.support.peers import echo_response

CUSTOMER = "532110000123"
AMOUNT = 100_000_00


def declining_customer(customer: str, rc: str):
    def answer(msg):
        if msg.mti == "0200" and msg[3] == "500000" and msg[48][6:].strip() == customer:
            return echo_response(msg, rc)
        return good_bank(msg)
    return answer


up_with = partial(switch_with_bank, timeout_s=1)  # a bank that answers late, soon


async def test_status_of_an_approved_payment_reprints_its_amount_rrn_approval_and_bill_data(start_switch):
    running, peer, terminal = await up_with(start_switch)
    paid = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    assert paid[39] == "00"
    status = await terminal.status(paid)
    assert status.mti == "0210" and status[39] == "00"
    assert {n: status[n] for n in (4, 37, 38, 48, 62)} == {n: paid[n] for n in (4, 37, 38, 48, 62)}
    assert status[90] == terminal.requests[status[11]][90]
    asked = len(peer.received)
    await terminal.status(paid)
    assert len(peer.received) == asked  # answered from the switch's records, the bank is not asked


async def test_status_of_a_declined_payment_gives_the_original_decline_code(start_switch):
    running, peer, terminal = await up_with(start_switch, declining_customer(CUSTOMER, "14"))
    paid = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    assert paid[39] == "14"
    assert (await terminal.status(paid))[39] == "14"


async def test_status_of_a_reversed_payment_is_05(start_switch):
    running, peer, terminal = await up_with(start_switch)
    paid = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    assert (await terminal.reverse(paid))[39] == "00"

    async def reversed_() -> bool:
        return (await terminal.status(paid))[39] == "05"
    assert await wait_until(reversed_)


async def test_status_of_a_payment_the_terminal_never_made_is_25(start_switch):
    running, peer, terminal = await up_with(start_switch)
    never = Message("0200", terminal.base("500000", AMOUNT, **{"48": "PLNPST" + CUSTOMER.ljust(13)}))
    terminal.requests[never[11]] = never
    assert (await terminal.status(never))[39] == "25"


async def test_status_of_another_terminals_payment_is_25(start_switch):
    running, peer, terminal = await up_with(start_switch)
    paid = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    await _add_terminal(running, "T0000002")
    other = await running.terminal(terminal_id="T0000002").connect()
    assert (await other.sign_on())[39] == "00"
    other.requests[paid[11]] = terminal.requests[paid[11]]
    assert (await other.status(paid))[39] == "25"


async def _add_terminal(running, terminal_id: str) -> None:
    from switch.ledger import accounts
    from tests.support.harness import AGENT
    from tests.support.peers import KEY
    await running.db.unit(lambda tx: accounts.add_terminal(tx, terminal_id, AGENT, KEY.hex()))
