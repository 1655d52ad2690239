"""Metrics move by exactly what was recorded, and the ops HTTP server serves them over a real socket."""
from __future__ import annotations

import asyncio
import re

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from switch.ops.http import OpsHttpServer
from switch.ledger.storage.base import UnitLatency
from switch.ops.metrics import METRIC_NAMES, Metrics

PAYMENT = dict(interface="terminal", mti="0200", proc="500000", product="PLNPST", bank="BANKA", rc="00")


def sample(metrics: Metrics, name: str, **labels) -> float | None:
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def test_observe_request_moves_the_counter_by_exactly_one_and_render_shows_it():
    metrics = Metrics()
    metrics.observe_request(**PAYMENT, seconds=0.2)
    assert sample(metrics, "ppob_requests_total", **PAYMENT) == 1
    metrics.observe_request(**PAYMENT, seconds=0.3)
    assert sample(metrics, "ppob_requests_total", **PAYMENT) == 2
    assert sample(metrics, "ppob_requests_total", **{**PAYMENT, "rc": "05"}) is None
    assert sample(metrics, "ppob_request_seconds_count", interface="terminal", bank="BANKA") == 2
    assert sample(metrics, "ppob_request_seconds_bucket", interface="terminal", le="0.25") == 1
    assert b'ppob_requests_total{bank="BANKA",interface="terminal",mti="0200"' in metrics.render()


def test_two_metrics_objects_do_not_share_a_registry():
    a, b = Metrics(), Metrics()
    a.mac_failure()
    assert sample(a, "ppob_mac_failures_total") == 1
    assert sample(b, "ppob_mac_failures_total") == 0


def test_gauges_report_the_state_they_were_last_given():
    metrics = Metrics()
    metrics.set_saf("BANKA", "reversal", pending=3, oldest_age_s=42.0)
    metrics.set_saf("BANKA", "advice", pending=0, oldest_age_s=99.0)
    metrics.set_settlement_state("BANKA", "unsent")
    metrics.set_settlement_state("BANKA", "disputed")
    metrics.set_business_date("2025-11-24")
    metrics.set_business_date("2025-11-25")
    metrics.set_holds(2, 15_250_000)
    with metrics.in_flight("bank"):
        assert sample(metrics, "ppob_in_flight", interface="bank") == 1
    assert sample(metrics, "ppob_in_flight", interface="bank") == 0
    assert sample(metrics, "ppob_saf_oldest_age_seconds", bank="BANKA", kind="reversal") == 42
    assert sample(metrics, "ppob_saf_oldest_age_seconds", bank="BANKA", kind="advice") == 0
    assert sample(metrics, "ppob_settlement_state", bank="BANKA", state="unsent") == 0
    assert sample(metrics, "ppob_settlement_state", bank="BANKA", state="disputed") == 1
    assert sample(metrics, "ppob_business_date", date="2025-11-24") is None
    assert sample(metrics, "ppob_business_date", date="2025-11-25") == 1
    assert sample(metrics, "ppob_holds_outstanding_amount") == 15_250_000


def test_unbounded_label_values_are_refused():
    metrics = Metrics()
    with pytest.raises(ValueError):
        metrics.observe_request(**{**PAYMENT, "interface": "T0000001"}, seconds=0.1)
    with pytest.raises(ValueError):
        metrics.set_saf("BANKA", "refund", 1, 1.0)


def test_metric_names_lists_exactly_the_ppob_samples_exported():
    metrics = Metrics()
    metrics.observe_request(**PAYMENT, seconds=0.1)
    metrics.set_saf("BANKA", "reversal", 1, 1.0)
    metrics.set_settlement_state("BANKA", "open")
    metrics.set_business_date("2025-11-25")
    metrics.frame_rejected("bank", "too_long")
    metrics.ops_flag("reversal_refused")
    metrics.set_bank_link_up("BANKA", True)
    metrics.set_bank_links_connected("BANKA", 1)
    metrics.bank_echo_answered("BANKA", at=1_700_000_000.0)
    units = UnitLatency()
    units.observe(0.003)
    metrics.watch_units(units)
    with metrics.in_flight("terminal"):
        text = metrics.render().decode()
    exported = set(re.findall(r"^(ppob_[a-z_]+)", text, re.M))
    histogram_family = {"ppob_request_seconds", "ppob_db_unit_seconds"}  # only in # TYPE lines, not samples
    assert exported == METRIC_NAMES - histogram_family
    assert re.search(r"^process_cpu_seconds_total ", text, re.M)  # process collector is registered


