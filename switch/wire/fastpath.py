"""The codec's fast path for the contract's layout: ASCII MTI, hex bitmaps, ASCII fields with ASCII
length prefixes (every field of TI and HI).

One pass over the message with the spec compiled to a table once, instead of pyiso8583's generic
walk plus the contract's checks afterwards. It only ever accepts what the full path accepts, with
the same result: anything unusual (a bad byte, a field outside the spec, a wrong length, a tertiary
bitmap) makes it return None, and the full path in codec.py then decides and words the error.
"""
from __future__ import annotations

from typing import Any

from .message import Message

_HEX = "0123456789ABCDEF"
# spec id -> (spec, table); table[n] = (prefix digits, max length, numeric) or None
_TABLES: dict[int, tuple[Any, list[tuple[int, int, bool] | None]]] = {}
# the length prefix of a value: _PREFIXES[digits][size]
_PREFIXES = [[""], [f"{size:01d}" for size in range(10)], [f"{size:02d}" for size in range(100)],
             [f"{size:03d}" for size in range(1000)]]
_BIT = [1 << (128 - number) for number in range(129)]  # field n's bit in the 128-bit map


def _table(spec: Any) -> list[tuple[int, int, bool] | None] | None:
    cached = _TABLES.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    table: list[tuple[int, int, bool] | None] = [None] * 129
    for key, field_spec in spec.items():
        if not key.isdigit() or not 2 <= int(key) <= 128 or int(key) == 65:
            continue
        if field_spec.get("data_enc") != "ascii" or field_spec.get("len_enc") != "ascii":
            return None   # not the contract's layout: the full path only
        if field_spec["len_type"] not in (0, 1, 2, 3):
            return None
        table[int(key)] = (field_spec["len_type"], field_spec["max_len"], field_spec["type"] == "n")
    _TABLES[id(spec)] = (spec, table)
    return table


def _bits(hex16: str, offset: int) -> list[int] | None:
    if len(hex16) != 16 or hex16.strip(_HEX):
        return None
    value, base, out = int(hex16, 16), offset + 65, []
    while value:  # the highest bit set is the lowest field number left
        top = value.bit_length()
        out.append(base - top)
        value ^= 1 << (top - 1)
    return out


def fast_decode(raw: object, spec: Any) -> Message | None:
    """The decoded message, or None when the full path must look at it."""
    table = _table(spec)
    if table is None or not isinstance(raw, bytes):
        return None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    mti = text[:4]
    numbers = _bits(text[4:20], 0)
    if len(mti) != 4 or not mti.isdigit() or numbers is None:
        return None
    pos = 20
    if numbers and numbers[0] == 1:
        secondary = _bits(text[20:36], 64)
        if secondary is None:
            return None
        numbers = numbers[1:] + secondary
        pos = 36
    fields: dict[int, str] = {}
    for number in numbers:
        entry = table[number]
        if entry is None:
            return None
        digits, max_len, numeric = entry
        if digits:
            prefix = text[pos:pos + digits]
            if len(prefix) != digits or not prefix.isdigit():
                return None
            size = int(prefix)
            if size > max_len:
                return None
            pos += digits
        else:
            size = max_len
        value = text[pos:pos + size]
        if len(value) != size or not (value.isdigit() if numeric else value.isprintable()):
            return None
        pos += size
        fields[number] = value
    if pos != len(text):
        return None
    return Message(mti, fields)


def fast_encode(msg: Message, spec: Any) -> bytes | None:
    """The encoded message, or None when the full path must look at it."""
    table = _table(spec)
    mti = msg.mti
    if table is None or not (isinstance(mti, str) and len(mti) == 4 and mti.isascii() and mti.isdigit()):
        return None
    fields = msg.fields
    bitmap = 0
    body: list[str] = []
    append, prefixes, bit_of = body.append, _PREFIXES, _BIT
    try:
        numbers = sorted(fields)
        if numbers and (numbers[0] < 2 or numbers[-1] > 128 or 65 in fields):
            return None
        for number in numbers:  # a key that is no int, or a field not in the spec, raises: None
            digits, max_len, numeric = table[number]  # type: ignore[misc]
            value = fields[number]
            size = len(value)
            if size > max_len or (numeric and not value.isdigit()):
                return None
            if digits:
                append(prefixes[digits][size])
            elif size != max_len:
                return None
            append(value)
            bitmap |= bit_of[number]
        text = "".join(body)  # a value that is no str raises here at the latest
    except (TypeError, AttributeError, IndexError):
        return None
    if not (text.isascii() and text.isprintable()):  # every value at once (the prefixes are digits)
        return None
    if bitmap & 0xFFFFFFFFFFFFFFFF:
        head = f"{mti}{bitmap >> 64 | 1 << 63:016X}{bitmap & 0xFFFFFFFFFFFFFFFF:016X}"
    else:
        head = f"{mti}{bitmap >> 64:016X}"
    return (head + text).encode("ascii")
