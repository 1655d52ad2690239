"""Log lines an operator can act on: the answer's MTI, refusals at warning with their reason, an orderly
bank sign-off at info and a lost link at warning, ports named as ports, amounts that say their unit, a
failed admin command at error with why."""
from __future__ import annotations

import io
import json
from contextlib import contextmanager
from typing import Iterator

import pytest
import structlog

from switch.ops.logging import configure_logging
from tests.support.bank_answers import good_bank
from tests.support.harness import bank, switch_with_bank, wait_until
from tests.support.peers import ScriptedBank, echo_response

CUSTOMER = "532110000123"


class Captured:
    def __init__(self, buffer: io.StringIO) -> None:
        self.buffer = buffer

    def events(self, name: str | None = None) -> list[dict]:
        lines = [json.loads(line) for line in self.buffer.getvalue().splitlines() if line.startswith("{")]
        return [e for e in lines if name is None or e["event"] == name]


@contextmanager
def captured() -> Iterator[Captured]:
    buffer = io.StringIO()
    configure_logging(json=True, level="info", stream=buffer)
    try:
        yield Captured(buffer)
    finally:
        structlog.reset_defaults()


async def test_terminal_out_logs_the_answers_mti_and_the_amount_in_minor_units(start_switch):
    with captured() as log:
        running, peer, terminal = await switch_with_bank(start_switch)
        answer = await terminal.inquiry("PLNPST", CUSTOMER)
    out = next(e for e in log.events("terminal_out") if e.get("rrn") == answer[37])
    assert (out["mti"], out["request_mti"], out["level"]) == ("0210", "0200", "info")
    assert out["amount_minor"] == 0 and "amount" not in out
    sign_on = next(e for e in log.events("terminal_out") if e.get("network") == "001")
    assert sign_on["mti"] == "0810"


async def test_a_wrong_mac_is_logged_at_warning_with_its_reason(start_switch):
    with captured() as log:
        running, peer, terminal = await switch_with_bank(start_switch)
        refused = await terminal.send("0200", terminal.base("310000"), key=bytes(range(16, 32)))
    assert refused[39] == "63"
    out = next(e for e in log.events("terminal_out") if e.get("stan") == refused[11])
    assert out["level"] == "warning" and out["rc"] == "63" and "MAC" in out["reason"]


async def test_a_terminal_that_did_not_sign_on_gets_58_logged_at_warning_saying_so(start_switch):
    with captured() as log:
        running, peer, signed = await switch_with_bank(start_switch)
        fresh = await running.terminal().connect()
        refused = await fresh.balance()
        await fresh.close()
    assert refused[39] == "58"
    out = next(e for e in log.events("terminal_out") if e.get("stan") == refused[11] and e["rc"] == "58")
    assert out["level"] == "warning" and "not signed on" in out["reason"]


async def test_a_missing_field_and_a_duplicate_are_logged_at_warning_with_the_reason(start_switch):
    with captured() as log:
        running, peer, terminal = await switch_with_bank(start_switch)
        fields = terminal.base("310000")
        del fields[49]
        missing = await terminal.send("0200", fields)
        first = terminal.base("380000", 0, **{"48": "PLNPST" + CUSTOMER.ljust(13)})
        assert (await terminal.send("0200", first))[39] == "00"
        other = {**first, 48: "PLNPST" + "532110000999".ljust(13)}
        duplicate = await terminal.send("0200", other)
    assert (missing[39], duplicate[39]) == ("30", "94")
    outs = {e["rc"]: e for e in log.events("terminal_out") if e["rc"] in ("30", "94")}
    assert outs["30"]["level"] == "warning" and "49" in outs["30"]["reason"]
    assert outs["94"]["level"] == "warning" and "other content" in outs["94"]["reason"]


def unreadable_quotes(msg):
    if msg.mti == "0200" and msg[3] == "380000":
        return echo_response(msg, "00", **{"48": "PLNPST" + "?" * 10})
    return good_bank(msg)


async def test_a_96_for_an_unreadable_bank_answer_is_logged_at_warning_with_the_reason(start_switch):
    with captured() as log:
        running, peer, terminal = await switch_with_bank(start_switch, unreadable_quotes)
        answer = await terminal.inquiry("PLNPST", CUSTOMER)
    assert answer[39] == "96"
    out = next(e for e in log.events("terminal_out") if e.get("stan") == answer[11])
    assert out["level"] == "warning" and "field 48" in out["reason"]


async def test_stopping_the_switch_ends_bank_links_at_info_and_names_its_ports(start_switch):
    with captured() as log:
        running, peer, terminal = await switch_with_bank(start_switch)
        await terminal.close()
        await running.app.stop()
        await peer.close()
    started = log.events("switch_started")[-1]
    assert started["terminal_port"] == running.ports.terminals and started["metrics_port"] == running.ports.metrics
    assert "terminals" not in started
    ended = log.events("bank_disconnected")
    assert ended and all(e["level"] == "info" for e in ended) and not log.events("bank_link_lost")
    assert not [e for e in log.events() if e["event"].startswith("bank_") and e["level"] == "warning"]


async def test_a_bank_that_drops_the_link_without_signing_off_is_a_warning(start_switch):
    with captured() as log:
        running, peer, terminal = await switch_with_bank(start_switch)
        peer.drop()
        assert await wait_until(lambda: log.events("bank_link_lost"))
    lost = log.events("bank_link_lost")[0]
    assert lost["level"] == "warning" and lost["bank"] == "BANKA" and "without signing off" in lost["reason"]
    assert any(e["level"] == "warning" and e["up"] is False for e in log.events("bank_link_state"))


async def test_a_bank_that_signs_off_first_is_an_orderly_end_at_info(start_switch):
    from switch.wire import HI, Message, encode
    from switch.wire.framing import frame
    with captured() as log:
        running, peer, terminal = await switch_with_bank(start_switch)
        writer = peer.writers[0]
        sign_off = Message("0800", {7: "1201120000", 11: "900001", 70: "002"})
        writer.write(frame(encode(sign_off, HI), "2B"))
        await writer.drain()
        assert await wait_until(lambda: log.events("bank_request_answered"))
        peer.drop()
        assert await wait_until(lambda: log.events("bank_disconnected"))
    ended = log.events("bank_disconnected")[0]
    assert ended["level"] == "info" and ended["reason"] == "the bank signed off"
    assert not log.events("bank_link_lost")


async def test_a_failed_admin_command_logs_why_at_error(start_switch):
    from switch.admin import AdminError, submit
    with captured() as log:
        running, peer, terminal = await switch_with_bank(start_switch)
        with pytest.raises(AdminError) as refused:
            await submit(running.db, "settle", {"date": running.app.svc.calendar.current, "bank": None},
                         timeout_s=30)
    failed = log.events("admin_command_failed")
    assert failed and failed[0]["level"] == "error" and failed[0]["error"] == str(refused.value)
