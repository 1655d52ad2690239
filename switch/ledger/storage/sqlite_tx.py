"""SQLite's Tx: the statements of a unit (or of a read) on one sqlite3 connection.

Apart from sqlite.py's unit driver, which stays pure Python, so that this hot glue is compiled with
the hot path (switch/compiled.py)."""
from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from .base import Database, DuplicateKey, StorageError

_UNIQUE_ERRORS = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}


def _storage_error(exc: sqlite3.Error, sql: str) -> StorageError:
    """sqlite3 errors as the storage layer's errors (unique keys are DuplicateKey)."""
    if getattr(exc, "sqlite_errorname", "") in _UNIQUE_ERRORS:
        return DuplicateKey(f"{exc} ({sql.strip()[:80]})")
    return StorageError(f"sqlite: {exc} ({sql.strip()[:80]})")


class SqliteTx:
    """A Tx over one sqlite3 connection (calls are synchronous underneath; they never yield).

    Statements that run to their end (execute, defer, fetchall) share one cursor (a new cursor
    object per statement cost 0.3-0.6 of the 4-6 us per statement). fetchone keeps a cursor of its
    own, closed after its row, which resets its statement (finishes an INSERT ... RETURNING)."""

    def __init__(self, conn: sqlite3.Connection, database: Database) -> None:
        self._conn = conn
        self._cursor = conn.cursor()
        self.database = database

    def _run(self, sql: str, args: Sequence[Any]) -> int:
        """Runs a statement to its end; the rows it changed."""
        cur = self._cursor
        try:
            cur.execute(sql, args)
            if cur.description is not None:  # a RETURNING statement only completes once read
                cur.fetchall()
        except sqlite3.Error as exc:
            raise _storage_error(exc, sql) from exc
        return max(cur.rowcount, 0)

    async def execute(self, sql: str, *args: Any) -> int:
        return self._run(sql, args)

    async def defer(self, sql: str, *args: Any) -> None:
        self._run(sql, args)  # nothing to gain by waiting: one writer, no round trips

    def _first(self, sql: str, args: Sequence[Any]) -> sqlite3.Row | None:
        try:
            cur = self._conn.execute(sql, args)
            try:
                row: sqlite3.Row | None = cur.fetchone()
                return row
            finally:
                cur.close()  # resets the statement (finishes an INSERT ... RETURNING)
        except sqlite3.Error as exc:
            raise _storage_error(exc, sql) from exc

    async def fetchone(self, sql: str, *args: Any) -> sqlite3.Row | None:
        return self._first(sql, args)

    async def fetchall(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        cur = self._cursor
        try:
            cur.execute(sql, args)
            return cur.fetchall()
        except sqlite3.Error as exc:
            raise _storage_error(exc, sql) from exc

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = self._first(sql, args)
        return None if row is None else row[0]
