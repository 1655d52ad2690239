"""Transactions, the store-and-forward queue, inquiries, paid bills and counters: their SQL.

Everything here takes a Tx, so a flow composes it with money movements (ledger.money) into one
atomic, durable unit.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from .states import TxnState, check_transition
from .storage import DuplicateKey, StorageError, Tx, utc_now


def now_iso() -> str:
    """The schema's timestamp (storage.utc_now): ISO-8601 UTC with milliseconds."""
    return utc_now()


def fields_json(fields: dict[int, str] | None) -> str | None:
    """Compact JSON, keys in field order (orjson: several times faster than json.dumps)."""
    if fields is None:
        return None
    return orjson.dumps({str(k): fields[k] for k in sorted(fields)}).decode()


def fields_from_json(text: str | None) -> dict[int, str] | None:
    return None if text is None else {int(k): v for k, v in json.loads(text).items()}


FIELD_COLUMNS = ("request", "response", "bank_request", "bank_response")  # JSON of field dicts


@dataclass
class Txn:
    txn_id: int
    kind: str
    terminal_id: str
    agent_id: str | None
    mti: str
    stan: str
    f7: str
    proc_code: str | None
    product: str | None
    customer: str | None
    amount: int | None
    request_hash: str
    state: TxnState
    rc: str | None
    bank_id: str | None
    bank_stan: str | None
    rrn: str | None
    business_date: str | None
    original_txn_id: int | None
    request: dict[int, str] | None
    response: dict[int, str] | None
    bank_request: dict[int, str] | None
    bank_response: dict[int, str] | None
    flagged: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Any) -> "Txn":
        values = {name: row[name] for name in cls.__dataclass_fields__}
        for name in FIELD_COLUMNS:
            values[name] = fields_from_json(values[name])
        values["state"] = TxnState(values["state"])
        return cls(**values)

    @property
    def finished(self) -> bool:
        return self.response is not None

    @property
    def sent_to(self) -> str:
        """The bank of a payment that was sent (its hold names it); StorageError for one never sent."""
        if self.bank_id is None:
            raise StorageError(f"txn {self.txn_id} ({self.state}) was never sent to a bank")
        return self.bank_id


# ---- transactions ------------------------------------------------------------------------------
# (also run inside PostgreSQL: ledger/units.py) ON CONFLICT, not a caught DuplicateKey: a savepoint
INSERT_TXN = ("INSERT INTO txns (kind, terminal_id, agent_id, mti, stan, f7, proc_code, product, customer,"
              " amount, request_hash, state, business_date, original_txn_id, request, node_id, created_at,"
              " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
              " ON CONFLICT (terminal_id, stan, f7, mti) DO NOTHING RETURNING txn_id")
PAY_BILL = "INSERT INTO paid_bills (product, customer, period, txn_id) VALUES (?,?,?,?) ON CONFLICT DO NOTHING"
UNPAY_BILLS = "DELETE FROM paid_bills WHERE txn_id = ?"
SAVE_INQUIRY = ("INSERT INTO last_inquiry (product, customer, txn_id, bank_id, amount, periods, field48, created_at)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (product, customer) DO UPDATE SET txn_id = excluded.txn_id,"
                " bank_id = excluded.bank_id, amount = excluded.amount, periods = excluded.periods,"
                " field48 = excluded.field48, created_at = excluded.created_at"
                " WHERE last_inquiry.txn_id <= excluded.txn_id")

async def insert_txn(tx: Tx, *, kind: str, terminal_id: str, agent_id: str | None, mti: str, stan: str,
                     f7: str, proc_code: str | None, product: str | None, customer: str | None,
                     amount: int | None, request_hash: str, request: dict[int, str],
                     business_date: str, node_id: str = "", state: TxnState = TxnState.RECEIVED,
                     original_txn_id: int | None = None) -> int | None:
    """Inserts a new transaction; None when (terminal, STAN, field 7, MTI) is already there."""
    now = now_iso()
    return await tx.fetchval(
        INSERT_TXN, kind, terminal_id, agent_id, mti, stan, f7, proc_code, product, customer, amount,
        request_hash, TxnState(state).value, business_date, original_txn_id, fields_json(request), node_id, now,
        now)


