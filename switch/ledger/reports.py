"""Read-side queries for the back-office console: transaction search, one transaction's trail, the
day's totals, the store-and-forward queue, holds and settlements. Plus the one write the queue page
needs: making a queued reversal or advice due now (the switch's worker sends it within a second)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .storage import Tx, fetch_row
from .txns import SafItem, Txn, _saf, fields_from_json, now_iso

SEARCH_LIMIT = 200


@dataclass(frozen=True)
class TxnSearch:
    """Every criterion is optional; the ones given must all match."""
    rrn: str = ""
    stan: str = ""
    terminal_id: str = ""
    customer: str = ""
    agent_id: str = ""
    date_from: str = ""      # business date, YYYY-MM-DD, inclusive
    date_to: str = ""
    rc: str = ""

    def empty(self) -> bool:
        return not any(vars(self).values())


_COLUMNS = {"rrn": "rrn = ?", "stan": "stan = ?", "terminal_id": "terminal_id = ?", "customer": "customer = ?",
            "agent_id": "agent_id = ?", "date_from": "business_date >= ?", "date_to": "business_date <= ?",
            "rc": "rc = ?"}


async def search_txns(tx: Tx, criteria: TxnSearch, limit: int = SEARCH_LIMIT) -> list[Txn]:
    """Matching transactions, newest first, at most `limit`."""
    where, args = [], []
    for name, clause in _COLUMNS.items():
        value = getattr(criteria, name)
        if value:
            where.append(clause)
            args.append(value)
    sql = "SELECT * FROM txns" + (" WHERE " + " AND ".join(where) if where else "")
    rows = await tx.fetchall(sql + " ORDER BY txn_id DESC LIMIT ?", *args, limit)
    return [Txn.from_row(row) for row in rows]


@dataclass(frozen=True)
class Trail:
    txn: Txn
    related: list[Txn]          # the original of a reversal, or the terminal's reversals of this payment
    queued: list[SafItem]       # reversals / advices the switch sent (or sends) to the bank
    queue_results: dict[int, str | None]
    queue_answers: dict[int, dict[int, str]]   # the bank's 0410 / 0230 to each, when it came


async def trail(tx: Tx, txn_id: int) -> Trail | None:
    txn_row = await tx.fetchone("SELECT * FROM txns WHERE txn_id = ?", txn_id)
    if txn_row is None:
        return None
    txn = Txn.from_row(txn_row)
    ids = {txn.txn_id} | ({txn.original_txn_id} if txn.original_txn_id else set())
    marks = ",".join("?" * len(ids))
    rows = await tx.fetchall(f"SELECT * FROM txns WHERE (txn_id IN ({marks}) OR original_txn_id IN ({marks}))"
                             " AND txn_id <> ? ORDER BY txn_id", *ids, *ids, txn.txn_id)
    related = [Txn.from_row(row) for row in rows]
    saf_rows = await tx.fetchall(f"SELECT * FROM saf WHERE txn_id IN ({marks}) ORDER BY saf_id", *ids)
    answers: dict[int, dict[int, str]] = {}
    if saf_rows:
        saf_marks = ",".join("?" * len(saf_rows))
        for row in await tx.fetchall(f"SELECT saf_id, message FROM saf_answers WHERE saf_id IN ({saf_marks})",
                                     *(r["saf_id"] for r in saf_rows)):
            answers[row["saf_id"]] = fields_from_json(row["message"]) or {}
    return Trail(txn, related, [_saf(row) for row in saf_rows],
                 {row["saf_id"]: row["result_rc"] for row in saf_rows}, answers)


@dataclass(frozen=True)
class DayTotal:
    product: str
    bank_id: str
    requests: int
    approved: int
    approved_amount: int    # minor units
    declined: int
    unanswered: int


async def day_totals(tx: Tx, business_date: str) -> list[DayTotal]:
    """Payments of one business date by product and bank."""
    rows = await tx.fetchall(
        "SELECT COALESCE(product, '') AS product, COALESCE(bank_id, '') AS bank_id, COUNT(*) AS requests,"
        " SUM(CASE WHEN rc = '00' THEN 1 ELSE 0 END) AS approved,"
        " CAST(COALESCE(SUM(CASE WHEN rc = '00' THEN amount ELSE 0 END), 0) AS BIGINT) AS approved_amount,"
        " SUM(CASE WHEN rc IS NOT NULL AND rc <> '00' THEN 1 ELSE 0 END) AS declined,"
        " SUM(CASE WHEN rc IS NULL THEN 1 ELSE 0 END) AS unanswered"
        " FROM txns WHERE business_date = ? AND kind = 'payment' GROUP BY product, bank_id"
        " ORDER BY product, bank_id", business_date)
    return [DayTotal(row["product"], row["bank_id"], int(row["requests"]), int(row["approved"] or 0),
                     int(row["approved_amount"]), int(row["declined"] or 0), int(row["unanswered"] or 0))
            for row in rows]


async def kind_counts(tx: Tx, business_date: str) -> dict[str, int]:
    """How many requests of each kind (inquiry, payment, ...) the date has."""
    rows = await tx.fetchall("SELECT kind, COUNT(*) AS n FROM txns WHERE business_date = ? GROUP BY kind",
                             business_date)
    return {row["kind"]: int(row["n"]) for row in rows}


async def pending_saf(tx: Tx, limit: int = 500) -> list[SafItem]:
    rows = await tx.fetchall("SELECT * FROM saf WHERE state = 'pending' ORDER BY saf_id LIMIT ?", limit)
    return [_saf(row) for row in rows]


async def saf_item(tx: Tx, saf_id: int) -> SafItem | None:
    row = await tx.fetchone("SELECT * FROM saf WHERE saf_id = ?", saf_id)
    return None if row is None else _saf(row)


async def retry_now(tx: Tx, saf_id: int) -> bool:
    """Makes one pending item due now (attempts are counted by the switch when it sends). False when
    it is not pending any more."""
    return await tx.execute("UPDATE saf SET next_at = ?, updated_at = ? WHERE saf_id = ? AND state = 'pending'",
                            now_iso(), now_iso(), saf_id) == 1


async def holds_of(tx: Tx, agent_id: str) -> list[dict[str, Any]]:
    """The agent's holds still held, oldest first, with the payment they belong to."""
    rows = await tx.fetchall(
        "SELECT h.txn_id, h.amount, h.business_date, h.created_at, t.rrn, t.product, t.customer, t.state"
        " FROM holds h LEFT JOIN txns t ON t.txn_id = h.txn_id WHERE h.agent_id = ? AND h.state = 'held'"
        " ORDER BY h.txn_id", agent_id)
    return [dict(row) for row in rows]


