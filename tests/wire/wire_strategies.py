"""Hypothesis strategies for valid wire values, shared by the wire property tests."""
from __future__ import annotations

from hypothesis import strategies as st

from switch.wire import Message

PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
DIGITS = st.characters(min_codepoint=ord("0"), max_codepoint=ord("9"))


def field_value(field_spec: dict) -> st.SearchStrategy[str]:
    size = field_spec["max_len"]
    fixed = field_spec["len_type"] == 0
    alphabet = DIGITS if field_spec["type"] == "n" else PRINTABLE
    low = size if fixed else (1 if field_spec["type"] == "n" else 0)
    return st.text(alphabet, min_size=low, max_size=size)


def data_fields(spec: dict) -> list[int]:
    return sorted(int(k) for k in spec if k.isdigit() and k != "1")


@st.composite
def messages(draw, spec: dict, exclude: frozenset[int] = frozenset()) -> Message:
    numbers = draw(st.sets(st.sampled_from([f for f in data_fields(spec) if f not in exclude])))
    mti = draw(st.text(DIGITS, min_size=4, max_size=4))
    return Message(mti, {f: draw(field_value(spec[str(f)])) for f in sorted(numbers)})
