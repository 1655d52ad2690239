"""deploy/: Prometheus files pass promtool, dashboards and alerts only use metrics the switch exports,
the YAML parses, and a real Prometheus scrapes an OpsHttpServer and evaluates the alert rules."""
from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from switch.ops.http import OpsHttpServer
from switch.ops.metrics import METRIC_NAMES, Metrics
from tests.support.processes import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROM_DIR = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboard.json"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
NO_PROMTOOL = "promtool not installed (Debian package `prometheus`: apt-get install -y prometheus)"
NO_PROMETHEUS = "prometheus server not installed (Debian package `prometheus`: apt-get install -y prometheus)"
WAIT_S = 30.0


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def alert_exprs() -> list[str]:
    # The rules are one "expr: ..." line each (kept so on purpose, so this needs no YAML parser).
    return re.findall(r"^\s+expr: (.+)$", (PROM_DIR / "alerts.yml").read_text(), re.M)


def promql(expr: str) -> str:
    """Grafana's interval variable replaced by a fixed range, so Prometheus itself can parse it."""
    return expr.replace("$__rate_interval", "1m")


def run_promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_promtool_accepts_the_prometheus_config_and_its_rules():
    config = run_promtool("check", "config", str(PROM_DIR / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    rules = run_promtool("check", "rules", str(PROM_DIR / "alerts.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 8 rules found" in rules.stdout


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_every_dashboard_expression_is_valid_promql(tmp_path):
    # promtool parses rule expressions: wrap each panel query as a recording rule.
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, expr in enumerate(dashboard_exprs()):
        lines += [f"      - record: dashboard:panel_{i}", f"        expr: {json.dumps(promql(expr))}"]
    rules = tmp_path / "dashboard_rules.yml"
    rules.write_text("\n".join(lines) + "\n")
    result = run_promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_cover_the_cases_operations_watch():
    names = re.findall(r"^\s+- alert: (\w+)$", (PROM_DIR / "alerts.yml").read_text(), re.M)
    assert {"PpobBankLinkDown", "PpobSafBacklogOld", "PpobSystemErrorsHigh",
            "PpobTerminalLatencyHigh", "PpobDatabaseSlow", "PpobSettlementDisputed"} <= set(names)
    assert len(alert_exprs()) == len(names)


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_metric_name_used_is_one_the_switch_exports(source):
    exprs = dashboard_exprs() if source == "dashboard" else alert_exprs()
    used = {name for expr in exprs for name in re.findall(r"ppob_[a-z_]+", expr)}
    assert used, "no ppob_ metric found: the expressions were not read"
    assert used <= METRIC_NAMES, sorted(used - METRIC_NAMES)


def yaml_files() -> list[Path]:
    return sorted([*DEPLOY.glob("*.yaml"), *DEPLOY.glob("**/*.yml"), *DEPLOY.glob("kubernetes/*.yaml")])


def python_with_yaml() -> str | None:
    """This interpreter if it has PyYAML, else a system python3 that has it (the venv need not)."""
    for python in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        if python and subprocess.run([python, "-c", "import yaml"], capture_output=True).returncode == 0:
            return python
    return None


YAML_CHECK = """
import json, sys, yaml
out = {}
for path in sys.argv[1:]:
    with open(path) as f:
        out[path] = [doc for doc in yaml.safe_load_all(f)]
print(json.dumps(out))
"""


def test_compose_kubernetes_prometheus_and_grafana_yaml_parse():
    python = python_with_yaml()
    if python is None:
        pytest.skip("PyYAML is not importable by any python here")
    files = yaml_files()
    result = subprocess.run([python, "-c", YAML_CHECK, *map(str, files)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    docs = json.loads(result.stdout)
    compose = docs[str(DEPLOY / "compose.yaml")][0]
    assert {"switch", "postgres", "bank-a", "bank-b", "prometheus", "grafana"} <= set(compose["services"])
    kinds = {d["kind"] for p, ds in docs.items() if "/kubernetes/" in p for d in ds}
    assert {"Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "Secret"} <= kinds
    deployment = next(d for p, ds in docs.items() if "/kubernetes/" in p for d in ds if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_the_kubernetes_manifests_build_with_kustomize():
    result = subprocess.run(["kubectl", "kustomize", str(DEPLOY / "kubernetes")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\nkind: ") + result.stdout.startswith("kind: ") >= 6


def test_the_systemd_unit_runs_serve_as_ppob_and_drains_on_sigterm():
    unit: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / "ppob-switch.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            unit.setdefault(key, []).append(value)
    assert unit["Type"] == ["simple"] and unit["User"] == ["ppob"]
    assert unit["ExecStart"] == ["/opt/ppob/venv/bin/ppob-switch serve --config /etc/ppob/switch.toml"]
    assert (unit["Restart"], unit["KillSignal"], unit["TimeoutStopSec"]) == (["on-failure"], ["SIGTERM"], ["60"])
    assert unit["NoNewPrivileges"] == ["yes"] and unit["ProtectSystem"] == ["strict"]


# --- a real Prometheus scraping a real OpsHttpServer ----------------------------------------------

def api(port: int, path: str, **params: str) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


async def wait_for(check, what: str, deadline: float):
    """Polls check() (run in a thread, it does blocking HTTP) until it returns something truthy."""
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = await asyncio.to_thread(check)
            if result:
                return result
        except OSError as e:  # Prometheus not listening yet
            last_error = e
        await asyncio.sleep(0.25)
    pytest.fail(f"gave up after {WAIT_S:.0f} s waiting for {what} (last error: {last_error})")


def requests_value(port: int) -> float | None:
    result = api(port, "query", query='ppob_requests_total{rc="00"}')["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def firing_or_pending(port: int) -> set[str]:
    return {a["labels"]["alertname"] for a in api(port, "alerts")["data"]["alerts"]}


def rule_health(port: int) -> dict[str, str]:
    groups = api(port, "rules")["data"]["groups"]
    return {r["name"]: r["health"] for g in groups for r in g["rules"]}


@pytest.mark.slow
@pytest.mark.skipif(PROMETHEUS is None, reason=NO_PROMETHEUS)
async def test_a_real_prometheus_scrapes_the_switch_and_evaluates_its_alerts(tmp_path):
    async def ready() -> tuple[bool, str]:
        return True, "ok"

    metrics = Metrics()
    for _ in range(7):
        metrics.observe_request("terminal", "0200", "500000", "PLNPST", "BANKA", "00", 0.05)
    metrics.set_bank_link_up("BANKA", False)
    server = OpsHttpServer(metrics, ready)
    await server.start("127.0.0.1", 0)

    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: [{json.dumps(str(PROM_DIR / 'alerts.yml'))}]\n"
        "scrape_configs:\n  - job_name: ppob-switch\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{server.port}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + WAIT_S
        assert await wait_for(lambda: requests_value(prom_port), "ppob_requests_total", deadline) == 7
        # The link-down alert is pending (its `for: 1m` has not passed) as soon as a rule evaluation ran.
        assert "PpobBankLinkDown" in await wait_for(lambda: firing_or_pending(prom_port), "an alert", deadline)
        health = await wait_for(
            lambda: (h := rule_health(prom_port)) and "unknown" not in h.values() and h, "rules evaluated", deadline)
        assert set(health.values()) == {"ok"}, health
        for expr in dashboard_exprs():  # Prometheus itself evaluates every panel query
            assert (await asyncio.to_thread(api, prom_port, "query", query=promql(expr)))["status"] == "success"
    finally:
        process.kill()
        process.wait(timeout=10)
        log.close()
        await server.stop()
