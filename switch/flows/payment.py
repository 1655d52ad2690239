"""Payment (0200/500000): validate → checks against the latest inquiry → record and hold on the
deposit in one unit → ask the bank → debit on 00 / release otherwise / reverse or advise on silence → answer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from switch.ledger import money, txns, units
from switch.ledger.states import TxnState
from switch.ledger.storage import Tx
from switch.services import Services
from switch.wire import CodecError, Message
from switch.wire.field48 import PREPAID, parse_response

from .bank import (BankTimeout, LinkDown, ask, bank_request, repeat_message, terminal_rc,
                   unanswered_follow_up)
from .common import (check_fields, parse_product, record_of, record_with_first_unit, recorded, rrn_of,
                     write_record)
from .context import GO, STOP, Participant, TxnContext, filled
from .inquiry import bill_periods, check_served

log = structlog.get_logger("flows.payment")

PREPAID_MAX_DENOMINATION = 50_000_000 * 100  # minor units
MALFUNCTION = "96"


async def check_amount(ctx: TxnContext, svc: Services) -> bool:
    if not ctx.amount or ctx.amount <= 0:
        return ctx.decline("13", 4)
    if ctx.product == PREPAID and ctx.amount <= PREPAID_MAX_DENOMINATION:
        return GO  # whatever admin fee was quoted (>= 0), the token is within the cap: nothing to read
    product, customer = ctx.bill
    inquiry = await svc.db.read(lambda tx: txns.last_inquiry(tx, product, customer))
    ctx.log["inquiry"] = inquiry
    if ctx.product == PREPAID:
        admin = inquiry_admin_fee(inquiry) if inquiry else (svc.config.product(PREPAID).admin_fee or 0)
        if ctx.amount - admin > PREPAID_MAX_DENOMINATION:
            return ctx.decline("61")
        return GO
    if inquiry is not None and inquiry["amount"] != ctx.amount:
        return ctx.decline("13")
    return GO


def inquiry_admin_fee(inquiry: dict) -> int:
    try:
        return parse_response(inquiry["field48"]).admin_fee * 100
    except CodecError:
        return 0


async def check_already_paid(ctx: TxnContext, svc: Services) -> bool:
    inquiry = ctx.log.get("inquiry")
    if ctx.product == PREPAID or inquiry is None:
        return GO  # no inquiry before it: the bank decides
    product, customer = ctx.bill
    paid = await svc.db.read(lambda tx: txns.all_paid(tx, product, customer, inquiry["periods"]))
    return ctx.decline("88") if paid else GO


async def hold(ctx: TxnContext, svc: Services) -> bool:
    """The hold is on disk, with the bank and its STAN, before the bank is asked."""
    product, customer = ctx.bill
    bank = svc.router.pick(product)
    if bank is None:
        return ctx.decline("91")
    stan = await svc.stans.next(bank.id)
    ctx.bank, ctx.bank_stan = bank, stan
    limit = ctx.agent.daily_limit if ctx.agent else None
    amount = filled(ctx.amount, "the amount (check_amount)")
    periods = quoted_periods(ctx)

    async def work(tx: Tx) -> Held:
        rrn = {}
        if ctx.unrecorded:  # the idempotency record, in the same unit as the hold
            written = await write_record(tx, ctx, svc)
            if isinstance(written, txns.Txn):
                return Held(earlier=written)
            txn_id = written
            rrn = {"rrn": rrn_of(txn_id)}
        else:
            txn_id = ctx.recorded_id
        if periods and not await txns.claim_bills(tx, product, customer, periods, txn_id):
            if rrn:
                await txns.update_txn(tx, txn_id, **rrn)
            return Held(txn_id, refused="88")  # paid, or being paid right now by another payment of them
        request = bank_request(ctx, svc, stan, rrn_of(txn_id))
        try:
            await money.place_hold(tx, txn_id, ctx.terminal.agent_id, amount, ctx.business_date, limit)
        except money.HoldRefused as refused:
            await txns.unmark_paid(tx, txn_id)
            if rrn:
                await txns.update_txn(tx, txn_id, **rrn)
            return Held(txn_id, refused=refused.rc)
        sent: dict[str, Any] = dict(bank_id=bank.id, bank_stan=stan, bank_request=request.fields, **rrn)
        if rrn:  # the record is this unit's own: nobody else can have moved it
            await txns.set_state_of_own(tx, txn_id, (TxnState.RECEIVED,), state=TxnState.SENT, **sent)
        elif not await txns.set_state_if(tx, txn_id, (TxnState.RECEIVED,), state=TxnState.SENT, **sent):
            # taken for a dead node's and forgotten by a survivor: the hold must not stay
            raise RuntimeError(f"payment {txn_id} was taken over before its hold")
        return Held(txn_id, request=request)

    while True:
        if ctx.unrecorded and units.in_one_statement(svc.db):
            at_once = await hold_at_once(ctx, svc, stan, limit, periods)
            if at_once is None:
                continue  # the earlier record was forgotten meanwhile: this one is written afresh
            held = at_once
        else:
            held = await svc.db.unit(work)
        if held.earlier is None:
            break
        settled = await recorded(ctx, svc, held.earlier)
        if settled is not None:
            return settled
    if ctx.unrecorded:
        await recorded(ctx, svc, filled(held.txn_id, "the new txn id"))
    if held.refused:
        return ctx.decline(held.refused)
    ctx.bank_request = held.request
    ctx.expected_states = (TxnState.SENT,)
    return GO


async def hold_at_once(ctx: TxnContext, svc: Services, stan: str, limit: int | None,
                       periods: list[str]) -> Held | None:
    """`hold`'s unit as one statement (PostgreSQL, ledger.units): the same record, bills, hold and
    state; a repeat's earlier transaction is read after it (None when it is gone by then)."""
    bank = ctx.picked_bank
    request = bank_request(ctx, svc, stan, units.RRN_LATER)
    txn_id, refused = await units.hold_payment(svc.db, record_of(ctx, svc), periods, limit, bank.id, stan,
                                               request.fields)
    if txn_id is None:
        req = ctx.request
        earlier = await svc.db.read(lambda tx: txns.find_txn(tx, ctx.terminal_id, req[11], req[7], req.mti))
        return None if earlier is None else Held(earlier=earlier)
    if refused:
        return Held(txn_id, refused=refused)
    request[37] = rrn_of(txn_id)
    return Held(txn_id, request=request)


