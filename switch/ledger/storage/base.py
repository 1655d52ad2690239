"""The storage interface: the only door to SQL.

Two implementations: SQLite (embedded default: WAL, synchronous=FULL, group commit) and PostgreSQL
(asyncpg pool; several switch nodes may share one database). Code above this layer never sees a
connection: it passes a unit of work (an async function taking a Tx) to `Database.unit`, which runs it
as one atomic, durable transaction and returns its result only after the commit is on disk.

SQL is written once, with `?` placeholders; the PostgreSQL Tx rewrites them to $1, $2, ...
Rows are mappings: row["column"].
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, Awaitable, Callable, Mapping, Protocol, Sequence, TypeVar

T = TypeVar("T")
Row = Mapping[str, Any]


class StorageError(Exception):
    """The database refused or failed (not a business rule)."""


class DuplicateKey(StorageError):
    """An INSERT/UPDATE hit a unique or primary key (SQLite IntegrityError UNIQUE/PRIMARY KEY,
    PostgreSQL UniqueViolationError)."""


def utc_now() -> str:
    """The schema's timestamp format: ISO-8601 UTC with milliseconds, e.g. 2026-01-31T16:00:00.123Z."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


class Tx(Protocol):
    """A transaction inside a unit of work."""

    database: "Database"  # the database it runs on (the ledger finds the database's key ring there)

    async def execute(self, sql: str, *args: Any) -> int:
        """Runs one statement; returns the number of rows it changed."""

    async def fetchone(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchall(self, sql: str, *args: Any) -> Sequence[Row]: ...

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """First column of the first row, or None."""


class Database(ABC):
    dialect: str  # "sqlite" or "postgresql"
    # What protects the database's sealed columns (terminal keys): switch.ledger.keyring attaches it;
    # storage never looks inside.
    keys: Any = None

    @abstractmethod
    async def open(self) -> None:
        """Connects and creates the schema if it is not there (idempotent)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def unit(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """Runs `work` atomically; its effects are durable when this returns. If `work` raises,
        nothing it did is kept and the exception propagates."""

    async def read(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """A read-only unit (implementations may skip the durable commit)."""
        return await self.unit(work)


def open_database(url: str) -> Database:
    """sqlite:////abs/path.db, sqlite:///relative.db, sqlite:///:memory: or postgresql://..."""
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteDatabase
        return SqliteDatabase(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresDatabase
        return PostgresDatabase(url)
    from switch.config import mask_credentials
    raise ValueError(f"database: unsupported URL {mask_credentials(url)!r} (use sqlite:///... or postgresql://...)")
