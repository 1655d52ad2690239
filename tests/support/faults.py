"""A real database with one storage failure injected: every call goes to the real database, except the
one chosen call (counted among those made while the gateway handles a terminal request), which fails
as the database would (StorageError). No part of the switch is mocked."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

from switch.ledger.storage import Database, StorageError

T = TypeVar("T")
GATEWAY = str(Path("switch") / "flows" / "gateway.py")


@dataclass
class Call:
    method: str   # "unit" or "read"
    caller: str   # the switch function that asked (e.g. "record", "hold", "finish")


def _caller() -> tuple[bool, str]:
    """(whether the gateway is handling a request up the stack, the nearest switch function)."""
    frame, caller, in_gateway = sys._getframe(2), "", False
    while frame is not None:
        name = frame.f_code.co_filename
        if not caller and f"{Path('switch')}/" in name and "/storage/" not in name:
            caller = frame.f_code.co_name
        if name.endswith(GATEWAY):
            in_gateway = True
            break
        frame = frame.f_back
    return in_gateway, caller


@dataclass
class FaultyDatabase(Database):
    real: Database
    armed: bool = False
    fail_at: int | None = None          # index among the calls made while armed
    calls: list[Call] = field(default_factory=list)
    failed: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.dialect = self.real.dialect

    def arm(self, fail_at: int | None) -> None:
        self.armed, self.fail_at, self.calls, self.failed = True, fail_at, [], []

    def disarm(self) -> None:
        self.armed = False

    def _check(self, method: str) -> None:
        if not self.armed:
            return
        in_gateway, caller = _caller()
        if not in_gateway:
            return
        call = Call(method, caller)
        self.calls.append(call)
        if len(self.calls) - 1 == self.fail_at:
            self.failed.append(call)
            raise StorageError(f"injected storage failure in {method} (from {caller})")

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