def test_the_unit_tally_is_exported_as_a_cumulative_histogram_and_a_second_watch_replaces_the_first():
    metrics = Metrics()
    first, units = UnitLatency(), UnitLatency()
    first.observe(0.5)
    metrics.watch_units(first)
    for seconds in (0.0004, 0.003, 0.003, 0.04, 9.0):
        units.observe(seconds)
    metrics.watch_units(units)
    text = metrics.render().decode()
    assert 'ppob_db_unit_seconds_bucket{le="0.0005"} 1.0' in text
    assert 'ppob_db_unit_seconds_bucket{le="0.005"} 3.0' in text
    assert 'ppob_db_unit_seconds_bucket{le="0.05"} 4.0' in text
    assert 'ppob_db_unit_seconds_bucket{le="5.0"} 4.0' in text
    assert 'ppob_db_unit_seconds_bucket{le="+Inf"} 5.0' in text
    assert "ppob_db_unit_seconds_count 5.0" in text
    assert text.count("# TYPE ppob_db_unit_seconds histogram") == 1  # the first tally is gone


async def http_get(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()


@pytest.fixture
async def ops_server():
    readiness = {"ready": True, "reason": "ok"}

    async def ready_check() -> tuple[bool, str]:
        return readiness["ready"], readiness["reason"]

    metrics = Metrics()
    server = OpsHttpServer(metrics, ready_check)
    assert await server.start("127.0.0.1", 0) == server.port
    try:
        yield server, metrics, readiness
    finally:
        await server.stop()


async def test_the_server_serves_metrics_health_and_readiness(ops_server):
    server, metrics, readiness = ops_server
    metrics.observe_request(**PAYMENT, seconds=0.05)

    status, headers, body = await http_get(server.port, get("/metrics"))
    assert status == 200 and headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert re.search(rb'^ppob_requests_total\{[^}]*rc="00"[^}]*\} 1\.0$', body, re.M)

    assert (await http_get(server.port, get("/healthz")))[::2] == (200, b"ok\n")
    assert (await http_get(server.port, get("/readyz?verbose=1")))[::2] == (200, b"ok\n")

    readiness.update(ready=False, reason="no bank link up")
    assert (await http_get(server.port, get("/readyz")))[::2] == (503, b"no bank link up\n")


async def test_a_failing_readiness_check_answers_503_not_a_crash():
    async def broken() -> tuple[bool, str]:
        raise RuntimeError("database gone")

    server = OpsHttpServer(Metrics(), broken)
    await server.start("127.0.0.1", 0)
    try:
        status, _, body = await http_get(server.port, get("/readyz"))
        assert status == 503 and b"RuntimeError" in body
        assert (await http_get(server.port, get("/healthz")))[0] == 200
    finally:
        await server.stop()


@pytest.mark.parametrize("raw, status", [
    (get("/nowhere"), 404),
    (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
    (b"hello\r\n\r\n", 400),
    (b"GET metrics HTTP/1.1\r\n\r\n", 400),
    (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", 400),
    (b"GET /\xff HTTP/1.1\r\n\r\n", 400),
], ids=["unknown path", "post", "garbage", "no slash", "huge line", "too many headers", "not ascii"])
async def test_bad_requests_get_an_error_status_and_the_server_keeps_serving(ops_server, raw, status):
    server, _, _ = ops_server
    assert (await http_get(server.port, raw))[0] == status
    assert (await http_get(server.port, get("/healthz")))[0] == 200


async def test_a_request_cut_off_mid_line_gets_400(ops_server):
    server, _, _ = ops_server
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /hea")
    writer.write_eof()
    assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 400 ")
    writer.close()


async def test_head_answers_headers_without_a_body(ops_server):
    server, _, _ = ops_server
    status, headers, body = await http_get(server.port, b"HEAD /healthz HTTP/1.1\r\n\r\n")
    assert (status, headers["Content-Length"], body) == (200, "3", b"")