async def get_txn(tx: Tx, txn_id: int) -> Txn | None:
    row = await tx.fetchone("SELECT * FROM txns WHERE txn_id = ?", txn_id)
    return Txn.from_row(row) if row else None


async def get_known_txn(tx: Tx, txn_id: int) -> Txn:
    """A transaction that must be there (a queue item's, one just listed or adopted)."""
    found = await get_txn(tx, txn_id)
    if found is None:
        raise StorageError(f"txn {txn_id} is not in the database")
    return found


async def find_txn(tx: Tx, terminal_id: str, stan: str, f7: str, mti: str) -> Txn | None:
    row = await tx.fetchone("SELECT * FROM txns WHERE terminal_id = ? AND stan = ? AND f7 = ? AND mti = ?",
                            terminal_id, stan, f7, mti)
    return Txn.from_row(row) if row else None


async def find_txn_by_rrn(tx: Tx, rrn: str) -> Txn | None:
    row = await tx.fetchone("SELECT * FROM txns WHERE rrn = ? AND kind = 'payment'", rrn)
    return Txn.from_row(row) if row else None


async def txn_ids_of_node(tx: Tx, node_id: str, states: tuple[TxnState, ...],
                          updated_before: str | None = None) -> list[int]:
    """The transactions of a node in one of `states` (last changed before `updated_before`)."""
    marks = ",".join("?" * len(states))
    sql = f"SELECT txn_id FROM txns WHERE node_id = ? AND state IN ({marks})"
    args: list[Any] = [node_id, *(TxnState(s).value for s in states)]
    if updated_before is not None:
        sql += " AND updated_at < ?"
        args.append(updated_before)
    return [row["txn_id"] for row in await tx.fetchall(sql, *args)]


async def forget_received(tx: Tx, txn_id: int) -> None:
    """Removes a record nothing was done for (still 'received'): its retransmission starts afresh."""
    await tx.execute("DELETE FROM txns WHERE txn_id = ? AND state = 'received'", txn_id)


def _assignments(changes: dict[str, Any]) -> tuple[str, list[Any]]:
    """`SET` clause and its values; field dicts become JSON and updated_at is stamped."""
    values: dict[str, Any] = {name: fields_json(value) if name in FIELD_COLUMNS and isinstance(value, dict) else value
              for name, value in changes.items()}
    if "state" in values:
        values["state"] = TxnState(values["state"]).value
    values["updated_at"] = now_iso()
    return ", ".join(f"{name} = ?" for name in values), list(values.values())


async def update_txn(tx: Tx, txn_id: int, **changes: Any) -> None:
    """Sets columns; request/response/bank_request/bank_response may be given as field dicts. A state
    given here is only checked to be a TxnState (flows move states with `set_state_if`)."""
    assignments, values = _assignments(changes)
    await tx.defer(f"UPDATE txns SET {assignments} WHERE txn_id = ?", *values, txn_id)  # nobody needs its count


async def set_state_if(tx: Tx, txn_id: int, expected: tuple[TxnState, ...], *, state: TxnState,
                       **changes: Any) -> bool:
    """Compare-and-set on the state: what keeps two outcomes (a late 0210 and a timeout, two nodes)
    from both applying. A move the transition table does not allow raises IllegalTransition."""
    sql, values = _state_move(txn_id, expected, state, changes)
    return await tx.execute(sql, *values) == 1


