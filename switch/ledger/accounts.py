"""Agents (mitra) and their terminals: registration, lookup, blocking.

An agent's deposit account (`agent:<ID>`) is opened empty with the agent; money moves only in money.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import keyring
from .money import agent_account, ensure_account
from .storage import Tx, utc_now
from .vault import is_sealed

# ISO 8583 fields 42 (ans15) and 41 (ans8) carry the ids space-padded, so an id has no spaces.
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
_KEY_HEX = re.compile(r"[0-9A-Fa-f]{32}")


@dataclass(frozen=True)
class Agent:
    agent_id: str
    name: str
    daily_limit: int | None  # minor units; None = no limit
    blocked: bool
    created_at: str


@dataclass(frozen=True)
class Terminal:
    terminal_id: str
    agent_id: str
    key: bytes               # the 16-byte MAC key
    blocked: bool
    created_at: str

    @property
    def key_hex(self) -> str:
        return self.key.hex().upper()


# The ids, keys and limits that the functions below check are typed `object` on purpose: each check
# refuses a wrong type with a ValueError, and compiled with mypyc a narrower annotation would refuse
# it first with a TypeError.
def _check_id(what: str, value: object, max_len: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= max_len or not _PRINTABLE.fullmatch(value):
        raise ValueError(f"{what} id must be 1..{max_len} printable characters without spaces, not {value!r}")
    return value


def _agent(row) -> Agent:
    return Agent(row["agent_id"], row["name"], row["daily_limit"], bool(row["blocked"]), row["created_at"])


async def _terminal(tx: Tx, row, opened: dict[str, bytes] | None = None) -> Terminal:
    """A terminal row with its key opened (keys are stored sealed: switch/ledger/keyring.py).
    `opened` (the caller's, e.g. a connection's): sealed value -> key already opened from it; a
    rekey or a master key rotation changes the stored value, so a stale entry is never used."""
    stored = row["mac_key"]
    key = opened.get(stored) if opened is not None else None
    if key is None:
        key = await keyring.open_key(tx, row["terminal_id"], stored)
        if opened is not None and is_sealed(stored):  # a key in clear is checked again every time
            opened.clear()
            opened[stored] = key
    return Terminal(row["terminal_id"], row["agent_id"], key, bool(row["blocked"]), row["created_at"])


async def _new_key(tx: Tx, key_hex: object) -> bytes:
    if key_hex is None:
        return (await keyring.vault_for(tx)).generate_terminal_key()
    if not isinstance(key_hex, str) or not _KEY_HEX.fullmatch(key_hex):
        raise ValueError("terminal key must be 32 hex characters (16 bytes)")
    return bytes.fromhex(key_hex)


async def add_agent(tx: Tx, agent_id: object, name: str, daily_limit: object) -> None:
    """Registers an agent with an empty deposit. `daily_limit` in minor units (None = no limit)."""
    agent_id = _check_id("agent", agent_id, 15)
    if not name or not name.strip():
        raise ValueError("agent name must not be empty")
    if daily_limit is not None and (not isinstance(daily_limit, int) or daily_limit < 0):
        raise ValueError(f"daily limit must be a non-negative integer of minor units, not {daily_limit!r}")
    added = await tx.execute(
        "INSERT INTO agents (agent_id, name, daily_limit, blocked, created_at) VALUES (?, ?, ?, 0, ?)"
        " ON CONFLICT (agent_id) DO NOTHING",
        agent_id, name, daily_limit, utc_now())
    if added == 0:
        raise ValueError(f"agent {agent_id} already exists")
    await ensure_account(tx, agent_account(agent_id), "agent")


async def get_terminal_and_agent(tx: Tx, terminal_id: str, opened: dict[str, bytes] | None = None
                                 ) -> tuple[Terminal | None, Agent | None]:
    """A terminal and its agent in one statement (every request needs both). With `opened` (see
    _terminal) the key is unsealed only when its stored value is new to the caller."""
    row = await tx.fetchone(
        "SELECT t.terminal_id, t.agent_id, t.mac_key, t.blocked, t.created_at, a.name AS agent_name,"
        " a.daily_limit, a.blocked AS agent_blocked, a.created_at AS agent_created_at"
        " FROM terminals t LEFT JOIN agents a ON a.agent_id = t.agent_id WHERE t.terminal_id = ?", terminal_id)
    if row is None:
        return None, None
    agent = None if row["agent_name"] is None else Agent(
        row["agent_id"], row["agent_name"], row["daily_limit"], bool(row["agent_blocked"]), row["agent_created_at"])
    return await _terminal(tx, row, opened), agent


async def get_agent(tx: Tx, agent_id: str) -> Agent | None:
    row = await tx.fetchone("SELECT * FROM agents WHERE agent_id = ?", agent_id)
    return None if row is None else _agent(row)


async def list_agents(tx: Tx) -> list[Agent]:
    return [_agent(row) for row in await tx.fetchall("SELECT * FROM agents ORDER BY agent_id")]


async def set_agent_blocked(tx: Tx, agent_id: str, blocked: bool) -> None:
    if await tx.execute("UPDATE agents SET blocked = ? WHERE agent_id = ?", int(blocked), agent_id) == 0:
        raise ValueError(f"unknown agent {agent_id}")


async def set_agent_daily_limit(tx: Tx, agent_id: str, daily_limit: object) -> None:
    if daily_limit is not None and (not isinstance(daily_limit, int) or daily_limit < 0):
        raise ValueError(f"daily limit must be a non-negative integer of minor units, not {daily_limit!r}")
    if await tx.execute("UPDATE agents SET daily_limit = ? WHERE agent_id = ?", daily_limit, agent_id) == 0:
        raise ValueError(f"unknown agent {agent_id}")


async def add_terminal(tx: Tx, terminal_id: object, agent_id: str, key_hex: object) -> str:
    """Registers a terminal of `agent_id`; returns its MAC key as 32 upper-case hex characters
    (`key_hex` in either case, or a fresh random key when None)."""
    terminal_id = _check_id("terminal", terminal_id, 8)
    if key_hex is not None and (not isinstance(key_hex, str) or not _KEY_HEX.fullmatch(key_hex)):
        raise ValueError("terminal key must be 32 hex characters (16 bytes)")
    if await tx.fetchval("SELECT 1 FROM agents WHERE agent_id = ?", agent_id) is None:
        raise ValueError(f"unknown agent {agent_id}")
    if await tx.fetchval("SELECT 1 FROM terminals WHERE terminal_id = ?", terminal_id) is not None:
        raise ValueError(f"terminal {terminal_id} already exists")
    key = await _new_key(tx, key_hex)
    added = await tx.execute(
        "INSERT INTO terminals (terminal_id, agent_id, mac_key, blocked, created_at) VALUES (?, ?, ?, 0, ?)"
        " ON CONFLICT (terminal_id) DO NOTHING",
        terminal_id, agent_id, await keyring.seal(tx, terminal_id, key), utc_now())
    if added == 0:
        raise ValueError(f"terminal {terminal_id} already exists")
    return key.hex().upper()


async def rekey_terminal(tx: Tx, terminal_id: str, key_hex: object = None) -> str:
    """Gives a terminal a new MAC key (`key_hex`, or a fresh one from the vault); returns it as 32
    upper-case hex characters for the operator to load into the terminal. The old key stops at once."""
    if key_hex is not None and (not isinstance(key_hex, str) or not _KEY_HEX.fullmatch(key_hex)):
        raise ValueError("terminal key must be 32 hex characters (16 bytes)")
    if await tx.fetchval("SELECT 1 FROM terminals WHERE terminal_id = ?", terminal_id) is None:
        raise ValueError(f"unknown terminal {terminal_id}")
    key = await _new_key(tx, key_hex)
    await tx.execute("UPDATE terminals SET mac_key = ? WHERE terminal_id = ?",
                     await keyring.seal(tx, terminal_id, key), terminal_id)
    return key.hex().upper()


def key_check(key_hex: str) -> str:
    """The key's check value (KCV): the first 3 bytes of AES(key, zeros), as 6 hex characters. It
    names a key without revealing it, so operators can compare keys and audit records can cite them."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    encryptor = Cipher(algorithms.AES(bytes.fromhex(key_hex)), modes.ECB()).encryptor()
    return (encryptor.update(bytes(16)) + encryptor.finalize())[:3].hex().upper()


async def get_terminal(tx: Tx, terminal_id: str) -> Terminal | None:
    row = await tx.fetchone("SELECT * FROM terminals WHERE terminal_id = ?", terminal_id)
    return None if row is None else await _terminal(tx, row)


async def list_terminals(tx: Tx, agent_id: str | None = None) -> list[Terminal]:
    if agent_id is None:
        rows = await tx.fetchall("SELECT * FROM terminals ORDER BY terminal_id")
    else:
        rows = await tx.fetchall("SELECT * FROM terminals WHERE agent_id = ? ORDER BY terminal_id", agent_id)
    return [await _terminal(tx, row) for row in rows]


async def set_terminal_blocked(tx: Tx, terminal_id: str, blocked: bool) -> None:
    if await tx.execute("UPDATE terminals SET blocked = ? WHERE terminal_id = ?", int(blocked), terminal_id) == 0:
        raise ValueError(f"unknown terminal {terminal_id}")
