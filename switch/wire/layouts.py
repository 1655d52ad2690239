"""The field-48 layouts of contract §5, each declared once as data: (name, width, kind, words for
errors). Parsing, building, lengths and offsets are all derived from these declarations, so a layout
is changed in one place (settlement's fast reader takes its offsets from here too)."""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

from .errors import CodecError

PRODUCT_WIDTH = 6


class Kind(Enum):
    TEXT = "an"        # left-justified, space-padded; read back without the padding
    DIGITS = "n"       # digits kept as text (meter number, IDPEL, token)
    NUMBER = "n→int"   # zero-padded non-negative integer
    DATE = "YYYYMMDD"
    PERIOD = "YYYYMM"
    COUNT = "count"    # a one-digit count of the repeated part that follows (postpaid bills)


@dataclass(frozen=True)
class Item:
    name: str    # the attribute of the decoded dataclass
    width: int
    kind: Kind
    what: str = ""  # how errors name it ("{i}" is the repeat number); default: the name

    @property
    def words(self) -> str:
        return self.what or self.name.replace("_", " ")


Layout = tuple[Item, ...]
T, D, N = Kind.TEXT, Kind.DIGITS, Kind.NUMBER
_COUNT, _DATE, _PERIOD = Kind.COUNT, Kind.DATE, Kind.PERIOD  # Enum member lookups are slow: done once

REQUEST: Layout = (Item("customer", 13, T),)
POSTPAID_HEAD: Layout = (Item("customer", 13, T), Item("name", 25, T), Item("tariff", 4, T),
                         Item("power_va", 9, N, "power"), Item("bill_count", 1, Kind.COUNT, "bills in this message"),
                         Item("outstanding", 2, N, "outstanding bills"), Item("admin_fee", 8, N, "admin fee"))
POSTPAID_BILL: Layout = (Item("period", 6, Kind.PERIOD, "bill {i} period"),
                         Item("due_date", 8, Kind.DATE, "bill {i} due date"),
                         Item("read_date", 8, Kind.DATE, "bill {i} meter read date"),
                         Item("amount", 12, N, "bill {i} amount"), Item("penalty", 9, N, "bill {i} penalty"),
                         Item("meter_before", 8, N, "bill {i} meter reading before"),
                         Item("meter_after", 8, N, "bill {i} meter reading after"))
BILLER_REF: Layout = (Item("biller_ref", 32, T, "biller reference"),)
PREPAID_INFO: Layout = (Item("customer", 13, T), Item("meter", 11, D, "meter number"),
                        Item("idpel", 12, D, "IDPEL"), Item("name", 25, T), Item("tariff", 4, T),
                        Item("power_va", 9, N, "power"), Item("admin_fee", 8, N, "admin fee"))
PREPAID_SALE: Layout = (Item("biller_ref", 32, T, "biller reference"), Item("token", 20, D, "token"),
                        Item("kwh_x100", 10, N, "kWh"), Item("stamp_duty", 10, N, "stamp duty"),
                        Item("vat", 10, N, "VAT"), Item("ppj", 10, N, "PPJ"),
                        Item("installment", 10, N, "installment"),
                        Item("power_purchase", 12, N, "power purchase"))
NONTAGLIS_INFO: Layout = (Item("customer", 13, T), Item("transaction_name", 25, T, "transaction name"),
                          Item("name", 25, T), Item("registration_date", 8, Kind.DATE, "registration date"),
                          Item("amount", 12, N), Item("admin_fee", 8, N, "admin fee"))


def width(layout: Layout) -> int:
    return sum(item.width for item in layout)


def span(layout: Layout, name: str, start: int = PRODUCT_WIDTH) -> tuple[int, int]:
    """(start, end) of an item in a string where the layout begins at `start` (after the product)."""
    at = start
    for item in layout:
        if item.name == name:
            return at, at + item.width
        at += item.width
    raise KeyError(name)


def error(reason: str) -> CodecError:
    return CodecError(48, reason)


# ---- parsing ---------------------------------------------------------------------------------------

class Cursor:
    """Walks a string whose total length has already been checked."""

    def __init__(self, s: str, pos: int = PRODUCT_WIDTH) -> None:
        self.s, self.pos = s, pos

    def take(self, width: int) -> str:
        chunk = self.s[self.pos:self.pos + width]
        self.pos += width
        return chunk

    def read(self, layout: Layout, i: int | None = None,
             check: Callable[[Item, Any], None] | None = None) -> dict[str, Any]:
        """The items of `layout` by name; `check` sees each value as it is read (errors keep their order)."""
        values: dict[str, Any] = {}
        s, pos = self.s, self.pos
        for item in layout:  # text and numbers (most items) inline: every answer from a bank is read
            end = pos + item.width
            chunk, pos = s[pos:end], end
            kind = item.kind
            if kind is T:
                value: Any = chunk.rstrip(" ")
            elif kind is N and chunk.isdigit():
                value = int(chunk)
            else:
                value = _parse_item(chunk, item, i)
            values[item.name] = value
            if check is not None:
                check(item, value)
        self.pos = pos
        return values


def _parse_item(chunk: str, item: Item, i: int | None) -> Any:
    """One item's value; the error names it (item.words for repeat i), worded only when raised."""
    kind = item.kind
    if kind is T:
        return chunk.rstrip(" ")
    if kind is _COUNT:
        return int(chunk)  # checked before the layout's length is
    if kind is _DATE:
        if not (chunk.isdigit() and _is_date(int(chunk[:4]), int(chunk[4:6]), int(chunk[6:]))):
            raise error(f"{item.words.format(i=i)} {chunk!r} is not a date")
        return chunk
    if kind is _PERIOD:
        if not (chunk.isdigit() and _is_date(int(chunk[:4]), int(chunk[4:]), 1)):
            raise error(f"{item.words.format(i=i)} {chunk!r} is not a period YYYYMM")
        return chunk
    if not chunk.isdigit():
        raise error(f"{item.words.format(i=i)} {chunk!r} is not {item.width} digits")
    return int(chunk) if kind is N else chunk


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


# ---- building --------------------------------------------------------------------------------------

def build(layout: Layout, values: Any, i: int | None = None, **given: Any) -> str:
    """The layout's text from the attributes of `values` (or `given`, which wins)."""
    parts = []
    for item in layout:
        value = given[item.name] if item.name in given else getattr(values, item.name)
        what = item.words.format(i=i)
        parts.append(_number(value, item.width, what) if item.kind in (Kind.NUMBER, Kind.COUNT)
                     else _text(value, item.width, what))
    return "".join(parts)


def _number(value: object, width: int, what: str) -> str:  # object: see codec.n
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise error(f"{what} {value!r} is not a non-negative integer")
    text = str(value)
    if len(text) > width:
        raise error(f"{what} {value} does not fit in {width} digits")
    return text.zfill(width)


def _text(value: object, width: int, what: str) -> str:
    if not isinstance(value, str) or not (value.isascii() and value.isprintable()):
        raise error(f"{what} {value!r} is not printable ASCII")
    if len(value) > width:
        raise error(f"{what} {value!r} is longer than {width} characters")
    return value.ljust(width)
