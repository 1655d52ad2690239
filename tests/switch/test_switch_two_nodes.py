"""Two switch nodes on one PostgreSQL database: one deposit, terminals on both nodes, and still never
a rupiah more than the deposit; the bank sees STANs that are unique across both nodes."""
from __future__ import annotations

import asyncio
import secrets

import asyncpg
import pytest

from switch.ledger import accounts
from tests.support.bank_answers import good_bank
from tests.support.harness import AGENT, bank, wait_until
from tests.support.peers import KEY, ScriptedBank
from tests.support.postgres import NEEDS_POSTGRES

pytestmark = NEEDS_POSTGRES
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
TOKEN = 20_000_00


@pytest.fixture
async def shared_database():
    name = f"ppob_nodes_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(SERVER)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_two_nodes_sharing_a_deposit_approve_exactly_what_it_covers(shared_database, start_switch):
    peer = ScriptedBank(good_bank)
    port = await peer.listen()
    first = await start_switch([bank("BANKA", port)], database=shared_database, deposit=100 * TOKEN,
                               switch={"node_id": "node-a"})
    second = await start_switch([bank("BANKA", port)], database=shared_database, deposit=0,
                                switch={"node_id": "node-b"})
    await second.db.unit(lambda tx: accounts.add_terminal(tx, "T0000002", AGENT, KEY.hex()))
    for node in (first, second):
        assert await wait_until(lambda node=node: node.app.svc.router.candidates("PLNPRA"))
    terminals = [await first.terminal().connect(), await second.terminal(terminal_id="T0000002").connect()]
    for terminal in terminals:
        assert (await terminal.sign_on())[39] == "00"

    payments = [terminal.pay("PLNPRA", f"1423456{i:04d}", TOKEN) for i in range(100) for terminal in terminals]
    codes = [answer[39] for answer in await asyncio.gather(*payments)]

    assert codes.count("00") == 100 and codes.count("51") == 100
    assert await first.balances() == (0, 0)
    assert await first.books() == []
    stans = [m[11] for m in peer.received if m.mti == "0200"]
    assert len(stans) == len(set(stans)) == 100  # refused payments never reach the bank
