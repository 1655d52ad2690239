"""money.py on both backends: top-ups, holds, debits, releases, credits back, commissions, books."""
from __future__ import annotations

import asyncio

import pytest

from switch.ledger import gauges, money
from switch.ledger.money import HoldRefused

DATE = "2026-03-02"


async def balances(db, agent_id="AGT01") -> tuple[int, int]:
    return await db.read(lambda tx: money.balances(tx, agent_id))


async def books(db) -> list[str]:
    return await db.read(money.check_books)


async def hold(db, txn_id: int, amount: int, agent_id="AGT01", limit: int | None = None) -> str:
    """Places a hold in its own unit; returns "00" or the refusal's rc."""
    async def work(tx):
        await money.place_hold(tx, txn_id, agent_id, amount, DATE, limit)
    try:
        await db.unit(work)
    except HoldRefused as refused:
        return refused.rc
    return "00"


async def hold_state(db, txn_id: int) -> str | None:
    return await db.read(lambda tx: tx.fetchval("SELECT state FROM holds WHERE txn_id = ?", txn_id))


async def usage(db, agent_id="AGT01") -> int:
    used = await db.read(lambda tx: tx.fetchval(
        "SELECT used FROM daily_usage WHERE agent_id = ? AND business_date = ?", agent_id, DATE))
    return used or 0


# -- top-up ---------------------------------------------------------------------------------------

async def test_a_topup_credits_the_deposit_once_per_ref(db, new_agent):
    await new_agent(db)
    first = await db.unit(lambda tx: money.topup(tx, "AGT01", 50_000_00, "BCA-1"))
    again = await db.unit(lambda tx: money.topup(tx, "AGT01", 50_000_00, "BCA-1"))
    other = await db.unit(lambda tx: money.topup(tx, "AGT01", 1_00, "BCA-2"))
    assert (first, again, other) == (True, False, True)
    assert await balances(db) == (50_001_00, 50_001_00)
    assert await books(db) == []


@pytest.mark.parametrize("amount", [0, -5])
async def test_a_topup_of_nothing_or_less_is_refused(db, new_agent, amount):
    await new_agent(db)
    with pytest.raises(ValueError):
        await db.unit(lambda tx: money.topup(tx, "AGT01", amount, "R"))
    assert await balances(db) == (0, 0)


async def test_a_topup_for_an_unknown_agent_is_refused(db):
    with pytest.raises(ValueError, match="unknown agent"):
        await db.unit(lambda tx: money.topup(tx, "NOBODY", 100, "R"))


async def test_an_unknown_agent_has_nothing(db):
    assert await balances(db, "NOBODY") == (0, 0)


# -- holds ----------------------------------------------------------------------------------------

async def test_a_hold_lowers_available_but_not_ledger(db, new_agent):
    await new_agent(db, deposit=10_000)
    assert await hold(db, 1, 3_000) == "00"
    assert await balances(db) == (10_000, 7_000)
    assert await hold_state(db, 1) == "held"
    assert await books(db) == []


async def test_a_hold_the_deposit_does_not_cover_is_refused_51(db, new_agent):
    await new_agent(db, deposit=10_000)
    assert await hold(db, 1, 10_001) == "51"
    assert await hold(db, 2, 10_000) == "00"  # exactly the deposit is fine
    assert await hold(db, 3, 1) == "51"
    assert await balances(db) == (10_000, 0)


async def test_placing_the_same_hold_twice_reserves_once(db, new_agent):
    await new_agent(db, deposit=10_000)
    assert await hold(db, 7, 4_000) == "00"
    assert await hold(db, 7, 4_000) == "00"
    assert await balances(db) == (10_000, 6_000)
    assert await usage(db) == 4_000


async def test_a_refused_hold_leaves_nothing_even_when_the_caller_commits(db, new_agent):
    await new_agent(db, daily_limit=5_000, deposit=3_000)

    async def work(tx):
        rcs = []
        for txn_id, amount in ((1, 4_000), (2, 6_000)):  # 51 (deposit), 61 (limit)
            try:
                await money.place_hold(tx, txn_id, "AGT01", amount, DATE, 5_000)
            except HoldRefused as refused:
                rcs.append(refused.rc)
        await tx.execute("INSERT INTO ops_flags (kind, created_at) VALUES ('declined', 'now')")
        return rcs

    assert await db.unit(work) == ["51", "61"]
    assert await hold_state(db, 1) is None and await hold_state(db, 2) is None
    assert await usage(db) == 0
    assert await balances(db) == (3_000, 3_000)
    assert await books(db) == []


