"""An unexpected fault while handling a terminal's request (a storage error, a bug): the terminal
still gets an answer, 96, and the money stays consistent.

A fault inside a flow's steps is aborted by the flow's participants (context.run_steps: a payment
whose hold is placed goes payment.abort_held's way, anything else is a 96 with nothing moved). A
fault while storing the outcome is handled here the same way, then stored again; a fault before or
around all that (the terminal could not even be looked up) still gets a 96, built here, MAC'd with
whatever key is known."""
from __future__ import annotations

import structlog

from switch.ledger.states import TxnState
from switch.services import Services
from switch.wire import TI, CodecError, Message, sign

from . import payment
from .common import answer_fields
from .context import TxnContext

log = structlog.get_logger("flows")

MALFUNCTION = payment.MALFUNCTION


async def fail(ctx: TxnContext, svc: Services) -> None:
    """The outcome could not be stored: whatever the flow had decided is replaced by the 96 way."""
    ctx.on_finish.clear()
    ctx.response = None
    if ctx.expected_states == (TxnState.SENT,):  # the hold is on disk
        await payment.abort_held(ctx, svc)
        return
    ctx.extra.clear()
    ctx.rc, ctx.final_state = MALFUNCTION, TxnState.FAILED
    ctx.reason = "the outcome could not be stored (see answer_not_stored)"


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
