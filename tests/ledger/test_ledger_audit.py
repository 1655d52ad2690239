"""The audit trail on both backends: records read back in time order with before/after, append-only,
never a secret, and each operator change commits together with its record."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from switch.ledger import audit, money, operations
from switch.ledger.audit import AuditAction, AuditRecord, AuditSource
from switch.ledger.storage import StorageError

ALICE = operations.Operator("alice", AuditSource.CLI)


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(timezone.utc)
    return now - timedelta(minutes=5), now + timedelta(minutes=5)


async def test_a_record_reads_back_with_who_when_what_and_before_after(db):
    await db.unit(lambda tx: audit.record(tx, actor="alice", source="console", action=AuditAction.AGENT_BLOCK,
                                          subject="AGT01", before={"blocked": False}, after={"blocked": True}))
    [found] = await audit.between(db, *_window())
    assert isinstance(found, AuditRecord)
    assert (found.actor, found.source, found.action, found.subject) == ("alice", "console", "agent.block", "AGT01")
    assert (found.before, found.after) == ({"blocked": False}, {"blocked": True})
    at = datetime.fromisoformat(found.at.replace("Z", "+00:00"))
    assert abs((datetime.now(timezone.utc) - at).total_seconds()) < 300
    with pytest.raises(AttributeError):
        found.actor = "mallory"  # frozen


async def test_between_keeps_only_the_window_and_orders_oldest_first(db):
    for subject in ("A1", "A2", "A3"):
        await db.unit(lambda tx, s=subject: audit.record(tx, actor="ops", source="cli", action="agent.topup",
                                                         subject=s, before=None, after={"n": 1}))
    start, end = _window()
    assert [r.subject for r in await audit.between(db, start, end)] == ["A1", "A2", "A3"]
    assert await audit.between(db, end, end + timedelta(days=1)) == []
    assert await audit.between(db, start - timedelta(days=1), start) == []


async def test_the_trail_refuses_to_be_changed_or_deleted(db):
    await db.unit(lambda tx: audit.record(tx, actor="ops", source="cli", action="cutover", subject="2026-01-31",
                                          before=None, after=None))
    with pytest.raises(StorageError, match="append-only"):
        await db.unit(lambda tx: tx.execute("UPDATE audit_log SET actor = 'mallory'"))
    with pytest.raises(StorageError, match="append-only"):
        await db.unit(lambda tx: tx.execute("DELETE FROM audit_log"))
    assert [r.actor for r in await audit.between(db, *_window())] == ["ops"]


@pytest.mark.parametrize("state", [{"mac_key": "00" * 16}, {"password": "x"}, {"nested": {"master_key": "y"}}])
async def test_a_record_with_a_secret_looking_field_is_refused_and_nothing_is_written(db, state):
    with pytest.raises(ValueError, match="secret"):
        await db.unit(lambda tx: audit.record(tx, actor="ops", source="cli", action="terminal.add",
                                              subject="T1", before=None, after=state))
    assert await audit.between(db, *_window()) == []


async def test_empty_actor_is_refused(db):
    with pytest.raises(ValueError, match="actor"):
        await db.unit(lambda tx: audit.record(tx, actor=" ", source="cli", action="cutover", subject="d",
                                              before=None, after=None))


async def test_a_topup_is_audited_with_balances_before_and_after_and_a_repeated_ref_is_not(db, new_agent):
    await new_agent(db, "AGT01", deposit=5_000_00)
    done = await operations.topup(db, ALICE, "AGT01", 2_000_00, "TRF-1")
    again = await operations.topup(db, ALICE, "AGT01", 2_000_00, "TRF-1")
    assert done.applied and not again.applied and done.ledger == 7_000_00
    [topup] = await audit.between(db, *_window())
    assert (topup.action, topup.subject, topup.actor) == ("agent.topup", "AGT01", "alice")
    assert topup.before == {"ledger": 5_000_00, "available": 5_000_00}
    assert topup.after == {"ledger": 7_000_00, "available": 7_000_00, "amount": 2_000_00, "ref": "TRF-1"}


async def test_block_unblock_and_terminal_add_are_audited_without_the_key(db, new_agent):
    await new_agent(db, "AGT01")
    key = await operations.add_terminal(db, ALICE, "T1", "AGT01", None)
    await operations.set_terminal_blocked(db, ALICE, "T1", True)
    await operations.set_agent_blocked(db, ALICE, "AGT01", True)
    await operations.set_agent_blocked(db, ALICE, "AGT01", False)
    records = await audit.between(db, *_window())
    assert [(r.action, r.subject, r.before, r.after and r.after.get("blocked")) for r in records] == [
        ("terminal.add", "T1", None, False), ("terminal.block", "T1", {"blocked": False}, True),
        ("agent.block", "AGT01", {"blocked": False}, True), ("agent.unblock", "AGT01", {"blocked": True}, False)]
    assert records[0].after["key_check"] and len(records[0].after["key_check"]) == 6
    assert key not in repr(records) and key.lower() not in repr(records)


async def test_a_change_that_fails_leaves_no_record(db, new_agent):
    await new_agent(db, "AGT01")
    with pytest.raises(ValueError):
        await operations.topup(db, ALICE, "NOPE", 1_00, "TRF-2")
    with pytest.raises(ValueError, match="no such terminal"):
        await operations.set_terminal_blocked(db, ALICE, "T9", True)
    assert await audit.between(db, *_window()) == []
    assert await db.read(lambda tx: money.balances(tx, "AGT01")) == (0, 0)
