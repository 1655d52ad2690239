"""A bank that dials in: the switch listens for BANKB with 4A framing, `ppob-bank-sim --connect` connects,
and a terminal pays through that link."""
from __future__ import annotations

import json

from bank_sim.book import Book
from terminal_sim.client import TerminalClient
from tests.e2e.conftest import SEED, SIZE
from tests.support.processes import free_port
from tests.support.harness import AGENT, TERMINAL, bank, wait_until
from tests.support.peers import KEY


async def test_a_bank_simulator_connecting_to_a_listening_switch_with_4a_framing_carries_payments(
        start_switch, programs, tmp_path):
    port = free_port()
    running = await start_switch([bank("BANKB", port, mode="listen", framing="4A")])
    simulator = programs.start("bank", "ppob-bank-sim", "--connect", f"127.0.0.1:{port}", "--framing", "4A",
                               "--bank-id", "BANKB", "--seed", str(SEED), "--size", str(SIZE))
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPRA"), timeout=20), programs.log("bank")
    customers = Book.generate(SEED, SIZE).examples()
    before, _ = await running.balances()
    async with TerminalClient("127.0.0.1", running.ports.terminals, TERMINAL, AGENT, KEY, timeout=10) as terminal:
        token = await terminal.pay("PLNPRA", customers["prepaid"], 20_000)
        bill = await terminal.pay("PLNPST", customers["postpaid"])
    assert (token.rc, bill.rc) == ("00", "00")
    assert len(token.info.sale.token) == 20 and len(bill.info.biller_ref) == 32
    assert (await running.balances())[0] == before - token.amount_minor - bill.amount_minor
    assert programs.stop(simulator) == 0
    # its own account on the way out: the two inquiries and two payments came over its link
    # (in JSON: its stderr is a file, not a terminal)
    stopped = [json.loads(line) for line in programs.log("bank").splitlines() if '"stopped"' in line]
    assert stopped and stopped[-1]["received"]["0200"] == 4, programs.log("bank")
