"""Two simulated banks for the same products: the switch prefers one, fails over to the other when it stops
answering, and takes a reversal back to the bank that had the original once it answers again."""
from __future__ import annotations

from bank_sim.book import Book
from bank_sim.host import BankHost
from terminal_sim.client import TerminalClient
from tests.e2e.conftest import SEED, SIZE, wait_until
from tests.support.harness import AGENT, TERMINAL, bank
from tests.support.peers import KEY


async def test_payments_fail_over_to_the_second_bank_and_a_reversal_waits_for_the_first(start_switch):
    first, second = Book.generate(SEED, SIZE), Book.generate(SEED, SIZE)
    preferred, fallback = BankHost(first, bank_id="BANKA"), BankHost(second, bank_id="BANKB")
    running = await start_switch([
        bank("BANKA", await preferred.listen("127.0.0.1", 0), priority=1, echo_interval_s=0.3, echo_misses=1),
        bank("BANKB", await fallback.listen("127.0.0.1", 0), priority=2)])
    router = running.app.svc.router
    customers = first.examples()
    try:
        assert await wait_until(lambda: len(router.candidates("PLNPST")) == 2)
        start, _ = await running.balances()
        async with TerminalClient("127.0.0.1", running.ports.terminals, TERMINAL, AGENT, KEY, timeout=10) as t:
            at_a = await t.pay("PLNPST", customers["postpaid"])
            assert at_a.approved and first.postpaid[customers["postpaid"]].unpaid == []

            preferred.faults.mute = True          # BANKA hangs: its echoes go unanswered
            assert await wait_until(lambda: [link.id for link in router.candidates("PLNPST")] == ["BANKB"])
            at_b = await t.pay("PLNPST", customers["postpaid_1"])
            assert at_b.approved
            assert second.postpaid[customers["postpaid_1"]].unpaid == []
            assert first.postpaid[customers["postpaid_1"]].unpaid != []

            assert (await t.reverse(at_a.stan)).rc == "00"   # acknowledged now, carried to BANKA later
            preferred.faults.mute = False

            async def credited_back() -> bool:
                return (await running.balances())[0] == start - at_b.amount_minor
            assert await wait_until(credited_back, timeout=15)
        assert len(first.postpaid[customers["postpaid"]].unpaid) == 2
        assert fallback.stats.received["0400"] == 0
        assert await running.books() == []
    finally:
        await preferred.stop()
        await fallback.stop()
