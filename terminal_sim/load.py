"""Load generator: many terminals, many requests in flight, bounded in count and in time.

An operation is one of  inquiry:PRODUCT, pay:PRODUCT (inquiry then payment, timed together),
balance, echo  — drawn from `mix` by weight. Each terminal has one connection (contract §1) on which
several operations run at once, as a busy loket would.
"""
from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .client import TerminalClient
from .journal import Journal
from .results import RC_MEANINGS, Result

TerminalSpec = tuple[str, str, bytes]   # (terminal id, agent id, 16-byte MAC key)

# the contract vectors' customers: they exist on any bank host built to the contract's examples
DEFAULT_CUSTOMERS = {"PLNPST": ["532110000123"], "PLNPRA": ["14234567890"], "PLNNTL": ["5321126110001"]}
DEFAULT_MIX = {"inquiry:PLNPST": 1.0}


@dataclass
class LoadReport:
    operations: int
    elapsed_s: float
    by_rc: dict[str, int]
    latencies_ms: list[float] = field(repr=False)   # sorted
    by_operation: dict[str, int] = field(default_factory=dict)

    @property
    def tps(self) -> float:
        return self.operations / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile in milliseconds (0 when nothing ran)."""
        if not self.latencies_ms:
            return 0.0
        rank = max(1, -(-len(self.latencies_ms) * p // 100))
        return self.latencies_ms[int(rank) - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p90(self) -> float:
        return self.percentile(90)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def max(self) -> float:
        return self.latencies_ms[-1] if self.latencies_ms else 0.0

    def lines(self) -> list[str]:
        out = [f"operations {self.operations} in {self.elapsed_s:.2f} s: {self.tps:.1f} tps",
               f"latency ms: p50 {self.p50:.1f}  p90 {self.p90:.1f}  p99 {self.p99:.1f}  max {self.max:.1f}"]
        out += [f"  {op}: {n}" for op, n in sorted(self.by_operation.items())]
        out += [f"rc {rc}: {n}  ({RC_MEANINGS.get(rc, '?')})" for rc, n in sorted(self.by_rc.items())]
        return out

    def as_dict(self) -> dict:
        return {"operations": self.operations, "elapsed_s": round(self.elapsed_s, 3),
                "tps": round(self.tps, 1), "p50_ms": round(self.p50, 2), "p90_ms": round(self.p90, 2),
                "p99_ms": round(self.p99, 2), "max_ms": round(self.max, 2), "by_rc": self.by_rc,
                "by_operation": self.by_operation}


@dataclass
class _Plan:
    total: int
    deadline: float
    mix: list[tuple[str, float]]
    customers: dict[str, list[str]]
    denomination: int
    rng: random.Random
    issued: int = 0

    def next(self) -> tuple[int, str] | None:
        if self.issued >= self.total or time.monotonic() >= self.deadline:
            return None
        ticket, self.issued = self.issued, self.issued + 1
        ops, weights = zip(*self.mix)
        return ticket, self.rng.choices(ops, weights)[0]


async def run_load(host: str, port: int, terminals: Sequence[TerminalSpec], total: int, concurrency: int,
                   mix: dict[str, float] | None = None, customers: dict[str, list[str]] | None = None,
                   max_seconds: float = 300.0, denomination: int = 20_000, progress: bool = True,
                   tls: ssl.SSLContext | None = None, timeout: float = 60.0, seed: int | None = None,
                   journal: Journal | None = None, console: Console | None = None) -> LoadReport:
    """Run `total` operations (or until max_seconds) with `concurrency` in flight, spread round-robin
    over the terminals' connections. Prints a progress bar (stderr) unless progress=False."""
    if total < 0 or concurrency < 1 or not terminals:
        raise ValueError("total >= 0, concurrency >= 1 and at least one terminal are needed")
    mix = mix or DEFAULT_MIX
    _check_mix(mix)
    shared = journal if journal is not None else Journal(None)
    clients = [TerminalClient(host, port, tid, agent, key, shared, tls=tls, timeout=timeout)
               for tid, agent, key in terminals]
    plan = _Plan(total, time.monotonic() + max_seconds, [(op, float(w)) for op, w in mix.items()],
                 {**DEFAULT_CUSTOMERS, **(customers or {})}, denomination, random.Random(seed))
    latencies: list[float] = []
    by_rc: Counter[str] = Counter()
    by_op: Counter[str] = Counter()
    try:
        for client in clients:
            await client.connect()
            await client.sign_on()
        bar = _progress(progress, total, console)
        with bar:
            task = bar.add_task("load", total=total)
            started = time.perf_counter()

            async def worker() -> None:
                while (job := plan.next()) is not None:
                    ticket, op = job
                    t0 = time.perf_counter()
                    result = await _operate(clients[ticket % len(clients)], op, ticket, plan)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    by_rc[result.rc] += 1
                    by_op[op] += 1
                    bar.advance(task)

            await asyncio.gather(*(worker() for _ in range(min(concurrency, max(total, 1)))))
            elapsed = time.perf_counter() - started
    finally:
        for client in clients:
            await client.close()
    return LoadReport(len(latencies), elapsed, dict(by_rc), sorted(latencies), dict(by_op))


async def _operate(client: TerminalClient, op: str, ticket: int, plan: _Plan) -> Result:
    if op == "balance":
        return await client.balance_inquiry()
    if op == "echo":
        return await client.echo()
    kind, product = op.split(":", 1)
    numbers = plan.customers[product]
    customer = numbers[ticket % len(numbers)]
    if kind == "inquiry":
        return await client.inquiry(product, customer)
    return await client.pay(product, customer, plan.denomination if product == "PLNPRA" else None)


def _check_mix(mix: dict[str, float]) -> None:
    for op, weight in mix.items():
        kind, _, product = op.partition(":")
        plain = op in ("balance", "echo")
        if not plain and (kind not in ("inquiry", "pay") or product not in DEFAULT_CUSTOMERS):
            raise ValueError(f"unknown load operation {op!r}: use inquiry:PRODUCT, pay:PRODUCT, balance, echo")
        if weight < 0:
            raise ValueError(f"weight of {op} must not be negative")
    if sum(mix.values()) <= 0:
        raise ValueError("the mix needs a positive weight")


def _progress(enabled: bool, total: int, console: Console | None) -> Progress:
    return Progress(TextColumn("[bold]load"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console or Console(stderr=True), disable=not enabled, transient=False)
