"""An unexpected fault while handling a terminal's request (a storage error, a bug): the terminal
still gets an answer, 96, and the money stays consistent.

* nothing held yet: nothing moved; the 96 is stored as the outcome (state `failed`);
* a hold placed but the payment never written to a bank link, or declined by the bank: the hold is
  released and the bills it took are free again (state `failed`);
* the payment may have reached the bank (written to its link, answered or not): it goes the way of
  an unanswered payment — a reversal, or for prepaid an advice, is queued in the same unit as the
  stored 96 (state `reversing` / `advising`), so a status request later tells what became of it.
"""
from __future__ import annotations

import structlog

from switch.services import Services
from switch.wire import TI, CodecError, Message, sign

from . import payment
from .common import answer_fields
from .context import TxnContext

log = structlog.get_logger("flows")

MALFUNCTION = "96"


async def fail(ctx: TxnContext, svc: Services) -> None:
    """Replaces whatever the flow had decided by the 96 way; finish() then stores it."""
    ctx.on_finish.clear()
    ctx.extra.clear()  # nothing of an approval (token, reference) goes out with a 96
    ctx.response = None
    ctx.final_state = "failed"
    if ctx.expected_states == ("sent",):  # the hold is on disk
        declined = ctx.bank_response is not None and ctx.bank_response.get(39) != "00"
        if ctx.at_bank and not declined:
            await payment.no_answer(ctx, svc)  # queues the reversal / advice, sets the state
        else:
            payment.release(ctx, MALFUNCTION)
            ctx.final_state = "failed"
    ctx.rc = MALFUNCTION


def malfunction_response(ctx: TxnContext) -> Message:
    """96 echoing the request (with the RRN and business date when the request was recorded)."""
    req = ctx.request
    financial = req.mti in ("0200", "0400")
    return Message(req.response_mti, answer_fields(req.fields, ctx.rrn, ctx.business_date if financial else "",
                                                   MALFUNCTION, ctx.bad_fields))


def sign_quietly(response: Message, key: bytes) -> bytes | None:
    """The signed answer, or None when even that cannot be encoded."""
    try:
        return sign(response, key, TI)
    except (CodecError, ValueError) as exc:
        log.error("terminal_response_unencodable", error=str(exc))
        return None