async def test_exactly_as_many_concurrent_holds_succeed_as_the_deposit_covers(open_db, new_agent):
    node_a, node_b = await open_db(), await open_db()  # two nodes (or processes) on one database
    await new_agent(node_a, deposit=100 * 1_000)
    nodes = [node_a, node_b]
    rcs = await asyncio.gather(*(hold(nodes[i % 2], i + 1, 1_000) for i in range(200)))
    assert rcs.count("00") == 100
    assert rcs.count("51") == 100
    assert await balances(node_b) == (100_000, 0)
    assert await books(node_a) == []


async def test_the_daily_limit_may_be_reached_exactly_but_not_passed(db, new_agent):
    await new_agent(db, daily_limit=30_000, deposit=1_000_000)
    assert await hold(db, 1, 10_000, limit=30_000) == "00"
    assert await hold(db, 2, 20_000, limit=30_000) == "00"
    assert await hold(db, 3, 1, limit=30_000) == "61"
    assert await usage(db) == 30_000
    assert await hold(db, 4, 30_001, limit=30_000) == "61"


async def test_the_daily_limit_is_checked_before_the_deposit(db, new_agent):
    await new_agent(db, daily_limit=500, deposit=100)
    assert await hold(db, 1, 600, limit=500) == "61"


async def test_concurrent_holds_never_pass_the_daily_limit(open_db, new_agent):
    node_a, node_b = await open_db(), await open_db()
    await new_agent(node_a, daily_limit=25_000, deposit=1_000_000)
    nodes = [node_a, node_b]
    rcs = await asyncio.gather(*(hold(nodes[i % 2], i + 1, 1_000, limit=25_000) for i in range(60)))
    assert rcs.count("00") == 25
    assert await usage(node_a) == 25_000


async def test_a_released_or_credited_back_payment_no_longer_counts_against_the_limit(db, new_agent):
    await new_agent(db, daily_limit=10_000, deposit=100_000)
    assert await hold(db, 1, 10_000, limit=10_000) == "00"
    assert await db.unit(lambda tx: money.release_hold(tx, 1))
    assert await hold(db, 2, 10_000, limit=10_000) == "00"
    assert await db.unit(lambda tx: money.debit_hold(tx, 2, "BANKA"))
    assert await hold(db, 3, 1, limit=10_000) == "61"
    assert await db.unit(lambda tx: money.credit_back(tx, 2, "BANKA"))
    assert await hold(db, 4, 10_000, limit=10_000) == "00"
    assert await books(db) == []


# -- outcomes ---------------------------------------------------------------------------------------

async def test_a_debit_moves_the_held_amount_to_the_bank(db, new_agent):
    await new_agent(db, deposit=10_000)
    await hold(db, 1, 2_500)
    assert await db.unit(lambda tx: money.debit_hold(tx, 1, "BANKA")) is True
    assert await db.unit(lambda tx: money.debit_hold(tx, 1, "BANKA")) is False
    assert await db.unit(lambda tx: money.release_hold(tx, 1)) is False
    assert await balances(db) == (7_500, 7_500)
    assert await hold_state(db, 1) == "debited"
    bank = await db.read(lambda tx: tx.fetchval("SELECT balance FROM accounts WHERE account_id = 'bank:BANKA'"))
    assert bank == 2_500
    assert await books(db) == []


async def test_a_release_gives_the_hold_back(db, new_agent):
    await new_agent(db, deposit=10_000)
    await hold(db, 1, 2_500)
    assert await db.unit(lambda tx: money.release_hold(tx, 1)) is True
    assert await db.unit(lambda tx: money.release_hold(tx, 1)) is False
    assert await db.unit(lambda tx: money.debit_hold(tx, 1, "BANKA")) is False
    assert await balances(db) == (10_000, 10_000)
    assert await hold_state(db, 1) == "released"
    assert await books(db) == []


