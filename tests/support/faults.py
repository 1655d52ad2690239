"""A real database with one storage failure injected: every call goes to the real database, except the
one chosen call (counted among those made while the gateway handles a terminal request), which fails
as the database would (StorageError). No part of the switch is mocked.

"While the gateway handles a request" is the task in the terminal server's handler (tests.support.
handling, given to watch()), not a look at the call stack: compiled with mypyc, the switch's modules
leave no Python frames."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TypeVar

from switch.ledger.storage import Database, StorageError
from tests.support.handling import Handling

T = TypeVar("T")


@dataclass
class Call:
    method: str   # "unit" or "read"
    caller: str   # the switch function that asked (e.g. "record", "hold", "finish")


def _caller() -> str:
    """The nearest switch function up the stack, to name the call ("" when the switch is compiled)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if "switch/" in name and "/storage/" not in name:
            return frame.f_code.co_name
        frame = frame.f_back
    return ""


@dataclass
class FaultyDatabase(Database):
    real: Database
    armed: bool = False
    fail_at: int | None = None          # index among the calls made while armed
    calls: list[Call] = field(default_factory=list)
    failed: list[Call] = field(default_factory=list)
    handling: Handling | None = None    # the terminal server's handler, watched (watch())

    def __post_init__(self) -> None:
        self.dialect = self.real.dialect

    def arm(self, fail_at: int | None) -> None:
        self.armed, self.fail_at, self.calls, self.failed = True, fail_at, [], []

    def disarm(self) -> None:
        self.armed = False

    def watch(self, server: Any) -> None:
        """Counts the calls made while `server` (the terminal server) handles a request."""
        self.handling = Handling(server)

    def _check(self, method: str) -> None:
        if not self.armed:
            return
        if self.handling is None or not self.handling.now():
            return
        call = Call(method, _caller())
        self.calls.append(call)
        if len(self.calls) - 1 == self.fail_at:
            self.failed.append(call)
            raise StorageError(f"injected storage failure in {method} (from {call.caller})")

    async def open(self) -> None:
        await self.real.open()

    async def close(self) -> None:
        await self.real.close()

    async def unit(self, work: Callable[[Any], Awaitable[T]]) -> T:
        self._check("unit")
        return await self.real.unit(work)

    async def read(self, work: Callable[[Any], Awaitable[T]]) -> T:
        self._check("read")
        return await self.real.read(work)

    def __getattr__(self, name: str) -> Any:  # commits, units, ... of the real one
        return getattr(self.real, name)
