"""The only module that moves money: top-ups, holds, debits, releases, credits back, commissions.

Every function takes the caller's Tx, so a flow composes it with its own txn updates in one unit.
Amounts are int minor units. Every journal entry's postings sum to zero. Rows are locked in one
order everywhere (holds, daily_usage, agent account, then bank/switch accounts) so that two nodes
sharing PostgreSQL cannot deadlock each other on money; the shared bank/switch rows are updated
last so their row lock is held for as short a time as possible.
"""
from __future__ import annotations

from .storage import NAME_HERE, ServerFunction, StorageError, Tx, server_function, utc_now

TOPUPS = "switch:topups"
COMMISSION = "switch:commission"
FEE_INCOME = "switch:fee_income"

# Field 54 carries a balance as 12 digits of minor units, so no deposit may grow past it; one topup
# is capped well below that so a slip of the finger (an extra 000) is refused, not booked.
MAX_BALANCE = 9_999_999_999_00      # Rp 9.999.999.999
MAX_TOPUP = 1_000_000_000_00        # Rp 1.000.000.000


class HoldRefused(Exception):
    """The hold was not placed: rc "51" (insufficient deposit) or "61" (over the daily limit).
    Nothing of the attempt remains in the database, even if the caller catches this and commits."""

    def __init__(self, rc: str, detail: str = "") -> None:
        super().__init__(f"hold refused ({rc}): {detail}" if detail else f"hold refused ({rc})")
        self.rc = rc


class BalanceCapExceeded(ValueError):
    """A topup would take the deposit past MAX_BALANCE; nothing was booked."""

    def __init__(self, balance: int, amount: int) -> None:
        super().__init__(f"a topup of {amount} minor units would take the balance {balance} past the"
                         f" maximum {MAX_BALANCE}")
        self.balance, self.amount = balance, amount


def agent_account(agent_id: str) -> str:
    return f"agent:{agent_id}"


def bank_account(bank_id: str) -> str:
    return f"bank:{bank_id}"


# The statements of the hot moves, written once: the Python functions below run them, and so do
# their PL/pgSQL twins at the end of this module (bind_names puts the functions' variables in).
ENSURE = "INSERT INTO accounts (account_id, kind) VALUES (?, ?) ON CONFLICT (account_id) DO NOTHING"
MOVE = "UPDATE accounts SET balance = balance + ? WHERE account_id = ?"
ENTRY = ("INSERT INTO entries (kind, ref, agent_id, txn_id, business_date, memo, created_at)"
         " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, ref) DO NOTHING RETURNING entry_id")
PLACE = ("INSERT INTO holds (txn_id, agent_id, amount, business_date, state, created_at, updated_at)"
         " VALUES (?, ?, ?, ?, 'held', ?, ?) ON CONFLICT (txn_id) DO NOTHING RETURNING txn_id")
UNPLACE = "DELETE FROM holds WHERE txn_id = ?"
USAGE = ("INSERT INTO daily_usage (agent_id, business_date, used) VALUES (?, ?, ?)"
         " ON CONFLICT (agent_id, business_date) DO UPDATE SET used = daily_usage.used + excluded.used")
USAGE_LIMITED = USAGE + " WHERE daily_usage.used + excluded.used <= ?"
UNCOUNT = "UPDATE daily_usage SET used = used - ? WHERE agent_id = ? AND business_date = ?"
RESERVE = "UPDATE accounts SET held = held + ? WHERE account_id = ? AND balance - held >= ?"
UNRESERVE = "UPDATE accounts SET held = held - ? WHERE account_id = ?"
TAKE = ("UPDATE holds SET state = ?, updated_at = ? WHERE txn_id = ? AND state = ?"
        " RETURNING agent_id, amount, business_date")
DEBIT = "UPDATE accounts SET balance = balance - ?, held = held - ? WHERE account_id = ?"


def postings_sql(count: int) -> str:
    values = ", ".join("(?, ?, ?)" for _ in range(count))
    # ON CONFLICT never fires here (fresh ids); it spares PostgreSQL the DuplicateKey savepoint
    return f"INSERT INTO postings (entry_id, account_id, amount) VALUES {values} ON CONFLICT DO NOTHING"


async def ensure_account(tx: Tx, account_id: str, kind: str) -> None:
    await tx.defer(ENSURE, account_id, kind)  # deferred (Tx.defer): it runs before whatever the unit does next