async def topups_waiting(tx: Tx) -> tuple[int, int]:
    """Top-ups entered but not yet approved: how many and their sum (minor units)."""
    row = await fetch_row(tx, "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total"
                            " FROM topup_requests WHERE state = 'pending'")
    return int(row["n"]), int(row["total"])


async def agent_rows(tx: Tx) -> list[dict[str, Any]]:
    """Every agent with its deposit (balance, held) and number of terminals."""
    rows = await tx.fetchall(
        "SELECT a.agent_id, a.name, a.daily_limit, a.blocked, COALESCE(c.balance, 0) AS balance,"
        " COALESCE(c.held, 0) AS held, (SELECT COUNT(*) FROM terminals t WHERE t.agent_id = a.agent_id)"
        " AS terminals FROM agents a LEFT JOIN accounts c ON c.account_id = 'agent:' || a.agent_id"
        " ORDER BY a.agent_id")
    return [dict(row) for row in rows]


async def terminal_rows(tx: Tx) -> list[dict[str, Any]]:
    """Every terminal without its key."""
    rows = await tx.fetchall("SELECT terminal_id, agent_id, blocked, created_at FROM terminals ORDER BY terminal_id")
    return [dict(row) for row in rows]


async def settlement_rows(tx: Tx, bank_id: str = "", business_date: str = "", limit: int = 200) -> list[dict]:
    where, args = [], []
    if bank_id:
        where.append("bank_id = ?")
        args.append(bank_id)
    if business_date:
        where.append("business_date = ?")
        args.append(business_date)
    sql = "SELECT * FROM settlements" + (" WHERE " + " AND ".join(where) if where else "")
    rows = await tx.fetchall(sql + " ORDER BY business_date DESC, bank_id LIMIT ?", *args, limit)
    return [dict(row) for row in rows]


async def business_dates(tx: Tx, limit: int = 60) -> list[dict]:
    rows = await tx.fetchall("SELECT * FROM business_days ORDER BY business_date DESC LIMIT ?", limit)
    return [dict(row) for row in rows]
