"""§2 on the host side: a bank link framed with 4 ASCII digits (`4A`) works like one with `2B`."""
from __future__ import annotations

from tests.support.bank_answers import good_bank
from tests.support.harness import bank, wait_until
from tests.support.peers import ScriptedBank


async def test_a_bank_on_4a_framing_quotes_and_is_paid(start_switch):
    peer = ScriptedBank(good_bank, framing="4A")
    running = await start_switch([bank("BANKA", await peer.listen(), framing="4A")])
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    terminal = await running.terminal().connect()
    await terminal.sign_on()
    quote = await terminal.inquiry("PLNPST", "532110000123")
    assert quote[39] == "00"
    assert (await terminal.pay("PLNPST", "532110000123", int(quote[4])))[39] == "00"
    assert {m.mti for m in peer.received} >= {"0800", "0200"}