async def set_state_of_own(tx: Tx, txn_id: int, expected: tuple[TxnState, ...], *, state: TxnState,
                           **changes: Any) -> None:
    """set_state_if for a record inserted earlier in the same unit: no one else sees it before the
    commit, so the move cannot lose, and it is deferred (Tx.defer: it travels with the COMMIT)."""
    sql, values = _state_move(txn_id, expected, state, changes)
    await tx.defer(sql, *values)


def _state_move(txn_id: int, expected: tuple[TxnState, ...], state: TxnState,
                changes: dict[str, Any]) -> tuple[str, list[Any]]:
    check_transition(expected, state)
    assignments, values = _assignments(dict(changes, state=state))
    marks = ",".join("?" * len(expected))
    return (f"UPDATE txns SET {assignments} WHERE txn_id = ? AND state IN ({marks})",
            [*values, txn_id, *(TxnState(s).value for s in expected)])


# ---- inquiries and paid bills ------------------------------------------------------------------

async def save_inquiry(tx: Tx, product: str, customer: str, txn_id: int, bank_id: str, amount: int,
                       periods: list[str], field48: str) -> None:
    """Remembers the customer's latest inquiry. One upsert (never delete-then-insert, which loses a
    race between two concurrent inquiries on PostgreSQL); a later inquiry is never replaced by an
    earlier one that finished after it. Deferred (Tx.defer): nobody needs its count."""
    await tx.defer(SAVE_INQUIRY, product, customer, txn_id, bank_id, amount, ",".join(periods) if periods else None,
                   field48, now_iso())


async def last_inquiry(tx: Tx, product: str, customer: str) -> dict | None:
    row = await tx.fetchone("SELECT * FROM last_inquiry WHERE product = ? AND customer = ?",
                            product, customer)
    if row is None:
        return None
    result = dict(row)
    # NULL: no bills (prepaid); '' is the one "bill" of a non-taglis registration (period '')
    result["periods"] = [] if row["periods"] is None else row["periods"].split(",")
    return result


async def all_paid(tx: Tx, product: str, customer: str, periods: list[str]) -> bool:
    if not periods:
        return False
    marks = ",".join("?" * len(periods))
    count = await tx.fetchval(
        f"SELECT COUNT(*) FROM paid_bills WHERE product = ? AND customer = ? AND period IN ({marks})",
        product, customer, *periods)
    return count == len(periods)


async def mark_paid(tx: Tx, product: str, customer: str, periods: list[str], txn_id: int) -> None:
    for period in periods:  # deferred (Tx.defer): on PostgreSQL they travel with the debit's COMMIT
        await tx.defer(PAY_BILL, product, customer, period, txn_id)


async def claim_bills(tx: Tx, product: str, customer: str, periods: list[str], txn_id: int) -> int:
    """Marks the bills a payment is about to pay as taken by it, before the bank is asked, so that
    concurrent payments of the same bills cannot all reach the bank; returns how many it took (0:
    every one is paid or being paid by another payment). A payment that does not happen gives them
    back with unmark_paid."""
    taken = 0
    for period in periods:
        taken += await tx.execute(PAY_BILL, product, customer, period, txn_id)
    return taken


async def unmark_paid(tx: Tx, txn_id: int) -> None:
    await tx.execute(UNPAY_BILLS, txn_id)


# ---- store and forward (reversals, advices) ----------------------------------------------------

@dataclass
class SafItem:
    saf_id: int
    txn_id: int
    bank_id: str
    kind: str
    message: dict[int, str]
    state: str
    attempts: int
    next_at: str
    created_at: str


async def enqueue_saf(tx: Tx, txn_id: int, bank_id: str, kind: str, message: dict[int, str]) -> bool:
    """Queues a reversal or advice to be sent now; False when one is already queued for the txn."""
    now = now_iso()
    try:
        await tx.execute(
            "INSERT INTO saf (txn_id, bank_id, kind, message, state, attempts, next_at, created_at, updated_at)"
            " VALUES (?,?,?,?,'pending',0,?,?,?)", txn_id, bank_id, kind, fields_json(message), now, now, now)
    except DuplicateKey:
        return False
    return True


