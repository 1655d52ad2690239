"""The figures of bench_switch.py: one measurement, its table and targets, and profiles (perf or py-spy)."""
from __future__ import annotations

import asyncio
import os
import statistics
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.bench import perf_profile


@dataclass
class Phase:
    """One measurement: a load against one server process."""
    label: str
    operations: int
    elapsed_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float            # of the server process, per operation
    rss_mb: float
    by_rc: dict = field(default_factory=dict)
    loop_busy: float = 0.0   # the server's main (event-loop) thread: CPU seconds per second
    unit_ms: tuple[float, float] | None = None  # durable units' p50, p99 by the switch's own clock
    machine_busy: float = 0.0              # every process on the machine: share of all its cores
    db_server_cpu_ms: float | None = None  # PostgreSQL's server processes, per operation

    @property
    def rate(self) -> float:
        return self.operations / self.elapsed_s if self.elapsed_s else 0.0


def unit_buckets(metrics_port: int) -> dict[float, float]:
    """The switch's ppob_db_unit_seconds buckets (upper bound: cumulative count), read over HTTP."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {float(sample.labels["le"]): sample.value
            for family in text_string_to_metric_families(text) if family.name == "ppob_db_unit_seconds"
            for sample in family.samples if sample.name == "ppob_db_unit_seconds_bucket"}


def unit_quantiles(before: dict[float, float], after: dict[float, float]) -> tuple[float, float] | None:
    """p50 and p99 in ms of the units between two readings, interpolated inside a bucket as
    Prometheus' histogram_quantile does (so read them to the bucket, 0.5-1-2-5-10-20-50 ms)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None

    def quantile(q: float) -> float:
        rank, lower, below = q * counts[-1], 0.0, 0.0
        for bound, count in zip(bounds, counts):
            if count >= rank:
                if bound == float("inf"):
                    return lower * 1000
                return (lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)) * 1000
            lower, below = bound, count
        return lower * 1000
    return quantile(0.5), quantile(0.99)


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, loop_thread: bool = False) -> float:
    """User + system CPU of a process so far (all its threads: the SQLite commit thread too), or
    of its main thread alone (the event loop's); OSError when it is gone."""
    stat = Path(f"/proc/{pid}/task/{pid}/stat" if loop_thread else f"/proc/{pid}/stat").read_text()
    parts = stat[stat.rindex(")") + 2:].split()
    return (int(parts[11]) + int(parts[12])) / TICK


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (/proc/stat)."""
    jiffies = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    idle = jiffies[3] + jiffies[4]  # idle, iowait
    return (sum(jiffies) - idle) / TICK, sum(jiffies) / TICK


def postgres_cpu() -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL server process on this machine, by pid (its backends
    serve the switch: their CPU is the database's share of a payment)."""
    out = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == "postgres":
                out[int(proc.name)] = cpu_seconds(int(proc.name))
        except OSError:  # gone meanwhile
            continue
    return out


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two postgres_cpu() readings (a process started meanwhile counts whole)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


class Profile:
    """A profile of the server process during a measurement; prints where its time goes.

    perf when it can record here (tests/bench/perf_profile.py: the compiled hot path by name, summed
    up by layer); py-spy otherwise, which sees Python frames only."""

    def __init__(self, folder: str | None, pid: int, label: str, seconds: float, what: str = "payments") -> None:
        self.perf = bool(folder) and perf_profile.perf_usable()
        suffix = "perf" if self.perf else "txt"
        self.out = Path(folder) / f"{label}-{what}.{suffix}" if folder else None
        self.pid, self.seconds = pid, seconds

    async def __aenter__(self) -> None:
        if not self.out:
            return
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if self.perf:  # the load generator's 1 s warm-up comes first: skip it
            command = perf_profile.record_command(self.pid, self.seconds, str(self.out))
            self.spy = await asyncio.create_subprocess_exec(
                "sh", "-c", 'sleep 1 && exec "$@"', "sh", *command,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            return
        self.spy = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(self.pid), "--format",
            "raw", "--threads", "--rate", "100", "--duration", str(int(self.seconds + 1)),
            "--output", str(self.out), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)

    async def __aexit__(self, *exc) -> None:
        if not self.out:
            return
        await self.spy.wait()
        if not self.out.exists():
            print(f"profile {self.out}: not recorded (the profiler exited with {self.spy.returncode})")
            return
        if self.perf:
            text = await asyncio.to_thread(perf_profile.script_text, str(self.out))
            print(f"profile {self.out} (perf, 499 Hz, DWARF call graphs):")
            print("\n".join(perf_profile.summarize(text, self.pid).lines(self.pid)))
            return
        print(f"profile {self.out} (py-spy: Python frames only; compiled functions count in their callers):")
        print("\n".join(summarize(self.out.read_text())))


