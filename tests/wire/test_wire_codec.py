"""The codec: contract §3 encoding rules, and every bad byte string is a CodecError."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_strategies import messages

from switch.wire import HI, TI, CodecError, Message, an, decode, encode, n

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "data" / "vectors.json").read_text())
RAWS = [v["message_ascii"].encode("ascii") for v in VECTORS if "message_ascii" in v]
ECHO = b"0800822000000000000004000000000000001125083005000102301"  # HI echo vector, no MAC


def reason_of(raw: bytes, spec=TI) -> CodecError:
    with pytest.raises(CodecError) as caught:
        decode(raw, spec)
    return caught.value


def test_codec_error_reads_as_field_and_reason():
    err = CodecError(4, "expected 12 digits, got 'ABC'")
    assert str(err) == "field 4: expected 12 digits, got 'ABC'"
    assert (err.field, err.reason) == (4, "expected 12 digits, got 'ABC'")


def test_encoding_a_non_numeric_amount_names_field_4():
    with pytest.raises(CodecError) as caught:
        encode(Message("0200", {4: "ABC"}))
    assert str(caught.value) == "field 4: expected 12 digits, got 'ABC'"


def test_a_lower_case_bitmap_is_rejected():
    raw = b"0800" + b"822000000000000a" + b"0" * 30
    assert reason_of(raw).field == "p"


def test_an_all_zero_secondary_bitmap_is_read_and_written_back_as_a_primary_bitmap_only():
    primary = f"{(1 << 63) | (1 << 57):016X}".encode()  # fields 1 and 7
    raw = b"0800" + primary + b"0" * 16 + b"1125083005"
    msg = decode(raw)
    assert msg == Message("0800", {7: "1125083005"})
    assert encode(msg) == b"0800" + f"{1 << 57:016X}".encode() + b"1125083005"


def test_a_lower_case_secondary_bitmap_is_rejected():
    primary = f"{(1 << 63) | (1 << 57):016X}".encode()
    raw = b"0800" + primary + b"000000000000000a" + b"1125083005"
    assert reason_of(raw).field == "1"


def test_a_field_outside_the_spec_is_rejected():
    primary = f"{1 << 62:016X}".encode()  # field 2, not used by the contract
    raw = b"0800" + primary + b"0412345"
    assert reason_of(raw).field == 2


def test_trailing_bytes_after_the_last_field_are_rejected():
    reason_of(ECHO + b"X")


def test_a_truncated_message_is_rejected():
    reason_of(ECHO[:-1])


def test_a_non_digit_mti_is_rejected():
    assert reason_of(b"08A0" + ECHO[4:]).field == "t"


def test_letters_in_an_n_field_are_rejected():
    raw = ECHO.replace(b"000102", b"0001X2")
    err = reason_of(raw)
    assert err.field == 11 and "digits" in err.reason


def test_a_control_character_in_an_ans_field_is_rejected():
    msg = Message("0200", {41: "T000000\t"})
    with pytest.raises(CodecError):
        encode(msg)
    raw = encode(Message("0200", {41: "T0000001"})).replace(b"T0000001", b"T000000\x01")
    assert reason_of(raw).field == 41


def test_a_non_digit_lllvar_length_is_rejected():
    raw = encode(Message("0200", {48: "PLNPST532110000123 "}))
    assert reason_of(raw.replace(b"019PLN", b" 19PLN")).field == 48
    assert reason_of(raw.replace(b"019PLN", b"+19PLN")).field == 48


def test_field_54_is_limited_to_120_characters():
    encode(Message("0210", {54: "0" * 120}))
    with pytest.raises(CodecError):
        encode(Message("0210", {54: "0" * 121}))


def test_encode_sets_the_secondary_bitmap_only_when_a_field_above_64_is_present():
    primary_only = encode(Message("0800", {7: "1125083005", 11: "000102"}))
    with_70 = encode(Message("0800", {7: "1125083005", 11: "000102", 70: "301"}))
    assert primary_only[4:20] == b"0220000000000000"
    assert with_70[4:20] == b"8220000000000000" and with_70[20:36] == b"0400000000000000"


def test_encode_refuses_the_bitmap_field_and_unknown_fields():
    for number in (1, 2, 65):
        with pytest.raises(CodecError):
            encode(Message("0800", {number: "0" * 16}))


def test_encode_refuses_a_bad_mti_and_non_string_values():
    with pytest.raises(CodecError):
        encode(Message("800", {}))
    with pytest.raises(CodecError):
        encode(Message("0800", {11: 102}))  # type: ignore[dict-item]


def test_decode_refuses_something_that_is_not_bytes():
    with pytest.raises(CodecError):
        decode("0800")  # type: ignore[arg-type]


def test_n_pads_with_zeros_and_refuses_what_does_not_fit():
    assert n(1525, 12) == "000000001525"
    for bad in (-1, 10 ** 6, True, "12"):
        with pytest.raises(CodecError):
            n(bad, 6)  # type: ignore[arg-type]


def test_an_pads_with_spaces_and_refuses_what_does_not_fit():
    assert an("R1", 4) == "R1  "
    for bad in ("TOO LONG", "\x00"):
        with pytest.raises(CodecError):
            an(bad, 4)


@settings(max_examples=300, deadline=None)  # no timing on a loaded machine
@given(messages(TI))
def test_any_valid_ti_message_encodes_and_decodes_to_itself(msg):
    assert decode(encode(msg)) == msg


@settings(max_examples=200, deadline=None)  # no timing on a loaded machine
@given(messages(HI))
def test_any_valid_hi_message_encodes_and_decodes_to_itself(msg):
    assert decode(encode(msg, HI), HI) == msg


def decodes_or_codec_error(raw: bytes) -> None:
    try:
        msg = decode(raw)
    except CodecError:
        return
    assert encode(msg) == canonical(raw)  # whatever decodes re-encodes to the same bytes


def canonical(raw: bytes) -> bytes:
    """raw as the switch writes it: an all-zero secondary bitmap (accepted on input) dropped."""
    primary = int(raw[4:20], 16)
    if primary & (1 << 63) and raw[20:36] == b"0" * 16:
        return raw[:4] + f"{primary & ~(1 << 63):016X}".encode() + raw[36:]
    return raw


@settings(max_examples=500, deadline=None)  # no timing on a loaded machine
@given(st.binary(max_size=300))
def test_any_byte_string_decodes_or_raises_codec_error(raw):
    decodes_or_codec_error(raw)


@settings(max_examples=1000, deadline=None)  # no timing on a loaded machine
@given(st.sampled_from(RAWS), st.data())
def test_any_mutation_of_a_vector_decodes_or_raises_codec_error(raw, data):
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.integers(0, len(mutated) - 1))
        action = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        byte = data.draw(st.integers(0, 255))
        if action == "replace":
            mutated[where] = byte
        elif action == "delete":
            del mutated[where]
        else:
            mutated.insert(where, byte)
    decodes_or_codec_error(bytes(mutated))
