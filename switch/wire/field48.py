"""Field 48 (product data) layouts of contract §5: typed parse and build with validation.

Amounts are whole rupiah (ints); text fields come back without their padding. Every problem is a
CodecError(field=48); a well-formed but unknown product code is UnknownProduct (the switch answers 12).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import layouts as L
from .errors import CodecError, UnknownProduct
from .layouts import PRODUCT_WIDTH, Cursor, Item, build, error as _error, width

POSTPAID, PREPAID, NONTAGLIS = "PLNPST", "PLNPRA", "PLNNTL"
PRODUCTS = (POSTPAID, PREPAID, NONTAGLIS)
CUSTOMER_DIGITS = {POSTPAID: (12,), PREPAID: (11, 12), NONTAGLIS: (13,)}
MAX_BILLS = 4

REQUEST_LEN = PRODUCT_WIDTH + width(L.REQUEST)
POSTPAID_HEAD_LEN = PRODUCT_WIDTH + width(L.POSTPAID_HEAD)
POSTPAID_BILL_LEN = width(L.POSTPAID_BILL)
PREPAID_LEN = PRODUCT_WIDTH + width(L.PREPAID_INFO)
PREPAID_SALE_LEN = width(L.PREPAID_SALE)
NONTAGLIS_LEN = PRODUCT_WIDTH + width(L.NONTAGLIS_INFO)
REF_LEN = width(L.BILLER_REF)


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
    return ProductRequest(product, **Cursor(s).read(L.REQUEST, check=_checked(product)))


def parse_response(s: str) -> ProductInfo:
    """Field 48 of an inquiry or payment response; the payment-only tail is recognised by length."""
    _check_text(s)
    product = _product(s)
    if product == POSTPAID:
        return _parse_postpaid(s)
    if product == PREPAID:
        return _parse_prepaid(s)
    return _parse_nontaglis(s)


def _checked(product: str) -> Any:
    def check(item: Item, value: Any) -> None:
        if item.name == "customer":
            _check_customer(product, value)
    return check


def _parse_postpaid(s: str) -> PostpaidInfo:
    if len(s) < POSTPAID_HEAD_LEN:
        raise _error(f"{POSTPAID} layout is at least {POSTPAID_HEAD_LEN} characters, got {len(s)}")
    start, end = L.span(L.POSTPAID_HEAD, "bill_count")
    count_text = s[start:end]
    if count_text not in "1234":
        raise _error(f"bills in this message {count_text!r} is not 1 to {MAX_BILLS}")
    count = int(count_text)
    short = POSTPAID_HEAD_LEN + POSTPAID_BILL_LEN * count
    _check_length(POSTPAID, s, short, f" with {count} bills")
    cur = Cursor(s)
    head = cur.read(L.POSTPAID_HEAD, check=_checked(POSTPAID))
    del head["bill_count"]
    bills = tuple(PostpaidBill(**cur.read(L.POSTPAID_BILL, i)) for i in range(1, count + 1))
    ref = cur.read(L.BILLER_REF)["biller_ref"] if len(s) > short else None
    return PostpaidInfo(**head, bills=bills, biller_ref=ref)


def _parse_prepaid(s: str) -> PrepaidInfo:
    _check_length(PREPAID, s, PREPAID_LEN)
    cur = Cursor(s)
    info = cur.read(L.PREPAID_INFO, check=_checked(PREPAID))
    sale = PrepaidSale(**cur.read(L.PREPAID_SALE)) if len(s) > PREPAID_LEN else None
    return PrepaidInfo(**info, sale=sale)


def _parse_nontaglis(s: str) -> NontaglisInfo:
    _check_length(NONTAGLIS, s, NONTAGLIS_LEN)
    cur = Cursor(s)
    info = cur.read(L.NONTAGLIS_INFO, check=_checked(NONTAGLIS))
    ref = cur.read(L.BILLER_REF)["biller_ref"] if len(s) > NONTAGLIS_LEN else None
    return NontaglisInfo(**info, biller_ref=ref)


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


# ---- building --------------------------------------------------------------------------------

def build_request(r: ProductRequest) -> str:
    s = L._text(r.product, PRODUCT_WIDTH, "product") + build(L.REQUEST, r)
    parse_request(s)  # the same checks as for a received request
    return s


def build_response(info: ProductInfo) -> str:
    """Field 48 of a response; parsed back before returning so nothing invalid leaves the switch."""
    if isinstance(info, PostpaidInfo):
        s = _build_postpaid(info)
    elif isinstance(info, PrepaidInfo):
        s = PREPAID + build(L.PREPAID_INFO, info) + (build(L.PREPAID_SALE, info.sale) if info.sale else "")
    elif isinstance(info, NontaglisInfo):
        s = NONTAGLIS + build(L.NONTAGLIS_INFO, info) + _ref(info.biller_ref)
    else:
        raise _error(f"not a field 48 response layout: {type(info).__name__}")
    parse_response(s)
    return s


def _build_postpaid(info: PostpaidInfo) -> str:
    if not 1 <= len(info.bills) <= MAX_BILLS:
        raise _error(f"1 to {MAX_BILLS} bills per message, got {len(info.bills)}")
    head = build(L.POSTPAID_HEAD, info, bill_count=len(info.bills))
    bills = "".join(build(L.POSTPAID_BILL, bill, i) for i, bill in enumerate(info.bills, 1))
    return POSTPAID + head + bills + _ref(info.biller_ref)


def _ref(biller_ref: str | None) -> str:
    return "" if biller_ref is None else build(L.BILLER_REF, None, biller_ref=biller_ref)
