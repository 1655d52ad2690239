"""Prometheus metrics of the switch, in a registry owned by one `Metrics` object.

The app creates one `Metrics` and passes it to whoever records something; nothing here touches
prometheus_client's default global registry, so tests and several switches in one process stay apart.
Label values are bounded: interface, MTI, processing code, product, bank, response code, kind, state,
reason — never a terminal, agent or customer id.
"""
from __future__ import annotations

import datetime as dt
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Iterator, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    GCCollector,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

INTERFACES = ("terminal", "bank")
SAF_KINDS = ("reversal", "advice")
# An undecodable terminal frame (switch.flows.malformed's Kind and Outcome).
MALFORMED_KINDS = ("mti", "bitmap", "field", "message")
MALFORMED_OUTCOMES = ("answered", "closed")
# A business date's settlement towards one bank (switch.settlement.totals.SettlementState): settled (0510 00),
# disputed (0510 95), refused (another 0510 code), unsent (no 0510 came); open/closed before settling.
SETTLEMENT_STATES = ("open", "closed", "unsent", "settled", "disputed", "refused")
# Up to the default bank timeout (20 s) and a little beyond, so 68s show in the top buckets.
# Why an overload limit refused or closed a connection or shed a request (switch.links.limits.Shed).
SHED_REASONS = ("connections", "address", "switch_in_flight", "terminal_in_flight", "terminal_rate", "abuse",
                "unread", "bank_busy", "bank_connections")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)

_REQUEST_LABELS = ("interface", "mti", "proc", "product", "bank")

# (type, name without ppob_ prefix and suffix, help, label names) — the single list of what we export.
_FAMILIES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("counter", "requests", "Requests answered, by interface and response code",
     (*_REQUEST_LABELS, "rc")),
    ("histogram", "request_seconds", "Time from request to response", _REQUEST_LABELS),
    ("gauge", "in_flight", "Requests being processed now", ("interface",)),
    ("gauge", "terminals_connected", "Terminal connections open now", ()),
    ("gauge", "bank_link_up", "1 when at least one signed-on link to the bank is up", ("bank",)),
    ("gauge", "bank_last_echo_timestamp_seconds", "Unix time of the bank's last answered echo",
     ("bank",)),
    ("gauge", "bank_links_connected", "Connections to the bank open now", ("bank",)),
    ("gauge", "saf_pending", "Reversals / advices waiting for the bank's answer", ("bank", "kind")),
    ("gauge", "saf_oldest_age_seconds", "Age of the oldest pending reversal / advice",
     ("bank", "kind")),
    ("gauge", "holds_outstanding", "Deposit holds not yet debited or released", ()),
    ("gauge", "holds_outstanding_amount", "Sum of outstanding holds, minor units", ()),
    ("gauge", "settlement_state", "1 for the settlement state of the latest business date",
     ("bank", "state")),
    ("counter", "frames_rejected", "Frames refused before processing", ("interface", "reason")),
    ("counter", "terminal_malformed_frames",
     "Terminal frames that did not decode, by what was unreadable and what the switch did",
     ("kind", "outcome")),
    ("counter", "overload_shed", "Connections refused or closed, and requests answered 91 unprocessed, by the"
     " overload limits", ("reason",)),
    ("counter", "mac_failures", "Terminal requests with a missing or wrong MAC", ()),
    ("counter", "ops_flags", "Cases flagged to operations", ("kind",)),
    ("gauge", "business_date", "The open business date (label), always 1", ("date",)),
)

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("", "_bucket", "_sum", "_count", "_created"),
}

# Every metric name the switch exports (sample names as they appear in /metrics), for dashboards,
# alert rules and their tests.
METRIC_NAMES: frozenset[str] = frozenset(
    f"ppob_{name}{suffix}" for kind, name, _, _ in _FAMILIES for suffix in _SUFFIXES[kind]
) | {f"ppob_db_unit_seconds{suffix}" for suffix in _SUFFIXES["histogram"]
     if suffix != "_created"}  # _UnitsCollector: a histogram with no creation time


