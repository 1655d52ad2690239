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
from bisect import bisect_left
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, Protocol, Sequence, TypeVar

if TYPE_CHECKING:
    from .functions import ServerFunction

T = TypeVar("T")
Row = Mapping[str, Any]


class StorageError(Exception):
    """The database refused or failed (not a business rule)."""


class DuplicateKey(StorageError):
    """An INSERT/UPDATE hit a unique or primary key (SQLite IntegrityError UNIQUE/PRIMARY KEY,
    PostgreSQL UniqueViolationError)."""


def _second_stamps() -> Callable[[], str]:
    """utc_now: the date and time of day are formatted once per second (strftime was 2-3 % of the
    switch's CPU at several stamps per transaction), the milliseconds every call."""
    last = [-1, ""]

    def utc_now() -> str:
        millis = int(time.time() * 1000)
        second = millis // 1000
        if second != last[0]:
            last[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
        return f"{last[1]}.{millis % 1000:03d}Z"
    utc_now.__doc__ = "The schema's timestamp format: ISO-8601 UTC with milliseconds, e.g. 2026-01-31T16:00:00.123Z."
    return utc_now


utc_now = _second_stamps()


class Tx(Protocol):
    """A transaction inside a unit of work."""

    database: "Database"  # the database it runs on (the ledger finds the database's key ring there)

    async def execute(self, sql: str, *args: Any) -> int:
        """Runs one statement; returns the number of rows it changed."""

    async def defer(self, sql: str, *args: Any) -> None:
        """Runs a statement whose row count nobody needs and that is not expected to fail (an
        UPDATE of a row known to be there) before the unit's next statement, or with its commit.
        Statements keep their order; on PostgreSQL the deferred ones travel in one round trip with
        whatever comes next, the COMMIT included, so a hot row updated that way is locked for the
        commit alone. If it fails, the unit fails there."""

    async def fetchone(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchall(self, sql: str, *args: Any) -> Sequence[Row]: ...

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """First column of the first row, or None."""


async def fetch_row(tx: Tx, sql: str, *args: Any) -> Row:
    """The row a query always has (an aggregate, a row known to exist); StorageError when not."""
    row = await tx.fetchone(sql, *args)
    if row is None:
        raise StorageError(f"no row where one must be: {sql}")
    return row


# Upper bounds (seconds) of the unit-latency tally: a commit takes about a millisecond when the disk
# is quiet, a group commit's wait a few more; past a second something is wrong.
UNIT_SECONDS_BOUNDS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class UnitLatency:
    """How long durable units took, from being asked for to their commit on disk (a group
    commit's wait included): histogram counts kept as a plain tally, under a microsecond a unit,
    which the metrics layer exports when scraped (ppob_db_unit_seconds)."""

    __slots__ = ("bounds", "counts", "total_seconds")

    def __init__(self, bounds: tuple[float, ...] = UNIT_SECONDS_BOUNDS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # per bound (le), and the last past the largest one
        self.total_seconds = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total_seconds += seconds


class Database(ABC):
    dialect: str  # "sqlite" or "postgresql"
    unit_latency: UnitLatency  # every committed unit's time (set by each backend's __init__)
    # What protects the database's sealed columns (terminal keys): switch.ledger.keyring attaches it;
    # storage never looks inside.
    keys: Any = None
    # Functions the ledger keeps in the database (switch.ledger.units.attach hands them over before
    # open); PostgreSQL creates those missing when it opens, SQLite has none.
    server_functions: tuple[ServerFunction, ...] = ()

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


POOL_OPTIONS = {"pool_min": "min_size", "pool_max": "max_size"}


def pool_options(url: str) -> tuple[str, dict[str, int]]:
    """`postgresql://...?pool_max=20&pool_min=2`: the node's connection pool size (default 1..10),
    taken out of the URL; every other parameter is left for the driver."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
    parts = urlsplit(url)
    pool: dict[str, int] = {}
    rest = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in POOL_OPTIONS:
            if not value.isdigit() or int(value) < 1:
                raise StorageError(f"database: {key} must be a whole number of connections, at least 1")
            pool[POOL_OPTIONS[key]] = int(value)
        else:
            rest.append((key, value))
    if pool.get("min_size", 1) > pool.get("max_size", 10):
        raise StorageError("database: pool_min must not exceed pool_max (default 10)")
    return urlunsplit(parts._replace(query=urlencode(rest))), pool


def open_database(url: str) -> Database:
    """sqlite:////abs/path.db, sqlite:///relative.db, sqlite:///:memory: or postgresql://...
    (`?pool_max=N&pool_min=M` size a PostgreSQL node's connection pool)"""
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteDatabase
        return SqliteDatabase(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresDatabase
        url, pool = pool_options(url)
        return PostgresDatabase(url, **pool)
    from switch.config import mask_credentials
    raise ValueError(f"database: unsupported URL {mask_credentials(url)!r} (use sqlite:///... or postgresql://...)")
