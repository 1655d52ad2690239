"""PostgreSQL backend: an asyncpg pool; a unit is one READ COMMITTED transaction.

Round trips are what a payment costs here (each one is a wake-up of the switch and of a server
process), so: a read() runs its statements without BEGIN/COMMIT (under READ COMMITTED every
statement takes its own snapshot anyway, in a transaction or not), and a connection goes back to the
pool without asyncpg's reset query (the switch never sets session state, listens, or takes session
locks), which saves 3 round trips per read and 1 per unit.

Several switch nodes may share the database. Money stays safe without SERIALIZABLE because every
balance change is a conditional UPDATE (`... WHERE balance - held >= ?`), which PostgreSQL re-checks on
the latest row version after waiting for a concurrent writer. A unit that fails with a serialization
failure or deadlock is run again from the start (up to 3 more times), so units must be re-runnable.
"""
from __future__ import annotations

import asyncio
import contextvars
import re
import time
from typing import Any, Awaitable, Callable, NamedTuple, Sequence, TypeVar

import asyncpg

from .base import Database, DuplicateKey, StorageError, UnitLatency
from .functions import ServerFunction, install_missing
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


def bind_names(sql: str, *names: str) -> str:
    """`sql` with each bare `?` replaced by the next of `names`: a portable statement (the one the
    Python unit runs) inside a PL/pgSQL function, with its arguments or variables in place."""
    return _fill(sql, names, str, ValueError, "names")


def _fill(sql: str, items: Sequence[Any], render: Callable[[Any], str], error: type[Exception],
          what: str, prefix: str = "") -> str:
    """`sql` with each bare `?` (not inside a literal, identifier or comment) replaced by the next
    of `items` as `render` writes it; exactly as many items as placeholders, else `error`."""
    given = iter(items)

    def one(match: re.Match[str]) -> str:
        if match.group(0) != "?":
            return match.group(0)
        item = next(given, _END)
        if item is _END:
            raise error(f"{prefix}fewer {what} than placeholders in: {sql.strip()[:80]}")
        return render(item)

    text = _TOKENS.sub(one, sql)
    if next(given, _END) is not _END:
        raise error(f"{prefix}more {what} than placeholders in: {sql.strip()[:80]}")
    return text


def _needs_savepoint(sql: str) -> bool:
    """A plain INSERT may hit a unique key that the unit expects to catch (DuplicateKey). On
    PostgreSQL any error aborts the transaction, so such a statement runs in a savepoint, which keeps
    the unit usable after a DuplicateKey exactly as on SQLite."""
    head = sql.lstrip()[:6].upper()
    return head == "INSERT" and "ON CONFLICT" not in sql.upper()


class _Retry(Exception):
    """A serialization failure or deadlock: the whole unit is run again."""


