"""Log lines are JSON with UTC timestamps, and never carry keys, MACs or whole customer numbers."""
from __future__ import annotations

import asyncio
import io
import json

import pytest
import structlog

from switch.ops.logging import LineBatcher, Redactor, configure_logging, mask_customer


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    configure_logging(json=True, level="info", stream=stream)
    yield stream
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("number, masked", [
    ("532100000023", "5321******23"),
    ("12345678901", "1234*****01"),
    ("5321000000234", "5321*******34"),
    ("532100000023 ", "5321******23"),  # field 48's space padding is not part of the number
    ("123456", "******"),
])
def test_customer_numbers_keep_only_their_first_four_and_last_two_digits(number, masked):
    assert mask_customer(number) == masked


def test_a_log_line_is_json_with_an_iso_utc_timestamp_and_level(log_stream):
    structlog.get_logger().info("payment_approved", bank="BANKA", amount=15_250_000)
    (line,) = lines(log_stream)
    assert line["event"] == "payment_approved" and line["level"] == "info" and line["amount"] == 15_250_000
    assert line["timestamp"].endswith("Z") and line["timestamp"][10] == "T"


def test_secrets_are_redacted_and_customers_masked_even_one_level_down(log_stream):
    structlog.get_logger().info(
        "terminal_added", key="00112233445566778899AABBCCDDEEFF", mac_key="FF" * 16, password="pw",
        mac="0123456789ABCDEF", customer="532100000023",
        fields={64: "0123456789ABCDEF", 128: "FEDCBA9876543210", 41: "T0000001", "customer": "532100000023"},
    )
    text = log_stream.getvalue()
    for secret in ("00112233445566778899AABBCCDDEEFF", "FF" * 16, '"pw"', "0123456789ABCDEF",
                   "FEDCBA9876543210", "532100000023"):
        assert secret not in text
    (line,) = lines(log_stream)
    assert line["customer"] == "5321******23" and line["fields"]["customer"] == "5321******23"
    assert line["fields"]["41"] == "T0000001"


def test_messages_below_the_level_are_dropped():
    stream = io.StringIO()
    configure_logging(json=True, level="warning", stream=stream)
    try:
        structlog.get_logger().info("quiet")
        structlog.get_logger().warning("loud")
    finally:
        structlog.reset_defaults()
    assert [line["event"] for line in lines(stream)] == ["loud"]


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError, match="log level"):
        configure_logging(level="chatty")


def test_a_redactor_past_its_remembered_keys_still_redacts_and_masks():
    redactor = Redactor()
    for n in range(Redactor.MAX_KEYS + 5):
        redactor(None, "info", {f"k{n}": "x"})
    event = redactor(None, "info", {"Password": "pw", "customer": "532100000023", "url": "postgresql://u:pw@h/db"})
    assert event["Password"] == "[redacted]" and event["customer"] == "5321******23"
    assert "pw@" not in event["url"]


async def test_lines_logged_in_one_turn_of_the_loop_go_out_together_at_its_end_in_order():
    stream = io.StringIO()
    batcher = LineBatcher(stream)
    await asyncio.get_running_loop().run_in_executor(None, batcher.info, "one")
    assert stream.getvalue() == "one\n"   # no loop runs in that thread: written at once
    batcher.info("two")
    batcher.warning("three")
    assert stream.getvalue() == "one\n"
    await asyncio.sleep(0)
    assert stream.getvalue() == "one\ntwo\nthree\n"
    batcher.info("four")
    await asyncio.get_running_loop().run_in_executor(None, batcher.info, "five")  # a thread: at once, after four
    assert stream.getvalue().splitlines()[-2:] == ["four", "five"]


def test_a_final_configuration_still_writes_json_lines_with_secrets_redacted():
    stream = io.StringIO()
    configure_logging(json=True, level="info", stream=stream, final=True)
    try:
        structlog.get_logger().info("terminal_added", key="00112233445566778899AABBCCDDEEFF", terminal="T1")
    finally:
        structlog.reset_defaults()
    (line,) = lines(stream)
    assert line["key"] == "[redacted]" and line["terminal"] == "T1"
