"""Field 48 (product data) layouts of contract §5: typed parse and build with validation.

Amounts are whole rupiah (ints); text fields come back without their padding. Every problem is a
CodecError(field=48); a well-formed but unknown product code is UnknownProduct (the switch answers 12).
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass

from .errors import CodecError, UnknownProduct

POSTPAID, PREPAID, NONTAGLIS = "PLNPST", "PLNPRA", "PLNNTL"
PRODUCTS = (POSTPAID, PREPAID, NONTAGLIS)
CUSTOMER_DIGITS = {POSTPAID: (12,), PREPAID: (11, 12), NONTAGLIS: (13,)}
MAX_BILLS = 4

REQUEST_LEN = 6 + 13
POSTPAID_HEAD_LEN = 6 + 13 + 25 + 4 + 9 + 1 + 2 + 8
POSTPAID_BILL_LEN = 6 + 8 + 8 + 12 + 9 + 8 + 8
PREPAID_LEN = 6 + 13 + 11 + 12 + 25 + 4 + 9 + 8
PREPAID_SALE_LEN = 32 + 20 + 10 * 5 + 12
NONTAGLIS_LEN = 6 + 13 + 25 + 25 + 8 + 12 + 8
REF_LEN = 32


@dataclass(frozen=True)
class ProductRequest:
    product: str
    customer: str


@dataclass(frozen=True)
class PostpaidBill:
    period: str  # YYYYMM
    due_date: str  # YYYYMMDD
    read_date: str  # YYYYMMDD
    amount: int
    penalty: int
    meter_before: int
    meter_after: int


@dataclass(frozen=True)
class PostpaidInfo:
    customer: str
    name: str
    tariff: str
    power_va: int
    outstanding: int
    admin_fee: int
    bills: tuple[PostpaidBill, ...]
    biller_ref: str | None = None  # present in payment responses only

    def __post_init__(self) -> None:
        object.__setattr__(self, "bills", tuple(self.bills))

    @property
    def total(self) -> int:
        """Amount due in whole rupiah: bills, penalties and the admin fee per bill."""
        return sum(b.amount + b.penalty for b in self.bills) + self.admin_fee * len(self.bills)


@dataclass(frozen=True)
class PrepaidSale:
    biller_ref: str
    token: str  # 20 digits
    kwh_x100: int  # kWh with two implied decimals
    stamp_duty: int
    vat: int
    ppj: int
    installment: int
    power_purchase: int


@dataclass(frozen=True)
class PrepaidInfo:
    customer: str
    meter: str
    idpel: str
    name: str
    tariff: str
    power_va: int
    admin_fee: int
    sale: PrepaidSale | None = None  # present in payment responses only


@dataclass(frozen=True)
class NontaglisInfo:
    customer: str
    transaction_name: str
    name: str
    registration_date: str  # YYYYMMDD
    amount: int
    admin_fee: int
    biller_ref: str | None = None  # present in payment responses only

    @property
    def total(self) -> int:
        return self.amount + self.admin_fee


ProductInfo = PostpaidInfo | PrepaidInfo | NontaglisInfo


# ---- parsing ---------------------------------------------------------------------------------

def parse_request(s: str) -> ProductRequest:
    """Field 48 of an inquiry or payment request: product an6 + customer an13."""
    _check_text(s)
    if len(s) != REQUEST_LEN:
        raise _error(f"request layout is {REQUEST_LEN} characters, got {len(s)}")
    product = _product(s)
    customer = s[6:].rstrip(" ")
    _check_customer(product, customer)
    return ProductRequest(product, customer)


def parse_response(s: str) -> ProductInfo:
    """Field 48 of an inquiry or payment response; the payment-only tail is recognised by length."""
    _check_text(s)
    product = _product(s)
    if product == POSTPAID:
        return _parse_postpaid(s)
    if product == PREPAID:
        return _parse_prepaid(s)
    return _parse_nontaglis(s)


def _parse_postpaid(s: str) -> PostpaidInfo:
    if len(s) < POSTPAID_HEAD_LEN:
        raise _error(f"{POSTPAID} layout is at least {POSTPAID_HEAD_LEN} characters, got {len(s)}")
    count_text = s[57]
    if count_text not in "1234":
        raise _error(f"bills in this message {count_text!r} is not 1 to {MAX_BILLS}")
    count = int(count_text)
    short = POSTPAID_HEAD_LEN + POSTPAID_BILL_LEN * count
    _check_length(POSTPAID, s, short, f" with {count} bills")
    cur = _Cursor(s, 6)
    customer = cur.text(13)
    _check_customer(POSTPAID, customer)
    name, tariff, power = cur.text(25), cur.text(4), cur.number(9, "power")
    cur.skip(1)
    outstanding, admin = cur.number(2, "outstanding bills"), cur.number(8, "admin fee")
    bills = tuple(_parse_bill(cur, i) for i in range(1, count + 1))
    ref = cur.text(REF_LEN) if len(s) > short else None
    return PostpaidInfo(customer, name, tariff, power, outstanding, admin, bills, ref)


def _parse_bill(cur: _Cursor, i: int) -> PostpaidBill:
    return PostpaidBill(
        period=cur.period(f"bill {i} period"),
        due_date=cur.date(f"bill {i} due date"),
        read_date=cur.date(f"bill {i} meter read date"),
        amount=cur.number(12, f"bill {i} amount"),
        penalty=cur.number(9, f"bill {i} penalty"),
        meter_before=cur.number(8, f"bill {i} meter reading before"),
        meter_after=cur.number(8, f"bill {i} meter reading after"),
    )


def _parse_prepaid(s: str) -> PrepaidInfo:
    _check_length(PREPAID, s, PREPAID_LEN)
    cur = _Cursor(s, 6)
    customer = cur.text(13)
    _check_customer(PREPAID, customer)
    meter, idpel = cur.digits(11, "meter number"), cur.digits(12, "IDPEL")
    name, tariff = cur.text(25), cur.text(4)
    power, admin = cur.number(9, "power"), cur.number(8, "admin fee")
    sale = _parse_sale(cur) if len(s) > PREPAID_LEN else None
    return PrepaidInfo(customer, meter, idpel, name, tariff, power, admin, sale)


def _parse_sale(cur: _Cursor) -> PrepaidSale:
    return PrepaidSale(
        biller_ref=cur.text(REF_LEN),
        token=cur.digits(20, "token"),
        kwh_x100=cur.number(10, "kWh"),
        stamp_duty=cur.number(10, "stamp duty"),
        vat=cur.number(10, "VAT"),
        ppj=cur.number(10, "PPJ"),
        installment=cur.number(10, "installment"),
        power_purchase=cur.number(12, "power purchase"),
    )


def _parse_nontaglis(s: str) -> NontaglisInfo:
    _check_length(NONTAGLIS, s, NONTAGLIS_LEN)
    cur = _Cursor(s, 6)
    customer = cur.text(13)
    _check_customer(NONTAGLIS, customer)
    trx_name, name = cur.text(25), cur.text(25)
    reg_date = cur.date("registration date")
    amount, admin = cur.number(12, "amount"), cur.number(8, "admin fee")
    ref = cur.text(REF_LEN) if len(s) > NONTAGLIS_LEN else None
    return NontaglisInfo(customer, trx_name, name, reg_date, amount, admin, ref)


class _Cursor:
    """Walks a layout whose total length has already been checked."""

    def __init__(self, s: str, pos: int = 0) -> None:
        self.s, self.pos = s, pos

    def take(self, width: int) -> str:
        chunk = self.s[self.pos:self.pos + width]
        self.pos += width
        return chunk

    def skip(self, width: int) -> None:
        self.pos += width

    def text(self, width: int) -> str:
        return self.take(width).rstrip(" ")

    def digits(self, width: int, what: str) -> str:
        chunk = self.take(width)
        if not chunk.isdigit():
            raise _error(f"{what} {chunk!r} is not {width} digits")
        return chunk

    def number(self, width: int, what: str) -> int:
        return int(self.digits(width, what))

    def date(self, what: str) -> str:
        chunk = self.take(8)
        if not (chunk.isdigit() and _is_date(int(chunk[:4]), int(chunk[4:6]), int(chunk[6:]))):
            raise _error(f"{what} {chunk!r} is not a date")
        return chunk

    def period(self, what: str) -> str:
        chunk = self.take(6)
        if not (chunk.isdigit() and _is_date(int(chunk[:4]), int(chunk[4:]), 1)):
            raise _error(f"{what} {chunk!r} is not a period YYYYMM")
        return chunk


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def _product(s: str) -> str:
    product = s[:6]
    if product in PRODUCTS:
        return product
    if len(product) == 6 and product.strip(" ") == product:
        raise UnknownProduct(product)
    raise _error(f"product {product!r} is not a product code")


def _check_customer(product: str, customer: str) -> None:
    lengths = CUSTOMER_DIGITS[product]
    if not (customer.isdigit() and len(customer) in lengths):
        wanted = " or ".join(str(n) for n in lengths)
        raise _error(f"customer {customer!r} is not {wanted} digits for {product}")


def _check_length(product: str, s: str, short: int, detail: str = "") -> None:
    long = short + (PREPAID_SALE_LEN if product == PREPAID else REF_LEN)
    if len(s) not in (short, long):
        raise _error(f"{product} layout{detail} is {short} or {long} characters, got {len(s)}")


def _check_text(s: object) -> None:
    if not isinstance(s, str) or not (s.isascii() and s.isprintable()):
        raise _error(f"expected printable ASCII, got {s!r}")


def _error(reason: str) -> CodecError:
    return CodecError(48, reason)


# ---- building --------------------------------------------------------------------------------

def build_request(r: ProductRequest) -> str:
    s = _an(r.product, 6, "product") + _an(r.customer, 13, "customer")
    parse_request(s)  # the same checks as for a received request
    return s


def build_response(info: ProductInfo) -> str:
    """Field 48 of a response; parsed back before returning so nothing invalid leaves the switch."""
    if isinstance(info, PostpaidInfo):
        s = _build_postpaid(info)
    elif isinstance(info, PrepaidInfo):
        s = _build_prepaid(info)
    elif isinstance(info, NontaglisInfo):
        s = _build_nontaglis(info)
    else:
        raise _error(f"not a field 48 response layout: {type(info).__name__}")
    parse_response(s)
    return s


def _build_postpaid(info: PostpaidInfo) -> str:
    if not 1 <= len(info.bills) <= MAX_BILLS:
        raise _error(f"1 to {MAX_BILLS} bills per message, got {len(info.bills)}")
    parts = [POSTPAID, _an(info.customer, 13, "customer"), _an(info.name, 25, "name"),
             _an(info.tariff, 4, "tariff"), _n(info.power_va, 9, "power"), str(len(info.bills)),
             _n(info.outstanding, 2, "outstanding bills"), _n(info.admin_fee, 8, "admin fee")]
    for i, bill in enumerate(info.bills, 1):
        parts += [_an(bill.period, 6, f"bill {i} period"), _an(bill.due_date, 8, f"bill {i} due date"),
                  _an(bill.read_date, 8, f"bill {i} meter read date"),
                  _n(bill.amount, 12, f"bill {i} amount"), _n(bill.penalty, 9, f"bill {i} penalty"),
                  _n(bill.meter_before, 8, f"bill {i} meter reading before"),
                  _n(bill.meter_after, 8, f"bill {i} meter reading after")]
    if info.biller_ref is not None:
        parts.append(_an(info.biller_ref, REF_LEN, "biller reference"))
    return "".join(parts)


def _build_prepaid(info: PrepaidInfo) -> str:
    parts = [PREPAID, _an(info.customer, 13, "customer"), _an(info.meter, 11, "meter number"),
             _an(info.idpel, 12, "IDPEL"), _an(info.name, 25, "name"), _an(info.tariff, 4, "tariff"),
             _n(info.power_va, 9, "power"), _n(info.admin_fee, 8, "admin fee")]
    sale = info.sale
    if sale is not None:
        parts += [_an(sale.biller_ref, REF_LEN, "biller reference"), _an(sale.token, 20, "token"),
                  _n(sale.kwh_x100, 10, "kWh"), _n(sale.stamp_duty, 10, "stamp duty"),
                  _n(sale.vat, 10, "VAT"), _n(sale.ppj, 10, "PPJ"),
                  _n(sale.installment, 10, "installment"), _n(sale.power_purchase, 12, "power purchase")]
    return "".join(parts)


def _build_nontaglis(info: NontaglisInfo) -> str:
    parts = [NONTAGLIS, _an(info.customer, 13, "customer"),
             _an(info.transaction_name, 25, "transaction name"), _an(info.name, 25, "name"),
             _an(info.registration_date, 8, "registration date"), _n(info.amount, 12, "amount"),
             _n(info.admin_fee, 8, "admin fee")]
    if info.biller_ref is not None:
        parts.append(_an(info.biller_ref, REF_LEN, "biller reference"))
    return "".join(parts)


def _n(value: int, width: int, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _error(f"{what} {value!r} is not a non-negative integer")
    text = str(value)
    if len(text) > width:
        raise _error(f"{what} {value} does not fit in {width} digits")
    return text.zfill(width)


def _an(value: str, width: int, what: str) -> str:
    if not isinstance(value, str) or not (value.isascii() and value.isprintable()):
        raise _error(f"{what} {value!r} is not printable ASCII")
    if len(value) > width:
        raise _error(f"{what} {value!r} is longer than {width} characters")
    return value.ljust(width)