def _reads_only(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "SELECT"


class _Statement(NamedTuple):
    """What the Tx works out once per SQL text."""
    text: str          # with $n placeholders
    savepoint: bool    # see _needs_savepoint
    reads_only: bool   # may run in a read()


def inline_values(sql: str, args: Sequence[Any]) -> str:
    """`sql` with each bare `?` replaced by its value as an SQL literal (int, str or None only; with
    standard_conforming_strings on, a quote doubled is the only escape a string literal needs)."""
    return _fill(sql, args, _literal, StorageError, "values", "postgresql: ")


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"({value})"  # parenthesised: `x - -5` must never become a `--` comment
    if isinstance(value, str) and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    raise StorageError(f"postgresql: cannot write {type(value).__name__} into a deferred statement")


_END = object()


class PostgresTx:
    def __init__(self, conn: asyncpg.Connection, sql_cache: dict[str, _Statement], database: Database,
                 *, readonly: bool = False) -> None:
        self._conn = conn
        self._cache = sql_cache
        self.database = database
        self.readonly = readonly  # a read(): no transaction around it, so it must not write
        self.failed: Exception | None = None  # an error that aborted the transaction
        self._deferred: list[str] = []  # statements (values written in) for the next round trip
        self.round_trips = 0  # requests sent (a statement's first preparation on a connection: one more)
        # the literals of inline_values are only safe with standard_conforming_strings on
        self._can_defer = conn.get_settings().standard_conforming_strings == "on"

    def _statement(self, sql: str) -> _Statement:
        statement = self._cache.get(sql)
        if statement is None:
            statement = self._cache[sql] = _Statement(rewrite_placeholders(sql), _needs_savepoint(sql),
                                                      _reads_only(sql))
        return statement

    def _refuse_writes(self, statement: _Statement, sql: str) -> None:
        if self.readonly and not statement.reads_only:
            raise StorageError(f"read() runs SELECTs only, not: {sql.strip()[:80]}")

    async def _call(self, method: str, sql: str, args: Sequence[Any]) -> Any:
        statement = self._statement(sql)
        self._refuse_writes(statement, sql)
        if statement.savepoint:  # deferred statements travel with the SAVEPOINT
            await self._script(["SAVEPOINT unit_insert"])
        elif self._deferred:
            await self._script([])
        call = getattr(self._conn, method)
        self.round_trips += 1
        try:
            result = await call(statement.text, *args)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            if statement.savepoint and isinstance(exc, asyncpg.PostgresError):
                await self._script(["ROLLBACK TO SAVEPOINT unit_insert"])
                if isinstance(exc, asyncpg.UniqueViolationError):  # the unit stays usable
                    raise DuplicateKey(f"{exc} ({sql.strip()[:80]})") from exc
            raise self._failure(exc, sql) from exc
        if statement.savepoint:
            self._deferred.append("RELEASE SAVEPOINT unit_insert")  # no round trip of its own
        return result

    def _failure(self, exc: BaseException, sql: str) -> Exception:
        """The error that aborted the transaction, remembered (a unit that swallows it cannot commit)."""
        if isinstance(exc, asyncpg.UniqueViolationError):
            self.failed = DuplicateKey(str(exc))
            return DuplicateKey(f"{exc} ({sql.strip()[:80]})")
        if isinstance(exc, _RETRYABLE):
            self.failed = _Retry(str(exc))
        else:
            self.failed = StorageError(f"postgresql: {exc} ({sql.strip()[:80]})")
        return self.failed

    async def _script(self, last: list[str]) -> None:
        """The deferred statements and `last` in one simple query: one round trip."""
        script, self._deferred = ";\n".join(self._deferred + last), []
        if not script:
            return
        self.round_trips += 1
        try:
            await self._conn.execute(script)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise self._failure(exc, script) from exc

    async def defer(self, sql: str, *args: Any) -> None:
        """Runs before the unit's next statement or with its COMMIT, in that round trip."""
        statement = self._statement(sql)
        self._refuse_writes(statement, sql)
        if self.readonly or not self._can_defer or statement.savepoint:
            await self.execute(sql, *args)
            return
        self._deferred.append(inline_values(sql, args))

    async def commit(self) -> None:
        await self._script(["COMMIT"])

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
    """`PostgresDatabase(url)`; `commits` counts committed units (each is its own commit),
    `round_trips` the requests their statements, BEGINs and COMMITs took."""

    dialect = "postgresql"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self.commits = 0
        self.units = 0
        self.retries = 0
        self.round_trips = 0
        self.unit_latency = UnitLatency()
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._sql_cache: dict[str, _Statement] = {}
        self._texts: dict[str, str] = {}  # one_statement's SQL with $n placeholders
        self._installed: set[tuple[ServerFunction, ...]] = set()  # checked in this database by this process
        self._installing = asyncio.Lock()

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=self._min_size, max_size=self._max_size,
                                                   reset=_keep_session)
            await self._create_schema(self._pool)
        except StorageError:
            await self.close()
            raise
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            await self.close()
            raise StorageError(f"postgresql: cannot open database: {exc}") from exc

    async def _create_schema(self, pool: asyncpg.Pool) -> None:
        """The schema and the functions handed over (server_functions), under the schema lock: nodes
        starting together create them once, and a function that cannot be created stops the start."""
        schema = schema_sql("postgresql")
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
            await conn.execute(schema)
            await install_missing(conn, self.server_functions)
        self._installed.add(self.server_functions)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def unit(self, work: Callable[[PostgresTx], Awaitable[T]]) -> T:
        asked = time.perf_counter()
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
            self.unit_latency.observe(time.perf_counter() - asked)
            return result
        raise AssertionError("unreachable")

    async def one_statement(self, sql: str, *args: Any,
                            install: tuple[ServerFunction, ...] = ()) -> asyncpg.Record | None:
        """A whole unit as one statement (a call of a server-side function that does the unit), in
        autocommit: it is its own transaction, so it costs one round trip, no BEGIN and no COMMIT. Its
        row is returned once it is committed. Retried like a unit on a serialization failure or a
        deadlock. `install`, the functions the statement calls, are normally handed over before open
        (server_functions) and created there; else the first call creates those missing, once."""
        if _inside_unit.get():
            raise StorageError("a unit cannot open another unit or read(): use the unit's tx")
        if self._pool is None:
            raise StorageError("postgresql: database is not open")
        if install not in self._installed:
            await self._install(install)
        text = self._texts.get(sql) or self._texts.setdefault(sql, rewrite_placeholders(sql))
        asked = time.perf_counter()
        for attempt in range(RETRIES + 1):
            try:
                self.round_trips += 1
                async with self._pool.acquire() as conn:
                    row = await conn.fetchrow(text, *args)
            except _RETRYABLE as exc:
                if attempt == RETRIES:
                    raise StorageError(f"postgresql: gave up after {RETRIES} retries: {exc}") from exc
                self.retries += 1
                await asyncio.sleep(0.005 * (attempt + 1))
                continue
            except asyncpg.UniqueViolationError as exc:
                raise DuplicateKey(f"{exc} ({sql.strip()[:80]})") from exc
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise StorageError(f"postgresql: {exc} ({sql.strip()[:80]})") from exc
            self.commits += 1
            self.units += 1
            self.unit_latency.observe(time.perf_counter() - asked)
            return row
        raise StorageError(f"postgresql: gave up after {RETRIES} retries ({sql.strip()[:80]})")

    async def _install(self, functions: tuple[ServerFunction, ...]) -> None:
        """`functions` not handed over before open: created once per process (the first caller
        installs, the others wait for it), under the schema lock."""
        async with self._installing:
            if functions in self._installed:
                return
            if self._pool is None:
                raise StorageError("postgresql: database is not open")
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    self.round_trips += 4  # BEGIN, the lock, the check (and what is missing), COMMIT
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                    await install_missing(conn, functions)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise StorageError(f"postgresql: cannot install the ledger's functions: {exc}") from exc
            self._installed.add(functions)

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
        tx: PostgresTx | None = None
        try:
            async with self._pool.acquire() as conn:
                tx = PostgresTx(conn, self._sql_cache, self, readonly=readonly)
                if readonly:
                    return _checked(tx, await work(tx))
                tx.round_trips += 1
                await conn.execute("BEGIN")  # by hand: the COMMIT travels with the deferred statements
                try:
                    result = _checked(tx, await work(tx))
                    await tx.commit()
                except BaseException:
                    await _roll_back(conn)
                    raise
                return result
        except _RETRYABLE as exc:  # raised by COMMIT itself
            raise _Retry(str(exc)) from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StorageError(f"postgresql: {exc}") from exc
        finally:
            _inside_unit.reset(token)
            if tx is not None:
                self.round_trips += tx.round_trips


def _checked(tx: PostgresTx, result: T) -> T:
    """The unit's result, unless it swallowed a database error (COMMIT would then roll back)."""
    if isinstance(tx.failed, _Retry):  # swallowed by the unit: still worth a retry
        raise tx.failed
    if tx.failed is not None:
        raise StorageError(f"unit ignored a database error: {tx.failed}")
    return result


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo (asyncpg still rolls back a transaction left open), so no
    round trip for `RESET ALL; UNLISTEN *; CLOSE ALL; SELECT pg_advisory_unlock_all()`."""


async def _roll_back(conn: asyncpg.Connection) -> None:
    """Ends a unit that failed; a connection that cannot even roll back is dropped (the server then
    rolls back), never handed out again in an unknown state."""
    if conn.is_closed() or not conn.is_in_transaction():
        return
    try:
        await conn.execute("ROLLBACK")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        conn.terminate()
