"""SIGTERM while terminals are paying: the switch stops taking work, finishes what is in flight,
exits 0, and after a restart nothing is lost — every approval debited once, no hold left behind."""
from __future__ import annotations

import asyncio
import signal

from switch.ledger import money
from tests.support.bank_answers import good_bank
from tests.support.peers import ScriptedBank
from tests.support.processes import prepare, ready, serve, signed_on


AGENT, TERMINAL = "AGT000000000001", "T0000001"
DEPOSIT = 50_000_000_00


async def test_sigterm_during_payments_finishes_them_and_loses_nothing(tmp_path):
    peer = ScriptedBank(good_bank, delay_s=0.3)
    bank_port = await peer.listen()
    files = await prepare(tmp_path, {"id": "BANKA", "mode": "connect", "address": f"127.0.0.1:{bank_port}",
                                     "products": ["PLNPST", "PLNPRA", "PLNNTL"], "timeout_s": 5,
                                     "reversal_retry_s": 1}, DEPOSIT, TERMINAL, AGENT)
    config, terminal_port, db = files.config, files.terminal_port, files.db
    switch = await serve(config)
    try:
        terminal = await signed_on(terminal_port, TERMINAL, AGENT)
        await ready(files)
        payments = [asyncio.create_task(terminal.pay("PLNPRA", f"1423456{i:04d}", 20_000_00))
                    for i in range(40)]
        await asyncio.sleep(0.15)  # all sent, none answered yet (the bank takes 0.3 s)
        switch.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(switch.wait(), 40) == 0
        answers = await asyncio.gather(*payments, return_exceptions=True)
    finally:
        if switch.returncode is None:
            switch.kill()
    approved = [a for a in answers if not isinstance(a, BaseException) and a[39] == "00"]
    assert len(approved) == 40  # in flight at SIGTERM: finished, not dropped

    switch = await serve(config)  # a restart resumes whatever was parked
    try:
        await signed_on(terminal_port, TERMINAL, AGENT)
        ledger, available = await db.read(lambda tx: money.balances(tx, AGENT))
        assert ledger == DEPOSIT - 40 * 20_000_00 and available == ledger
        assert await db.read(money.check_books) == []
        held = await db.read(lambda tx: tx.fetchval("SELECT COUNT(*) FROM holds WHERE state = 'held'"))
        assert held == 0
    finally:
        switch.send_signal(signal.SIGTERM)
        await asyncio.wait_for(switch.wait(), 40)
        await db.close()
        await peer.close()
