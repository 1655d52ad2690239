"""switch/ledger/units.py's guards, the same on both backends: a move alongside an answer is that
transaction's own."""
from __future__ import annotations

import pytest

from switch.ledger import units
from switch.ledger.states import TxnState
from switch.ledger.storage.postgres import PostgresDatabase

ANSWER = {"state": TxnState.APPROVED, "rc": "00", "response": {39: "00"}, "business_date": "2026-03-02"}


@pytest.mark.parametrize("move", [units.Debit(8, "BANKA", "PLNPOST", "532110000123", ["202603"]),
                                  units.Release(8),
                                  units.Remember("PLNPOST", "532110000123", 8, "BANKA", 100, [], "x")])
def test_a_move_of_another_txn_alongside_an_answer_is_refused_naming_both(move):
    with pytest.raises(ValueError, match=f"^{type(move).__name__} of txn 8 alongside the answer of txn 7$"):
        units.check_own(7, [move])
    units.check_own(8, [move])  # its own: fine


async def test_on_postgresql_the_mismatch_is_refused_before_anything_reaches_the_database():
    never_opened = PostgresDatabase("postgresql://postgres@127.0.0.1:5432/test")
    with pytest.raises(ValueError, match="Release of txn 8 alongside the answer of txn 7"):
        await units.store_answer(never_opened, 7, (TxnState.SENT,), ANSWER, [units.Release(8)])