@dataclass
class Held:
    """What the hold's unit did: the payment's txn id and the request for the bank; or the code it
    was refused with; or, for a repeat, the earlier transaction (nothing else was done)."""
    txn_id: int | None = None
    request: Message | None = None
    refused: str | None = None
    earlier: txns.Txn | None = None


def quoted_periods(ctx: TxnContext) -> list[str]:
    """The bills of the inquiry this payment follows (none for prepaid or without an inquiry)."""
    inquiry = ctx.log.get("inquiry")
    return [] if ctx.product == PREPAID or inquiry is None else list(inquiry["periods"])


async def ask_bank(ctx: TxnContext, svc: Services) -> bool:
    tried = {ctx.picked_bank.id}
    while True:
        try:
            ctx.at_bank = True  # from here on only a reversal (advice) can tell what the bank did
            ctx.bank_response = await ask(ctx.picked_bank, ctx.request_to_bank, ctx.log)
            return GO
        except LinkDown as down:
            if down.sent:  # it may have reached the bank: only a reversal can tell
                return await no_answer(ctx, svc)
            ctx.at_bank = False
        except BankTimeout:
            return await no_answer(ctx, svc)
        if not await fail_over(ctx, svc, tried):
            return release(ctx, "91")


async def fail_over(ctx: TxnContext, svc: Services, tried: set[str]) -> bool:
    """The request never left: a new payment may go to the next bank."""
    bank = svc.router.pick(ctx.parsed_product, exclude=tried)
    if bank is None:
        return False
    tried.add(bank.id)
    stan = await svc.stans.next(bank.id)
    ctx.bank, ctx.bank_stan = bank, stan
    ctx.bank_request = request = bank_request(ctx, svc, stan)
    txn_id = ctx.recorded_id
    await svc.db.unit(lambda tx: txns.update_txn(tx, txn_id, bank_id=bank.id, bank_stan=stan,
                                                 bank_request=request.fields))
    log.warning("payment_failed_over", rrn=ctx.rrn, bank=bank.id, tried=sorted(tried))
    return True


