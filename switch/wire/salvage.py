"""What can be read of a message that does not decode: the fields before the first bad one.

Used only to answer a malformed request (39=30) with the fields that were valid, and to know which
terminal sent it."""
from __future__ import annotations

from typing import Mapping

from .message import Message


def salvage(raw: bytes, spec: Mapping[str, Mapping]) -> Message | None:
    """The MTI and every field that reads well. A bad fixed-length field is skipped (the fields
    after it are still where the bitmap says); a bad length prefix ends the reading. None without a
    readable MTI and bitmap."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        text = raw.decode("ascii", errors="replace")
    mti, pos = text[:4], 4
    if len(mti) != 4 or not mti.isdigit():
        return None
    bitmap = _bits(text[pos:pos + 16])
    if bitmap is None:
        return None
    pos += 16
    if 1 in bitmap:
        secondary = _bits(text[pos:pos + 16], offset=64)
        if secondary is None:
            return Message(mti, {})
        bitmap |= secondary
        pos += 16
    fields: dict[int, str] = {}
    for number in sorted(bitmap - {1}):
        field_spec = spec.get(str(number))
        if field_spec is None:
            break
        value, pos = _take(text, pos, field_spec)
        if value is None:
            break
        if _valid(value, field_spec):
            fields[number] = value
    return Message(mti, fields)


def _bits(hex_text: str, offset: int = 0) -> set[int] | None:
    if len(hex_text) != 16 or any(c not in "0123456789ABCDEF" for c in hex_text):
        return None
    value = int(hex_text, 16)
    return {offset + i + 1 for i in range(64) if value & (1 << (63 - i))}


def _take(text: str, pos: int, field_spec: Mapping) -> tuple[str | None, int]:
    width = field_spec["len_type"]
    if width:
        digits = text[pos:pos + width]
        if len(digits) != width or not digits.isdigit() or int(digits) > field_spec["max_len"]:
            return None, pos
        length, pos = int(digits), pos + width
    else:
        length = field_spec["max_len"]
    value = text[pos:pos + length]
    return (value, pos + length) if len(value) == length else (None, pos)


def _valid(value: str, field_spec: Mapping) -> bool:
    if "\ufffd" in value or not value.isprintable():
        return False
    return value.isdigit() if field_spec.get("type") == "n" else True
