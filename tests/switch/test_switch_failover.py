"""§8.4 failover: a product goes to the available bank of highest priority; when its link is down
(connect refused, echoes unanswered, connection closed) the next bank takes new inquiries and
payments, while reversals and advices wait for the bank that had the original. Both link modes."""
from __future__ import annotations

import asyncio

from switch.ledger import txns
from tests.support.bank_answers import good_bank
from tests.support.harness import bank, wait_until
from tests.support.peers import ScriptedBank
from tests.support.processes import free_port

CUSTOMER = "532110000123"
AMOUNT = 100_000_00
DEPOSIT = 10_000_000_00
FAST_ECHO = {"echo_interval_s": 0.3, "echo_misses": 2}


def asked(peer: ScriptedBank, mti: str = "0200", proc: str | None = None) -> list:
    return [m for m in peer.received if m.mti == mti and (proc is None or m.get(3) == proc)]


async def signed_on_terminal(running):
    terminal = await running.terminal().connect()
    assert (await terminal.sign_on())[39] == "00"
    return terminal


async def two_banks(start_switch, answer_a=good_bank, answer_b=good_bank, *, a_port=None, **extra):
    """BANKA (priority 1) and BANKB (priority 2), both connect mode, both serving every product."""
    bank_a, bank_b = ScriptedBank(answer_a), ScriptedBank(answer_b)
    port_a = await bank_a.listen(port=a_port or 0)
    port_b = await bank_b.listen()
    running = await start_switch([bank("BANKA", port_a, priority=1, timeout_s=1, **extra),
                                  bank("BANKB", port_b, priority=2, timeout_s=1, **extra)])
    links = running.app.svc.router
    assert await wait_until(lambda: links.bank("BANKA").is_up and links.bank("BANKB").is_up)
    return running, bank_a, bank_b, port_a


def link(running, bank_id: str):
    return running.app.svc.router.bank(bank_id)


async def test_the_preferred_bank_takes_inquiries_and_payments_while_it_is_up(start_switch):
    running, bank_a, bank_b, _ = await two_banks(start_switch)
    terminal = await signed_on_terminal(running)
    quote = await terminal.inquiry("PLNPST", CUSTOMER)
    assert (await terminal.pay("PLNPST", CUSTOMER, int(quote[4])))[39] == "00"
    assert len(asked(bank_a)) == 2 and asked(bank_b) == []


async def test_a_bank_refusing_connections_is_skipped_until_it_listens_again(start_switch):
    port_a = free_port()  # nothing listens there yet
    bank_a, bank_b = ScriptedBank(good_bank), ScriptedBank(good_bank)
    port_b = await bank_b.listen()
    running = await start_switch([bank("BANKA", port_a, priority=1), bank("BANKB", port_b, priority=2)])
    assert await wait_until(lambda: link(running, "BANKB").is_up)
    terminal = await signed_on_terminal(running)
    assert (await terminal.inquiry("PLNPST", CUSTOMER))[39] == "00"
    assert (await terminal.pay("PLNNTL", "5321126110001", 1_518_000_00))[39] == "00"
    assert len(asked(bank_b)) == 2

    await bank_a.listen(port=port_a)  # the preferred bank comes up: it takes new work again
    assert await wait_until(lambda: link(running, "BANKA").is_up)
    assert (await terminal.inquiry("PLNPST", CUSTOMER))[39] == "00"
    assert len(asked(bank_a)) == 1 and len(asked(bank_b)) == 2


async def test_a_bank_that_stops_answering_echoes_is_marked_down_and_the_next_bank_takes_over(start_switch):
    running, bank_a, bank_b, _ = await two_banks(start_switch, **FAST_ECHO)
    terminal = await signed_on_terminal(running)
    bank_a.mute = True  # connected, but a hung host: not even echoes are answered
    assert await wait_until(lambda: not link(running, "BANKA").is_up)
    assert (await terminal.pay("PLNPST", CUSTOMER, AMOUNT))[39] == "00"
    assert asked(bank_a, "0200") == [] and len(asked(bank_b)) == 1
    assert any(m.mti == "0800" and m[70] == "301" for m in bank_a.received)


