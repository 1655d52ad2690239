"""The operator's changes to money and access, each one unit with its audit record.

The command line and the console call these, so a change and the record of who made it commit
together or not at all. `actor` is who (OS user, --operator, console user); `source` where from."""
from __future__ import annotations

from dataclasses import dataclass

from . import accounts, audit, keyring, money
from .audit import AuditAction
from .storage import Database, Tx
from .vault import VaultError


@dataclass(frozen=True)
class Operator:
    actor: str
    source: str  # audit.AuditSource


@dataclass(frozen=True)
class Topup:
    applied: bool  # False: the ref was applied before, nothing changed
    ledger: int
    available: int


def _balances(ledger: int, available: int) -> dict:
    return {"ledger": ledger, "available": available}


async def _record(tx: Tx, who: Operator, action: AuditAction, subject: str,
                  before: dict | None, after: dict | None) -> None:
    await audit.record(tx, actor=who.actor, source=who.source, action=action, subject=subject,
                       before=before, after=after)


async def add_agent(db: Database, who: Operator, agent_id: str, name: str, daily_limit: int | None) -> None:
    async def work(tx: Tx) -> None:
        await accounts.add_agent(tx, agent_id, name, daily_limit)
        await _record(tx, who, AuditAction.AGENT_ADD, agent_id, None,
                      {"name": name, "daily_limit": daily_limit, "blocked": False})
    await db.unit(work)


async def topup(db: Database, who: Operator, agent_id: str, amount: int, ref: str) -> Topup:
    """Credits the deposit (idempotent by ref); audited only when it changed something."""
    async def work(tx: Tx) -> Topup:
        before = await money.balances(tx, agent_id)
        applied = await money.topup(tx, agent_id, amount, ref)
        after = await money.balances(tx, agent_id)
        if applied:
            await _record(tx, who, AuditAction.AGENT_TOPUP, agent_id, _balances(*before),
                          {**_balances(*after), "amount": amount, "ref": ref})
        return Topup(applied, *after)
    return await db.unit(work)


async def set_agent_blocked(db: Database, who: Operator, agent_id: str, blocked: bool) -> None:
    async def work(tx: Tx) -> None:
        agent = await accounts.get_agent(tx, agent_id)
        if agent is None:
            raise ValueError(f"agent {agent_id}: no such agent")
        await accounts.set_agent_blocked(tx, agent_id, blocked)
        await _record(tx, who, AuditAction.AGENT_BLOCK if blocked else AuditAction.AGENT_UNBLOCK, agent_id,
                      {"blocked": agent.blocked}, {"blocked": blocked})
    await db.unit(work)


async def add_terminal(db: Database, who: Operator, terminal_id: str, agent_id: str,
                       key_hex: str | None) -> str:
    """Registers a terminal; returns its MAC key (hex) for the operator to load into the terminal.
    The audit record names the key only by its check value."""
    async def work(tx: Tx) -> str:
        key = await accounts.add_terminal(tx, terminal_id, agent_id, key_hex)
        await _record(tx, who, AuditAction.TERMINAL_ADD, terminal_id, None,
                      {"agent": agent_id, "blocked": False, "key_check": accounts.key_check(key)})
        return key
    return await db.unit(work)


async def rekey_terminal(db: Database, who: Operator, terminal_id: str, key_hex: str | None) -> str:
    """Gives a terminal a new MAC key (returned once, for the operator to load); the audit record
    names the old and the new key only by their check values."""
    async def work(tx: Tx) -> str:
        terminal: accounts.Terminal | bool | None
        try:
            terminal = await accounts.get_terminal(tx, terminal_id)
            old_check = None if terminal is None else accounts.key_check(terminal.key_hex)
        except VaultError:  # a key that no longer opens is exactly what a rekey replaces
            terminal, old_check = True, "unreadable"
        if terminal is None:
            raise ValueError(f"terminal {terminal_id}: no such terminal")
        key = await accounts.rekey_terminal(tx, terminal_id, key_hex)
        await _record(tx, who, AuditAction.TERMINAL_REKEY, terminal_id,
                      {"key_check": old_check}, {"key_check": accounts.key_check(key)})
        return key
    return await db.unit(work)


async def set_terminal_blocked(db: Database, who: Operator, terminal_id: str, blocked: bool) -> None:
    async def work(tx: Tx) -> None:
        terminal = await accounts.get_terminal(tx, terminal_id)
        if terminal is None:
            raise ValueError(f"terminal {terminal_id}: no such terminal")
        await accounts.set_terminal_blocked(tx, terminal_id, blocked)
        await _record(tx, who, AuditAction.TERMINAL_BLOCK if blocked else AuditAction.TERMINAL_UNBLOCK,
                      terminal_id, {"blocked": terminal.blocked}, {"blocked": blocked})
    await db.unit(work)


async def rotate_master_key(db: Database, who: Operator) -> keyring.Rotation:
    """Re-seals every terminal key under a new master key; the record commits with the re-sealing."""
    async def audit_it(tx: Tx, done: keyring.Rotation) -> None:
        await _record(tx, who, AuditAction.MASTER_KEY_ROTATE, "master key", {"master_key_id": done.old_key_id},
                      {"master_key_id": done.new_key_id, "terminals": done.terminals})
    return await keyring.rotate_master(db, audit_it)


async def record(db: Database, who: Operator, action: AuditAction, subject: str,
                 before: dict | None, after: dict | None) -> None:
    """An audit record on its own (for changes made elsewhere, e.g. inside the running switch)."""
    await db.unit(lambda tx: _record(tx, who, action, subject, before, after))


__all__ = ["Operator", "Topup", "add_agent", "add_terminal", "record", "rekey_terminal", "rotate_master_key",
           "set_agent_blocked", "set_terminal_blocked", "topup"]
