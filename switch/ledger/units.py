"""A payment's two durable units — its record with its hold, its answer with its debit or release —
as one statement each on PostgreSQL; an inquiry's too (its record; its answer with its quote).

On PostgreSQL a unit run from Python costs a round trip per statement plus BEGIN (6 for the hold, 5
for the answer), and each is a wake-up of the switch and of a server process. Here the unit is a
PL/pgSQL function that runs the very statements of txns and money (their text is shared, see
postgres_functions) in the same order, called in autocommit: one round trip, no BEGIN/COMMIT.
SQLite keeps the Python units (there a statement costs no round trip). The functions are handed to
the database before it opens (attach) and created there, under the schema lock, when missing. Each one's name ends in a hash
of its whole definition (storage.server_function), so a changed statement text is a new function:
nodes of two versions sharing a database each call their own, and none is ever replaced.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from . import money, txns
from .states import TxnState, check_transition
from .storage import NAME_HERE, Database, ServerFunction, Tx, server_function, utc_now
from .storage.postgres import PostgresDatabase, bind_names as n

RRN_LATER = "{rrn}"  # field 37 of a bank request built before its unit gives the txn id
RRN_DIGITS = 12      # field 37 is the txn id in 12 digits: a larger id is refused, never cut
_RRN_TOO_LONG = "ledger: txn id {} does not fit the 12 digits of an RRN (field 37)"


def rrn_of(txn_id: int) -> str:
    """A transaction's RRN (field 37): its id, zero-padded to 12 digits; ValueError past them (as
    ppob_payment_hold refuses, on PostgreSQL)."""
    if not 0 <= txn_id < 10 ** RRN_DIGITS:
        raise ValueError(_RRN_TOO_LONG.format(txn_id))
    return f"{txn_id:0{RRN_DIGITS}d}"


@dataclass(frozen=True)
class Debit:
    """An approved payment's money, moved with its answer: the hold becomes a debit, its bills paid."""
    txn_id: int
    bank_id: str
    product: str
    customer: str
    periods: Sequence[str]

    async def __call__(self, tx: Tx) -> None:
        await money.debit_hold(tx, self.txn_id, self.bank_id)
        await txns.mark_paid(tx, self.product, self.customer, list(self.periods), self.txn_id)


@dataclass(frozen=True)
class Release:
    """A payment that did not happen: its hold goes and the bills it took are free again."""
    txn_id: int

    async def __call__(self, tx: Tx) -> None:
        await money.release_hold(tx, self.txn_id)
        await txns.unmark_paid(tx, self.txn_id)


@dataclass(frozen=True)
class Remember:
    """An inquiry's quote, remembered with its answer as the customer's latest (txns.save_inquiry)."""
    product: str
    customer: str
    txn_id: int
    bank_id: str
    amount: int
    periods: Sequence[str]
    field48: str

    async def __call__(self, tx: Tx) -> None:
        await txns.save_inquiry(tx, self.product, self.customer, self.txn_id, self.bank_id, self.amount,
                                list(self.periods), self.field48)


def check_own(txn_id: int, moves: Sequence[object]) -> None:
    """A move alongside an answer is that transaction's own: the Python unit moves the money of the
    move's txn_id, the PL/pgSQL one that of the answered txn, so a mismatch would split the backends."""
    for move in moves:
        if isinstance(move, (Debit, Release, Remember)) and move.txn_id != txn_id:
            raise ValueError(f"{type(move).__name__} of txn {move.txn_id} alongside the answer of txn {txn_id}")


def attach(db: Database) -> Database:
    """Hands the one-statement units' functions to `db` (as keyring.configure hands it the key ring:
    storage does not import the ledger); call before db.open(), which then creates those missing,
    so a function that cannot be created stops the start in one line, not the first payment."""
    db.server_functions = FUNCTIONS
    return db


def in_one_statement(db: Database, moves: Sequence[object] = ()) -> bool:
    """Whether a unit (with these moves alongside the answer) runs as one statement here."""
    return isinstance(db, PostgresDatabase) and len(moves) <= 1 and all(
        isinstance(move, (Debit, Release, Remember)) for move in moves)


async def record(db: Database, record: dict[str, Any]) -> int | None:
    """txns.insert_txn as a unit of its own, one statement in autocommit: the new txn id, or None
    when (terminal, STAN, field 7, MTI) is already there."""
    now = utc_now()
    row = await _postgres(db).one_statement(
        txns.INSERT_TXN, record["kind"], record["terminal_id"], record["agent_id"], record["mti"], record["stan"],
        record["f7"], record["proc_code"], record["product"], record["customer"], record["amount"],
        record["request_hash"], TxnState.RECEIVED.value, record["business_date"], None,
        txns.fields_json(record["request"]), record["node_id"], now, now)
    return None if row is None else row["txn_id"]


