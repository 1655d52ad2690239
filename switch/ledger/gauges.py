"""What the metrics gauges and the readiness check read from the database."""
from __future__ import annotations

from .storage import Tx, fetch_row


async def ping(tx: Tx) -> None:
    """Raises when the database does not answer."""
    await tx.fetchval("SELECT 1")


async def pending_saf(tx: Tx) -> dict[tuple[str, str], tuple[int, str | None]]:
    """(bank, kind) -> (reversals/advices waiting for the bank's answer, oldest created_at)."""
    rows = await tx.fetchall(
        "SELECT bank_id, kind, COUNT(*) AS n, MIN(created_at) AS oldest FROM saf WHERE state = 'pending'"
        " GROUP BY bank_id, kind")
    return {(row["bank_id"], row["kind"]): (int(row["n"]), row["oldest"]) for row in rows}


# read from the partial index holds_held (schema.sql): the payments in flight, not every hold ever placed
OUTSTANDING_HOLDS = ("SELECT COUNT(*) AS n, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM holds"
                     " WHERE state = 'held'")


async def outstanding_holds(tx: Tx) -> tuple[int, int]:
    """(holds not yet debited or released, their sum in minor units)."""
    row = await fetch_row(tx, OUTSTANDING_HOLDS)
    return int(row["n"]), int(row["total"])
