"""Deposit balance (0200/310000), answered by the switch from the ledger in field 54."""
from __future__ import annotations

from switch.ledger import money
from switch.services import Services
from switch.wire.fields import balances_field

from .common import check_fields, record
from .context import GO, TxnContext


async def answer_balance(ctx: TxnContext, svc: Services) -> bool:
    ledger, available = await svc.db.read(lambda tx: money.balances(tx, ctx.terminal.agent_id))
    ctx.rc = "00"
    ctx.extra[54] = balances_field(ledger, available)
    return GO


STEPS = [check_fields(3, 4, 7, 11, 12, 13, 18, 41, 42, 49), record, answer_balance]