async def due_saf(tx: Tx, bank_id: str, now: str, limit: int = 50) -> list[SafItem]:
    rows = await tx.fetchall(
        "SELECT * FROM saf WHERE state = 'pending' AND bank_id = ? AND next_at <= ? ORDER BY saf_id LIMIT ?",
        bank_id, now, limit)
    return [_saf(row) for row in rows]


async def claim_saf(tx: Tx, item: SafItem, next_at: str, node_id: str = "") -> str | None:
    """Takes one attempt of an item, leased to `node_id` until `next_at` (no other node sends it
    before then); another node that read the same row loses the race. Returns the node that held
    the previous lease ("" for none), or None when the claim was lost."""
    count = await tx.execute(
        "UPDATE saf SET attempts = attempts + 1, next_at = ?, updated_at = ? WHERE saf_id = ?"
        " AND state = 'pending' AND attempts = ?", next_at, now_iso(), item.saf_id, item.attempts)
    if count != 1:
        return None
    before = await tx.fetchval("SELECT node_id FROM saf_leases WHERE saf_id = ?", item.saf_id)
    await tx.execute("INSERT INTO saf_leases (saf_id, node_id, until) VALUES (?,?,?) ON CONFLICT (saf_id)"
                     " DO UPDATE SET node_id = excluded.node_id, until = excluded.until",
                     item.saf_id, node_id, next_at)
    return before or ""


async def finish_saf(tx: Tx, saf_id: int, rc: str, answer: dict[int, str] | None = None) -> bool:
    """Marks an item answered; False when it was answered already (an answer to an earlier attempt,
    another node), so an outcome is applied once however many answers come. The answer's fields are
    kept (MACs redacted) for the back office's message trail."""
    count = await tx.execute("UPDATE saf SET state = 'done', result_rc = ?, updated_at = ?"
                             " WHERE saf_id = ? AND state = 'pending'", rc, now_iso(), saf_id)
    if count == 1:
        await tx.execute("DELETE FROM saf_leases WHERE saf_id = ?", saf_id)
        if answer is not None:
            kept = {n: ("[redacted]" if n in (64, 128) else v) for n, v in answer.items()}
            await tx.execute("INSERT INTO saf_answers (saf_id, message, created_at) VALUES (?, ?, ?)"
                             " ON CONFLICT (saf_id) DO NOTHING", saf_id, fields_json(kept), now_iso())
    return count == 1


async def unclaim_saf(tx: Tx, item: SafItem) -> None:
    """An attempt that never left (no link): the next try is still the first, and is due at once."""
    await tx.execute("UPDATE saf SET attempts = ?, next_at = ?, updated_at = ? WHERE saf_id = ?"
                     " AND state = 'pending'", item.attempts, now_iso(), now_iso(), item.saf_id)
    await tx.execute("DELETE FROM saf_leases WHERE saf_id = ?", item.saf_id)


async def make_due(tx: Tx, bank_id: str | None = None, *, node_id: str = "",
                   alive_since: str | None = None) -> int:
    """Everything still queued (for one bank, or all) is due now: after a restart or when a link
    comes back, the queue drains at once instead of waiting out the retry interval. With
    `alive_since`, an item whose attempt is leased to another node that beat since then is left
    alone: it may be in flight there, and its lease ends on its own."""
    now = now_iso()
    where, args = "state = 'pending'", [now]
    if bank_id is not None:
        where += " AND bank_id = ?"
        args.append(bank_id)
    if alive_since is not None:
        where += (" AND saf_id NOT IN (SELECT l.saf_id FROM saf_leases l JOIN nodes n ON n.node_id = l.node_id"
                  " WHERE l.node_id <> ? AND l.until > ? AND n.heartbeat_at >= ?)")
        args += [node_id, now, alive_since]
    return await tx.execute(f"UPDATE saf SET next_at = ? WHERE {where}", *args)


