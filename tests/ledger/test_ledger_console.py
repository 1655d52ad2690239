"""The console's ledger parts on both backends: top-ups under four eyes, users with lockout, sessions
that end, the transaction search and "retry now" on the store-and-forward queue."""
from __future__ import annotations

import pytest

from switch.ledger import audit, money, reports, topup_requests, txns, users
from switch.ledger.audit import AuditSource
from switch.ledger.operations import Operator
from switch.ledger.topup_requests import RequestState, TopupRefused
from switch.ledger.users import Role

ANA, BUDI = Operator("ana", AuditSource.CONSOLE), Operator("budi", AuditSource.CONSOLE)


async def test_a_topup_moves_money_only_when_a_different_operator_approves_it(db, new_agent):
    await new_agent(db, "AGT01")
    request_id = await db.unit(lambda tx: topup_requests.enter(tx, "AGT01", 250_000_00, "BCA-1", ANA))
    assert await db.read(lambda tx: money.balances(tx, "AGT01")) == (0, 0)
    with pytest.raises(TopupRefused, match="another operator"):
        await db.unit(lambda tx: topup_requests.approve(tx, request_id, ANA))
    assert (await db.read(lambda tx: topup_requests.get(tx, request_id))).state is RequestState.PENDING
    approved = await db.unit(lambda tx: topup_requests.approve(tx, request_id, BUDI))
    assert approved.entered_by == "ana"
    assert await db.read(lambda tx: money.balances(tx, "AGT01")) == (250_000_00, 250_000_00)
    with pytest.raises(TopupRefused, match="already approved"):
        await db.unit(lambda tx: topup_requests.approve(tx, request_id, Operator("citra", "console")))
    assert await db.read(lambda tx: money.balances(tx, "AGT01")) == (250_000_00, 250_000_00)
    assert await db.read(money.check_books) == []
    actions = [(r.actor, r.action) for r in await audit.between(db, "2000-01-01", "2100-01-01")]
    assert actions == [("ana", "topup.enter"), ("budi", "agent.topup")]


async def test_a_bank_reference_is_entered_once_and_never_applied_twice_whichever_door(db, new_agent):
    await new_agent(db, "AGT01")
    first = await db.unit(lambda tx: topup_requests.enter(tx, "AGT01", 100_00, "REF-9", ANA))
    with pytest.raises(TopupRefused, match="already entered") as refused:
        await db.unit(lambda tx: topup_requests.enter(tx, "AGT01", 100_00, "REF-9", BUDI))
    assert refused.value.field == "bank_ref"
    # the CLI applies the same reference directly: the approval then refuses and changes nothing
    await db.unit(lambda tx: money.topup(tx, "AGT01", 100_00, "REF-9"))
    with pytest.raises(TopupRefused, match="already applied"):
        await db.unit(lambda tx: topup_requests.approve(tx, first, BUDI))
    assert (await db.read(lambda tx: topup_requests.get(tx, first))).state is RequestState.PENDING
    assert await db.read(lambda tx: money.balances(tx, "AGT01")) == (100_00, 100_00)
    with pytest.raises(TopupRefused, match="already applied"):
        await db.unit(lambda tx: topup_requests.enter(tx, "AGT01", 100_00, "REF-9", ANA))


@pytest.mark.parametrize("amount", [0, -100, 150, 12_34])
async def test_only_a_positive_whole_rupiah_amount_is_entered(db, new_agent, amount):
    await new_agent(db, "AGT01")
    with pytest.raises(TopupRefused) as refused:
        await db.unit(lambda tx: topup_requests.enter(tx, "AGT01", amount, "R", ANA))
    assert refused.value.field == "amount"
    assert await db.read(topup_requests.recent) == []


async def test_a_rejected_or_withdrawn_topup_moves_nothing_and_frees_its_reference(db, new_agent):
    await new_agent(db, "AGT01")
    request_id = await db.unit(lambda tx: topup_requests.enter(tx, "AGT01", 500_00, "REF-W", ANA))
    withdrawn = await db.unit(lambda tx: topup_requests.reject(tx, request_id, ANA))
    assert withdrawn.agent_id == "AGT01"
    assert await db.read(lambda tx: money.balances(tx, "AGT01")) == (0, 0)
    again = await db.unit(lambda tx: topup_requests.enter(tx, "AGT01", 500_00, "REF-W", ANA))
    assert [r.request_id for r in await db.read(topup_requests.recent)] == [again, request_id]


