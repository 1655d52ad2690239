"""The audit trail: who changed money or access, when, what, and the state before and after.

Every admin command that changes money or access (topup, block/unblock, terminal add/rekey, cutover,
settle, master key rotation) writes one record, inside the same unit as the change where it can, so a
change and its record commit together. Records are append-only: both schemas refuse UPDATE and DELETE
on `audit_log`. A record never holds a secret: `record` refuses before/after with a key-like field."""
from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from enum import Enum
from typing import Any

from .storage import Database, Tx, utc_now


class AuditAction(str, Enum):
    """What was done (the `action` column)."""
    AGENT_ADD = "agent.add"
    AGENT_TOPUP = "agent.topup"
    AGENT_BLOCK = "agent.block"
    AGENT_UNBLOCK = "agent.unblock"
    TERMINAL_ADD = "terminal.add"
    TERMINAL_REKEY = "terminal.rekey"
    TERMINAL_BLOCK = "terminal.block"
    TERMINAL_UNBLOCK = "terminal.unblock"
    CUTOVER = "cutover"
    SETTLE = "settle"
    MASTER_KEY_ROTATE = "keys.rotate-master"
    TOPUP_ENTER = "topup.enter"          # four eyes: entered, nothing moves yet
    TOPUP_REJECT = "topup.reject"
    SAF_RETRY = "saf.retry-now"
    RECON = "recon"
    USER_ADD = "user.add"
    LOGIN = "login"
    LOGIN_REFUSED = "login.refused"
    LOGOUT = "logout"

    def __str__(self) -> str:
        return self.value


class AuditSource(str, Enum):
    CLI = "cli"
    CONSOLE = "console"
    SWITCH = "switch"

    def __str__(self) -> str:
        return self.value


# Field names that would mean a secret is about to be written into the trail.
_SECRET_NAMES = ("key", "password", "secret", "token", "mac")
_ALLOWED_NAMES = frozenset({"key_id", "key_check", "master_key_id"})


@dataclass(frozen=True)
class AuditRecord:
    audit_id: int
    at: str                       # ISO-8601 UTC with milliseconds, e.g. 2026-01-31T16:00:00.123Z
    actor: str                    # the OS user or --operator (CLI), the signed-in user (console)
    source: str                   # AuditSource: cli | console | switch
    action: str                   # AuditAction
    subject: str                  # what it was done to: an agent id, a terminal id, a business date
    before: dict | None
    after: dict | None


def os_user() -> str:
    """Who runs this process: the login name, or uid:N when the account has no name (containers)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def _check_no_secret(what: str, state: dict | None) -> None:
    if state is None:
        return
    if not isinstance(state, dict):
        raise ValueError(f"audit {what} must be a dict or None")
    for name, value in state.items():
        lowered = str(name).lower()
        if lowered not in _ALLOWED_NAMES and any(word in lowered for word in _SECRET_NAMES):
            raise ValueError(f"audit {what}: field {name!r} looks like a secret; audit records hold none")
        if isinstance(value, dict):
            _check_no_secret(what, value)


def _text(name: str, value: str) -> str:
    value = str(value)
    if not value.strip():
        raise ValueError(f"audit {name} must not be empty")
    return value


async def record(tx: Tx, *, actor: str, source: str, action: str, subject: str,
                 before: dict | None, after: dict | None) -> None:
    """Writes one audit record in `tx` (at = now, UTC). ValueError for an empty actor/source/action/
    subject or a before/after holding a key-like field."""
    _check_no_secret("before", before)
    _check_no_secret("after", after)
    await tx.execute(
        "INSERT INTO audit_log (at, actor, source, action, subject, before_state, after_state)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        utc_now(), _text("actor", actor), _text("source", str(source)), _text("action", str(action)),
        _text("subject", subject), _json(before), _json(after))


def _json(state: dict | None) -> str | None:
    return None if state is None else json.dumps(state, sort_keys=True, default=str)


def _moment(value: str | date | datetime) -> str:
    """A bound as the column's text: aware datetimes in UTC, naive ones taken as UTC, a date as its
    midnight UTC, strings as given (already the column's format)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0), tzinfo=timezone.utc)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _record(row: Any) -> AuditRecord:
    return AuditRecord(row["audit_id"], row["at"], row["actor"], row["source"], row["action"], row["subject"],
                       None if row["before_state"] is None else json.loads(row["before_state"]),
                       None if row["after_state"] is None else json.loads(row["after_state"]))


async def between(db: Database, start: str | date | datetime, end: str | date | datetime) -> list[AuditRecord]:
    """The records with start <= at < end, oldest first."""
    rows = await db.read(lambda tx: tx.fetchall(
        "SELECT * FROM audit_log WHERE at >= ? AND at < ? ORDER BY at, audit_id", _moment(start), _moment(end)))
    return [_record(row) for row in rows]


__all__ = ["AuditAction", "AuditRecord", "AuditSource", "between", "os_user", "record"]
