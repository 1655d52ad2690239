"""The contract's example messages (vectors.json) decode, re-encode, frame and verify byte for byte."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from switch.wire import HI, TI, compute_mac, decode, encode, frame, sign, verify
from switch.wire.field48 import build_request, build_response, parse_request, parse_response

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS_PATH = REPO_ROOT / "tests" / "data" / "vectors.json"
SHARED_VECTORS = REPO_ROOT.parent / "shared" / "contract" / "vectors.json"
VECTORS = json.loads(VECTORS_PATH.read_text())
MESSAGES = [v for v in VECTORS if "message_ascii" in v]
IDS = [v["name"] for v in MESSAGES]


def spec_of(vector: dict) -> dict:
    return TI if vector["link"] == "TI" else HI


def expected_fields(vector: dict) -> dict[int, str]:
    return {int(k): v for k, v in vector["fields"].items() if k != "t"}


def test_our_copy_of_the_vectors_equals_the_contracts():
    if not SHARED_VECTORS.exists():
        pytest.skip("shared/contract/vectors.json is not beside the repo")
    assert json.loads(SHARED_VECTORS.read_text()) == VECTORS


def test_the_vectors_cover_every_message_kind_of_the_examples():
    assert len(MESSAGES) >= 13
    assert any(v["name"] == "mac_example" for v in VECTORS)


@pytest.mark.parametrize("vector", MESSAGES, ids=IDS)
def test_each_vector_decodes_to_its_fields(vector):
    msg = decode(vector["message_ascii"].encode("ascii"), spec_of(vector))
    assert msg.mti == vector["fields"]["t"]
    assert msg.fields == expected_fields(vector)


@pytest.mark.parametrize("vector", MESSAGES, ids=IDS)
def test_each_vector_re_encodes_byte_for_byte(vector):
    raw = vector["message_ascii"].encode("ascii")
    assert encode(decode(raw, spec_of(vector)), spec_of(vector)) == raw


@pytest.mark.parametrize("vector", MESSAGES, ids=IDS)
def test_each_vector_frames_to_its_2b_bytes(vector):
    raw = vector["message_ascii"].encode("ascii")
    assert frame(raw, "2B") == bytes.fromhex(vector["framed_2b_hex"])


@pytest.mark.parametrize("vector", [v for v in MESSAGES if v["mac_key_hex"]],
                         ids=[v["name"] for v in MESSAGES if v["mac_key_hex"]])
def test_each_ti_vector_carries_a_mac_that_verifies_and_signing_reproduces_it(vector):
    raw = vector["message_ascii"].encode("ascii")
    key = bytes.fromhex(vector["mac_key_hex"])
    assert verify(raw, key)
    assert sign(decode(raw), key) == raw


def test_the_hi_echo_vector_has_no_mac_and_so_does_not_verify():
    echo = next(v for v in MESSAGES if v["name"] == "echo_request")
    assert not verify(echo["message_ascii"].encode("ascii"), bytes(range(16)))


def test_the_mac_example_matches_compute_mac():
    example = next(v for v in VECTORS if v["name"] == "mac_example")
    key = bytes.fromhex(example["mac_key_hex"])
    assert compute_mac(key, example["input_ascii"].encode("ascii")) == example["mac"]


@pytest.mark.parametrize("vector", [v for v in MESSAGES if "48" in v["fields"]],
                         ids=[v["name"] for v in MESSAGES if "48" in v["fields"]])
def test_field_48_of_each_vector_parses_and_rebuilds_identically(vector):
    text = vector["fields"]["48"]
    if vector["fields"]["t"] in ("0200", "0400"):
        assert build_request(parse_request(text)) == text
    else:
        assert build_response(parse_response(text)) == text


def test_the_postpaid_inquiry_vector_total_is_its_field_4_in_whole_rupiah():
    vector = next(v for v in MESSAGES if v["name"] == "postpaid_inquiry_response")
    info = parse_response(vector["fields"]["48"])
    assert info.total * 100 == int(vector["fields"]["4"])
