"""TI MAC (§6): AES-128-CMAC, first 8 bytes, always the last field."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_strategies import messages

from switch.wire import TI, CodecError, MacKey, Message, compute_mac, decode, encode, mac_field, sign, verify

KEY = bytes(range(16))
MAC_FIELDS = frozenset({64, 128})
SIGNON = Message("0800", {7: "1125083000", 11: "000001", 41: "T0000001", 70: "001"})
INQUIRY = Message("0200", {3: "380000", 4: "000000000000", 11: "000002", 41: "T0000001"})


def test_the_mac_field_is_128_with_a_secondary_bitmap_and_64_without():
    assert mac_field(SIGNON) == 128
    assert mac_field(INQUIRY) == 64


def test_sign_puts_the_mac_last_and_leaves_the_callers_message_alone():
    before = INQUIRY.copy()
    raw = sign(INQUIRY, KEY)
    assert INQUIRY == before
    signed = decode(raw)
    assert max(signed.fields) == 64 and len(signed[64]) == 16
    assert signed[64] == signed[64].upper()


def test_signing_replaces_a_stale_mac_instead_of_keeping_it_in_the_middle():
    stale = SIGNON.copy()
    stale[64] = "0" * 16
    raw = sign(stale, KEY)
    assert 64 not in decode(raw) and verify(raw, KEY)


def test_a_message_without_a_mac_does_not_verify():
    assert verify(encode(INQUIRY), KEY) is False


def test_a_mac_under_another_key_does_not_verify():
    assert verify(sign(INQUIRY, KEY), bytes(16)) is False


def test_a_mac_in_field_64_of_a_message_with_a_secondary_bitmap_does_not_verify():
    msg = SIGNON.copy()
    msg[64] = "0" * 16
    msg[128] = "0" * 16
    assert verify(encode(msg), KEY) is False


def test_verify_raises_codec_error_only_for_bytes_that_do_not_decode():
    with pytest.raises(CodecError):
        verify(b"08001234", KEY)


def test_a_key_that_is_not_16_bytes_is_refused():
    with pytest.raises(ValueError):
        sign(INQUIRY, b"short")


@settings(max_examples=200)
@given(messages(TI, exclude=MAC_FIELDS), st.binary(min_size=16, max_size=16))
def test_any_signed_message_verifies_under_its_key(msg, key):
    assert verify(sign(msg, key), key)


@settings(max_examples=300)
@given(messages(TI, exclude=MAC_FIELDS), st.binary(min_size=16, max_size=16), st.data())
def test_flipping_any_byte_of_a_signed_message_fails_verify(msg, key, data):
    raw = bytearray(sign(msg, key))
    where = data.draw(st.integers(0, len(raw) - 1))
    raw[where] ^= data.draw(st.integers(1, 255))
    try:
        assert verify(bytes(raw), key) is False
    except CodecError:
        pass  # the flip broke the encoding itself: also refused


@given(st.binary(min_size=16, max_size=16), st.binary(max_size=600))
@settings(max_examples=200)
def test_a_key_made_ready_once_macs_as_the_key_bytes_do(key, data):
    ready = MacKey(key)
    assert compute_mac(ready, data) == compute_mac(ready, data) == compute_mac(key, data)


def test_a_ready_key_signs_and_verifies_like_its_bytes_and_never_shows_itself():
    ready = MacKey(KEY)
    assert sign(INQUIRY, ready) == sign(INQUIRY, KEY)
    assert verify(sign(INQUIRY, KEY), ready) and not verify(sign(INQUIRY, KEY), MacKey(bytes(16)))
    assert KEY.hex() not in repr(ready).lower() and "redacted" in repr(ready)
    with pytest.raises(ValueError):
        MacKey(b"short")
