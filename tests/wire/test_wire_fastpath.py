"""The codec's fast path gives exactly what the full pyiso8583 path gives, and steps aside (None) for
everything the full path refuses, so the full path still words every error."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_strategies import messages

from switch.wire import HI, TI, CodecError, Message, decode, encode
from switch.wire.codec import decode_full as _decode, encode_full as _encode
from switch.wire.fastpath import fast_decode, fast_encode

VECTORS = [v for v in json.loads((Path(__file__).resolve().parents[1] / "data" / "vectors.json").read_text())
           if "message_ascii" in v]


def full_decode(raw: bytes, spec) -> Message | None:
    try:
        return _decode(raw, spec)
    except Exception:  # noqa: BLE001 - any refusal of the full path
        return None


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_every_contract_vector_decodes_and_encodes_byte_for_byte_as_on_the_full_path(vector):
    raw = vector["message_ascii"].encode("ascii")
    spec = TI if vector["link"] == "TI" else HI
    fast = fast_decode(raw, spec)
    assert fast is not None and fast == _decode(raw, spec)
    assert fast_encode(fast, spec) == _encode(fast, spec) == raw


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([TI, HI]).flatmap(lambda spec: st.tuples(st.just(spec), messages(spec))))
def test_any_valid_message_encodes_as_the_full_path_does_and_decodes_back(spec_and_message):
    spec, msg = spec_and_message
    try:
        expected = _encode(msg, spec)
    except CodecError:
        assert fast_encode(msg, spec) is None
        return
    assert fast_encode(msg, spec) == expected
    assert fast_decode(expected, spec) == full_decode(expected, spec)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(VECTORS), st.data())
def test_a_damaged_message_is_left_to_the_full_path_or_read_as_the_full_path_reads_it(vector, data):
    raw = bytearray(vector["message_ascii"].encode("ascii"))
    spec = TI if vector["link"] == "TI" else HI
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
        at = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        byte = data.draw(st.integers(0, 255))
        if action == "replace" and raw:
            raw[at] = byte
        elif action == "delete" and raw:
            del raw[at]
        elif action == "insert":
            raw.insert(at, byte)
        else:
            del raw[at:]
    damaged = bytes(raw)
    fast = fast_decode(damaged, spec)
    assert fast is None or fast == full_decode(damaged, spec)
    if full_decode(damaged, spec) is None:
        assert fast is None
        with pytest.raises(CodecError):
            decode(damaged, spec)


def test_what_the_fast_path_cannot_encode_is_refused_by_the_full_path_with_its_words():
    for msg in (Message("0200", {4: "12X"}), Message("0200", {"4": "000000000000"}),
                Message("0200", {999: "x"}), Message("02A0", {}), Message("0200", {48: "é"})):
        assert fast_encode(msg, TI) is None
        with pytest.raises(CodecError):
            _encode(msg, TI)


@pytest.mark.parametrize("fields", [{True: "x"}, {1: "x"}, {65: "0" * 16}, {4.0: "000000000000"}, {3: None},
                                    {3: b"380000"}, {48: ["PLNPST"]}, {3: "380000", "x": "y"}, {-3: "380000"}])
def test_a_field_number_or_value_of_the_wrong_kind_is_left_to_the_full_path(fields):
    assert fast_encode(Message("0200", fields), TI) is None
    with pytest.raises(CodecError):
        encode(Message("0200", fields), TI)
