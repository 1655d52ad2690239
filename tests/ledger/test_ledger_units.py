"""switch/ledger/units.py's guards, the same on both backends: a move alongside an answer is that
transaction's own; an RRN is the txn id in 12 digits, a longer id refused."""
from __future__ import annotations

import pytest

from switch.ledger import units
from switch.ledger.states import TxnState
from switch.ledger.storage import StorageError
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


def test_an_rrn_is_the_txn_id_in_12_digits_and_a_longer_id_is_refused_not_cut():
    assert units.rrn_of(7) == "000000000007" and units.rrn_of(10**12 - 1) == "999999999999"
    with pytest.raises(ValueError, match=r"^ledger: txn id 1000000000000 does not fit the 12 digits of an RRN"):
        units.rrn_of(10**12)  # the Python units (SQLite) compute the RRN with it


def payment(stan: str, amount: int = 100_00) -> dict:
    return {"kind": "payment", "terminal_id": "T0001", "agent_id": "AGT01", "mti": "0200", "stan": stan,
            "f7": "0302101010", "proc_code": "170000", "product": "PLNPRE", "customer": "14234567890",
            "amount": amount, "request_hash": stan, "business_date": "2026-03-02", "request": {11: stan},
            "node_id": "n1"}


@pytest.mark.postgres
async def test_on_postgresql_a_payment_whose_txn_id_passes_12_digits_is_refused_and_nothing_stays(
        open_pg, new_agent):
    db = await open_pg()
    await new_agent(db, deposit=1_000_00)
    await db.unit(lambda tx: tx.execute("SELECT setval(pg_get_serial_sequence('txns', 'txn_id'), ?)", 10**12 - 2))
    hold = ("BANKA", "000001", {37: units.RRN_LATER})
    assert await units.hold_payment(db, payment("000001"), [], None, *hold) == (10**12 - 1, None)
    last = await db.read(lambda tx: tx.fetchone("SELECT rrn, bank_request FROM txns WHERE txn_id = ?", 10**12 - 1))
    assert last["rrn"] == "999999999999" and '"37":"999999999999"' in last["bank_request"]
    with pytest.raises(StorageError, match="ledger: txn id 1000000000000 does not fit the 12 digits of an RRN"):
        await units.hold_payment(db, payment("000002"), [], None, *hold)
    counts = await db.read(lambda tx: tx.fetchone(
        "SELECT (SELECT count(*) FROM txns) AS txns, (SELECT count(*) FROM holds) AS holds"))
    assert (counts["txns"], counts["holds"]) == (1, 1)  # the refused one left no record, no hold
