"""The back-office console's users, sessions and signing secret: their SQL.

Passwords arrive here already hashed (argon2id, by the console); a session is kept under the sha256 of
its id, so the database never holds what a browser could present. Times are the schema's UTC text.
"""
from __future__ import annotations

import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .storage import Tx, utc_now

_NAME = re.compile(r"[A-Za-z0-9._-]{1,32}")


class Role(enum.IntEnum):
    """Ordered: each role may do what the ones below it may."""
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> "Role":
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"role must be viewer, operator or admin, not {text!r}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    password_hash: str
    failed_logins: int
    locked_until: str | None
    created_at: str

    def locked_at(self, now: str) -> bool:
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str
    created_at: str
    last_seen_at: str


def valid_name(name: object) -> bool:
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def check_name(name: str) -> str:
    if not valid_name(name):
        raise ValueError("user name must be 1 to 32 letters, digits, '.', '_' or '-'")
    return name


def _user(row) -> User:
    return User(row["name"], Role.parse(row["role"]), row["password_hash"], row["failed_logins"],
                row["locked_until"], row["created_at"])


def iso_after(seconds: float) -> str:
    moment = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def add_user(tx: Tx, name: str, role: Role, password_hash: str) -> None:
    check_name(name)
    now = utc_now()
    added = await tx.execute(
        "INSERT INTO console_users (name, role, password_hash, failed_logins, created_at, updated_at)"
        " VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT (name) DO NOTHING", name, role.label, password_hash, now, now)
    if added == 0:
        raise ValueError(f"user {name} already exists")


async def get_user(tx: Tx, name: str) -> User | None:
    row = await tx.fetchone("SELECT * FROM console_users WHERE name = ?", name)
    return None if row is None else _user(row)


async def list_users(tx: Tx) -> list[User]:
    return [_user(row) for row in await tx.fetchall("SELECT * FROM console_users ORDER BY name")]


async def login_failed(tx: Tx, name: str, max_failures: int, lock_seconds: float) -> bool:
    """Counts a wrong password; at `max_failures` in a row the user is locked. True when now locked."""
    row = await tx.fetchone(
        "UPDATE console_users SET failed_logins = failed_logins + 1, updated_at = ? WHERE name = ?"
        " RETURNING failed_logins", utc_now(), name)
    if row is None or row["failed_logins"] < max_failures:
        return False
    await tx.execute("UPDATE console_users SET locked_until = ?, failed_logins = 0 WHERE name = ?",
                     iso_after(lock_seconds), name)
    return True


async def login_succeeded(tx: Tx, name: str) -> None:
    await tx.execute("UPDATE console_users SET failed_logins = 0, locked_until = NULL, updated_at = ?"
                     " WHERE name = ?", utc_now(), name)


# ---- sessions ------------------------------------------------------------------------------------

def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def open_session(tx: Tx, user_name: str) -> tuple[str, str]:
    """A new session of `user_name`: (session id for the cookie, CSRF token)."""
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utc_now()
    await tx.execute("INSERT INTO console_sessions (session_hash, user_name, csrf_token, created_at,"
                     " last_seen_at) VALUES (?, ?, ?, ?, ?)", session_hash(session_id), user_name, csrf, now, now)
    return session_id, csrf


async def touch_session(tx: Tx, session_id: str, idle_seconds: float, max_seconds: float) -> Session | None:
    """The live session behind `session_id`, its last-seen time moved to now; None (and the row gone)
    when it is unknown, idle longer than `idle_seconds`, older than `max_seconds`, or its user is locked."""
    key = session_hash(session_id)
    row = await tx.fetchone(
        "SELECT s.csrf_token, s.created_at, s.last_seen_at, u.* FROM console_sessions s"
        " JOIN console_users u ON u.name = s.user_name WHERE s.session_hash = ?", key)
    if row is None:
        return None
    now = utc_now()
    user = _user(row)
    if (row["last_seen_at"] < iso_after(-idle_seconds) or row["created_at"] < iso_after(-max_seconds)
            or user.locked_at(now)):
        await tx.execute("DELETE FROM console_sessions WHERE session_hash = ?", key)
        return None
    await tx.execute("UPDATE console_sessions SET last_seen_at = ? WHERE session_hash = ?", now, key)
    return Session(user, row["csrf_token"], row["created_at"], now)


async def close_session(tx: Tx, session_id: str) -> None:
    await tx.execute("DELETE FROM console_sessions WHERE session_hash = ?", session_hash(session_id))


async def forget_stale_sessions(tx: Tx, idle_seconds: float) -> int:
    return await tx.execute("DELETE FROM console_sessions WHERE last_seen_at < ?", iso_after(-idle_seconds))


async def secret(tx: Tx, name: str) -> str:
    """A named random secret, made on first use and shared by every console on this database."""
    await tx.execute("INSERT INTO console_secrets (name, value, created_at) VALUES (?, ?, ?)"
                     " ON CONFLICT (name) DO NOTHING", name, secrets.token_urlsafe(48), utc_now())
    return await tx.fetchval("SELECT value FROM console_secrets WHERE name = ?", name)
