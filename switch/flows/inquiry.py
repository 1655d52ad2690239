"""Bill inquiry (0200/380000): relayed to the best available bank; the answer is remembered as the
customer's latest inquiry, which the payment that follows must match."""
from __future__ import annotations

import structlog

from switch.ledger import units
from switch.services import Services
from switch.wire import CodecError
from switch.wire.field48 import NontaglisInfo, PostpaidInfo, parse_response

from .bank import BankTimeout, LinkDown, ask, bank_request, terminal_rc
from .common import check_fields, parse_product, record
from .context import GO, TxnContext

log = structlog.get_logger("flows.inquiry")


async def check_served(ctx: TxnContext, svc: Services) -> bool:
    return GO if svc.router.serves(ctx.parsed_product) else ctx.decline("12")


def bill_periods(info) -> list[str]:
    """What a payment of this quote pays: postpaid months, or the registration itself ('')."""
    if isinstance(info, PostpaidInfo):
        return [bill.period for bill in info.bills]
    if isinstance(info, NontaglisInfo):
        return [""]
    return []


async def ask_bank(ctx: TxnContext, svc: Services) -> bool:
    tried: set[str] = set()
    product = ctx.parsed_product
    while True:
        bank = svc.router.pick(product, exclude=tried)
        if bank is None:
            return ctx.decline("91")
        stan = await svc.stans.next(bank.id)
        ctx.bank, ctx.bank_stan = bank, stan
        ctx.bank_request = request = bank_request(ctx, svc, stan)
        try:
            ctx.bank_response = await ask(bank, request, ctx.log)
            return GO
        except LinkDown:  # an inquiry moves no money: the next bank may answer it
            tried.add(bank.id)
        except BankTimeout:
            return ctx.decline("68")


async def quote(ctx: TxnContext, svc: Services) -> bool:
    answer, bank_id = ctx.bank_answer, ctx.picked_bank.id
    rc = answer.get(39)
    if rc != "00":
        return ctx.decline(terminal_rc(rc))
    try:
        info = parse_response(answer.get(48, ""))
    except CodecError as exc:
        log.error("bank_field48_invalid", bank=bank_id, rrn=ctx.rrn, error=str(exc))
        return ctx.decline("96", reason=f"the bank's field 48 does not parse: {exc}")
    ctx.rc = "00"
    ctx.extra.update({n: answer[n] for n in (4, 48, 62) if n in answer})
    warn_admin_fee(ctx, svc, info)
    periods, amount = bill_periods(info), int(answer.get(4, "0"))
    (product, customer), txn_id = ctx.bill, ctx.recorded_id
    ctx.on_finish.append(units.Remember(product, customer, txn_id, bank_id, amount, periods, answer[48]))
    return GO


def warn_admin_fee(ctx: TxnContext, svc: Services, info) -> None:
    product = ctx.parsed_product
    expected = svc.config.product(product).admin_fee
    if expected is not None and info.admin_fee * 100 != expected:
        log.warning("admin_fee_differs", bank=ctx.picked_bank.id, product=product,
                    quoted_rupiah=info.admin_fee, expected_rupiah=expected // 100)


STEPS = [check_fields(3, 4, 7, 11, 12, 13, 18, 41, 42, 48, 49), parse_product, record, check_served,
         ask_bank, quote]
