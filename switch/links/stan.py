"""The switch's STANs towards each bank: one sequence per bank, shared by all of the bank's links
and all switch nodes on the database, never restarted. A business date may be shorter than a day
(forced cutovers) and a WIB calendar day holds two business dates (the 23:00 cutover), so a
sequence restarted per date would repeat STANs within a day; one that never restarts repeats only
after 999 999 messages to that bank. Numbers are reserved from the database in blocks, so
allocation rarely waits on a commit."""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Awaitable, Callable

from switch.ledger.storage import Database
from switch.ledger.txns import reserve_stans

BLOCK = 200


class StanAllocator:
    """Hands out each bank's STANs from reserved blocks. The next block is reserved in the
    background once half of what is held is used, so a request rarely waits for that commit (with
    one block at a time every 200th STAN made all of that bank's new requests wait for a commit)."""

    def __init__(self, db: Database, block: int = BLOCK) -> None:
        self._db = db
        self._block = block
        self._held: dict[str, deque[tuple[int, int]]] = {}  # bank -> blocks (next, last), in order
        self._left: dict[str, int] = {}                      # bank -> numbers held
        self._reserving: dict[str, asyncio.Task] = {}        # bank -> the reservation under way

    async def next(self, bank_id: str) -> str:
        held = self._held.setdefault(bank_id, deque())
        while not held:
            await asyncio.shield(self._reserve(bank_id))
        number, last = held[0]
        if number == last:
            held.popleft()
        else:
            held[0] = (number + 1, last)
        self._left[bank_id] -= 1
        if self._left[bank_id] <= self._block // 2:
            self._reserve(bank_id)
        # n6: after 999999 the sequence wraps (1..999999), never 000000
        return f"{(number - 1) % 999999 + 1:06d}"

    def _reserve(self, bank_id: str) -> asyncio.Task:
        """The reservation of the bank's next block (one at a time), started if none is under way."""
        task = self._reserving.get(bank_id)
        if task is None:
            task = self._reserving[bank_id] = asyncio.create_task(self._reserve_block(bank_id))
            task.add_done_callback(_retrieved)  # a failed prefetch is retried by the next request
        return task

    async def _reserve_block(self, bank_id: str) -> None:
        try:
            first = await self._db.unit(lambda tx: reserve_stans(tx, bank_id, self._block))
            self._held.setdefault(bank_id, deque()).append((first, first + self._block - 1))
            self._left[bank_id] = self._left.get(bank_id, 0) + self._block
        finally:
            self._reserving.pop(bank_id, None)

    def source(self, bank_id: str) -> Callable[[], Awaitable[str]]:
        return lambda: self.next(bank_id)


def _retrieved(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()  # whoever awaited it got the error; a prefetch nobody awaited leaves no warning