class Metrics:
    """All the switch's metrics; `registry` also carries the process / platform / GC collectors."""

    exported = True  # served on the ops HTTP endpoint

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        types = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}
        self._m: dict[str, Any] = {}  # Counter | Gauge | Histogram, by family name
        for kind, name, doc, labels in _FAMILIES:
            extra = {"buckets": LATENCY_BUCKETS} if kind == "histogram" else {}
            self._m[name] = types[kind](f"ppob_{name}", doc, labels, registry=self.registry, **extra)
        self._settlement_states: dict[str, set[str]] = {}
        self._request_children: dict[tuple[str, ...], tuple[Any, Any]] = {}
        self._in_flight_children: dict[str, _InFlight] = {}
        self._units: _UnitsCollector | None = None
        for kind in MALFORMED_KINDS:  # every series exists from the start (at 0), so rates and
            for outcome in MALFORMED_OUTCOMES:  # a harness comparing before/after see it at once
                self._m["terminal_malformed_frames"].labels(kind=kind, outcome=outcome)
        for reason in SHED_REASONS:  # exported at 0 from the start, so rate() alerts work at once
            self._m["overload_shed"].labels(reason=reason)

    # -- requests ---------------------------------------------------------------------------------

    def observe_request(self, interface: str, mti: str, proc: str, product: str, bank: str,
                        rc: str, seconds: float) -> None:
        """One answered request: counts it under its response code and records its latency.
        Use "" for a label that does not apply (e.g. bank for a balance inquiry, proc for 0800)."""
        key = (interface, mti, proc, product, bank, rc)
        children = self._request_children.get(key)
        if children is None:   # label lookups cost more than the counting: done once per series
            _check(interface, INTERFACES, "interface")
            labels = dict(interface=interface, mti=mti, proc=proc, product=product, bank=bank)
            children = self._request_children[key] = (self._m["requests"].labels(rc=rc, **labels),
                                                       self._m["request_seconds"].labels(**labels))
        children[0].inc()
        children[1].observe(seconds)

    def in_flight(self, interface: str) -> AbstractContextManager[None]:
        """`with metrics.in_flight("terminal"): ...` counts the request as in flight inside the block
        (one reusable context manager per interface: a generator-based one per request cost more)."""
        counted = self._in_flight_children.get(interface)
        if counted is None:
            _check(interface, INTERFACES, "interface")
            counted = self._in_flight_children[interface] = _InFlight(
                self._m["in_flight"].labels(interface=interface))
        return counted

    def frame_rejected(self, interface: str, reason: str) -> None:
        """A frame refused before processing; reason is a short fixed word (too_long, decode, stall...)."""
        _check(interface, INTERFACES, "interface")
        self._m["frames_rejected"].labels(interface=interface, reason=reason).inc()

    def terminal_malformed_frame(self, kind: str, outcome: str) -> None:
        """A terminal frame that did not decode. kind: mti, bitmap, field, message (what was
        unreadable); outcome: answered (30, or 58 to an unknown terminal) or closed."""
        _check(kind, MALFORMED_KINDS, "kind")
        _check(outcome, MALFORMED_OUTCOMES, "outcome")
        self._m["terminal_malformed_frames"].labels(kind=kind, outcome=outcome).inc()

    def overload_shed(self, reason: str) -> None:
        """A connection refused or closed, or a request shed, by an overload limit (limits.Shed values)."""
        _check(reason, SHED_REASONS, "reason")
        self._m["overload_shed"].labels(reason=reason).inc()

    def mac_failure(self) -> None:
        self._m["mac_failures"].inc()

    def ops_flag(self, kind: str) -> None:
        """A case flagged to operations, e.g. kind="reversal_refused"."""
        self._m["ops_flags"].labels(kind=kind).inc()

    # -- terminals and bank links -----------------------------------------------------------------

    def terminal_connected(self) -> None:
        self._m["terminals_connected"].inc()

    def terminal_disconnected(self) -> None:
        self._m["terminals_connected"].dec()

    def set_terminals_connected(self, count: int) -> None:
        self._m["terminals_connected"].set(count)

    def set_bank_link_up(self, bank: str, up: bool) -> None:
        self._m["bank_link_up"].labels(bank=bank).set(1 if up else 0)

    def set_bank_links_connected(self, bank: str, count: int) -> None:
        self._m["bank_links_connected"].labels(bank=bank).set(count)

    def bank_echo_answered(self, bank: str, at: float | None = None) -> None:
        """Records the Unix time (default: now) at which the bank last answered an echo."""
        self._m["bank_last_echo_timestamp_seconds"].labels(bank=bank).set(time.time() if at is None else at)

    # -- store and forward, holds, settlement -----------------------------------------------------

    def set_saf(self, bank: str, kind: str, pending: int, oldest_age_s: float) -> None:
        """Pending reversals or advices towards a bank and the age of the oldest (0 when none)."""
        _check(kind, SAF_KINDS, "kind")
        self._m["saf_pending"].labels(bank=bank, kind=kind).set(pending)
        self._m["saf_oldest_age_seconds"].labels(bank=bank, kind=kind).set(oldest_age_s if pending else 0)

    def set_holds(self, count: int, amount: int) -> None:
        """Outstanding holds: how many and their sum in minor units."""
        self._m["holds_outstanding"].set(count)
        self._m["holds_outstanding_amount"].set(amount)

    def set_settlement_state(self, bank: str, state: str) -> None:
        """The settlement state of the latest business date for a bank: that state 1, earlier ones 0."""
        _check(state, SETTLEMENT_STATES, "state")
        seen = self._settlement_states.setdefault(bank, set())
        seen.add(state)
        for s in seen:
            self._m["settlement_state"].labels(bank=bank, state=s).set(1 if s == state else 0)

    def set_business_date(self, date: dt.date | str) -> None:
        """The open business date; only the current one is exported."""
        text = date.isoformat() if isinstance(date, dt.date) else date
        gauge = self._m["business_date"]
        gauge.clear()
        gauge.labels(date=text).set(1)

    # -- database ---------------------------------------------------------------------------------

    def watch_units(self, tally: UnitTally) -> None:
        """Exports the database's unit tally (storage.UnitLatency: bounds, counts, total_seconds) as
        ppob_db_unit_seconds, read when scraped: the hot path only counts. A second call (the app
        started again on another database) replaces the first."""
        if self._units is not None:
            self.registry.unregister(self._units)
        self._units = _UnitsCollector(tally)
        self.registry.register(self._units)

    # -- exposition -------------------------------------------------------------------------------

    def render(self) -> bytes:
        """The registry in Prometheus text format (content type prometheus_client.CONTENT_TYPE_LATEST)."""
        return generate_latest(self.registry)