def summarize(raw: str, top: int = 40) -> list[str]:
    """Inclusive share of samples per function (each counted once per stack), busiest first."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if any("epoll_wait" in f or "select (selectors" in f or "_worker (concurrent" in f and f is frames[-1]
               for f in frames[-1:]):
            continue   # idle
        total += n
        for name in {f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0] + ")" if " (" in f else f
                     for f in frames}:
            inclusive[name] = inclusive.get(name, 0) + n
    busiest = sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]
    return [f"  {n / total:6.1%}  {name}" for name, n in busiest] if total else ["  (no samples)"]


def table(results: dict[str, dict[str, Phase]], rate: float | None) -> list[str]:
    relay, lite, pg = results.get("relay"), results.get("sqlite"), results.get("postgresql")

    def cell(phases, key, fmt):
        return fmt(phases[key]) if phases and key in phases else "—"

    def ratio(a, b, key, kind):
        if not kind or not (a and b and key in a and key in b):
            return ""
        x, y = a[key], b[key]
        if kind == "cpu":   # the share of b's rate a reaches when CPU is what limits both
            return f"{y.cpu_ms / x.cpu_ms:.2f}" if x.cpu_ms else "—"
        return f"{x.rate / y.rate:.2f}" if y.rate else "—"

    rows = [
        ("postpaid inquiries/s", "inquiry", lambda p: f"{p.rate:,.0f}", "rate"),
        ("prepaid payments/s", "payment", lambda p: f"{p.rate:,.0f}", "rate"),
        ("inquiry p50 / p99 ms", "inquiry", lambda p: f"{p.p50_ms:.1f} / {p.p99_ms:.1f}", None),
        ("payment p50 / p99 ms", "payment", lambda p: f"{p.p50_ms:.1f} / {p.p99_ms:.1f}", None),
        ("CPU ms per inquiry (ratio: inverse)", "inquiry", lambda p: f"{p.cpu_ms:.2f}", "cpu"),
        ("CPU ms per payment (ratio: inverse)", "payment", lambda p: f"{p.cpu_ms:.2f}", "cpu"),
        ("RSS MB after payments", "payment", lambda p: f"{p.rss_mb:.0f}", None),
        ("event-loop thread busy, payments", "payment", lambda p: f"{p.loop_busy:.0%}", None),
        ("machine busy (all processes, all cores), payments", "payment", lambda p: f"{p.machine_busy:.0%}", None),
        ("database server CPU ms per payment", "payment",
         lambda p: "—" if p.label == "relay" else "in process" if p.db_server_cpu_ms is None
         else f"{p.db_server_cpu_ms:.2f}", None),
    ]
    if rate:
        rows += [(f"open loop {rate:,.0f} payments/s: held", "open", lambda p: f"{p.rate:,.0f}", "rate"),
                 ("open loop p50 / p99 ms", "open", lambda p: f"{p.p50_ms:.1f} / {p.p99_ms:.1f}", None),
                 ("open loop: CPU ms per payment", "open", lambda p: f"{p.cpu_ms:.2f}", None),
                 ("open loop: durable unit p50 / p99 ms", "open",
                  lambda p: f"{p.unit_ms[0]:.1f} / {p.unit_ms[1]:.1f}" if p.unit_ms else "—", None),
                 ("open loop: event-loop thread busy", "open", lambda p: f"{p.loop_busy:.0%}", None)]
    head = ["", "relay", "SQLite", "SQLite / relay", "PostgreSQL", "PostgreSQL / SQLite"]
    body = [[name, cell(relay, key, fmt), cell(lite, key, fmt), ratio(lite, relay, key, kind),
             cell(pg, key, fmt), ratio(pg, lite, key, kind)] for name, key, fmt, kind in rows]
    widths = [max(len(str(r[i])) for r in [head] + body) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in body]
    return out + targets(relay, lite, pg, rate)


def measured_targets(relay, lite, pg, rate) -> dict[str, tuple[float, bool]]:
    """Each target of issue 13 this measurement covers: its figure and whether it was met."""
    out = {}
    if relay and lite:
        pay, inq = lite["payment"].rate / relay["payment"].rate, lite["inquiry"].rate / relay["inquiry"].rate
        out["payments >= 0.50 of relay"] = (pay, pay >= 0.5)
        out["inquiries >= 0.70 of relay"] = (inq, inq >= 0.7)
    if lite and "open" in lite:
        o = lite["open"]
        out[f"p99 <= 20 ms at {rate:,.0f}/s"] = (o.p99_ms, o.p99_ms <= 20 and o.rate >= 0.97 * rate)
    if lite and pg:
        r = pg["payment"].rate / lite["payment"].rate
        out["PostgreSQL >= 0.50 of SQLite payments"] = (r, r >= 0.5)
    return out


def targets(relay, lite, pg, rate) -> list[str]:
    out, missed = [], False
    for name, (value, met) in measured_targets(relay, lite, pg, rate).items():
        verdict = "met" if met else "MISSED"
        missed = missed or not met
        if name.startswith("p99"):
            o = lite["open"]
            noise = f"; the relay's own p99 {relay['open'].p99_ms:.1f} ms" if relay and "open" in relay else ""
            out.append(f"target {name}: p99 {value:.1f} ms, rate {o.rate:,.0f}/s {verdict}{noise}")
        else:
            out.append(f"target {name}: {value:.3f} {verdict}")  # 0.499 is not 0.50
        if not met:
            out.append(f"  where it went: {why(name, lite, pg)}")
    if missed:
        out.append("  the profile of each measurement: --profile DIR; what was tried: README, Performance")
    for name, phases in (("relay", relay), ("SQLite", lite), ("PostgreSQL", pg)):
        for key, p in (phases or {}).items():
            if set(p.by_rc) - {"00"}:
                out.append(f"note: {name} {key} answers {p.by_rc}")
    return out


def why(target: str, lite: dict[str, Phase], pg: dict[str, Phase] | None) -> str:
    """The figures of this run that say what held a missed target back."""
    if target.startswith("PostgreSQL") and pg:
        p = pg["payment"]
        server = "—" if p.db_server_cpu_ms is None else f"{p.db_server_cpu_ms:.2f}"
        return (f"the machine {p.machine_busy:.0%} busy; per payment, PostgreSQL's server {server} ms of CPU "
                f"and the switch {p.cpu_ms:.2f} ms")
    key = "open" if target.startswith("p99") else "inquiry" if target.startswith("inquiries") else "payment"
    p = lite[key]
    units = f", durable units p50 / p99 {p.unit_ms[0]:.1f} / {p.unit_ms[1]:.1f} ms" if p.unit_ms else ""
    return (f"the switch's event-loop thread {p.loop_busy:.0%} busy at {p.cpu_ms:.2f} ms of CPU per request"
            f" (the machine {p.machine_busy:.0%}){units}")


def summary(runs: list[dict[str, tuple[float, bool]]]) -> list[str]:
    """Over several runs (--repeat): per target, how many runs met it and the median figure; on a
    noisy machine one run says little."""
    out = [f"over {len(runs)} runs:"]
    for name in runs[0] if runs else []:
        seen = sorted(run[name][0] for run in runs if name in run)
        met = sum(run[name][1] for run in runs if name in run)
        digits = 1 if name.startswith("p99") else 3  # ms; a ratio of 0.499 is not 0.50
        out.append(f"  target {name}: met in {met} of {len(seen)} runs, median {statistics.median(seen):.{digits}f}"
                   f" (from {seen[0]:.{digits}f} to {seen[-1]:.{digits}f})")
    return out
