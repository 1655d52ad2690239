"""PostgreSQL backend: an asyncpg pool; a unit is one READ COMMITTED transaction.

Several switch nodes may share the database. Money stays safe without SERIALIZABLE because every
balance change is a conditional UPDATE (`... WHERE balance - held >= ?`), which PostgreSQL re-checks on
the latest row version after waiting for a concurrent writer. A unit that fails with a serialization
failure or deadlock is run again from the start (up to 3 more times), so units must be re-runnable.
"""
from __future__ import annotations

import asyncio
import contextvars
import re
from typing import Any, Awaitable, Callable, Sequence, TypeVar

import asyncpg

from .base import Database, DuplicateKey, StorageError
from .schema import schema_sql

T = TypeVar("T")

RETRIES = 3
_RETRYABLE = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
_SCHEMA_LOCK = 0x5050_4F42  # advisory lock id ("PPOB"): nodes starting together create the schema once

_inside_unit: contextvars.ContextVar[bool] = contextvars.ContextVar("pg_inside_unit", default=False)

# A '?' outside quotes and comments. The alternatives that match quoted text / comments come first
# and are kept as they are; only a bare '?' is numbered.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?", re.S)


def rewrite_placeholders(sql: str) -> str:
    """`?` -> `$1, $2, ...` outside quoted strings, quoted identifiers and comments."""
    counter = 0

    def number(match: re.Match[str]) -> str:
        nonlocal counter
        if match.group(0) != "?":
            return match.group(0)
        counter += 1
        return f"${counter}"

    return _TOKENS.sub(number, sql)


def _needs_savepoint(sql: str) -> bool:
    """A plain INSERT may hit a unique key that the unit expects to catch (DuplicateKey). On
    PostgreSQL any error aborts the transaction, so such a statement runs in a savepoint, which keeps
    the unit usable after a DuplicateKey exactly as on SQLite."""
    head = sql.lstrip()[:6].upper()
    return head == "INSERT" and "ON CONFLICT" not in sql.upper()


class _Retry(Exception):
    """A serialization failure or deadlock: the whole unit is run again."""


class PostgresTx:
    def __init__(self, conn: asyncpg.Connection, sql_cache: dict[str, str], database: Database) -> None:
        self._conn = conn
        self._cache = sql_cache
        self.database = database
        self.failed: Exception | None = None  # an error that aborted the transaction

    def _sql(self, sql: str) -> str:
        text = self._cache.get(sql)
        if text is None:
            text = self._cache[sql] = rewrite_placeholders(sql)
        return text

    async def _call(self, method: str, sql: str, args: Sequence[Any]) -> Any:
        text = self._sql(sql)
        call = getattr(self._conn, method)
        try:
            if _needs_savepoint(sql):
                async with self._conn.transaction():
                    return await call(text, *args)
            return await call(text, *args)
        except asyncpg.UniqueViolationError as exc:
            if not _needs_savepoint(sql):
                self.failed = DuplicateKey(str(exc))
            raise DuplicateKey(f"{exc} ({sql.strip()[:80]})") from exc
        except _RETRYABLE as exc:
            self.failed = _Retry(str(exc))
            raise self.failed from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            self.failed = StorageError(f"postgresql: {exc} ({sql.strip()[:80]})")
            raise self.failed from exc

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self._call("execute", sql, args)
        last = status.rsplit(" ", 1)[-1] if status else ""
        return int(last) if last.isdigit() else 0  # "UPDATE 3", "INSERT 0 1", "SELECT 5"

    async def fetchone(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self._call("fetchrow", sql, args)

    async def fetchall(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self._call("fetch", sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._call("fetchval", sql, args)


class PostgresDatabase(Database):
    """`PostgresDatabase(url)`; `commits` counts committed units (each is its own commit)."""

    dialect = "postgresql"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self.commits = 0
        self.units = 0
        self.retries = 0
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._sql_cache: dict[str, str] = {}

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=self._min_size, max_size=self._max_size)
            await self._create_schema(self._pool)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            await self.close()
            raise StorageError(f"postgresql: cannot open database: {exc}") from exc

    async def _create_schema(self, pool: asyncpg.Pool) -> None:
        schema = schema_sql("postgresql")
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
            await conn.execute(schema)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def unit(self, work: Callable[[PostgresTx], Awaitable[T]]) -> T:
        for attempt in range(RETRIES + 1):
            try:
                result = await self._attempt(work, readonly=False)
            except _Retry as exc:
                if attempt == RETRIES:
                    raise StorageError(f"postgresql: gave up after {RETRIES} retries: {exc}") from exc
                self.retries += 1
                await asyncio.sleep(0.005 * (attempt + 1))  # let the other transaction finish
                continue
            self.commits += 1
            self.units += 1
            return result
        raise AssertionError("unreachable")

    async def read(self, work: Callable[[PostgresTx], Awaitable[T]]) -> T:
        try:
            return await self._attempt(work, readonly=True)
        except _Retry as exc:
            raise StorageError(f"postgresql: {exc}") from exc

    async def _attempt(self, work: Callable[[PostgresTx], Awaitable[T]], *, readonly: bool) -> T:
        if _inside_unit.get():  # it would hold a second pooled connection and could wait for itself
            raise StorageError("a unit cannot open another unit or read(): use the unit's tx")
        if self._pool is None:
            raise StorageError("postgresql: database is not open")
        token = _inside_unit.set(True)
        try:
            async with self._pool.acquire() as conn:
                tx = PostgresTx(conn, self._sql_cache, self)
                async with conn.transaction(readonly=readonly):
                    result = await work(tx)
                    if isinstance(tx.failed, _Retry):  # swallowed by the unit: still worth a retry
                        raise tx.failed
                    if tx.failed is not None:  # the unit swallowed an error: COMMIT would roll back
                        raise StorageError(f"unit ignored a database error: {tx.failed}")
                return result
        except _RETRYABLE as exc:  # raised by COMMIT itself
            raise _Retry(str(exc)) from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StorageError(f"postgresql: {exc}") from exc
        finally:
            _inside_unit.reset(token)