async def _move(tx: Tx, account_id: str, delta: int) -> None:
    """Deferred (see Tx.defer): a balance change is the last thing a movement does, and the shared
    bank and switch rows are then locked by PostgreSQL for the commit alone."""
    await tx.defer(MOVE, delta, account_id)


async def _journal(tx: Tx, kind: str, ref: str, postings: list[tuple[str, int]], *, agent_id: str | None,
                   txn_id: int | None = None, business_date: str | None = None,
                   memo: str | None = None, new_accounts: tuple[tuple[str, str], ...] = ()) -> bool:
    """Writes one entry and its postings (balances are the caller's job). False if (kind, ref) exists.
    `new_accounts` ((account, kind) ...) are created if missing, after the entry and before the
    postings that reference them: on PostgreSQL they then travel with the postings in one round trip."""
    assert sum(amount for _, amount in postings) == 0, "postings of an entry must sum to zero"
    entry_id = await tx.fetchval(ENTRY, kind, ref, agent_id, txn_id, business_date, memo, utc_now())
    if entry_id is None:
        return False
    for account_id, account_kind in new_accounts:
        await ensure_account(tx, account_id, account_kind)
    args = [value for account_id, amount in postings for value in (entry_id, account_id, amount)]
    await tx.defer(postings_sql(len(postings)), *args)
    return True


# The amounts below are typed `object` on purpose: _positive refuses what is no positive int with a
# ValueError, and compiled with mypyc an `int` annotation would refuse a str with a TypeError first,
# and take True as 1.
def _positive(amount: object) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"amount must be a positive integer of minor units, not {amount!r}")
    return amount


async def topup(tx: Tx, agent_id: str, amount: object, ref: str) -> bool:
    """Credits the agent's deposit (switch:topups -X, agent +X). False if `ref` was applied before."""
    amount = _positive(amount)
    if amount > MAX_TOPUP:
        raise ValueError(f"a topup is at most {MAX_TOPUP} minor units, not {amount}")
    if await tx.fetchval("SELECT 1 FROM agents WHERE agent_id = ?", agent_id) is None:
        raise ValueError(f"unknown agent {agent_id}")
    agent = agent_account(agent_id)
    await ensure_account(tx, agent, "agent")
    balance = await tx.fetchval("SELECT balance FROM accounts WHERE account_id = ?", agent)
    if balance + amount > MAX_BALANCE and await topup_of(tx, ref) is None:
        raise BalanceCapExceeded(balance, amount)
    await ensure_account(tx, TOPUPS, "switch")
    if not await _journal(tx, "topup", ref, [(TOPUPS, -amount), (agent, amount)], agent_id=agent_id):
        return False
    await _move(tx, agent, amount)
    await _move(tx, TOPUPS, -amount)
    return True


async def place_hold(tx: Tx, txn_id: int, agent_id: str, amount: object, business_date: str,
                     daily_limit: int | None) -> None:
    """Reserves `amount` of the agent's available deposit for payment `txn_id` and counts it against
    the daily limit of `business_date` (reaching the limit exactly is allowed). Raises HoldRefused;
    a second call for the same txn_id does nothing."""
    amount = _positive(amount)
    now = utc_now()
    placed = await tx.fetchval(PLACE, txn_id, agent_id, amount, business_date, now, now)
    if placed is None:
        return  # this payment already has its hold (or had it)
    if not await _count_usage(tx, agent_id, business_date, amount, daily_limit):
        await tx.execute(UNPLACE, txn_id)
        raise HoldRefused("61", f"agent {agent_id} daily limit {daily_limit} on {business_date}")
    reserved = await tx.execute(RESERVE, amount, agent_account(agent_id), amount)
    if reserved == 0:
        await _uncount_usage(tx, agent_id, business_date, amount)
        await tx.execute(UNPLACE, txn_id)
        raise HoldRefused("51", f"agent {agent_id} deposit does not cover {amount}")


async def _count_usage(tx: Tx, agent_id: str, business_date: str, amount: int, limit: int | None) -> bool:
    """Adds `amount` to the day's usage unless that would pass `limit`; one conditional upsert, so
    concurrent holds cannot both slip under the limit. Usage is counted even without a limit."""
    if limit is not None and amount > limit:
        return False
    if limit is None:
        return await tx.execute(USAGE, agent_id, business_date, amount) == 1
    return await tx.execute(USAGE_LIMITED, agent_id, business_date, amount, limit) == 1


