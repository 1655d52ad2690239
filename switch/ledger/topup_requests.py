"""Top-ups under four eyes: one operator enters the bank's reference and the amount, a different
operator approves, and only then does money move — through money.topup, the same code as the CLI's
`agent topup`, with the bank reference as the entry's ref (so a ref is never applied twice, whichever
door it came through). Each step writes its audit record in the same unit."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from . import audit, money
from .audit import AuditAction
from .operations import Operator
from .storage import DuplicateKey, Tx, utc_now


class RequestState(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class TopupRefused(Exception):
    """The request cannot be entered or decided; str() says why in one line."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TopupRequest:
    request_id: int
    agent_id: str
    amount: int            # minor units
    bank_ref: str
    state: RequestState
    entered_by: str
    entered_at: str
    decided_by: str | None
    decided_at: str | None


def _request(row) -> TopupRequest:
    return TopupRequest(row["request_id"], row["agent_id"], row["amount"], row["bank_ref"],
                        RequestState(row["state"]), row["entered_by"], row["entered_at"],
                        row["decided_by"], row["decided_at"])


async def _ref_applied(tx: Tx, bank_ref: str) -> bool:
    return await tx.fetchval("SELECT 1 FROM entries WHERE kind = 'topup' AND ref = ?", bank_ref) is not None


async def enter(tx: Tx, agent_id: str, amount: int, bank_ref: str, who: Operator) -> int:
    """Records a top-up waiting for approval; returns its id. Nothing moves yet."""
    entered_by = who.actor
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0 or amount % 100:
        raise TopupRefused("amount must be a positive whole number of rupiah", "amount")
    if await tx.fetchval("SELECT 1 FROM agents WHERE agent_id = ?", agent_id) is None:
        raise TopupRefused(f"no agent {agent_id}", "agent_id")
    if await _ref_applied(tx, bank_ref):
        raise TopupRefused(f"bank reference {bank_ref} was already applied", "bank_ref")
    try:
        request_id = await tx.fetchval(
            "INSERT INTO topup_requests (agent_id, amount, bank_ref, state, entered_by, entered_at)"
            " VALUES (?, ?, ?, 'pending', ?, ?) RETURNING request_id",
            agent_id, amount, bank_ref, entered_by, utc_now())
    except DuplicateKey:
        raise TopupRefused(f"bank reference {bank_ref} is already entered", "bank_ref") from None
    await audit.record(tx, actor=who.actor, source=who.source, action=AuditAction.TOPUP_ENTER, subject=agent_id,
                       before=None, after={"request": request_id, "amount": amount, "ref": bank_ref,
                                           "state": RequestState.PENDING.value})
    return request_id


async def get(tx: Tx, request_id: int) -> TopupRequest | None:
    row = await tx.fetchone("SELECT * FROM topup_requests WHERE request_id = ?", request_id)
    return None if row is None else _request(row)


async def recent(tx: Tx, limit: int = 100) -> list[TopupRequest]:
    """Pending requests first (oldest first), then the latest decided ones."""
    rows = await tx.fetchall(
        "SELECT * FROM topup_requests ORDER BY CASE WHEN state = 'pending' THEN 0 ELSE 1 END,"
        " CASE WHEN state = 'pending' THEN request_id ELSE -request_id END LIMIT ?", limit)
    return [_request(row) for row in rows]


async def _decide(tx: Tx, request_id: int, decided_by: str, state: RequestState) -> TopupRequest:
    request = await get(tx, request_id)
    if request is None:
        raise TopupRefused(f"no top-up request {request_id}")
    four_eyes = state is RequestState.APPROVED
    if four_eyes and request.entered_by == decided_by:
        raise TopupRefused("a top-up must be approved by another operator than the one who entered it")
    changed = await tx.execute(
        "UPDATE topup_requests SET state = ?, decided_by = ?, decided_at = ? WHERE request_id = ?"
        " AND state = 'pending' AND (entered_by <> ? OR ? = 1)", state.value, decided_by, utc_now(), request_id,
        decided_by, int(not four_eyes))
    if changed != 1:
        raise TopupRefused(f"top-up request {request_id} is already {request.state.value}")
    return request


async def approve(tx: Tx, request_id: int, who: Operator) -> TopupRequest:
    """The second pair of eyes: the deposit is credited in this same unit. Raises TopupRefused (and
    the caller's unit then changes nothing) for one's own request, a decided one or an applied ref."""
    request = await _decide(tx, request_id, who.actor, RequestState.APPROVED)
    before = await money.balances(tx, request.agent_id)
    if not await money.topup(tx, request.agent_id, request.amount, request.bank_ref):
        raise TopupRefused(f"bank reference {request.bank_ref} was already applied")
    after = await money.balances(tx, request.agent_id)
    await audit.record(tx, actor=who.actor, source=who.source, action=AuditAction.AGENT_TOPUP,
                       subject=request.agent_id, before={"ledger": before[0], "available": before[1]},
                       after={"ledger": after[0], "available": after[1], "amount": request.amount,
                              "ref": request.bank_ref, "request": request_id, "entered_by": request.entered_by})
    return request


async def reject(tx: Tx, request_id: int, who: Operator) -> TopupRequest:
    """Nothing moves; the one who entered it may withdraw it too."""
    request = await _decide(tx, request_id, who.actor, RequestState.REJECTED)
    await audit.record(tx, actor=who.actor, source=who.source, action=AuditAction.TOPUP_REJECT,
                       subject=request.agent_id, before={"request": request_id, "state": "pending"},
                       after={"request": request_id, "state": RequestState.REJECTED.value})
    return request
