"""The console's audit records: the ledger's audit trail (switch.ledger.audit), source "console", the
signed-in user as the actor, written in the same unit as the change itself."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from switch.ledger import audit
from switch.ledger.audit import AuditAction, AuditRecord, AuditSource
from switch.ledger.storage import Database, Tx


async def record(tx: Tx, *, actor: str, action: AuditAction, subject: str, before: dict[str, Any] | None,
                 after: dict[str, Any] | None) -> None:
    await audit.record(tx, actor=actor, source=AuditSource.CONSOLE, action=action, subject=subject,
                       before=before, after=after)


async def between(db: Database, date_from: str, date_to: str) -> list[AuditRecord]:
    """Records of the UTC dates date_from..date_to (inclusive; empty: the last 7 days), newest first."""
    end = date.fromisoformat(date_to) + timedelta(days=1) if date_to else _utc_today() + timedelta(days=1)
    start = date.fromisoformat(date_from) if date_from else end - timedelta(days=8)
    return list(reversed(await audit.between(db, start, end)))


def _utc_today() -> date:
    return datetime.now(timezone.utc).date()  # not date.today(): the machine's zone may not be UTC