async def pending_saf_by_stan(tx: Tx, bank_id: str, stan: str) -> SafItem | None:
    """The queued item whose messages carry STAN `stan` towards `bank_id` (a late answer's owner)."""
    rows = await tx.fetchall("SELECT * FROM saf WHERE state = 'pending' AND bank_id = ?", bank_id)
    items = [_saf(row) for row in rows]
    return next((item for item in items if item.message.get(11) == stan), None)


async def has_saf(tx: Tx, txn_id: int, kind: str) -> bool:
    """Whether a reversal/advice was ever queued for the transaction (answered or not)."""
    return await tx.fetchval("SELECT 1 FROM saf WHERE txn_id = ? AND kind = ?", txn_id, kind) is not None


def _saf(row: Any) -> SafItem:
    return SafItem(saf_id=row["saf_id"], txn_id=row["txn_id"], bank_id=row["bank_id"], kind=row["kind"],
                   message=fields_from_json(row["message"]) or {}, state=row["state"],
                   attempts=row["attempts"], next_at=row["next_at"], created_at=row["created_at"])


# ---- nodes: what a node that stopped beating left half-done -----------------------------------

async def orphaned_txns(tx: Tx, node_id: str, alive_since: str, older_than: str) -> list[tuple[int, str]]:
    """Transactions left 'received' or 'sent' (not touched since `older_than`) by a node other than
    `node_id` that has not beaten since `alive_since` (killed, or stopped while a flow still ran)."""
    rows = await tx.fetchall(
        "SELECT txn_id, COALESCE(node_id, '') AS node_id FROM txns WHERE state IN ('received', 'sent')"
        " AND updated_at < ?"
        " AND COALESCE(node_id, '') <> ? AND COALESCE(node_id, '') NOT IN"
        " (SELECT node_id FROM nodes WHERE heartbeat_at >= ?) ORDER BY txn_id",
        older_than, node_id, alive_since)
    return [(row["txn_id"], row["node_id"]) for row in rows]


async def adopt_txn(tx: Tx, txn_id: int, dead_node: str, node_id: str) -> bool:
    """Takes a dead node's transaction over: the first survivor to move it wins, the others leave it."""
    count = await tx.execute("UPDATE txns SET node_id = ? WHERE txn_id = ? AND state IN ('received', 'sent')"
                             " AND COALESCE(node_id, '') = ?", node_id, txn_id, dead_node)
    return count == 1


# ---- counters ----------------------------------------------------------------------------------

async def reserve_block(tx: Tx, name: str, size: int) -> int:
    """Reserves `size` numbers of counter `name`; returns the first. Nodes never get the same number."""
    await tx.execute("INSERT INTO counters (name, value) VALUES (?, 0) ON CONFLICT DO NOTHING", name)
    last = await tx.fetchval("UPDATE counters SET value = value + ? WHERE name = ? RETURNING value",
                             size, name)
    return int(last) - size + 1


async def reserve_stans(tx: Tx, bank_id: str, size: int) -> int:
    """Reserves `size` STANs towards `bank_id`; returns the first. One sequence per bank for ever
    (never restarted by a business date or a calendar day), so no cutover can make a STAN repeat
    within a day. A new sequence starts above what the per-date counters of older versions gave."""
    name = f"stan:{bank_id}"
    await tx.execute("INSERT INTO counters (name, value) SELECT ?, COALESCE(MAX(value), 0) FROM counters"
                     " WHERE name LIKE ? ON CONFLICT DO NOTHING", name, f"{name}:%")
    return await reserve_block(tx, name, size)


async def flag(tx: Tx, txn_id: int | None, kind: str, detail: str) -> None:
    await tx.execute("INSERT INTO ops_flags (txn_id, kind, detail, created_at) VALUES (?,?,?,?)",
                     txn_id, kind, detail, now_iso())
