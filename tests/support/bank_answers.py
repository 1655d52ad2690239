"""Answers of a well-behaved bank, built from the contract's field-48 layouts (for ScriptedBank)."""
from __future__ import annotations

from switch.wire import Message
from switch.wire.field48 import (NontaglisInfo, PostpaidBill, PostpaidInfo, PrepaidInfo, PrepaidSale,
                                 build_response, parse_request)

from .peers import echo_response

BILLS = (PostpaidBill("202609", "20260920", "20260901", 187500, 5000, 12000, 12150),
         PostpaidBill("202610", "20261020", "20261001", 201300, 0, 12150, 12311))
REF = "0BAG210Z9Y8X7W6V5U4T3S2R1Q0P9O8N"


def postpaid(customer: str, ref: str | None = None) -> PostpaidInfo:
    return PostpaidInfo(customer, "SITI AMINAH", "R1", 1300, 2, 3000, BILLS, ref)


def postpaid_total_minor() -> int:
    return postpaid("532110000123").total * 100


def prepaid(customer: str, sale: bool = False) -> PrepaidInfo:
    return PrepaidInfo(customer, customer[:11], "532110000777", "BUDI SANTOSO", "R1", 900, 2500,
                       PrepaidSale(REF, "12345678901234567890", 3364, 0, 0, 4520, 0, 45480) if sale else None)


def nontaglis(customer: str, ref: str | None = None) -> NontaglisInfo:
    return NontaglisInfo(customer, "PASANG BARU", "RUDI HARTONO", "20261120", 1515000, 3000, ref)


def info_for(product: str, customer: str, paying: bool):
    if product == "PLNPST":
        return postpaid(customer, REF if paying else None)
    if product == "PLNPRA":
        return prepaid(customer, sale=paying)
    return nontaglis(customer, REF if paying else None)


def good_bank(msg: Message) -> Message | None:
    """Approves everything a sane bank would: quotes, payments, reversals, advices, totals."""
    if msg.mti == "0200":
        request = parse_request(msg[48])
        paying = msg[3] == "500000"
        info = info_for(request.product, request.customer, paying)
        extra = {48: build_response(info)}
        if not paying and request.product != "PLNPRA":
            extra[4] = f"{info.total * 100:012d}"
        if paying:
            extra.update({38: "A1B2C3", 62: "Informasi Hubungi Call Center 123"})
        return echo_response(msg, "00", **{str(k): v for k, v in extra.items()})
    if msg.mti in ("0400", "0401"):
        return echo_response(msg, "00")
    if msg.mti in ("0220", "0221"):
        request = parse_request(msg[48])
        return echo_response(msg, "00", **{"48": build_response(prepaid(request.customer, sale=True)),
                                           "38": "D4E5F6"})
    if msg.mti == "0500":
        return echo_response(msg, "00", **{str(n): msg[n] for n in (74, 76, 86, 88, 97)})
    return echo_response(msg, "12")
