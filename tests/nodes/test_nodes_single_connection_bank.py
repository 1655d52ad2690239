"""Each node keeps its own links to each bank. A bank that allows only one connection (it closes any
connection that comes while one is open) is served by one node at a time: the node that got there
first signs on and uses it, the others see the link down, stay ready on the bank that serves the
same products, and route their payments there; when the first node goes, another takes the bank's
one connection over. A bank that drops the older connection instead is given `one_connection = true`
and the nodes take turns through a lease in the database."""
from __future__ import annotations

import asyncio
import tomllib

import pytest

from switch.config import ConfigError, parse_config, sample_config
from switch.ledger import accounts
from tests.support.bank_answers import good_bank
from tests.support.harness import AGENT, bank, wait_until
from tests.support.nodes import fresh_postgres
from tests.support.peers import KEY, ScriptedBank
from tests.support.postgres import postgres_answers

TOKEN = 20_000_00
SECOND_TERMINAL = "T0000002"


class OneConnectionBank(ScriptedBank):
    """Closes every connection that arrives while another one is open."""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if any(not w.is_closing() for w in self.writers):
            self.refused = getattr(self, "refused", 0) + 1
            writer.close()
            return
        await super()._serve(reader, writer)
        writer.close()


async def paid_at(terminal, customers: range) -> None:
    for n in customers:
        assert (await terminal.pay("PLNPRA", f"142345{n:05d}", TOKEN))[39] == "00"


async def two_nodes(start_switch, banks, database):
    """node-a up with BANKA first, then node-b (its own terminal, the same agent) up with BANKB."""
    first = await start_switch(banks, database=database, switch={"node_id": "node-a"})
    assert await wait_until(lambda: first.app.svc.router.bank("BANKA").is_up, timeout=30)
    second = await start_switch(banks, database=database, deposit=0, switch={"node_id": "node-b"})
    await second.db.unit(lambda tx: accounts.add_terminal(tx, SECOND_TERMINAL, AGENT, KEY.hex()))
    assert await wait_until(lambda: second.app.svc.router.bank("BANKB").is_up, timeout=30)
    return first, second


@pytest.mark.postgres
@pytest.mark.skipif(not postgres_answers(), reason="PostgreSQL does not answer on 127.0.0.1:5432")
async def test_a_bank_that_allows_one_connection_is_served_by_one_node_while_the_others_route_around(start_switch):
    single, spare = OneConnectionBank(good_bank), ScriptedBank(good_bank)
    banks = [bank("BANKA", await single.listen(), priority=1),
             bank("BANKB", await spare.listen(), priority=2)]
    async with fresh_postgres() as database:
        first, second = await two_nodes(start_switch, banks, database)
        assert await wait_until(lambda: getattr(single, "refused", 0) >= 1, timeout=30)

        assert not second.app.svc.router.bank("BANKA").is_up  # the bank's one connection is node-a's
        assert (await second.app.ready()) == (True, "ready")   # BANKB serves the same products
        one = await first.terminal().connect()
        two = await second.terminal(terminal_id=SECOND_TERMINAL).connect()
        for terminal in (one, two):
            assert (await terminal.sign_on())[39] == "00"
        await paid_at(one, range(0, 3))
        await paid_at(two, range(3, 6))
        assert len([m for m in single.received if m.mti == "0200"]) == 3  # node-a's payments
        assert len([m for m in spare.received if m.mti == "0200"]) == 3  # node-b routed around
        assert len([m for m in single.received if m.mti == "0800" and m.get(70) == "001"]) == 1

        await one.close()
        await first.app.stop()  # node-a goes: signs off, closes its connection
        assert await wait_until(lambda: second.app.svc.router.bank("BANKA").is_up, timeout=30)
        await paid_at(two, range(6, 9))
        assert len([m for m in single.received if m.mti == "0200"]) == 6  # node-b now uses BANKA
        assert len([m for m in spare.received if m.mti == "0200"]) == 3
        assert await second.books() == []
        await two.close()
        await second.app.stop()
    await single.close()
    await spare.close()


class LastWinsBank(ScriptedBank):
    """Takes a new connection and drops the one it had (the other kind of one-connection bank)."""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections = getattr(self, "connections", 0) + 1
        for older in self.writers:
            older.close()
        await super()._serve(reader, writer)
        writer.close()


@pytest.mark.postgres
@pytest.mark.skipif(not postgres_answers(), reason="PostgreSQL does not answer on 127.0.0.1:5432")
async def test_a_bank_that_drops_the_older_connection_is_leased_to_one_node_with_one_connection(start_switch):
    single, spare = LastWinsBank(good_bank), ScriptedBank(good_bank)
    banks = [bank("BANKA", await single.listen(), priority=1, one_connection=True),
             bank("BANKB", await spare.listen(), priority=2)]
    async with fresh_postgres() as database:
        first, second = await two_nodes(start_switch, banks, database)
        await asyncio.sleep(3)  # several of node-b's reconnect turns (reconnect_max_s = 1)

        assert single.connections == 1  # node-b never took the connection away from node-a
        assert first.app.svc.router.bank("BANKA").is_up and not second.app.svc.router.bank("BANKA").is_up
        two = await second.terminal(terminal_id=SECOND_TERMINAL).connect()
        assert (await two.sign_on())[39] == "00"
        await paid_at(two, range(0, 2))
        assert len([m for m in spare.received if m.mti == "0200"]) == 2  # routed around BANKA

        await first.app.stop()  # releases the lease: node-b's next turn takes the bank
        assert await wait_until(lambda: second.app.svc.router.bank("BANKA").is_up, timeout=30)
        await paid_at(two, range(2, 4))
        assert len([m for m in single.received if m.mti == "0200"]) == 2
        assert single.connections == 2
        await two.close()
        await second.app.stop()
    await single.close()
    await spare.close()


def test_one_connection_is_refused_for_a_bank_that_calls_in():
    text = sample_config(banks=[bank("BANKA", 7100, mode="listen", one_connection=True)])
    with pytest.raises(ConfigError, match="one_connection.*connect"):
        parse_config(tomllib.loads(text), env={})