async def hold_payment(db: Database, record: dict[str, Any], periods: list[str], daily_limit: int | None,
                       bank_id: str, bank_stan: str, bank_request: dict[int, str]) -> tuple[int | None, str | None]:
    """The payment's record, its bills claimed, its hold placed on the agent's deposit and its state
    'sent' (with the bank, its STAN and `bank_request`, whose field 37 is RRN_LATER), in one unit.
    Returns (txn id, None) once held; (txn id, code) when refused ('88' bills taken, '61', '51': the
    record stays, nothing else); (None, None) when the record is a repeat (nothing was done)."""
    money._positive(record["amount"])
    check_transition((TxnState.RECEIVED,), TxnState.SENT)
    row = await _postgres(db).one_statement(
        HOLD_CALL, record["kind"], record["terminal_id"], record["agent_id"], record["mti"], record["stan"],
        record["f7"], record["proc_code"], record["product"], record["customer"], record["amount"],
        record["request_hash"], record["business_date"], txns.fields_json(record["request"]), record["node_id"],
        utc_now(), periods, daily_limit, bank_id, bank_stan, txns.fields_json(bank_request), install=FUNCTIONS)
    if row is None:
        raise AssertionError("a function call always has a row")
    return row["o_txn_id"], row["o_refused"]


async def store_answer(db: Database, txn_id: int, expected: tuple[TxnState, ...], changes: dict[str, Any],
                       moves: Sequence[object]) -> dict[int, str] | None:
    """txns.set_state_if with `changes` (state, rc, response, business_date; rrn, bank_id, bank_stan,
    bank_response when known) and, when it wins, what moves with it (a payment's Debit or Release, an
    inquiry's Remember), in one unit.
    Returns the answer stored before when the transaction was decided elsewhere, else None."""
    state = changes["state"]
    check_transition(expected, state)
    check_own(txn_id, moves)
    row = await _postgres(db).one_statement(
        ANSWER_CALL, txn_id, [TxnState(s).value for s in expected], TxnState(state).value, changes["rc"],
        txns.fields_json(changes["response"]), changes["business_date"], changes.get("rrn"),
        changes.get("bank_id"), changes.get("bank_stan"), txns.fields_json(changes.get("bank_response")),
        utc_now(), *_move_args(moves[0] if moves else None), install=FUNCTIONS)
    if row is None or row["o_moved"]:
        return None
    return txns.fields_from_json(row["o_response"])


def _move_args(move: object) -> tuple[str, str | None, str | None, str | None, list[str], int | None, str | None]:
    """ppob_answer's p_move .. p_field48 for the move alongside an answer (its txn id is the
    answer's p_txn_id: check_own)."""
    if isinstance(move, Debit):
        return "debit", move.bank_id, move.product, move.customer, list(move.periods), None, None
    if isinstance(move, Release):
        return "release", None, None, None, [], None, None
    if isinstance(move, Remember):
        return ("inquiry", move.bank_id, move.product, move.customer, list(move.periods), move.amount,
                move.field48)
    return "", None, None, None, [], None, None


def _postgres(db: Database) -> PostgresDatabase:
    if not isinstance(db, PostgresDatabase):
        raise TypeError("one-statement units run on PostgreSQL only (see in_one_statement)")
    return db


_SET_RRN = "UPDATE txns SET rrn = ?, updated_at = ? WHERE txn_id = ?"  # update_txn(rrn=...)
_SENT = txns._state_move(0, (TxnState.RECEIVED,), TxnState.SENT,
                         dict.fromkeys(("bank_id", "bank_stan", "bank_request", "rrn")))[0]
_PERIODS_TEXT = "CASE WHEN cardinality(p_periods) = 0 THEN NULL ELSE array_to_string(p_periods, ',') END"
_RRN_IN_REQUEST = f"replace(p_bank_request, '\"37\":\"{RRN_LATER}\"', '\"37\":\"' || v_rrn || '\"')"



