"""Transaction states: every move the table allows is made, every other is refused, on both backends."""
from __future__ import annotations

import itertools

import pytest

from switch.ledger import txns
from switch.ledger.states import TRANSITIONS, IllegalTransition, TxnState

ALL_MOVES = list(itertools.product(TxnState, TxnState))


async def _txn_in(db, state: TxnState, stan: str) -> int:
    async def work(tx):
        txn_id = await txns.insert_txn(
            tx, kind="payment", terminal_id="T0000001", agent_id="AGT01", mti="0200", stan=stan,
            f7="0131160000", proc_code="500000", product="PLNPST", customer="512345678901", amount=100,
            request_hash="h", request={11: stan}, business_date="2026-01-31")
        await txns.update_txn(tx, txn_id, state=state)
        return txn_id
    return await db.unit(work)


def test_the_table_names_every_state_and_final_states_lead_nowhere() -> None:
    assert set(TRANSITIONS) == set(TxnState)
    for final in (TxnState.DONE, TxnState.DECLINED, TxnState.FAILED, TxnState.REVERSED, TxnState.VOID):
        assert TRANSITIONS[final] == frozenset()


async def test_set_state_if_makes_each_allowed_move_and_refuses_every_other(db) -> None:
    for number, (current, target) in enumerate(ALL_MOVES):
        txn_id = await _txn_in(db, current, f"{number:06d}")
        move = lambda tx: txns.set_state_if(tx, txn_id, (current,), state=target, rc="00")  # noqa: E731
        if target in TRANSITIONS[current]:
            assert await db.unit(move) is True
        else:
            with pytest.raises(IllegalTransition):
                await db.unit(move)
        stored = await db.read(lambda tx: txns.get_txn(tx, txn_id))
        assert stored.state == (target if target in TRANSITIONS[current] else current)


async def test_a_move_from_a_state_the_row_is_not_in_changes_nothing(db) -> None:
    txn_id = await _txn_in(db, TxnState.APPROVED, "000001")
    moved = await db.unit(lambda tx: txns.set_state_if(tx, txn_id, (TxnState.SENT,), state=TxnState.DECLINED))
    assert moved is False
    assert (await db.read(lambda tx: txns.get_txn(tx, txn_id))).state is TxnState.APPROVED


async def test_a_state_outside_the_vocabulary_never_reaches_the_database(db) -> None:
    txn_id = await _txn_in(db, TxnState.RECEIVED, "000001")
    with pytest.raises(ValueError):
        await db.unit(lambda tx: txns.update_txn(tx, txn_id, state="approvd"))
    assert (await db.read(lambda tx: txns.get_txn(tx, txn_id))).state is TxnState.RECEIVED