async def test_a_closed_link_sends_new_payments_to_the_next_bank(start_switch):
    running, bank_a, bank_b, _ = await two_banks(start_switch)
    terminal = await signed_on_terminal(running)
    bank_a.server.close()
    bank_a.drop()
    assert await wait_until(lambda: not link(running, "BANKA").is_up)
    assert (await terminal.pay("PLNPST", CUSTOMER, AMOUNT))[39] == "00"
    assert len(asked(bank_b)) == 1 and asked(bank_a) == []


async def test_a_reversal_waits_for_the_bank_of_the_original_and_drains_when_it_comes_back(start_switch):
    def silent_on_payments(msg):
        if (msg.mti == "0200" and msg[3] == "500000") or msg.mti in ("0400", "0401"):
            return None
        return good_bank(msg)
    # a long retry interval: only the link coming back can explain a prompt repeat
    running, bank_a, bank_b, port_a = await two_banks(start_switch, silent_on_payments, reversal_retry_s=30)
    terminal = await signed_on_terminal(running)
    answer = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    assert answer[39] == "68"
    assert await wait_until(lambda: asked(bank_a, "0400"))
    bank_a.server.close()
    bank_a.drop()
    assert await wait_until(lambda: not link(running, "BANKA").is_up)

    assert (await terminal.pay("PLNPST", "532110000124", AMOUNT))[39] == "00"  # new work fails over
    await asyncio.sleep(1.5)  # BANKA down for a while
    assert asked(bank_b, "0400") == [] and asked(bank_b, "0401") == []
    assert await _state(running, answer[37]) == "reversing"

    returned = ScriptedBank(good_bank)
    await returned.listen(port=port_a)
    assert await wait_until(lambda: _state_is(running, answer[37], "reversed"))
    assert [m.mti for m in returned.received if m.mti != "0800"][0] == "0401"
    assert await running.balances() == (DEPOSIT - AMOUNT, DEPOSIT - AMOUNT)
    assert await running.books() == []


async def test_listen_mode_banks_connect_in_and_fail_over_the_same_way(start_switch):
    running = await start_switch([bank("BANKA", 0, mode="listen", priority=1, timeout_s=1, **FAST_ECHO),
                                  bank("BANKB", 0, mode="listen", priority=2, timeout_s=1, **FAST_ECHO)])
    ports = running.ports.banks

    def silent_on_prepaid(msg):
        if msg.mti == "0200" and msg[3] == "500000" and msg[48].startswith("PLNPRA"):
            return None
        return None if msg.mti in ("0220", "0221") else good_bank(msg)
    bank_a, bank_b = ScriptedBank(silent_on_prepaid), ScriptedBank(good_bank)
    await bank_a.connect("127.0.0.1", ports["BANKA"])
    await bank_b.connect("127.0.0.1", ports["BANKB"])
    assert await wait_until(lambda: link(running, "BANKA").is_up and link(running, "BANKB").is_up)
    assert all(m.mti == "0800" and m[70] == "001" for m in bank_a.received[:1] + bank_b.received[:1])
    terminal = await signed_on_terminal(running)

    purchase = await terminal.pay("PLNPRA", "14234567890", 20_000_00)  # BANKA takes it, then is silent
    assert purchase[39] == "68"
    assert await wait_until(lambda: asked(bank_a, "0220"))
    bank_a.mute = True
    assert await wait_until(lambda: not link(running, "BANKA").is_up)
    assert (await terminal.pay("PLNPST", CUSTOMER, AMOUNT))[39] == "00"
    assert len(asked(bank_b)) == 1 and asked(bank_b, "0220") == [] and asked(bank_b, "0221") == []

    comeback = ScriptedBank(good_bank)  # BANKA connects in again: the advice goes to it
    await comeback.connect("127.0.0.1", ports["BANKA"])
    assert await wait_until(lambda: _state_is(running, purchase[37], "approved"))
    assert asked(comeback, "0221")
    assert (await terminal.status(purchase))[39] == "00"


async def _state(running, rrn: str) -> str:
    return (await running.db.read(lambda tx: txns.find_txn_by_rrn(tx, rrn))).state


async def _state_is(running, rrn: str, state: str) -> bool:
    return await _state(running, rrn) == state