async def _uncount_usage(tx: Tx, agent_id: str, business_date: str, amount: int) -> None:
    await tx.execute(UNCOUNT, amount, agent_id, business_date)


async def _take_hold(tx: Tx, txn_id: int, from_state: str, to_state: str):
    """Moves a hold between states; returns its row, or None when it was not in `from_state`."""
    return await tx.fetchone(TAKE, to_state, utc_now(), txn_id, from_state)


async def debit_hold(tx: Tx, txn_id: int, bank_id: str) -> bool:
    """The bank approved: the hold becomes a debit (agent -X, bank +X). False if not held."""
    hold = await _take_hold(tx, txn_id, "held", "debited")
    if hold is None:
        return False
    agent_id, amount = hold["agent_id"], hold["amount"]
    agent, bank = agent_account(agent_id), bank_account(bank_id)
    if not await _journal(tx, "debit", str(txn_id), [(agent, -amount), (bank, amount)],
                          agent_id=agent_id, txn_id=txn_id, business_date=hold["business_date"],
                          new_accounts=((bank, "bank"),)):
        raise StorageError(f"ledger: txn {txn_id} was held but already has a debit entry")
    await tx.defer(DEBIT, amount, amount, agent)
    await _move(tx, bank, amount)  # last: every debit to this bank updates this row (PostgreSQL locks it)
    return True


async def release_hold(tx: Tx, txn_id: int) -> bool:
    """The payment did not happen: the hold is released and no longer counts against the daily
    limit. False if not held."""
    hold = await _take_hold(tx, txn_id, "held", "released")
    if hold is None:
        return False
    await _uncount_usage(tx, hold["agent_id"], hold["business_date"], hold["amount"])
    await tx.execute(UNRESERVE, hold["amount"], agent_account(hold["agent_id"]))
    return True


async def credit_back(tx: Tx, txn_id: int, bank_id: str, business_date: str | None = None) -> bool:
    """A debited payment the bank reversed: agent +X, bank -X (entry 'credit_back'); it stops
    counting against the daily limit. False unless the hold was in state 'debited'.
    `business_date` dates the entry (default: the payment's business date)."""
    hold = await _take_hold(tx, txn_id, "debited", "credited_back")
    if hold is None:
        return False
    agent_id, amount = hold["agent_id"], hold["amount"]
    agent, bank = agent_account(agent_id), bank_account(bank_id)
    await _uncount_usage(tx, agent_id, hold["business_date"], amount)
    if not await _journal(tx, "credit_back", str(txn_id), [(bank, -amount), (agent, amount)],
                          agent_id=agent_id, txn_id=txn_id, business_date=business_date or hold["business_date"],
                          new_accounts=((bank, "bank"),)):
        raise StorageError(f"ledger: txn {txn_id} was debited but already has a credit_back entry")
    await _move(tx, agent, amount)
    await _move(tx, bank, -amount)  # last: the bank's row is the hot one
    return True


async def post_commission(tx: Tx, agent_id: str, amount: object, ref: str, business_date: str) -> bool:
    """Pays the agent a commission (switch:commission -C, agent +C). False if `ref` was posted."""
    amount = _positive(amount)
    agent = agent_account(agent_id)
    await ensure_account(tx, agent, "agent")  # before the postings that reference them
    await ensure_account(tx, COMMISSION, "switch")
    if not await _journal(tx, "commission", ref, [(COMMISSION, -amount), (agent, amount)],
                          agent_id=agent_id, business_date=business_date):
        return False
    await _move(tx, agent, amount)
    await _move(tx, COMMISSION, -amount)
    return True


def fees_account(bank_id: str) -> str:
    """Admin fees the bank owes back to the switch (they travel to the bank inside field 4)."""
    return f"bank:{bank_id}:fees"


async def post_fee_income(tx: Tx, bank_id: str, amount: object, ref: str, business_date: str) -> bool:
    """The switch's admin-fee income of a settled day: fees receivable from the bank -F, switch:fee_income
    +F. False if `ref` was posted."""
    amount = _positive(amount)
    receivable = fees_account(bank_id)
    await ensure_account(tx, receivable, "bank")
    await ensure_account(tx, FEE_INCOME, "switch")
    if not await _journal(tx, "fee_income", ref, [(receivable, -amount), (FEE_INCOME, amount)],
                          agent_id=None, business_date=business_date):
        return False
    await _move(tx, receivable, -amount)
    await _move(tx, FEE_INCOME, amount)
    return True


