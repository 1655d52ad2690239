"""Talking to banks on behalf of a terminal: the switch's own STAN and RRN go out, the bank's answer
comes back to the flow. Also the messages of store-and-forward (0400 reversal, 0220 advice)."""
from __future__ import annotations

import time

from switch.ledger.states import TxnState
from switch.links.bank_link import BankLink, BankTimeout, LinkDown
from switch.services import Services
from switch.wire import Message
from switch.wire.field48 import PREPAID
from switch.wire.fields import original_data, transmission_time
from switch.wire.vocabulary import KNOWN_RC, Mti, ResponseCode

from .context import TxnContext, filled

COPIED_TO_BANK = (3, 4, 12, 13, 18, 41, 42, 48, 49)


def bank_request(ctx: TxnContext, svc: Services, stan: str, rrn: str | None = None) -> Message:
    fields = {n: ctx.request[n] for n in COPIED_TO_BANK if n in ctx.request}
    fields.update({7: transmission_time(), 11: stan, 32: svc.config.switch.institution_id,
                   37: rrn or filled(ctx.rrn, "the RRN (the request is recorded first)")})
    return Message(Mti.FINANCIAL, fields)


def repeat_message(original: Message, mti: str, stan: str, institution_id: str) -> Message:
    """A 0400 reversal or 0220 advice naming the original 0200 sent to the bank."""
    fields = {n: v for n, v in original.fields.items() if n in (3, 4, 12, 13, 18, 32, 37, 41, 42, 48, 49)}
    fields.update({7: transmission_time(), 11: stan,
                   90: original_data(original.mti, original[11], original[7], institution_id)})
    return Message(mti, fields)


def unanswered_follow_up(product: str | None) -> tuple[str, str, TxnState]:
    """(queue kind, first MTI, payment state) for a payment its bank did not answer: a prepaid
    purchase is advised, never reversed (as at PLN); anything else is reversed."""
    if product == PREPAID:
        return "advice", Mti.ADVICE, TxnState.ADVISING
    return "reversal", Mti.REVERSAL, TxnState.REVERSING


def terminal_rc(bank_rc: str | None) -> str:
    """A bank's code goes to the terminal as is when the contract knows it; anything else is 05."""
    return bank_rc if bank_rc in KNOWN_RC else ResponseCode.DO_NOT_HONOUR


async def ask(bank: BankLink, msg: Message, notes: dict | None = None) -> Message:
    """The bank's answer; `notes` (the transaction's log fields) get its code and latency, so the one
    info event per transaction tells the operator what the bank said and how fast."""
    started = time.monotonic()
    try:
        answer = await bank.request(msg, bank.cfg.timeout_s)
    finally:
        if notes is not None:
            notes["bank_ms"] = round((time.monotonic() - started) * 1000, 1)
    if notes is not None:
        notes["bank_rc"] = answer.get(39)
    return answer


__all__ = ["BankTimeout", "LinkDown", "ask", "bank_request", "repeat_message",
           "terminal_rc", "unanswered_follow_up"]