class UnitTally(Protocol):
    """What watch_units reads (switch.ledger.storage.UnitLatency): counts per upper bound in
    seconds, the last past the largest bound, and their sum."""
    bounds: tuple[float, ...]
    counts: list[int]
    total_seconds: float


class _UnitsCollector:
    """ppob_db_unit_seconds: how long durable units took, from being asked for to their commit on
    disk (the group commit's wait included) — where a payment's time goes when the disk is slow."""

    def __init__(self, tally: UnitTally) -> None:
        self._tally = tally

    def collect(self) -> Iterator[HistogramMetricFamily]:
        tally = self._tally
        counts = tally.counts
        buckets, running = [], 0
        for bound, count in zip(tally.bounds, counts):
            running += count
            buckets.append((floatToGoString(bound), running))
        buckets.append(("+Inf", running + counts[-1]))
        family = HistogramMetricFamily(
            "ppob_db_unit_seconds", "Time from a durable unit being asked for to its commit on disk")
        family.add_metric([], buckets, sum_value=tally.total_seconds)
        yield family


class NullMetrics(Metrics):
    """Records nothing: what a switch without a metrics endpoint (tests, tools) is given, so callers
    record unconditionally. Every public method of `Metrics` is overridden (a test checks it)."""

    exported = False

    def __init__(self) -> None:  # no registry, no collectors
        pass

    def observe_request(self, interface: str, mti: str, proc: str, product: str, bank: str,
                        rc: str, seconds: float) -> None:
        pass

    def watch_units(self, tally: UnitTally) -> None:
        pass

    def in_flight(self, interface: str) -> AbstractContextManager[None]:
        return nullcontext()

    def frame_rejected(self, interface: str, reason: str) -> None:
        pass

    def terminal_malformed_frame(self, kind: str, outcome: str) -> None:
        pass

    def mac_failure(self) -> None:
        pass

    def overload_shed(self, reason: str) -> None:
        pass

    def ops_flag(self, kind: str) -> None:
        pass

    def terminal_connected(self) -> None:
        pass

    def terminal_disconnected(self) -> None:
        pass

    def set_terminals_connected(self, count: int) -> None:
        pass

    def set_bank_link_up(self, bank: str, up: bool) -> None:
        pass

    def set_bank_links_connected(self, bank: str, count: int) -> None:
        pass

    def bank_echo_answered(self, bank: str, at: float | None = None) -> None:
        pass

    def set_saf(self, bank: str, kind: str, pending: int, oldest_age_s: float) -> None:
        pass

    def set_holds(self, count: int, amount: int) -> None:
        pass

    def set_settlement_state(self, bank: str, state: str) -> None:
        pass

    def set_business_date(self, date: dt.date | str) -> None:
        pass

    def render(self) -> bytes:
        return b""


class _InFlight(AbstractContextManager[None]):
    """The in-flight gauge of one interface, up inside the block; it keeps no state of its own, so
    one serves every request at once."""

    def __init__(self, gauge: Any) -> None:
        self._gauge = gauge

    def __enter__(self) -> None:
        self._gauge.inc()

    def __exit__(self, *exc: object) -> None:
        self._gauge.dec()


def _check(value: str, allowed: tuple[str, ...], label: str) -> None:
    # Refusing unknown values keeps label sets bounded even if a caller passes something odd.
    if value not in allowed:
        raise ValueError(f"{label} must be one of {allowed}, got {value!r}")
