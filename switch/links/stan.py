"""The switch's STANs towards each bank: one sequence per bank, shared by all of the bank's links
and all switch nodes on the database, never restarted. A business date may be shorter than a day
(forced cutovers) and a WIB calendar day holds two business dates (the 23:00 cutover), so a
sequence restarted per date would repeat STANs within a day; one that never restarts repeats only
after 999 999 messages to that bank. Numbers are reserved from the database in blocks, so
allocation rarely waits on a commit."""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from switch.ledger.storage import Database
from switch.ledger.txns import reserve_stans

BLOCK = 200


class StanAllocator:
    def __init__(self, db: Database, block: int = BLOCK) -> None:
        self._db = db
        self._block = block
        self._free: dict[str, tuple[int, int]] = {}  # bank -> (next, last)
        self._locks: dict[str, asyncio.Lock] = {}

    async def next(self, bank_id: str) -> str:
        lock = self._locks.setdefault(bank_id, asyncio.Lock())
        async with lock:
            held = self._free.get(bank_id)
            if held is None or held[0] > held[1]:
                first = await self._db.unit(lambda tx: reserve_stans(tx, bank_id, self._block))
                held = (first, first + self._block - 1)
            number, last = held
            self._free[bank_id] = (number + 1, last)
        # n6: after 999999 the sequence wraps (1..999999), never 000000
        return f"{(number - 1) % 999999 + 1:06d}"

    def source(self, bank_id: str) -> Callable[[], Awaitable[str]]:
        return lambda: self.next(bank_id)
