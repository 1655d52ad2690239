"""What operations see of a running switch: metrics that move by exactly what was sent, health and
readiness that tell the truth."""
from __future__ import annotations

import asyncio
import re
import urllib.error
import urllib.request

from tests.support.bank_answers import good_bank
from tests.support.harness import bank, wait_until
from tests.support.peers import ScriptedBank

CUSTOMER = "532110000123"


async def get(port: int, path: str) -> tuple[int, str]:
    def fetch() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
    return await asyncio.to_thread(fetch)


def sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith((name + "{", name + " ")):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def running_with_bank(start_switch):
    peer = ScriptedBank(good_bank)
    port = await peer.listen()
    running = await start_switch([bank("BANKA", port)])
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    terminal = await running.terminal().connect()
    await terminal.sign_on()
    return running, peer, terminal


async def test_request_counters_move_by_exactly_the_number_of_transactions_sent(start_switch):
    running, peer, terminal = await running_with_bank(start_switch)
    port = running.ports.metrics
    _, before = await get(port, "/metrics")
    for i in range(7):
        await terminal.inquiry("PLNPST", f"53211000{i:04d}")
    for _ in range(3):
        await terminal.balance()
    _, after = await get(port, "/metrics")
    labels = dict(interface="terminal", mti="0200", rc="00")
    moved = sample(after, "ppob_requests_total", proc="380000", **labels) - \
        sample(before, "ppob_requests_total", proc="380000", **labels)
    assert moved == 7
    assert sample(after, "ppob_requests_total", proc="310000", **labels) - \
        sample(before, "ppob_requests_total", proc="310000", **labels) == 3
    assert sample(after, "ppob_request_seconds_count", interface="terminal", proc="380000") >= 7
    assert "T0000001" not in after and CUSTOMER not in after  # bounded labels: no terminal or customer ids


async def test_a_payment_shows_its_two_durable_units_in_the_unit_latency_histogram(start_switch):
    running, peer, terminal = await running_with_bank(start_switch)
    port = running.ports.metrics
    _, before = await get(port, "/metrics")
    assert (await terminal.pay("PLNPRA", "14234567890", 20_000_00))[39] == "00"
    _, after = await get(port, "/metrics")
    units = sample(after, "ppob_db_unit_seconds_count") - sample(before, "ppob_db_unit_seconds_count")
    assert units >= 2  # its record with its hold, its answer with its debit (a heartbeat may add one)
    assert sample(after, "ppob_db_unit_seconds_bucket", le="+Inf") == sample(after, "ppob_db_unit_seconds_count")
    assert sample(after, "ppob_db_unit_seconds_bucket", le="5.0") == sample(after, "ppob_db_unit_seconds_count")
    assert sample(after, "ppob_db_unit_seconds_sum") > sample(before, "ppob_db_unit_seconds_sum")


async def test_a_bad_mac_is_counted(start_switch):
    running, peer, terminal = await running_with_bank(start_switch)
    _, before = await get(running.ports.metrics, "/metrics")
    await terminal.send("0200", terminal.base("310000"), key=bytes(16))
    _, after = await get(running.ports.metrics, "/metrics")
    assert sample(after, "ppob_mac_failures_total") - sample(before, "ppob_mac_failures_total") == 1


async def test_readiness_follows_the_bank_links_and_health_stays_ok(start_switch):
    running, peer, terminal = await running_with_bank(start_switch)
    port = running.ports.metrics
    assert (await get(port, "/healthz"))[0] == 200
    assert (await get(port, "/readyz"))[0] == 200
    await peer.close()
    assert await wait_until(lambda: not running.app.svc.router.candidates("PLNPST"))
    status, reason = await get(port, "/readyz")
    assert status == 503 and "PLNPST" in reason
    assert (await get(port, "/healthz"))[0] == 200


