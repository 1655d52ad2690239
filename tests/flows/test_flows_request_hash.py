"""The request digest of the idempotency record: its text is stored with every record and compared
with a retransmission's, so the fast way of writing it must give exactly what json.dumps gives."""
from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from switch.flows.context import request_hash
from switch.wire import Message

FIELD = st.integers(min_value=2, max_value=128)
VALUE = st.text(st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=20)
PRINTABLE_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


def by_definition(msg: Message) -> str:
    content = {str(k): v for k, v in sorted(msg.fields.items()) if k not in (64, 128)}
    return hashlib.sha256(json.dumps([msg.mti, content]).encode()).hexdigest()


@given(st.text(min_size=0, max_size=5), st.dictionaries(FIELD, st.one_of(VALUE, PRINTABLE_VALUE), max_size=12))
def test_the_request_hash_is_the_sha256_of_the_json_of_mti_and_fields_without_the_mac(mti, fields) -> None:
    msg = Message(mti, fields)
    assert request_hash(msg) == by_definition(msg)


def test_the_mac_does_not_change_the_request_hash_and_a_quote_or_backslash_is_escaped_as_json_does() -> None:
    plain = Message("0200", {3: "380000", 11: "000001", 48: 'PLNPST"\\x'})
    signed = Message("0200", {**plain.fields, 64: "0123456789ABCDEF"})
    assert request_hash(plain) == request_hash(signed) == by_definition(plain)
