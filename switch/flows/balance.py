"""Deposit balance (0200/310000), answered by the switch from the ledger in field 54."""
from __future__ import annotations

from switch.ledger import money
from switch.services import Services

from .common import check_fields, record
from .context import GO, TxnContext


def balance_block(amount_type: str, amount: int) -> str:
    """Field 54 block: account type 00, amount type, currency 360, C/D, 12 digits (minor units)."""
    sign = "C" if amount >= 0 else "D"
    return f"00{amount_type}360{sign}{abs(amount):012d}"


async def answer_balance(ctx: TxnContext, svc: Services) -> bool:
    ledger, available = await svc.db.read(lambda tx: money.balances(tx, ctx.terminal.agent_id))
    ctx.rc = "00"
    ctx.extra[54] = balance_block("01", ledger) + balance_block("02", available)
    return GO


STEPS = [check_fields(3, 4, 7, 11, 12, 13, 18, 41, 42, 49), record, answer_balance]