def postgres_functions() -> dict[str, ServerFunction]:
    """Every function of the one-statement units, by name in Python (money's moves first: a
    function's hash covers its callees' names, so a changed move renames the units calling it)."""
    moves = money.postgres_functions()
    hold = server_function("ppob_payment_hold", f"""
CREATE FUNCTION {NAME_HERE}(
    p_kind TEXT, p_terminal_id TEXT, p_agent_id TEXT, p_mti TEXT, p_stan TEXT, p_f7 TEXT,
    p_proc_code TEXT, p_product TEXT, p_customer TEXT, p_amount BIGINT, p_request_hash TEXT,
    p_business_date TEXT, p_request TEXT, p_node_id TEXT, p_now TEXT, p_periods TEXT[], p_limit BIGINT,
    p_bank_id TEXT, p_bank_stan TEXT, p_bank_request TEXT, OUT o_txn_id BIGINT, OUT o_refused TEXT)
    LANGUAGE plpgsql AS $fn$
DECLARE  -- flows/payment.py hold's unit (write_record, claim_bills, place_hold, set_state_of_own)
    v_rrn TEXT; v_period TEXT; v_count BIGINT; v_taken BIGINT := 0;
BEGIN
    {n(txns.INSERT_TXN, 'p_kind', 'p_terminal_id', 'p_agent_id', 'p_mti', 'p_stan', 'p_f7', 'p_proc_code',
       'p_product', 'p_customer', 'p_amount', 'p_request_hash', "'received'", 'p_business_date', 'NULL',
       'p_request', 'p_node_id', 'p_now', 'p_now')} INTO o_txn_id;
    IF o_txn_id IS NULL THEN RETURN; END IF;  -- a repeat: the caller reads the earlier one
    IF o_txn_id >= {10 ** RRN_DIGITS} THEN  -- as rrn_of: refused (all of it undone), never cut to 12
        RAISE EXCEPTION '{_RRN_TOO_LONG.format('%')}', o_txn_id;
    END IF;
    v_rrn := lpad(o_txn_id::TEXT, {RRN_DIGITS}, '0');
    IF cardinality(p_periods) > 0 THEN
        FOREACH v_period IN ARRAY p_periods LOOP
            {n(txns.PAY_BILL, 'p_product', 'p_customer', 'v_period', 'o_txn_id')};
            GET DIAGNOSTICS v_count = ROW_COUNT;
            v_taken := v_taken + v_count;
        END LOOP;
        IF v_taken = 0 THEN  -- paid, or being paid right now by another payment of them
            {n(_SET_RRN, 'v_rrn', 'p_now', 'o_txn_id')};
            o_refused := '88';
            RETURN;
        END IF;
    END IF;
    o_refused := {moves['place_hold'].name}(o_txn_id, p_agent_id, p_amount, p_business_date, p_limit, p_now);
    IF o_refused <> '' THEN
        {n(txns.UNPAY_BILLS, 'o_txn_id')};
        {n(_SET_RRN, 'v_rrn', 'p_now', 'o_txn_id')};
        RETURN;
    END IF;
    o_refused := NULL;
    {n(_SENT, 'p_bank_id', 'p_bank_stan', _RRN_IN_REQUEST, 'v_rrn', "'sent'", 'p_now', 'o_txn_id',
       "'received'")};
END $fn$;
""")
    answer = server_function("ppob_answer", f"""
CREATE FUNCTION {NAME_HERE}(
    p_txn_id BIGINT, p_expected TEXT[], p_state TEXT, p_rc TEXT, p_response TEXT, p_business_date TEXT,
    p_rrn TEXT, p_bank_id TEXT, p_bank_stan TEXT, p_bank_response TEXT, p_now TEXT, p_move TEXT,
    p_move_bank TEXT, p_product TEXT, p_customer TEXT, p_periods TEXT[], p_amount BIGINT, p_field48 TEXT,
    OUT o_moved BOOLEAN, OUT o_response TEXT) LANGUAGE plpgsql AS $fn$
DECLARE  -- flows/common.py store_answer for a recorded transaction (set_state_if, then the money)
    v_period TEXT;
BEGIN
    UPDATE txns SET rrn = COALESCE(p_rrn, rrn), state = p_state, rc = p_rc, response = p_response,
        business_date = p_business_date, bank_id = COALESCE(p_bank_id, bank_id),
        bank_stan = COALESCE(p_bank_stan, bank_stan),
        bank_response = COALESCE(p_bank_response, bank_response), updated_at = p_now
        WHERE txn_id = p_txn_id AND state = ANY (p_expected);
    o_moved := FOUND;
    IF NOT o_moved THEN  -- decided elsewhere (recovery, another node): its stored answer
        SELECT response INTO o_response FROM txns WHERE txn_id = p_txn_id;
        RETURN;
    END IF;
    IF p_move = 'debit' THEN
        PERFORM {moves['debit_hold'].name}(p_txn_id, p_move_bank, p_now);
        FOREACH v_period IN ARRAY p_periods LOOP
            {n(txns.PAY_BILL, 'p_product', 'p_customer', 'v_period', 'p_txn_id')};
        END LOOP;
    ELSIF p_move = 'release' THEN
        PERFORM {moves['release_hold'].name}(p_txn_id, p_now);
        {n(txns.UNPAY_BILLS, 'p_txn_id')};
    ELSIF p_move = 'inquiry' THEN
        {n(txns.SAVE_INQUIRY, 'p_product', 'p_customer', 'p_txn_id', 'p_move_bank', 'p_amount', _PERIODS_TEXT,
           'p_field48', 'p_now')};
    END IF;
END $fn$;
""")
    return {**moves, "payment_hold": hold, "answer": answer}


_FUNCTIONS = postgres_functions()
FUNCTIONS = tuple(_FUNCTIONS.values())  # what the database installs (storage's one_statement)
HOLD_CALL = f"SELECT o_txn_id, o_refused FROM {_FUNCTIONS['payment_hold'].name}({', '.join('?' * 20)})"
ANSWER_CALL = f"SELECT o_moved, o_response FROM {_FUNCTIONS['answer'].name}({', '.join('?' * 18)})"
