"""SQLite backend: one write connection with group commit, one read connection.

Why group commit: with synchronous=FULL every COMMIT waits for an fsync (milliseconds). Units run one
at a time on the event-loop thread inside one open write transaction, each in its own SAVEPOINT (so a
unit that raises is undone alone); the COMMIT then runs in a worker thread while units arriving in the
meantime queue up for the next batch. One fsync thus serves every unit of a batch, and each `unit()`
call returns only once the commit holding it is on disk.

Several processes may open the same file (CLI admin commands beside `serve`): WAL lets readers run
beside the writer, write transactions are kept short (a batch is capped), and busy_timeout makes a
second writer wait for the lock instead of failing.
"""
from __future__ import annotations

import asyncio
import contextvars
import sqlite3
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Coroutine, TypeVar

from .base import Database, StorageError, UnitLatency
from .schema import schema_sql
from .sqlite_tx import SqliteTx

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
MAX_BATCH_UNITS = 512      # keeps a write transaction short for other processes
MAX_BATCH_SECONDS = 0.05   # ... and bounded in time when units arrive non-stop

_inside_unit: contextvars.ContextVar[bool] = contextvars.ContextVar("sqlite_inside_unit", default=False)

@dataclass
class _Pending:
    """A unit waiting for its batch."""
    work: Callable[[SqliteTx], Awaitable[Any]]
    context: contextvars.Context
    future: asyncio.Future = field(repr=False)


def _connect(path: str, *, read_only: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=512)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    if read_only:
        conn.execute("PRAGMA query_only = ON")
    return conn


