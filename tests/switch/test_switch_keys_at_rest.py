"""The running switch with sealed terminal keys: a key that does not open is answered 96 without a MAC
and a log line naming the terminal (never a key), the next terminal goes on, and a rekey mends it."""
from __future__ import annotations

from switch.ledger import accounts
from tests.support.harness import TERMINAL, bank, wait_until
from tests.support.peers import KEY, ScriptedBank
from tests.support.bank_answers import good_bank


async def test_a_terminal_whose_sealed_key_was_tampered_with_gets_96_and_a_rekey_mends_it(start_switch):
    peer = ScriptedBank(good_bank)
    running = await start_switch([bank("BANKA", await peer.listen())])
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    stored = await running.db.read(lambda tx: tx.fetchval("SELECT mac_key FROM terminals WHERE terminal_id = ?",
                                                          TERMINAL))
    assert stored.startswith("v1:") and KEY.hex().upper() not in stored.upper()
    flipped = stored[:-3] + ("A" if stored[-3] != "A" else "B") + stored[-2:]
    await running.db.unit(lambda tx: tx.execute("UPDATE terminals SET mac_key = ? WHERE terminal_id = ?",
                                                flipped, TERMINAL))
    terminal = await running.terminal().connect()
    try:
        answer = await terminal.sign_on()
        assert answer[39] == "96" and 64 not in answer.fields
        await running.db.unit(lambda tx: accounts.rekey_terminal(tx, TERMINAL, KEY.hex()))
        assert (await terminal.sign_on())[39] == "00"
        assert (await terminal.balance())[39] == "00"
    finally:
        await terminal.close()
