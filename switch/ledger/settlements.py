"""What settling a business date reads and writes: the day's payments (by position, a million rows
a day), the commission and fee-income entries already posted, and the settlements row."""
from __future__ import annotations

from typing import Any, Sequence

from .money import FEE_INCOME, agent_account
from .states import TxnState
from .storage import Row, Tx
from .txns import now_iso

_KEYS_SQL = ("SELECT txn_id, rrn FROM txns WHERE kind = 'payment' AND bank_id = ? AND business_date = ?"
             " AND state = ? AND txn_id > ? ORDER BY txn_id LIMIT ?")
# the bank's answer (its 0210, or the 0230 of an advice) holds field 48; else what the terminal got
_ROWS_SQL = ("SELECT txn_id, rrn, bank_stan, terminal_id, agent_id, product, customer, amount, state,"
             " {answer}, created_at, updated_at FROM txns WHERE txn_id IN ({marks})")
_ANSWER = "COALESCE(bank_response, response)"
# the columns of a payment row, by position
PAYMENT_COLUMNS = ("txn_id", "rrn", "bank_stan", "terminal_id", "agent_id", "product", "customer", "amount",
                   "state", "answer", "created_at", "updated_at")


async def payment_keys(tx: Tx, bank_id: str, business_date: str, state: TxnState, after: int,
                       limit: int) -> Sequence[Any]:
    """(txn_id, rrn) of the date's payments towards the bank in `state`, txn id above `after`, in txn
    id order (which walks the (bank, date, state) index without sorting)."""
    return await tx.fetchall(_KEYS_SQL, bank_id, business_date, TxnState(state).value, after, limit)


async def payment_rows(tx: Tx, txn_ids: list[int], lean: bool = False) -> Sequence[Any]:
    """Payment rows (PAYMENT_COLUMNS, read by position) by primary key; `lean` leaves the answer out."""
    sql = _ROWS_SQL.format(answer="NULL" if lean else _ANSWER, marks=",".join("?" * len(txn_ids)))
    return await tx.fetchall(sql, *txn_ids)


async def count_payments(tx: Tx, bank_id: str, business_date: str, state: TxnState) -> int:
    return int(await tx.fetchval(
        "SELECT COUNT(*) FROM txns WHERE kind = 'payment' AND bank_id = ? AND business_date = ? AND state = ?",
        bank_id, business_date, TxnState(state).value) or 0)


async def commission_postings(tx: Tx, business_date: str, agent_id: str) -> list[tuple[str, int]]:
    """(entry ref, amount) of the commissions posted to the agent for the date."""
    rows = await tx.fetchall(
        "SELECT e.ref, p.amount FROM entries e JOIN postings p ON p.entry_id = e.entry_id"
        " WHERE e.kind = 'commission' AND e.agent_id = ? AND e.business_date = ? AND p.account_id = ?",
        agent_id, business_date, agent_account(agent_id))
    return [(row["ref"], int(row["amount"])) for row in rows]


async def fee_income_postings(tx: Tx, business_date: str) -> list[tuple[str, int]]:
    """(entry ref, amount) of the switch's admin-fee income booked for the date."""
    rows = await tx.fetchall(
        "SELECT e.ref, p.amount FROM entries e JOIN postings p ON p.entry_id = e.entry_id"
        " WHERE e.kind = 'fee_income' AND e.business_date = ? AND p.account_id = ?",
        business_date, FEE_INCOME)
    return [(row["ref"], int(row["amount"])) for row in rows]


async def commission_refs(tx: Tx, business_date: str) -> list[tuple[str, str]]:
    """(agent, entry ref) of every commission entry of the date."""
    rows = await tx.fetchall("SELECT agent_id, ref FROM entries WHERE business_date = ? AND kind = 'commission'",
                             business_date)
    return [(row["agent_id"], row["ref"]) for row in rows]


async def agent_exists(tx: Tx, agent_id: str) -> bool:
    return await tx.fetchval("SELECT 1 FROM agents WHERE agent_id = ?", agent_id) is not None


async def settlement_row(tx: Tx, business_date: str, bank_id: str) -> Row | None:
    return await tx.fetchone("SELECT * FROM settlements WHERE business_date = ? AND bank_id = ?",
                             business_date, bank_id)


async def upsert_settlement(tx: Tx, business_date: str, bank_id: str, totals: tuple[int, int, int, int],
                            net: str, rc: str | None, state: str) -> None:
    """Stores a date's outcome with a bank: (credits count, amount, debits count, amount), net, 0510."""
    now = now_iso()
    args: list[Any] = [business_date, bank_id, *totals, net, rc, state, now, now]
    await tx.execute(
        "INSERT INTO settlements (business_date, bank_id, credits_count, credits_amount, debits_count,"
        " debits_amount, net, rc, state, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (business_date, bank_id) DO UPDATE SET credits_count = excluded.credits_count,"
        " credits_amount = excluded.credits_amount, debits_count = excluded.debits_count,"
        " debits_amount = excluded.debits_amount, net = excluded.net, rc = excluded.rc,"
        " state = excluded.state, updated_at = excluded.updated_at", *args)
