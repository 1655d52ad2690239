"""The switch's STANs towards each bank: unique across all of a bank's links (and all switch nodes
sharing the database) within a business date. Numbers are reserved from the database in blocks, so
allocation rarely waits on a commit."""
from __future__ import annotations

import asyncio
from typing import Callable

from switch.ledger.storage import Database
from switch.ledger.txns import reserve_block

BLOCK = 200


class StanAllocator:
    def __init__(self, db: Database, business_date: Callable[[], str], block: int = BLOCK) -> None:
        self._db = db
        self._business_date = business_date
        self._block = block
        self._free: dict[str, tuple[str, int, int]] = {}  # bank -> (date, next, last)
        self._locks: dict[str, asyncio.Lock] = {}

    async def next(self, bank_id: str) -> str:
        day = self._business_date()
        lock = self._locks.setdefault(bank_id, asyncio.Lock())
        async with lock:
            held = self._free.get(bank_id)
            if held is None or held[0] != day or held[1] > held[2]:
                name = f"stan:{bank_id}:{day}"
                first = await self._db.unit(lambda tx: reserve_block(tx, name, self._block))
                held = (day, first, first + self._block - 1)
            day, number, last = held
            self._free[bank_id] = (day, number + 1, last)
        # n6: after 999999 in one day the sequence wraps (1..999999), never 000000
        return f"{(number - 1) % 999999 + 1:06d}"

    def source(self, bank_id: str):
        return lambda: self.next(bank_id)