async def topup_of(tx: Tx, ref: str) -> tuple[str, int] | None:
    """(agent, amount in minor units) of the topup booked under `ref`, None if there is none."""
    row = await tx.fetchone(
        "SELECT e.agent_id, p.amount FROM entries e JOIN postings p ON p.entry_id = e.entry_id"
        " WHERE e.kind = 'topup' AND e.ref = ? AND p.account_id <> ?", ref, TOPUPS)
    return None if row is None else (row["agent_id"], row["amount"])


async def all_balances(tx: Tx) -> dict[str, tuple[int, int]]:
    """(ledger, held) in minor units of every agent that has a deposit account, by agent id."""
    rows = await tx.fetchall("SELECT account_id, balance, held FROM accounts WHERE kind = 'agent'")
    return {row["account_id"].removeprefix("agent:"): (row["balance"], row["held"]) for row in rows}


async def balances(tx: Tx, agent_id: str) -> tuple[int, int]:
    """(ledger, available) in minor units; (0, 0) for an agent without an account."""
    row = await tx.fetchone("SELECT balance, held FROM accounts WHERE account_id = ?", agent_account(agent_id))
    if row is None:
        return 0, 0
    return row["balance"], row["balance"] - row["held"]


_CHECKS: list[tuple[str, str]] = [
    ("postings do not sum to zero: {0}",
     "SELECT CAST(SUM(amount) AS BIGINT) FROM postings HAVING SUM(amount) <> 0"),
    ("entry {0} postings sum to {1}",
     "SELECT entry_id, CAST(SUM(amount) AS BIGINT) FROM postings GROUP BY entry_id HAVING SUM(amount) <> 0"),
    ("account {0} balance {1} but its postings sum to {2}",
     "SELECT a.account_id, a.balance, CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) FROM accounts a"
     " LEFT JOIN postings p ON p.account_id = a.account_id GROUP BY a.account_id, a.balance"
     " HAVING a.balance <> COALESCE(SUM(p.amount), 0)"),
    ("account {0} held {1} but its holds in state held sum to {2}",
     "SELECT a.account_id, a.held, CAST(COALESCE(SUM(h.amount), 0) AS BIGINT) FROM accounts a"
     " LEFT JOIN holds h ON 'agent:' || h.agent_id = a.account_id AND h.state = 'held'"
     " GROUP BY a.account_id, a.held HAVING a.held <> COALESCE(SUM(h.amount), 0)"),
    ("agent {0} has holds in state held ({1}) but no account",
     "SELECT h.agent_id, CAST(SUM(h.amount) AS BIGINT) FROM holds h LEFT JOIN accounts a"
     " ON a.account_id = 'agent:' || h.agent_id WHERE h.state = 'held' AND a.account_id IS NULL"
     " GROUP BY h.agent_id"),
    ("account {0} available {1} is negative",
     "SELECT account_id, balance - held FROM accounts WHERE kind = 'agent' AND balance - held < 0"),
    ("account {0} held {1} is negative",
     "SELECT account_id, held FROM accounts WHERE held < 0"),
    ("agent {0} usage on {1} is {2} but its held and debited payments sum to {3}",
     "SELECT u.agent_id, u.business_date, u.used, CAST(COALESCE(SUM(h.amount), 0) AS BIGINT)"
     " FROM daily_usage u LEFT JOIN holds h ON h.agent_id = u.agent_id"
     " AND h.business_date = u.business_date AND h.state IN ('held', 'debited')"
     " GROUP BY u.agent_id, u.business_date, u.used HAVING u.used <> COALESCE(SUM(h.amount), 0)"),
]


async def check_books(tx: Tx) -> list[str]:
    """Every way the books can be wrong, one line each; empty when they balance."""
    problems: list[str] = []
    for message, sql in _CHECKS:
        for row in await tx.fetchall(sql):
            problems.append(message.format(*tuple(row)))
    return problems


# ---- the same moves inside PostgreSQL (switch/ledger/units.py calls them) ---------------------
# Each function does what its Python namesake above does, statement for statement, in the same row
# lock order, so that a payment's unit is one round trip (tests/ledger/test_ledger_money_twins.py
# runs each against its twin from the same rows). Its name ends in a hash of its whole definition
# (storage.server_function): a changed statement text above is a new function, and nodes of two
# versions sharing a database never replace each other's.