class SqliteDatabase(Database):
    """`SqliteDatabase(path)`; ":memory:" gives a private in-memory database (tests).

    `commits` counts write transactions committed and `units` the units they carried, so
    `units / commits` is the average batch size."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.commits = 0
        self.units = 0
        self.unit_latency = UnitLatency()
        self._memory = path == ":memory:" or path.startswith("file::memory:")
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._read_lock = asyncio.Lock()
        self._queue: deque[_Pending] = deque()
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task | None = None
        self._closing = False
        self._executor: ThreadPoolExecutor | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._conn is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-commit")
        try:
            self._conn = await self._in_thread(self._open_writer)
            if not self._memory:
                self._reader = await self._in_thread(_connect, self.path, read_only=True)
        except sqlite3.Error as exc:
            await self.close()
            raise StorageError(f"sqlite: cannot open {self.path}: {exc}") from exc
        self._closing = False
        self._writer = asyncio.create_task(self._write_loop(), name=f"sqlite-writer:{self.path}")

    def _open_writer(self) -> sqlite3.Connection:
        conn = _connect(self.path, read_only=False)
        # The journal of each unit's SAVEPOINT (and of a statement that may fail halfway) in memory,
        # not in a temporary file: past 64 KiB in a batch, every page a unit first touched was
        # pwritten there, ~40 % of the statements' CPU on the event-loop thread. It holds the pages
        # the open batch changed and goes with its COMMIT; crash recovery is the WAL's, not its.
        conn.execute("PRAGMA temp_store = MEMORY")
        if not self._memory:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"journal_mode is {mode}, WAL refused")
        schema = schema_sql("sqlite")
        conn.executescript(schema)  # CREATE ... IF NOT EXISTS: idempotent, safe beside other processes
        return conn

    async def close(self) -> None:
        """Finishes the units already queued, then closes."""
        self._closing = True
        self._wakeup.set()
        if self._writer is not None:
            if not self._writer.done():
                await self._writer
            self._writer = None
        for conn in (self._reader, self._conn):
            if conn is not None:
                conn.close()
        self._reader = self._conn = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    # -- units -----------------------------------------------------------------------------------

    async def unit(self, work: Callable[[Any], Awaitable[T]]) -> T:
        if _inside_unit.get():
            raise StorageError("a unit cannot open another unit (it would wait for itself)")
        if self._conn is None or self._closing:
            raise StorageError("sqlite: database is not open")
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(work, contextvars.copy_context(), future))
        self._wakeup.set()
        asked = time.perf_counter()
        result = await future
        self.unit_latency.observe(time.perf_counter() - asked)
        return result

    async def read(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Runs on the read connection: sees every committed unit, never waits for a commit."""
        if _inside_unit.get():  # it would not see the unit's own writes: use the unit's tx instead
            raise StorageError("read() inside a unit: use the unit's tx")
        if self._reader is None:
            if self._memory and self._conn is not None:
                return await self.unit(work)  # a private :memory: db has no second connection
            raise StorageError("sqlite: database is not open")
        reader = self._reader
        async with self._read_lock:
            reader.execute("BEGIN")  # one snapshot for the whole read
            try:
                return await work(SqliteTx(reader, self))
            finally:
                if reader.in_transaction:
                    reader.execute("COMMIT")

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                await self._run_batch()
            if self._closing and not self._queue:
                return

    def _writing(self) -> sqlite3.Connection:
        """The write connection; the writer task runs only between open() and close()."""
        if self._conn is None:
            raise StorageError("sqlite: database is not open")
        return self._conn

    async def _run_batch(self) -> None:
        """One write transaction: every queued unit (up to the caps), one durable COMMIT."""
        conn = self._writing()
        try:
            await self._begin(conn)
        except sqlite3.Error as exc:
            self._fail_queued(StorageError(f"sqlite: cannot begin a write transaction: {exc}"))
            return
        done: list[tuple[_Pending, BaseException | None, Any]] = []
        running: _Pending | None = None
        try:
            started = time.monotonic()
            while self._queue and len(done) < MAX_BATCH_UNITS and time.monotonic() - started < MAX_BATCH_SECONDS:
                running = self._queue.popleft()
                if running.future.done():  # its caller was cancelled before the unit started
                    continue
                done.append((running, *await self._run_unit(running)))
                running = None
            await self._in_thread(conn.execute, "COMMIT")
        except asyncio.CancelledError:  # the writer is stopped (the program ends): nothing is committed
            self._rollback_quietly()
            stopped = StorageError("sqlite: the database was stopped before this unit was committed")
            for pending in [p for p, _, _ in done] + ([running] if running else []):
                _settle(pending.future, stopped, None)
            self._fail_queued(stopped)
            raise
        except sqlite3.Error as exc:  # the whole batch is lost: every unit in it fails
            self._rollback_quietly()
            failed: BaseException = StorageError(f"sqlite: write transaction failed: {exc}")
            done = [(pending, failed, None) for pending, _, _ in done]
        else:
            self.commits += 1
            self.units += len(done)
        for pending, error, result in done:
            _settle(pending.future, error, result)

    async def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE on the loop's thread when no other process holds the write lock (it is
        then immediate; a thread hop per batch cost ~2 % of the switch's CPU); when one does, in
        the worker thread, where busy_timeout waits for it without stopping the event loop."""
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not getattr(exc, "sqlite_errorname", "").startswith("SQLITE_BUSY"):  # _RECOVERY too
                raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await self._in_thread(conn.execute, "BEGIN IMMEDIATE")  # another process writes: wait for it

    async def _run_unit(self, pending: _Pending) -> tuple[BaseException | None, Any]:
        """Runs one unit inside a savepoint, in its caller's context (logging context, etc.).

        A unit's SQL never waits, so its coroutine nearly always runs to its end in one step: it is
        driven here directly, without a task of its own and the loop hops that cost (a task per
        unit was ~5 % of the switch's CPU). A unit that does wait goes on as a task, shielded."""
        conn = self._writing()
        conn.execute("SAVEPOINT unit")
        coro = self._call(pending.work)
        task: asyncio.Task | None = None
        try:
            try:
                waiting_on = pending.context.run(coro.send, None)
            except StopIteration as done:
                result = done.value
            else:
                task = asyncio.create_task(_resume(coro, waiting_on), context=pending.context)
                result = await asyncio.shield(task)
        except BaseException as exc:  # noqa: BLE001 - handed back to the unit's caller
            if task is not None and not task.done():  # the writer is being cancelled: the unit finishes first
                await asyncio.wait([task])
            conn.execute("ROLLBACK TO unit")
            conn.execute("RELEASE unit")
            writer = asyncio.current_task()
            if writer is not None and writer.cancelling():
                raise  # the writer's own cancellation, not the unit's error: the writer must end
            return exc, None
        conn.execute("RELEASE unit")
        return None, result

    async def _call(self, work: Callable[[SqliteTx], Awaitable[T]]) -> T:
        _inside_unit.set(True)
        return await work(SqliteTx(self._writing(), self))

    def _fail_queued(self, error: StorageError) -> None:
        while self._queue:
            _settle(self._queue.popleft().future, error, None)

    def _rollback_quietly(self) -> None:
        try:
            conn = self._writing()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


async def _resume(coro: Coroutine[Any, Any, T], waiting_on: Any) -> T:
    """Drives a unit's coroutine on from a step that stopped on `waiting_on` (a future, or None for
    a bare yield), as a task would: each step once what it waits for is done."""
    while True:
        cancelled: asyncio.CancelledError | None = None
        try:
            if waiting_on is None:
                await asyncio.sleep(0)
            else:
                await asyncio.wait([waiting_on])
        except asyncio.CancelledError as exc:
            cancelled = exc
        try:
            waiting_on = coro.send(None) if cancelled is None else coro.throw(cancelled)
        except StopIteration as done:
            return done.value


def _settle(future: asyncio.Future, error: BaseException | None, result: Any) -> None:
    if future.done():
        return
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    elif error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
