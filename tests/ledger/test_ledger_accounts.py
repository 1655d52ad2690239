"""Agents and terminals on both backends."""
from __future__ import annotations

import pytest

from switch.ledger import accounts, money


async def test_an_agent_is_registered_with_an_empty_deposit(db):
    await db.unit(lambda tx: accounts.add_agent(tx, "AGT000000000001", "Toko Makmur", 5_000_000_00))
    agent = await db.read(lambda tx: accounts.get_agent(tx, "AGT000000000001"))
    assert agent == accounts.Agent("AGT000000000001", "Toko Makmur", 5_000_000_00, False, agent.created_at)
    assert agent.created_at.endswith("Z") and len(agent.created_at) == 24
    assert await db.read(lambda tx: money.balances(tx, "AGT000000000001")) == (0, 0)
    assert await db.read(money.check_books) == []


async def test_an_agent_cannot_be_registered_twice(db):
    await db.unit(lambda tx: accounts.add_agent(tx, "AGT01", "Toko", None))
    with pytest.raises(ValueError, match="agent AGT01 already exists"):
        await db.unit(lambda tx: accounts.add_agent(tx, "AGT01", "Other", None))
    agents = await db.read(accounts.list_agents)
    assert [(a.agent_id, a.name, a.daily_limit) for a in agents] == [("AGT01", "Toko", None)]


@pytest.mark.parametrize("agent_id", ["", "A" * 16, "AGT 01", "AGT\x01"])
async def test_an_agent_id_must_fit_field_42(db, agent_id):
    with pytest.raises(ValueError):
        await db.unit(lambda tx: accounts.add_agent(tx, agent_id, "Toko", None))
    assert await db.read(accounts.list_agents) == []


async def test_blocking_an_agent_is_stored(db):
    await db.unit(lambda tx: accounts.add_agent(tx, "AGT01", "Toko", None))
    await db.unit(lambda tx: accounts.set_agent_blocked(tx, "AGT01", True))
    assert (await db.read(lambda tx: accounts.get_agent(tx, "AGT01"))).blocked is True
    await db.unit(lambda tx: accounts.set_agent_blocked(tx, "AGT01", False))
    assert (await db.read(lambda tx: accounts.get_agent(tx, "AGT01"))).blocked is False
    with pytest.raises(ValueError, match="unknown agent"):
        await db.unit(lambda tx: accounts.set_agent_blocked(tx, "NOBODY", True))


async def test_a_terminal_key_is_stored_upper_case_and_read_back_as_bytes(db):
    await db.unit(lambda tx: accounts.add_agent(tx, "AGT01", "Toko", None))
    key = await db.unit(lambda tx: accounts.add_terminal(tx, "T0000001", "AGT01", "00112233445566778899aabbccddeeff"))
    assert key == "00112233445566778899AABBCCDDEEFF"
    terminal = await db.read(lambda tx: accounts.get_terminal(tx, "T0000001"))
    assert (terminal.terminal_id, terminal.agent_id, terminal.blocked) == ("T0000001", "AGT01", False)
    assert terminal.key == bytes.fromhex(key)


async def test_a_terminal_without_a_key_gets_a_fresh_random_one(db):
    await db.unit(lambda tx: accounts.add_agent(tx, "AGT01", "Toko", None))
    first = await db.unit(lambda tx: accounts.add_terminal(tx, "T1", "AGT01", None))
    second = await db.unit(lambda tx: accounts.add_terminal(tx, "T2", "AGT01", None))
    assert len(first) == 32 and first == first.upper() and bytes.fromhex(first)
    assert first != second
    terminals = await db.read(lambda tx: accounts.list_terminals(tx, "AGT01"))
    assert [t.key_hex for t in terminals] == [first, second]


@pytest.mark.parametrize("terminal_id, key", [
    ("T1", "0011"), ("T1", "zz112233445566778899aabbccddeeff"), ("T000000012", None), ("", None),
])
async def test_a_bad_terminal_id_or_key_is_refused(db, terminal_id, key):
    await db.unit(lambda tx: accounts.add_agent(tx, "AGT01", "Toko", None))
    with pytest.raises(ValueError):
        await db.unit(lambda tx: accounts.add_terminal(tx, terminal_id, "AGT01", key))
    assert await db.read(lambda tx: accounts.list_terminals(tx)) == []


async def test_a_terminal_of_an_unknown_agent_or_a_taken_id_is_refused(db):
    with pytest.raises(ValueError, match="unknown agent"):
        await db.unit(lambda tx: accounts.add_terminal(tx, "T1", "NOBODY", None))
    await db.unit(lambda tx: accounts.add_agent(tx, "AGT01", "Toko", None))
    await db.unit(lambda tx: accounts.add_terminal(tx, "T1", "AGT01", None))
    with pytest.raises(ValueError, match="terminal T1 already exists"):
        await db.unit(lambda tx: accounts.add_terminal(tx, "T1", "AGT01", None))


async def test_blocking_a_terminal_is_stored(db):
    await db.unit(lambda tx: accounts.add_agent(tx, "AGT01", "Toko", None))
    await db.unit(lambda tx: accounts.add_terminal(tx, "T1", "AGT01", None))
    await db.unit(lambda tx: accounts.set_terminal_blocked(tx, "T1", True))
    assert (await db.read(lambda tx: accounts.get_terminal(tx, "T1"))).blocked is True
    assert await db.read(lambda tx: accounts.get_terminal(tx, "T9")) is None