def postgres_functions() -> dict[str, ServerFunction]:
    """place_hold, debit_hold and release_hold as PL/pgSQL functions, by their Python names."""
    from .storage.postgres import bind_names as n
    place = server_function("ppob_place_hold", f"""
CREATE FUNCTION {NAME_HERE}(p_txn_id BIGINT, p_agent_id TEXT, p_amount BIGINT,
    p_date TEXT, p_limit BIGINT, p_now TEXT) RETURNS TEXT LANGUAGE plpgsql AS $fn$
DECLARE  -- place_hold: '' once held (or held before), else the refusal's code ('61', '51')
    v_placed BIGINT; v_count BIGINT := 0; v_account TEXT := 'agent:' || p_agent_id;
BEGIN
    {n(PLACE, 'p_txn_id', 'p_agent_id', 'p_amount', 'p_date', 'p_now', 'p_now')} INTO v_placed;
    IF v_placed IS NULL THEN RETURN ''; END IF;
    IF p_limit IS NULL THEN
        {n(USAGE, 'p_agent_id', 'p_date', 'p_amount')};
        GET DIAGNOSTICS v_count = ROW_COUNT;
    ELSIF p_amount <= p_limit THEN
        {n(USAGE_LIMITED, 'p_agent_id', 'p_date', 'p_amount', 'p_limit')};
        GET DIAGNOSTICS v_count = ROW_COUNT;
    END IF;
    IF v_count <> 1 THEN
        {n(UNPLACE, 'p_txn_id')};
        RETURN '61';
    END IF;
    {n(RESERVE, 'p_amount', 'v_account', 'p_amount')};
    GET DIAGNOSTICS v_count = ROW_COUNT;
    IF v_count = 0 THEN
        {n(UNCOUNT, 'p_amount', 'p_agent_id', 'p_date')};
        {n(UNPLACE, 'p_txn_id')};
        RETURN '51';
    END IF;
    RETURN '';
END $fn$;
""")
    debit = server_function("ppob_debit_hold", f"""
CREATE FUNCTION {NAME_HERE}(p_txn_id BIGINT, p_bank_id TEXT, p_now TEXT)
    RETURNS BOOLEAN LANGUAGE plpgsql AS $fn$
DECLARE  -- debit_hold
    v_agent TEXT; v_amount BIGINT; v_date TEXT; v_entry BIGINT; v_account TEXT;
    v_bank TEXT := 'bank:' || p_bank_id;
BEGIN
    {n(TAKE, "'debited'", 'p_now', 'p_txn_id', "'held'")} INTO v_agent, v_amount, v_date;
    IF NOT FOUND THEN RETURN FALSE; END IF;
    v_account := 'agent:' || v_agent;
    {n(ENTRY, "'debit'", 'p_txn_id::TEXT', 'v_agent', 'p_txn_id', 'v_date', 'NULL', 'p_now')} INTO v_entry;
    IF v_entry IS NULL THEN
        RAISE EXCEPTION 'ledger: txn % was held but already has a debit entry', p_txn_id;
    END IF;
    {n(ENSURE, 'v_bank', "'bank'")};
    {n(postings_sql(2), 'v_entry', 'v_account', '-v_amount', 'v_entry', 'v_bank', 'v_amount')};
    {n(DEBIT, 'v_amount', 'v_amount', 'v_account')};
    {n(MOVE, 'v_amount', 'v_bank')};  -- last: the bank's row is the hot one
    RETURN TRUE;
END $fn$;
""")
    release = server_function("ppob_release_hold", f"""
CREATE FUNCTION {NAME_HERE}(p_txn_id BIGINT, p_now TEXT)
    RETURNS BOOLEAN LANGUAGE plpgsql AS $fn$
DECLARE  -- release_hold
    v_agent TEXT; v_amount BIGINT; v_date TEXT;
BEGIN
    {n(TAKE, "'released'", 'p_now', 'p_txn_id', "'held'")} INTO v_agent, v_amount, v_date;
    IF NOT FOUND THEN RETURN FALSE; END IF;
    {n(UNCOUNT, 'v_amount', 'v_agent', 'v_date')};
    {n(UNRESERVE, 'v_amount', "'agent:' || v_agent")};
    RETURN TRUE;
END $fn$;
""")
    return {"place_hold": place, "debit_hold": debit, "release_hold": release}
