"""What an agent's statement reads: the postings of its deposit account in a time range."""
from __future__ import annotations

from typing import Sequence

from .storage import Row, Tx

_LINES_SQL = ("SELECT p.posting_id, p.amount, e.kind, e.ref, e.business_date, e.created_at, t.rrn, t.product,"
              " t.customer FROM postings p JOIN entries e ON e.entry_id = p.entry_id"
              " LEFT JOIN txns t ON t.txn_id = e.txn_id"
              " WHERE p.account_id = ? AND e.created_at >= ? AND e.created_at < ? AND p.posting_id > ?"
              " ORDER BY p.posting_id LIMIT ?")


async def balance_before(tx: Tx, account: str, before: str) -> int:
    """The account's balance from the postings made before `before` (UTC timestamp text)."""
    total = await tx.fetchval(
        "SELECT CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) FROM postings p JOIN entries e"
        " ON e.entry_id = p.entry_id WHERE p.account_id = ? AND e.created_at < ?", account, before)
    return int(total or 0)


async def postings_between(tx: Tx, account: str, start: str, end: str, after: int, limit: int) -> Sequence[Row]:
    """Postings of the account made in [start, end), posting id above `after`, in posting order: rows with
    posting_id, amount, kind, ref, business_date, created_at and the payment's rrn, product, customer."""
    return await tx.fetchall(_LINES_SQL, account, start, end, after, limit)
