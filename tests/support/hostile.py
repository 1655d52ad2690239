"""Hostile terminal input as hypothesis strategies: what goes on the wire (length header included)
and what the contract says must come of it. Shared by the codec-level and the live-socket fuzz tests."""
from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

from hypothesis import strategies as st

from switch.wire import TI, Message, encode, frame, sign

from .peers import KEY

TERMINAL, AGENT = "T0000001", "AGT000000000001"
# Every response code of the contract's table (§ response codes).
CONTRACT_CODES = {"00", "05", "12", "13", "14", "30", "51", "58", "61", "63", "68", "88", "90", "91", "94",
                  "95", "96"}


class Expect(Enum):
    CLOSED = "closed"                  # a broken frame: the connection is closed, nothing answered
    ANSWER_OR_CLOSED = "answer_or_closed"  # undecodable: a 30 / 58 when 41 and 11 read, else closed
    ANSWER = "answer"                  # decodable: an answer, MACed unless it is a 58


@dataclass(frozen=True)
class Hostile:
    kind: str
    wire: bytes          # exactly what is written on the socket
    expect: Expect
    valid_mac: bool = False  # the frame carries a correct MAC under the terminal's key


def _stan(n: int) -> str:
    return f"{n % 999999 + 1:06d}"


@st.composite
def valid_message(draw) -> Message:
    stan, local = _stan(draw(st.integers(0, 10**6))), (time.strftime("%H%M%S"), time.strftime("%m%d"))
    kind = draw(st.sampled_from(["echo", "inquiry", "payment"]))
    if kind == "echo":
        return Message("0800", {7: "1201120000", 11: stan, 41: TERMINAL, 70: "301"})
    fields = {3: "380000" if kind == "inquiry" else "500000", 4: "000000000000", 7: "1201120000", 11: stan,
              12: local[0], 13: local[1], 18: "6021", 41: TERMINAL, 42: AGENT.ljust(15),
              48: "PLNPST532110000123 ", 49: "360"}
    return Message("0200", fields)


def signed(msg: Message) -> bytes:
    return sign(msg, KEY, TI)


PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


@st.composite
def hostile(draw) -> Hostile:
    kind = draw(st.sampled_from(KINDS))
    return draw(_BUILDERS[kind]())


def _random_bytes():
    return st.binary(min_size=1, max_size=600).map(
        lambda raw: Hostile("random_bytes", frame(raw, "2B"), Expect.ANSWER_OR_CLOSED))


@st.composite
def _truncated(draw) -> Hostile:
    wire = frame(signed(draw(valid_message())), "2B")
    return Hostile("truncated", wire[:draw(st.integers(1, len(wire) - 1))], Expect.CLOSED)


@st.composite
def _over_max(draw) -> Hostile:
    size = draw(st.integers(4097, 65535))
    return Hostile("over_max", size.to_bytes(2, "big") + draw(st.binary(max_size=64)), Expect.CLOSED)


def _zero_length():
    return st.binary(max_size=32).map(lambda rest: Hostile("zero_length", b"\x00\x00" + rest, Expect.CLOSED))


@st.composite
def _bad_bitmap(draw) -> Hostile:
    raw = bytearray(signed(draw(valid_message())))
    choice = draw(st.sampled_from(["lower", "junk", "unknown_field"]))
    if choice == "lower":
        raw[4:20] = raw[4:20].lower()
        if raw[4:20].upper() == raw[4:20]:  # no letter to lower: put one in
            raw[4] = ord("f")
    elif choice == "junk":
        raw[4:20] = draw(st.text(PRINTABLE, min_size=16, max_size=16).filter(
            lambda t: any(c not in "0123456789ABCDEF" for c in t))).encode()
    else:  # a well-formed bitmap naming field 2, which the terminal interface does not define
        raw[4:20] = f"{int(raw[4:20], 16) | (1 << 62):016X}".encode()
    return Hostile("bad_bitmap", frame(bytes(raw), "2B"), Expect.ANSWER_OR_CLOSED)


@st.composite
def _wrong_length(draw) -> Hostile:
    msg = draw(valid_message())
    raw = signed(msg)
    if 48 in msg:  # the LLL prefix of field 48 says something else than what follows
        at = raw.index(b"019PLNPST")
        wrong = draw(st.integers(0, 999).filter(lambda n: n != 19))
        raw = raw[:at] + f"{wrong:03d}".encode() + raw[at + 3:]
    else:  # a fixed-length field one character short or long
        cut = draw(st.integers(20, len(raw) - 17))
        raw = raw[:cut] + raw[cut + 1:] if draw(st.booleans()) else raw[:cut] + b"0" + raw[cut:]
    return Hostile("wrong_length", frame(raw, "2B"), Expect.ANSWER_OR_CLOSED)


@st.composite
def _non_ascii(draw) -> Hostile:
    raw = bytearray(signed(draw(valid_message())))
    for _ in range(draw(st.integers(1, 4))):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0x80, 0xFF))
    return Hostile("non_ascii", frame(bytes(raw), "2B"), Expect.ANSWER_OR_CLOSED)


@st.composite
def _nonsense(draw, with_mac: bool) -> Hostile:
    """Codec-valid fields with content that means nothing: any processing code, amount, field 48."""
    msg = draw(valid_message())
    if msg.mti == "0200":
        msg[3] = draw(st.text("0123456789", min_size=6, max_size=6))
        msg[4] = draw(st.text("0123456789", min_size=12, max_size=12))
        msg[48] = draw(st.text(PRINTABLE, max_size=120))
    else:
        msg[70] = draw(st.text("0123456789", min_size=3, max_size=3))
    if with_mac:
        return Hostile("valid_mac_on_nonsense", frame(signed(msg), "2B"), Expect.ANSWER, valid_mac=True)
    msg[64] = draw(st.text("0123456789ABCDEF", min_size=16, max_size=16))
    return Hostile("nonsense_content", frame(encode(msg, TI), "2B"), Expect.ANSWER)


@st.composite
def _unknown_mti(draw) -> Hostile:
    msg = draw(valid_message())
    mti = draw(st.sampled_from(["0100", "0300", "0420", "0500", "0600", "0620", "0880", "9800", "0202", "0804"]))
    return Hostile("unknown_mti", frame(signed(Message(mti, dict(msg.fields))), "2B"), Expect.ANSWER,
                   valid_mac=True)


_BUILDERS = {
    "random_bytes": _random_bytes, "truncated": _truncated, "over_max": _over_max, "zero_length": _zero_length,
    "bad_bitmap": _bad_bitmap, "wrong_length": _wrong_length, "non_ascii": _non_ascii,
    "nonsense_content": lambda: _nonsense(False), "valid_mac_on_nonsense": lambda: _nonsense(True),
    "unknown_mti": _unknown_mti,
}
KINDS = tuple(_BUILDERS)
