"""Status / reprint (0200/390000): the outcome of an earlier payment of this terminal, named in
field 90, so the agent can print its receipt again or learn what became of a 68."""
from __future__ import annotations

from switch.ledger import txns
from switch.ledger.states import GIVEN_BACK, PENDING, TxnState
from switch.services import Services
from switch.wire.fields import parse_original

from .common import check_fields, record
from .context import GO, TxnContext

async def find_original(ctx: TxnContext, svc: Services) -> txns.Txn | None:
    mti, stan, f7 = parse_original(ctx.request[90])
    original = await svc.db.read(lambda tx: txns.find_txn(tx, ctx.terminal_id, stan, f7, mti))
    if original is None or original.kind != "payment":
        return None
    return original


async def answer_status(ctx: TxnContext, svc: Services) -> bool:
    original = await find_original(ctx, svc)
    if original is None:
        return ctx.decline("25")
    ctx.extra[4] = f"{original.amount or 0:012d}"
    if original.state == TxnState.APPROVED:
        ctx.rc = "00"
        stored = original.response or {}
        bank = original.bank_response or {}
        assert original.rrn is not None  # an approved payment got its RRN with its hold
        ctx.extra[37] = original.rrn
        for n in (38, 48, 62):
            if n in bank:
                ctx.extra[n] = stored.get(n, bank[n])
    elif original.state in PENDING:
        ctx.rc = "68"
    elif original.state in GIVEN_BACK:
        ctx.rc = "05"
    else:
        ctx.rc = original.rc or "05"
    return GO


STEPS = [check_fields(3, 4, 7, 11, 12, 13, 18, 41, 42, 49, 90), record, answer_status]
