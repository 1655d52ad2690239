"""A node that dies (kill -9) leaves work behind in the shared database; a survivor takes it over:
its payment that was waiting on the bank is reversed and its hold released, its queued reversal is
sent from the survivor (each attempt from one node only), a retransmission that lands on the
survivor gets the stored outcome, and a request it had only recorded is processed afresh."""
from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from switch.flows.context import request_hash
from switch.ledger import money, txns
from switch.ledger.storage import open_database
from switch.wire import Message
from tests.support.bank_answers import good_bank
from tests.support.harness import AGENT, TERMINAL, bank, wait_until
from tests.support.nodes import Cluster, fresh_postgres, provision
from tests.support.peers import ScriptedBank
from tests.support.postgres import NEEDS_POSTGRES
from tests.support.processes import signed_on

pytestmark = NEEDS_POSTGRES

DEPOSIT = 10_000_000_00
TOKEN = 20_000_00
REVERSALS = ("0400", "0401")


class Desk:
    """Silent on payments; reversals answered only once the test opens the desk."""

    def __init__(self) -> None:
        self.open = False

    def __call__(self, msg: Message) -> Message | None:
        if msg.mti == "0200" and msg[3] == "500000":
            return None
        if msg.mti in REVERSALS and not self.open:
            return None
        return good_bank(msg)


async def state_of(db, rrn: str) -> tuple[str, str]:
    row = await db.read(lambda tx: tx.fetchone("SELECT state, node_id FROM txns WHERE rrn = ?", rrn))
    return (row["state"], row["node_id"]) if row else ("", "")


async def test_a_killed_nodes_payment_and_queued_reversal_are_finished_by_a_survivor(tmp_path):
    desk = Desk()
    peer = ScriptedBank(desk)
    port = await peer.listen()
    async with fresh_postgres() as database:
        await provision(database, {AGENT: DEPOSIT}, {TERMINAL: AGENT})
        cluster = Cluster(database, tmp_path, [bank("BANKA", port, timeout_s=2, reversal_retry_s=1)], count=2)
        db = open_database(database)
        await db.open()
        try:
            await cluster.start()
            doomed, survivor = cluster.nodes
            terminal = await signed_on(doomed.terminal_port, TERMINAL, AGENT, timeout=60)
            queued = await terminal.pay("PLNPST", "532110000123", 100_000_00)
            assert queued[39] == "68"  # unanswered: a reversal is queued and tried from both nodes
            assert await wait_until(lambda: [m for m in peer.received if m.mti in REVERSALS], timeout=30)
            waiting = asyncio.create_task(terminal.pay("PLNPRA", "14234567890", TOKEN))
            assert await wait_until(lambda: len([m for m in peer.received if m.mti == "0200"]) == 2, timeout=30)
            doomed.kill()  # the token purchase is with the bank, its hold on disk, no answer yet
            await doomed.process.wait()
            with pytest.raises(ConnectionError):
                await waiting
            desk.open = True

            # the reversal still queued from before, and the purchase the dead node left 'sent'
            assert await wait_until(lambda: _state_is(db, queued[37], "reversed"), timeout=90)
            token_request = [m for m in terminal.requests.values() if m.mti == "0200" and m[48][:6] == "PLNPRA"][0]
            again = await signed_on(survivor.terminal_port, TERMINAL, AGENT, timeout=60)
            repeat = await again.send("0200", token_request.fields, timeout=150)
            assert repeat[39] == "68"  # the outcome stored for it by the survivor
            purchase = [m for m in peer.received if m.mti == "0200"][-1]
            assert repeat[37] == purchase[37]
            assert await wait_until(lambda: _state_is(db, repeat[37], "approved"), timeout=60)  # advice 00
            assert (await state_of(db, repeat[37]))[1] == survivor.name  # adopted by the survivor
            assert await db.read(lambda tx: money.balances(tx, AGENT)) == (DEPOSIT - TOKEN, DEPOSIT - TOKEN)
            assert await db.read(money.check_books) == []
            for item in await db.read(lambda tx: tx.fetchall("SELECT attempts, message FROM saf")):
                stan = txns.fields_from_json(item["message"])[11]
                sent = Counter(m.mti for m in peer.received if m.mti in (*REVERSALS, "0220", "0221")
                               and m[11] == stan)
                # each attempt is claimed by one node: never two first attempts, never more
                # messages than claimed attempts
                assert sent["0400"] + sent["0220"] <= 1 and sum(sent.values()) <= item["attempts"]
            await again.close()
        finally:
            await cluster.stop()
            await db.close()
            await peer.close()


async def _state_is(db, rrn: str, state: str) -> bool:
    return (await state_of(db, rrn))[0] == state


async def test_a_request_a_dead_node_only_recorded_is_processed_afresh_on_retransmission(start_switch):
    peer = ScriptedBank(good_bank)
    port = await peer.listen()
    async with fresh_postgres() as database:
        running = await start_switch([bank("BANKA", port)], database=database, deposit=DEPOSIT,
                                     switch={"node_id": "survivor"})
        assert await wait_until(lambda: running.app.svc.router.candidates("PLNPRA"))
        terminal = await running.terminal().connect()
        await terminal.sign_on()
        fields = terminal.base("500000", TOKEN, **{"48": "PLNPRA" + "14234567890".ljust(13)})

        async def orphan(tx) -> None:  # what a node killed right after recording it leaves
            txn_id = await txns.insert_txn(
                tx, kind="payment", terminal_id=TERMINAL, agent_id=AGENT, mti="0200", stan=fields[11],
                f7=fields[7], proc_code="500000", product="PLNPRA", customer="14234567890", amount=TOKEN,
                request_hash=request_hash(Message("0200", fields)), request=fields,
                business_date=running.app.svc.calendar.current, node_id="ghost")
            await tx.execute("UPDATE txns SET updated_at = '2000-01-01T00:00:00.000Z' WHERE txn_id = ?", txn_id)
        await running.db.unit(orphan)

        answer = await terminal.send("0200", fields, timeout=90)

        assert answer[39] == "00"
        assert len([m for m in peer.received if m.mti == "0200"]) == 1
        assert await running.balances() == (DEPOSIT - TOKEN, DEPOSIT - TOKEN)
        rows = await running.db.read(lambda tx: tx.fetchall("SELECT state, node_id FROM txns WHERE kind = 'payment'"))
        assert [(r["state"], r["node_id"]) for r in rows] == [("approved", "survivor")]
        await terminal.close()
        await running.app.stop()
        await peer.close()
