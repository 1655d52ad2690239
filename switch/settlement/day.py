"""Reading one bank's business date and writing its RCN/CTL files in one pass, so file and 0500
totals always agree: payments in RRN order, page by page (the event loop keeps serving terminals)."""
from __future__ import annotations

import asyncio
from array import array
from pathlib import Path
from typing import AsyncIterator, Callable, Protocol

from switch.ledger import settlements
from switch.ledger.states import BANK_APPROVED, PENDING
from switch.ledger.storage import Database

from .commissions import add_commissions
from .files import RcnWriter
from .lines import Day, Payment, to_payment

PAGE = 1000  # rows per read: ~35 ms of work between two turns of the event loop
KEY_PAGE = 5000


class Progress(Protocol):
    """Told how much work there is (it may grow as it is discovered) and how much is done."""

    def grow(self, count: int) -> None: ...

    def advance(self, count: int) -> None: ...


async def credit_keys(db: Database, bank_id: str, business_date: str) -> array:
    """The txn ids of every payment the bank approved that date, in RRN order. Read per state in
    txn id order, which walks the (bank, date, state) index without sorting; short reads. Kept as
    an array, which the garbage collector never walks (a list of a million tuples it would, again
    and again, while the day's lines are built)."""
    keys: list[tuple[str, int]] = []
    for state in BANK_APPROVED:
        after = 0
        while True:
            rows = await db.read(lambda tx: settlements.payment_keys(tx, bank_id, business_date, state, after,
                                                                     KEY_PAGE))
            keys.extend((row[1] or "", int(row[0])) for row in rows)
            if len(rows) < KEY_PAGE:
                break
            after = rows[-1][0]
            await asyncio.sleep(0)  # a SQLite read never suspends: give terminals their turn
    keys.sort()
    return array("q", [txn_id for _, txn_id in keys])


async def day_payments(db: Database, bank_id: str, business_date: str, page: int = PAGE,
                       on_total: Callable[[int], None] | None = None,
                       lean: bool = False) -> AsyncIterator[list[Payment]]:
    """The payments the bank approved on that business date, sorted by RRN, a page at a time (each
    page is a short read by primary key: the switch keeps serving while a big day is settled).
    `lean` leaves out what only field 48 gives (periods, admin fee, biller reference, bills): a
    comparison by RRN, amount and status does not need it, and it is most of the cost."""
    keys = await credit_keys(db, bank_id, business_date)
    if on_total is not None:
        on_total(len(keys))
    for start in range(0, len(keys), page):
        ids = keys[start:start + page].tolist()
        rows = await db.read(lambda tx: settlements.payment_rows(tx, ids, lean))
        by_id = {int(row[0]): row for row in rows}
        # a row may have moved on since its key was read (e.g. its reversal answered 25: void)
        yield [to_payment(by_id[i]) for i in ids if i in by_id and by_id[i][8] in BANK_APPROVED]
        await asyncio.sleep(0)  # a SQLite read never suspends: give terminals their turn


async def unfinished(db: Database, bank_id: str, business_date: str) -> dict[str, int]:
    """Payments of the date whose outcome is not final yet, by state (one short count per state)."""
    counts = {}
    for state in PENDING:
        n = await db.read(lambda tx: settlements.count_payments(tx, bank_id, business_date, state))
        if n:
            counts[state.value] = n
    return counts


async def build_day(db: Database, bank_id: str, business_date: str, directory: str | Path,
                    shares: dict[str, int], progress: Progress | None = None, page: int = PAGE,
                    lean: bool = False) -> Day:
    """Writes the bank's RCN/CTL for the date and returns the 0500 totals and the commissions due
    (`lean`: lines without the field-48 details, for a comparison only)."""
    writer = RcnWriter(directory, bank_id, business_date).open()
    day = Day(bank_id, business_date, writer.control)
    try:
        grow = progress.grow if progress is not None else None
        async for payments in day_payments(db, bank_id, business_date, page, grow, lean):
            writer.write(p.line for p in payments)
            add_commissions(day, payments, shares)
            if progress is not None:
                progress.advance(len(payments))
    except BaseException:
        writer.abort()
        raise
    await asyncio.to_thread(writer.finish)  # the fsync of a big file need not stall the switch
    day.files = [str(writer.path), str(writer.ctl)]
    return day
