"""A terminal's reversal (0400/500000) of one of its payments, named in field 90.

An approved payment is acknowledged 0410 00 at once; the reversal itself goes to the original's bank
through the store-and-forward queue, and the debit is credited back when the bank answers 00 or 25.
Reversals are idempotent; prepaid purchases are not reversible (12)."""
from __future__ import annotations

import structlog

from switch.ledger import txns
from switch.ledger.states import REVERSED_ALREADY, TxnState
from switch.ledger.storage import Tx
from switch.services import Services
from switch.wire import Message
from switch.wire.field48 import PREPAID

from .bank import repeat_message
from .common import check_fields, parse_product, record, wait_finished
from .context import GO, TxnContext
from .status import find_original

log = structlog.get_logger("flows.reversal")

async def reverse(ctx: TxnContext, svc: Services) -> bool:
    original = await find_original(ctx, svc)
    if original is None:
        return ctx.decline("25")
    if original.product == PREPAID:
        return ctx.decline("12")
    if original.response is None:  # still with the bank: its outcome decides what there is to reverse
        original = await wait_finished(original, svc)
        if original is None:  # its node died before anything moved: there is nothing to reverse
            return ctx.decline("25")
    ctx.business_date = original.business_date or ctx.business_date
    if original.state in REVERSED_ALREADY or original.state == TxnState.ADVISING:
        ctx.rc = "00"  # nothing (more) to move: an earlier reversal or the decline took care of it
        return GO
    if original.state != TxnState.APPROVED:
        return ctx.decline("25")
    bank_id = original.sent_to
    stan = await svc.stans.next(bank_id)
    message = repeat_message(Message("0200", dict(original.bank_request or {})), "0400", stan,
                             svc.config.switch.institution_id)

    async def queue(tx: Tx) -> None:
        # a reversal asked before and refused by the bank (the payment stands, flagged) is not asked
        # again: the second 0400 is acknowledged and moves nothing, like any repeat
        if await txns.has_saf(tx, original.txn_id, "reversal"):
            return
        if await txns.set_state_if(tx, original.txn_id, (TxnState.APPROVED,), state=TxnState.REVERSAL_PENDING):
            await txns.enqueue_saf(tx, original.txn_id, bank_id, "reversal", message.fields)
    ctx.on_finish.append(queue)
    ctx.log["reversal_of"] = original.txn_id
    ctx.rc = "00"
    ctx.log["wake_bank"] = ctx.wake_bank = bank_id
    return GO


STEPS = [check_fields(3, 4, 7, 11, 41, 42, 48, 49, 90), parse_product, record, reverse]