async def test_bank_side_exchanges_are_counted_with_their_bank_and_product(start_switch):
    running, peer, terminal = await running_with_bank(start_switch)
    _, before = await get(running.ports.metrics, "/metrics")
    for i in range(4):
        await terminal.inquiry("PLNPST", f"53211000{i:04d}")
    _, after = await get(running.ports.metrics, "/metrics")
    labels = dict(interface="bank", mti="0200", proc="380000", product="PLNPST", bank="BANKA", rc="00")
    assert sample(after, "ppob_requests_total", **labels) - sample(before, "ppob_requests_total", **labels) == 4
    assert sample(after, "ppob_request_seconds_count", interface="bank", bank="BANKA", proc="380000") >= 4


async def test_a_configured_pause_after_cutover_answers_90_and_echo_still_works(start_switch):
    from switch.settlement.cutover import forced_cutover
    peer = ScriptedBank(good_bank)
    port = await peer.listen()
    running = await start_switch([bank("BANKA", port)], switch={"cutover_pause_s": 30})
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    terminal = await running.terminal().connect()
    await terminal.sign_on()
    assert (await terminal.balance())[39] == "00"
    closed = await forced_cutover(running.app.svc)
    assert closed["opened"] > closed["closed"]
    assert (await terminal.inquiry("PLNPST", CUSTOMER))[39] == "90"
    assert (await terminal.balance())[39] == "90"
    echo = await terminal.send("0800", {7: "1125083000", 11: terminal.next_stan(), 41: "T0000001", 70: "301"})
    assert echo[39] == "00"


async def test_without_a_pause_traffic_flows_through_a_cutover_into_the_next_business_date(start_switch):
    from switch.settlement.cutover import forced_cutover
    running, peer, terminal = await running_with_bank(start_switch)
    before = await terminal.inquiry("PLNPST", CUSTOMER)
    during = asyncio.gather(*(terminal.inquiry("PLNPST", f"53211000{i:04d}") for i in range(20)))
    closed = await forced_cutover(running.app.svc)
    answers = await during
    after = await terminal.inquiry("PLNPST", CUSTOMER)
    assert all(a[39] == "00" for a in answers) and after[39] == "00"
    assert before[15] == closed["closed"][5:7] + closed["closed"][8:10]
    assert after[15] == closed["opened"][5:7] + closed["opened"][8:10]


async def logged_inquiry(start_switch, level: str) -> tuple[list[dict], dict]:
    import io
    import json as _json

    import structlog

    from switch.ops.logging import configure_logging
    buffer = io.StringIO()
    configure_logging(json=True, level=level, stream=buffer)
    try:
        running, peer, terminal = await running_with_bank(start_switch)
        answer = await terminal.inquiry("PLNPST", CUSTOMER)
    finally:
        structlog.reset_defaults()
    return [_json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")], answer


async def test_at_info_one_event_per_transaction_carries_what_the_terminal_and_the_bank_said(start_switch):
    events, answer = await logged_inquiry(start_switch, "info")
    mine = [e for e in events if e.get("rrn") == answer[37] or e.get("stan") == answer[11]]
    assert [e["event"] for e in mine] == ["terminal_out"]
    out = mine[0]
    assert out["rc"] == "00" and out["bank"] == "BANKA" and out["bank_rc"] == "00"
    assert len(out["bank_stan"]) == 6 and out["bank_ms"] >= 0 and out["latency_ms"] >= out["bank_ms"]
    assert out["customer"] != CUSTOMER and out["customer"].startswith("5321")  # masked


async def test_at_debug_every_message_in_and_out_is_logged_with_its_rrn_and_no_key_or_mac(start_switch):
    import json as _json
    events, answer = await logged_inquiry(start_switch, "debug")
    rrn = answer[37]
    names = [e["event"] for e in events if e.get("rrn") == rrn or e.get("stan") == answer[11]]
    assert {"terminal_in", "bank_out", "bank_in", "terminal_out"} <= set(names)
    out = next(e for e in events if e["event"] == "terminal_out" and e.get("rrn") == rrn)
    assert out["rc"] == "00" and out["bank"] == "BANKA" and "latency_ms" in out
    assert out["customer"] != CUSTOMER and out["customer"].startswith("5321")  # masked
    text = "\n".join(_json.dumps(e) for e in events)
    assert "000102030405060708090A0B0C0D0E0F" not in text.upper() and answer[64] not in text
