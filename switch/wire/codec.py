"""ISO 8583:1987 ASCII codec on pyiso8583, with the contract's stricter checks (§3).

pyiso8583 does the layout; this module adds what it does not check: MTI digits, upper-case hex
bitmaps, fields outside the spec, digits in `n` fields, printable ASCII
in `an`/`ans` fields, digits in LL/LLL length prefixes. Every failure is a CodecError.

An all-zero secondary bitmap (bit 1 set, no field 65-128) is read, not refused: some terminal
libraries always send one. The decoded Message does not remember it, so encoding writes only the
primary bitmap; a MAC is checked over the bytes as received (mac.verify_decoded).
"""
from __future__ import annotations

from typing import Any

import iso8583

from .errors import CodecError
from .fastpath import fast_decode, fast_encode
from .message import Message
from .spec import TI, Spec

_UPPER_HEX = b"0123456789ABCDEF"
_BITMAP_KEYS = ("t", "p", "1", "h")


# `raw` and the values n() and an() are given are typed `object` on purpose: each refuses what is not
# bytes (or an int, a str) with a CodecError, and compiled with mypyc a narrower annotation would be
# enforced first, as a TypeError.
def decode(raw: object, spec: Spec = TI) -> Message:
    """Decode one message (without its length header). Raises CodecError, and nothing else."""
    fast = fast_decode(raw, spec)
    return fast if fast is not None else decode_full(raw, spec)


def decode_full(raw: object, spec: Spec = TI) -> Message:
    """decode() on the generic pyiso8583 path only (the benchmark's plain relay uses it)."""
    try:
        return _decode(raw, spec)
    except CodecError:
        raise
    except iso8583.DecodeError as exc:
        raise CodecError(_field_id(exc.field), exc.msg) from None
    except Exception as exc:  # noqa: BLE001 - any odd byte string must still be a CodecError
        raise CodecError(None, f"undecodable message ({type(exc).__name__}: {exc})") from None


def encode(msg: Message, spec: Spec = TI) -> bytes:
    """Encode a message; the secondary bitmap is set when a field 65-128 is present."""
    fast = fast_encode(msg, spec)
    return fast if fast is not None else encode_full(msg, spec)


def encode_full(msg: Message, spec: Spec = TI) -> bytes:
    """encode() on the generic pyiso8583 path only."""
    try:
        return _encode(msg, spec)
    except CodecError:
        raise
    except iso8583.EncodeError as exc:
        raise CodecError(_field_id(exc.field), exc.msg) from None
    except Exception as exc:  # noqa: BLE001
        raise CodecError(None, f"unencodable message ({type(exc).__name__}: {exc})") from None


def n(value: object, width: int, field: int | str | None = None) -> str:
    """A non-negative integer as an `n` field: right-aligned, zero-padded to width."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CodecError(field, f"expected a non-negative integer, got {value!r}")
    text = str(value)
    if len(text) > width:
        raise CodecError(field, f"{value} does not fit in {width} digits")
    return text.zfill(width)


def an(value: object, width: int, field: int | str | None = None) -> str:
    """Printable ASCII as an `an`/`ans` fixed field: left-aligned, space-padded to width."""
    if not isinstance(value, str) or not (value.isascii() and value.isprintable()):
        raise CodecError(field, f"expected printable ASCII, got {value!r}")
    if len(value) > width:
        raise CodecError(field, f"{value!r} is longer than {width} characters")
    return value.ljust(width)


def _decode(given: object, spec: Spec) -> Message:
    if not isinstance(given, (bytes, bytearray, memoryview)):
        raise CodecError(None, f"expected bytes, got {type(given).__name__}")
    raw = bytes(given)
    mti = raw[:4]
    if len(mti) != 4 or not mti.isdigit():
        raise CodecError("t", f"expected 4 digits, got {_show(mti)}")
    _check_bitmaps(raw, spec)
    doc_dec, doc_enc = iso8583.decode(raw, spec)
    fields: dict[int, str] = {}
    for key, value in doc_dec.items():
        if key in _BITMAP_KEYS:
            continue
        number = int(key)
        prefix = doc_enc[key]["len"]
        if prefix and not prefix.isdigit():
            raise CodecError(number, f"length prefix {_show(prefix)} is not digits")
        _check_value(number, value, spec[key])
        fields[number] = value
    return Message(doc_dec["t"], fields)


def _check_bitmaps(raw: bytes, spec: Spec) -> None:
    """Upper-case hex bitmaps, every field in the spec (an empty secondary bitmap is accepted)."""
    numbers = _bitmap_fields(raw, 4, "p", 0)
    if 1 in numbers:
        numbers += _bitmap_fields(raw, 20, "1", 64)
    for number in numbers:
        if number != 1 and str(number) not in spec:
            raise CodecError(number, "field is not in this interface's spec")


def _bitmap_fields(raw: bytes, start: int, key: str, offset: int) -> list[int]:
    chunk = raw[start:start + 16]
    if len(chunk) != 16 or chunk.strip(_UPPER_HEX):
        raise CodecError(key, f"expected 16 upper-case hex characters, got {_show(chunk)}")
    bits = f"{int(chunk, 16):064b}"
    return [offset + i for i, bit in enumerate(bits, 1) if bit == "1"]


def _encode(msg: Message, spec: Spec) -> bytes:
    mti = msg.mti
    if not (isinstance(mti, str) and len(mti) == 4 and mti.isascii() and mti.isdigit()):
        raise CodecError("t", f"expected 4 digits, got {mti!r}")
    doc: dict[str, Any] = {"t": mti}
    # checked below, not trusted to the annotation (compiled, a wrong type would be a TypeError)
    number: object
    value: object
    for number, value in msg.fields.items():
        if isinstance(number, bool) or not isinstance(number, int) or number in (1, 65):
            raise CodecError(number, "not a data field number")
        key = str(number)
        field_spec = spec.get(key)
        if field_spec is None:
            raise CodecError(number, "field is not in this interface's spec")
        if not isinstance(value, str):
            raise CodecError(number, f"expected a string, got {type(value).__name__}")
        _check_value(number, value, field_spec)
        doc[key] = value
    raw, _ = iso8583.encode(doc, spec)
    return bytes(raw)


def _check_value(number: int, value: str, field_spec: dict[str, Any]) -> None:
    fixed = field_spec["len_type"] == 0
    size = field_spec["max_len"]
    if field_spec["type"] == "n":
        if not (value.isascii() and value.isdigit()) or len(value) > size or (fixed and len(value) != size):
            raise CodecError(number, f"expected {'' if fixed else 'up to '}{size} digits, got {value!r}")
        return
    if len(value) > size or (fixed and len(value) != size):
        raise CodecError(number, f"expected {'' if fixed else 'up to '}{size} characters, got {value!r}")
    if not (value.isascii() and value.isprintable()):
        raise CodecError(number, f"expected printable ASCII, got {value!r}")


def _field_id(key: str | None) -> int | str | None:
    return int(key) if isinstance(key, str) and key.isdigit() else key


def _show(data: bytes) -> str:
    return repr(data.decode("ascii", "backslashreplace"))