async def test_a_reversed_debit_is_credited_back_once(db, new_agent):
    await new_agent(db, deposit=10_000)
    await hold(db, 1, 2_500)
    assert await db.unit(lambda tx: money.credit_back(tx, 1, "BANKA")) is False  # not debited yet
    await db.unit(lambda tx: money.debit_hold(tx, 1, "BANKA"))
    assert await db.unit(lambda tx: money.credit_back(tx, 1, "BANKA")) is True
    assert await db.unit(lambda tx: money.credit_back(tx, 1, "BANKA")) is False
    assert await balances(db) == (10_000, 10_000)
    assert await hold_state(db, 1) == "credited_back"
    kinds = await db.read(lambda tx: tx.fetchall("SELECT kind FROM entries WHERE txn_id = 1 ORDER BY entry_id"))
    assert [row["kind"] for row in kinds] == ["debit", "credit_back"]
    assert await books(db) == []


async def test_a_commission_is_paid_once_per_ref(db, new_agent):
    await new_agent(db)
    assert await db.unit(lambda tx: money.post_commission(tx, "AGT01", 1_500_00, "C-1", DATE)) is True
    assert await db.unit(lambda tx: money.post_commission(tx, "AGT01", 1_500_00, "C-1", DATE)) is False
    assert await balances(db) == (1_500_00, 1_500_00)
    switch = await db.read(lambda tx: tx.fetchval(
        "SELECT balance FROM accounts WHERE account_id = 'switch:commission'"))
    assert switch == -1_500_00
    assert await books(db) == []


async def test_every_entry_balances_to_zero(db, new_agent):
    await new_agent(db, deposit=10_000)
    await hold(db, 1, 1_000)
    await db.unit(lambda tx: money.debit_hold(tx, 1, "BANKA"))
    rows = await db.read(lambda tx: tx.fetchall(
        "SELECT entry_id, CAST(SUM(amount) AS BIGINT) AS total, COUNT(*) AS legs FROM postings GROUP BY entry_id"))
    assert len(rows) == 2
    assert all(row["total"] == 0 and row["legs"] == 2 for row in rows)


# -- the books ------------------------------------------------------------------------------------

async def test_check_books_names_an_account_whose_balance_was_tampered_with(db, new_agent):
    await new_agent(db, deposit=10_000)
    await hold(db, 1, 1_000)
    await db.unit(lambda tx: tx.execute(
        "UPDATE accounts SET balance = balance + 1, held = held + 5 WHERE account_id = 'agent:AGT01'"))
    problems = await books(db)
    assert any("agent:AGT01 balance 10001" in p for p in problems)
    assert any("agent:AGT01 held 1005" in p for p in problems)


async def test_check_books_names_daily_usage_that_does_not_match_the_holds(db, new_agent):
    await new_agent(db, deposit=10_000)
    await hold(db, 1, 1_000)
    await db.unit(lambda tx: tx.execute("UPDATE daily_usage SET used = 0"))
    assert any("usage" in p for p in await books(db))


# -- the outstanding-holds gauge ---------------------------------------------------------------------

async def test_the_outstanding_holds_gauge_counts_only_the_holds_still_held(db, new_agent):
    await new_agent(db, deposit=100_000)
    for txn_id in (1, 2, 3, 4):
        assert await hold(db, txn_id, 1_000 * txn_id) == "00"
    assert await db.unit(lambda tx: money.debit_hold(tx, 1, "BANKA"))
    assert await db.unit(lambda tx: money.release_hold(tx, 2))
    assert await db.read(gauges.outstanding_holds) == (2, 7_000)


async def test_the_outstanding_holds_gauge_reads_the_held_holds_index_not_every_hold_ever_placed(db):
    """It runs every 5 s on the event loop's thread (SQLite): a scan of a million holds was 60 ms."""
    if db.dialect == "sqlite":
        plan = await db.read(lambda tx: tx.fetchall("EXPLAIN QUERY PLAN " + gauges.OUTSTANDING_HOLDS))
        details = " ".join(row["detail"] for row in plan)
        assert details in ("SCAN holds USING INDEX holds_held", "SCAN holds USING COVERING INDEX holds_held"), details
    else:  # with sequential scans priced out, the planner can answer it from the partial index alone
        async def plan(tx):
            await tx.execute("SET LOCAL enable_seqscan = off")
            return await tx.fetchall("EXPLAIN " + gauges.OUTSTANDING_HOLDS)
        lines = " ".join(row[0] for row in await db.unit(plan))
        assert "holds_held" in lines, lines