async def test_wrong_passwords_in_a_row_lock_a_user_and_a_good_login_resets_the_count(db):
    await db.unit(lambda tx: users.add_user(tx, "ana", Role.OPERATOR, "$argon2id$fake"))
    with pytest.raises(ValueError, match="already exists"):
        await db.unit(lambda tx: users.add_user(tx, "ana", Role.VIEWER, "$argon2id$fake"))
    assert not await db.unit(lambda tx: users.login_failed(tx, "ana", 3, 60))
    await db.unit(lambda tx: users.login_succeeded(tx, "ana"))
    for expected in (False, False, True):
        assert await db.unit(lambda tx: users.login_failed(tx, "ana", 3, 60)) is expected
    user = await db.read(lambda tx: users.get_user(tx, "ana"))
    assert user.locked_at(users.utc_now()) and user.role is Role.OPERATOR


async def test_a_session_ends_at_logout_when_idle_and_when_its_user_is_locked(db):
    await db.unit(lambda tx: users.add_user(tx, "ana", Role.VIEWER, "$argon2id$fake"))
    session_id, csrf = await db.unit(lambda tx: users.open_session(tx, "ana"))
    live = await db.unit(lambda tx: users.touch_session(tx, session_id, 60, 3600))
    assert live.user.name == "ana" and live.csrf_token == csrf
    assert await db.unit(lambda tx: users.touch_session(tx, session_id, -1, 3600)) is None   # idle
    assert await db.unit(lambda tx: users.touch_session(tx, session_id, 60, 3600)) is None   # and gone
    second, _ = await db.unit(lambda tx: users.open_session(tx, "ana"))
    await db.unit(lambda tx: users.close_session(tx, second))
    assert await db.unit(lambda tx: users.touch_session(tx, second, 60, 3600)) is None
    third, _ = await db.unit(lambda tx: users.open_session(tx, "ana"))
    await db.unit(lambda tx: users.login_failed(tx, "ana", 1, 60))
    assert await db.unit(lambda tx: users.touch_session(tx, third, 60, 3600)) is None
    assert await db.unit(lambda tx: users.secret(tx, "s")) == await db.unit(lambda tx: users.secret(tx, "s"))


async def _payment(tx, stan: str, customer: str, rc: str | None) -> int:
    txn_id = await txns.insert_txn(tx, kind="payment", terminal_id="T1", agent_id="AGT01", mti="0200", stan=stan,
                                   f7="1201101010", proc_code="500000", product="PLNPST", customer=customer,
                                   amount=100_00, request_hash=stan, request={11: stan}, business_date="2026-12-01")
    await txns.update_txn(tx, txn_id, rc=rc, rrn=f"00000000{stan[-4:]}", bank_id="BANKA")
    return txn_id


async def test_search_finds_by_each_criterion_and_retry_now_makes_a_queued_reversal_due(db, new_agent):
    await new_agent(db, "AGT01")
    first = await db.unit(lambda tx: _payment(tx, "000001", "521200000001", "00"))
    second = await db.unit(lambda tx: _payment(tx, "000002", "521200000002", "51"))

    async def ids(**criteria) -> list[int]:
        found = await db.read(lambda tx: reports.search_txns(tx, reports.TxnSearch(**criteria)))
        return [t.txn_id for t in found]
    assert await ids(customer="521200000002") == [second]
    assert await ids(stan="000001", terminal_id="T1") == [first]
    assert await ids(rc="00") == [first]
    assert await ids(rrn="000000000002") == [second]
    assert await ids(agent_id="AGT01", date_from="2026-12-01", date_to="2026-12-01") == [second, first]
    assert await ids(date_from="2026-12-02") == []
    totals = await db.read(lambda tx: reports.day_totals(tx, "2026-12-01"))
    assert [(t.requests, t.approved, t.approved_amount, t.declined) for t in totals] == [(2, 1, 100_00, 1)]

    await db.unit(lambda tx: txns.enqueue_saf(tx, second, "BANKA", "reversal", {11: "000002"}))
    [item] = await db.read(reports.pending_saf)
    await db.unit(lambda tx: tx.execute("UPDATE saf SET next_at = '2999-01-01T00:00:00.000Z'"))
    assert await db.read(lambda tx: txns.due_saf(tx, "BANKA", txns.now_iso())) == []
    assert await db.unit(lambda tx: reports.retry_now(tx, item.saf_id))
    assert [i.saf_id for i in await db.read(lambda tx: txns.due_saf(tx, "BANKA", txns.now_iso()))] == [item.saf_id]
    await db.unit(lambda tx: txns.finish_saf(tx, item.saf_id, "00", {11: "000002", 39: "00", 64: "AB" * 8}))
    assert not await db.unit(lambda tx: reports.retry_now(tx, item.saf_id))
    trail = await db.read(lambda tx: reports.trail(tx, second))
    assert trail.txn.txn_id == second and [q.saf_id for q in trail.queued] == [item.saf_id]
    assert trail.queue_results == {item.saf_id: "00"}
    assert trail.queue_answers == {item.saf_id: {11: "000002", 39: "00", 64: "[redacted]"}}   # no MAC kept
