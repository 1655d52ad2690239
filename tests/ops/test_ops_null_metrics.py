"""The null metrics object stands in for `Metrics` everywhere: callers record without checking."""
from __future__ import annotations

import inspect

from switch.ops.metrics import Metrics, NullMetrics


def test_null_metrics_overrides_every_public_method_of_metrics() -> None:
    public = {name for name, _ in inspect.getmembers(Metrics, callable) if not name.startswith("_")}
    missing = sorted(name for name in public if getattr(NullMetrics, name) is getattr(Metrics, name))
    assert missing == []


def test_null_metrics_records_nothing_and_is_not_exported() -> None:
    metrics = NullMetrics()
    with metrics.in_flight("terminal"):
        metrics.observe_request("terminal", "0200", "380000", "", "", "00", 0.01)
    metrics.set_business_date("2026-01-31")
    assert metrics.render() == b""
    assert not metrics.exported and Metrics.exported
