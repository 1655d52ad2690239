"""A payment as a settlement line: periods, admin fee, biller reference and bills from its field 48,
and the day's totals and commissions built from the lines. Pure data and functions: no I/O."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]  # C speed-up, not in the stubs
from typing import Any, NamedTuple

from switch.ledger.states import BANK_REVERSED
from switch.wire import CodecError
from switch.wire import layouts as L
from switch.wire.field48 import (NONTAGLIS, NONTAGLIS_LEN, POSTPAID, POSTPAID_BILL_LEN, POSTPAID_HEAD_LEN,
                                 PREPAID, PREPAID_LEN, PREPAID_SALE_LEN, REF_LEN, NontaglisInfo, PostpaidInfo,
                                 PrepaidInfo, parse_response)
from switch.wire.layouts import span

from .files import PAID, REVERSED, Control, RcnLine, utc_seconds


class Details(NamedTuple):  # a NamedTuple: built once per payment, a million times a day
    periods: str = ""
    admin_fee: int = 0   # minor units
    bank_ref: str = ""
    bills: int = 1


def product_details(field48: str | None) -> Details:
    """Periods, admin fee, biller reference and bill count from a payment's field 48. Read straight
    from the fixed positions of §5 (a million lines a day: the full validating parse costs ~100 µs
    each); anything that does not look right goes through the validating parser instead."""
    if not field48:
        return Details()
    return _quick_details(field48) or _parsed_details(field48)


# where the fast reader looks, from the layouts' declarations
_COUNT = span(L.POSTPAID_HEAD, "bill_count")
_POSTPAID_ADMIN = span(L.POSTPAID_HEAD, "admin_fee")
_PERIOD = span(L.POSTPAID_BILL, "period", 0)
_FIXED = {PREPAID: (PREPAID_LEN, span(L.PREPAID_INFO, "admin_fee"), PREPAID_SALE_LEN),
          NONTAGLIS: (NONTAGLIS_LEN, span(L.NONTAGLIS_INFO, "admin_fee"), REF_LEN)}


def _quick_details(s: str) -> Details | None:
    product = s[:6]
    if product == POSTPAID:
        count, admin = s[_COUNT[0]:_COUNT[1]], s[_POSTPAID_ADMIN[0]:_POSTPAID_ADMIN[1]]
        if not (count in ("1", "2", "3", "4") and admin.isdigit()):
            return None
        bills = int(count)
        end = POSTPAID_HEAD_LEN + POSTPAID_BILL_LEN * bills
        if len(s) not in (end, end + REF_LEN):
            return None
        periods = ",".join([s[at + _PERIOD[0]:at + _PERIOD[1]]
                            for at in range(POSTPAID_HEAD_LEN, end, POSTPAID_BILL_LEN)])
        if not periods.replace(",", "").isdigit():
            return None
        return Details(periods, int(admin) * bills * 100, s[end:end + REF_LEN].rstrip(), bills)
    if product not in _FIXED:
        return None
    fixed, (start, stop), tail = _FIXED[product]
    admin = s[start:stop]
    if not admin.isdigit() or len(s) not in (fixed, fixed + tail):
        return None
    return Details("", int(admin) * 100, s[fixed:fixed + REF_LEN].rstrip())


def _parsed_details(field48: str) -> Details:
    try:
        info = parse_response(field48)
    except CodecError:
        return Details()
    if isinstance(info, PostpaidInfo):
        periods = ",".join(bill.period for bill in info.bills)
        return Details(periods, info.admin_fee * len(info.bills) * 100, info.biller_ref or "",
                       len(info.bills))
    if isinstance(info, PrepaidInfo):
        return Details("", info.admin_fee * 100, info.sale.biller_ref if info.sale else "")
    if isinstance(info, NontaglisInfo):
        return Details("", info.admin_fee * 100, info.biller_ref or "")
    return Details()


def field48_of(answer: str | None) -> str | None:
    """Field 48 of a stored answer (the JSON of txns.fields_json) without decoding all of it: keys
    are top-level and quotes inside values are escaped, so `"48"` followed by a colon is the key."""
    if not answer:
        return None
    at = answer.find('"48"')
    if at < 0:
        return None
    colon = answer.find(":", at + 4)
    start = answer.find('"', colon + 1)
    if colon < 0 or start < 0 or answer[at + 4:colon].strip() or answer[colon + 1:start].strip():
        return json.loads(answer).get("48")
    return scanstring(answer, start + 1)[0]


class Payment(NamedTuple):
    line: RcnLine
    state: str
    agent_id: str
    product: str
    bills: int


def to_payment(row: Any) -> Payment:
    """A row of ledger.settlements.payment_rows (read by position: a million rows a day) as a line."""
    _, rrn, bank_stan, terminal_id, agent_id, product, customer, amount, state, answer, created, updated = row
    details = product_details(field48_of(answer))
    agent = (agent_id or "").strip()
    line = RcnLine(rrn or "", bank_stan or "", (terminal_id or "").strip(), agent, product or "", customer or "",
                   details.periods, int(amount or 0), details.admin_fee, details.bank_ref,
                   REVERSED if state in BANK_REVERSED else PAID, utc_seconds(created or ""),
                   utc_seconds(updated or ""))
    return Payment(line, state, agent, line.product, details.bills)




@dataclass
class Day:
    """One bank's business date: the 0500 totals (the control of its files) and the commissions due."""
    bank_id: str
    business_date: str
    control: Control
    commissions: dict[str, int] = field(default_factory=dict)   # agent -> minor units
    commission_counts: dict[str, int] = field(default_factory=dict)
    fee_income: int = 0   # admin fees of the payments that stand, minor units
    files: list[str] = field(default_factory=list)
