"""A real Prometheus server (Debian's `prometheus`) scrapes a running switch: its query API returns
the counter of the requests the test sent."""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from tests.support.bank_answers import good_bank
from tests.support.harness import bank, wait_until
from tests.support.peers import ScriptedBank
from tests.support.processes import free_port

PROMETHEUS = shutil.which("prometheus")


def query(port: int, promql: str) -> float | None:
    url = f"http://127.0.0.1:{port}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            result = json.loads(answer.read())["data"]["result"]
    except OSError:
        return None
    return float(result[0]["value"][1]) if result else None


@pytest.mark.slow
@pytest.mark.skipif(PROMETHEUS is None, reason="Debian package `prometheus` not installed")
async def test_prometheus_scraping_a_running_switch_reads_the_number_of_inquiries_sent(start_switch, tmp_path):
    peer = ScriptedBank(good_bank)
    running = await start_switch([bank("BANKA", await peer.listen())])
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    terminal = await running.terminal().connect()
    await terminal.sign_on()
    for i in range(5):
        assert (await terminal.inquiry("PLNPST", f"53211000{i:04d}"))[39] == "00"

    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ppob-switch\n"
                      f"    static_configs: [{{targets: ['127.0.0.1:{running.ports.metrics}']}}]\n")
    process = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                f"--web.listen-address=127.0.0.1:{prom_port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    promql = 'sum(ppob_requests_total{interface="terminal",proc="380000",rc="00"})'
    try:
        deadline, value = time.monotonic() + 30, None
        while value is None and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            value = await asyncio.to_thread(query, prom_port, promql)
        assert value == 5
        up = await asyncio.to_thread(query, prom_port, 'ppob_bank_link_up{bank="BANKA"}')
        assert up == 1
    finally:
        process.kill()
        process.wait(timeout=10)