def release(ctx: TxnContext, rc: str) -> bool:
    """The payment did not happen: the hold goes and the bills it took are free again."""
    ctx.on_finish.append(units.Release(ctx.recorded_id))
    return ctx.decline(rc)


async def no_answer(ctx: TxnContext, svc: Services) -> bool:
    """No answer in time: the hold stays; a reversal (prepaid: an advice) is queued in the same unit
    as the 68, so it survives a crash and goes out at once."""
    bank_id, txn_id = ctx.picked_bank.id, ctx.recorded_id
    stan = await svc.stans.next(bank_id)
    institution = svc.config.switch.institution_id
    kind, mti, ctx.final_state = unanswered_follow_up(ctx.product)
    message = repeat_message(ctx.request_to_bank, mti, stan, institution)

    async def queue(tx: Tx) -> None:
        await txns.enqueue_saf(tx, txn_id, bank_id, kind, message.fields)
    ctx.on_finish.append(queue)
    ctx.rc, ctx.wake_bank = "68", bank_id
    log.warning("bank_no_answer", bank=bank_id, rrn=ctx.rrn, product=ctx.product, queued=kind)
    return STOP


async def abort_held(ctx: TxnContext, svc: Services) -> None:
    """An unexpected fault once the hold is on disk (hold's abort; also when the outcome could not
    be stored): 96 to the terminal. A payment that may have reached the bank and was not declined
    there goes the unanswered way (reversal, or advice for prepaid); one never written to a bank
    link, or declined, gives its hold and bills back."""
    ctx.extra.clear()  # nothing of an approval (token, reference) goes out with a 96
    ctx.response = None
    declined = ctx.bank_response is not None and ctx.bank_response.get(39) != "00"
    if ctx.at_bank and not declined:
        await no_answer(ctx, svc)
    else:
        release(ctx, MALFUNCTION)
        ctx.final_state = TxnState.DECLINED  # the hold is released; nothing reached the bank
    ctx.rc, ctx.reason = MALFUNCTION, "an internal fault (see flow_failed / answer_not_stored)"


async def outcome(ctx: TxnContext, svc: Services) -> bool:
    answer = ctx.bank_answer
    rc = answer.get(39)
    if rc != "00":
        return release(ctx, terminal_rc(rc))
    ctx.rc, ctx.final_state = "00", TxnState.APPROVED
    ctx.extra.update({n: answer[n] for n in (38, 48, 62) if n in answer})
    periods = paid_periods(ctx, answer.get(48, ""))
    product, customer = ctx.bill
    ctx.on_finish.append(units.Debit(ctx.recorded_id, ctx.picked_bank.id, product, customer, periods))
    return GO


def paid_periods(ctx: TxnContext, field48: str) -> list[str]:
    try:
        return bill_periods(parse_response(field48))
    except CodecError as exc:  # the bank approved: the money moved there whatever its field 48 says
        log.error("bank_field48_invalid", bank=ctx.picked_bank.id, rrn=ctx.rrn, error=str(exc))
        inquiry = ctx.log.get("inquiry")
        return inquiry["periods"] if inquiry else []


# Once the hold is placed the bank may have the payment: a fault after it is treated as unanswered
# (reversed or advised); before it nothing moved (96).
STEPS = [check_fields(3, 4, 7, 11, 12, 13, 18, 41, 42, 48, 49), parse_product, record_with_first_unit, check_served,
         check_amount, check_already_paid, Participant(hold, abort=abort_held), ask_bank, outcome]
