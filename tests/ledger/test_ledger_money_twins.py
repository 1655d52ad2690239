"""Each money move in Python (money.place_hold, debit_hold, release_hold: SQLite's units) and its
PL/pgSQL twin (the end of money.py: PostgreSQL's one-statement units) leave the same rows behind.

Every case starts two fresh PostgreSQL schemas in the same state, runs the Python move in a unit on
the first (a refusal caught and the unit committed, as the payment's hold unit does) and calls the
function (in autocommit, as units.py does) on the second, then compares the answers and every row of
holds, daily_usage, accounts, entries and postings (timestamps aside)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator

import pytest

from switch.ledger import accounts, money, units
from switch.ledger.money import HoldRefused
from switch.ledger.storage import Database, StorageError, utc_now
from tests.ledger.conftest import _factories
from tests.support.postgres import postgres_answers

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not postgres_answers(), reason="PostgreSQL does not answer on 127.0.0.1:5432")]

DATE = "2026-03-02"
TABLES = {"holds": "txn_id", "daily_usage": "agent_id, business_date", "accounts": "account_id",
          "entries": "entry_id", "postings": "entry_id, account_id"}
FUNCTION = {key: f.name for key, f in units.postgres_functions().items()}


@pytest.fixture
async def twins(tmp_path) -> AsyncIterator[tuple[Database, Database]]:
    """(the Python side, the PL/pgSQL side): two fresh schemas, each given the same start."""
    (tmp_path / "python").mkdir()
    (tmp_path / "plpgsql").mkdir()
    async for python in _factories("postgresql", tmp_path / "python"):
        async for plpgsql in _factories("postgresql", tmp_path / "plpgsql"):
            pair = await python(), await plpgsql()
            for db in pair:
                await db.unit(given)
            yield pair


async def given(tx) -> None:
    """AGT01 1,000.00 without a limit; AGT02 10,000.00 with 500.00 a day, 300.00 of it held (txn 2)
    and that payment's debit entry already written (a bug's leftover); txn 1 holds 100.00 of AGT01."""
    await accounts.add_agent(tx, "AGT01", "Toko AGT01", None)
    await accounts.add_agent(tx, "AGT02", "Toko AGT02", 500_00)
    await money.topup(tx, "AGT01", 1_000_00, "t1")
    await money.topup(tx, "AGT02", 10_000_00, "t2")
    await money.place_hold(tx, 1, "AGT01", 100_00, DATE, None)
    await money.place_hold(tx, 2, "AGT02", 300_00, DATE, 500_00)
    await tx.fetchval(money.ENTRY, "debit", "2", "AGT02", 2, DATE, None, utc_now())


async def rows(db: Database) -> dict[str, list[dict[str, Any]]]:
    async def read(tx):
        return {table: [{k: v for k, v in dict(row).items() if not k.endswith("_at")}
                        for row in await tx.fetchall(f"SELECT * FROM {table} ORDER BY {order}")]
                for table, order in TABLES.items()}
    return await db.read(read)


@dataclass(frozen=True)
class Case:
    move: str            # place_hold, debit_hold, release_hold
    args: tuple          # the Python function's arguments after tx
    answer: object       # what both give: '' / a refusal's code, True / False, or StorageError

    async def in_python(self, db: Database) -> object:
        async def work(tx):
            try:
                result = await getattr(money, self.move)(tx, *self.args)
            except HoldRefused as refused:  # the unit goes on and commits, as flows/payment.py's hold
                return refused.rc
            return "" if self.move == "place_hold" else result
        try:
            return await db.unit(work)
        except StorageError:
            return StorageError

    async def in_plpgsql(self, db: Database) -> object:
        args = (*self.args, utc_now())
        call = f"SELECT {FUNCTION[self.move]}({', '.join('?' * len(args))}) AS answer"
        try:
            row = await db.one_statement(call, *args)  # type: ignore[attr-defined]
        except StorageError:
            return StorageError
        return row["answer"]


CASES = {
    "a hold within deposit and no limit": Case("place_hold", (10, "AGT01", 900_00, DATE, None), ""),
    "a hold reaching the limit exactly": Case("place_hold", (10, "AGT02", 200_00, DATE, 500_00), ""),
    "a hold placed before (nothing more)": Case("place_hold", (1, "AGT01", 100_00, DATE, None), ""),
    "a hold the deposit does not cover": Case("place_hold", (10, "AGT01", 900_01, DATE, None), "51"),
    "a hold of an agent with no account": Case("place_hold", (10, "AGT09", 1_00, DATE, None), "51"),
    "a hold passing the day's usage": Case("place_hold", (10, "AGT02", 200_01, DATE, 500_00), "61"),
    "a hold larger than the limit": Case("place_hold", (10, "AGT01", 600_00, DATE, 500_00), "61"),
    "a hold against a zero limit": Case("place_hold", (10, "AGT01", 1_00, DATE, 0), "61"),
    "a debit of a held payment": Case("debit_hold", (1, "BANKA"), True),
    "a debit of a payment not held": Case("debit_hold", (99, "BANKA"), False),
    "a debit whose entry is there already": Case("debit_hold", (2, "BANKA"), StorageError),
    "a release of a held payment": Case("release_hold", (1,), True),
    "a release of a payment not held": Case("release_hold", (99,), False),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_the_python_move_and_its_plpgsql_twin_give_the_same_answer_and_rows(twins, case):
    python, plpgsql = twins
    start = await rows(python)
    assert start == await rows(plpgsql)
    assert await case.in_python(python) == case.answer
    assert await case.in_plpgsql(plpgsql) == case.answer
    after = await rows(python)
    assert after == await rows(plpgsql)
    moved = case.answer is True or case.answer == "" and case.args[0] != 1  # not a repeat
    assert (after["holds"] != start["holds"]) == moved
    if case.answer is StorageError:  # all of it undone, the hold still held
        assert after == start
    if case.answer not in ("", True):  # a refusal or an error: the money as it was
        assert (after["accounts"], after["entries"], after["postings"]) == (
            start["accounts"], start["entries"], start["postings"])
    assert not await python.read(money.check_books) and not await plpgsql.read(money.check_books)
