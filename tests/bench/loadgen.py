"""The benchmark's load generator, run as its own process by bench_switch.py.

Terminals connect, sign on, and send postpaid inquiries or prepaid payments; every request is built,
encoded and MACed, and every answer decoded and its MAC checked (what a real terminal costs). Closed
loop: `per_terminal` requests in flight on each connection. Open loop (`rate`): requests leave on a
fixed schedule whatever the answers do, and latency is counted from the scheduled moment, so a
stalled switch shows in the percentiles instead of slowing the load down.

Protocol with the parent: reads a JSON job on stdin, prints "ready" once signed on and warmed up,
waits for a line on stdin, runs, prints one JSON line of results.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from switch.wire import TI, FrameReader, Message, WireError, decode, frame, sign, verify_decoded  # noqa: E402
from switch.wire.field48 import parse_response  # noqa: E402

PREPAID_DENOMINATION = 20_000   # rupiah


class Closed(Exception):
    """The switch closed the terminal's connection: the request gets no answer."""


class Terminal:
    """One TI connection with many requests in flight, matched to answers by STAN."""

    def __init__(self, host: str, port: int, tid: str, agent: str, key: bytes, rng: random.Random) -> None:
        self.host, self.port, self.key = host, port, key
        self.f41, self.f42 = tid.ljust(8), agent.ljust(15)
        start = rng.randrange(1, 1_000_000)   # a random start: phases never repeat a (STAN, field 7)
        self._stans = itertools.chain(range(start, 1_000_000), itertools.cycle(range(1, 1_000_000)))
        self._waiting: dict[str, asyncio.Future] = {}
        self.bad_mac = 0
        self.closed = ""   # why the switch's side of the connection ended ("" while it is open)

    async def connect(self) -> None:
        reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self._reader = asyncio.create_task(self._read(FrameReader(reader, "2B", stall_timeout=None)))
        rc, _ = await self.send("0800", {70: "001"})
        if rc != "00":
            raise RuntimeError(f"sign-on of {self.f41.strip()} answered {rc}")

    async def send(self, mti: str, fields: dict[int, str]) -> tuple[str, Message]:
        stan = f"{next(self._stans):06d}"
        now = time.time()
        fields = {**fields, 7: time.strftime("%m%d%H%M%S", time.gmtime(now)), 11: stan, 41: self.f41}
        if mti == "0200":
            local = time.gmtime(now + 7 * 3600)
            fields.update({12: time.strftime("%H%M%S", local), 13: time.strftime("%m%d", local),
                           18: "6021", 42: self.f42, 49: "360"})
        if self.closed:
            raise Closed(self.closed)
        future = asyncio.get_running_loop().create_future()
        self._waiting[stan] = future
        self.writer.write(frame(sign(Message(mti, fields), self.key, TI), "2B"))
        answer: Message = await future
        return answer.get(39, ""), answer

    async def _read(self, frames: FrameReader) -> None:
        """Until the switch closes the connection; then every request still waiting fails with
        Closed (counted by the caller), instead of an exception no one retrieves."""
        try:
            while True:
                raw = await frames.read_frame()
                msg = decode(raw, TI)
                if not verify_decoded(msg, raw, self.key):
                    self.bad_mac += 1
                future = self._waiting.pop(msg.get(11, ""), None)
                if future is not None and not future.done():
                    future.set_result(msg)
        except (WireError, OSError) as exc:
            self.closed = f"{type(exc).__name__}: {exc}"
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(Closed(self.closed))
        self._waiting.clear()

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        self.writer.close()


class Load:
    def __init__(self, job: dict) -> None:
        self.job = job
        rng = random.Random(job.get("seed"))
        self.terminals = [Terminal(job["host"], job["port"], t["tid"], t["agent"], bytes.fromhex(t["key"]), rng)
                          for t in job["terminals"]]
        self.customers = job["customers"]
        self.amount = ""
        self.latencies: list[float] = []
        self.by_rc: Counter[str] = Counter()
        self._tickets = itertools.count()
        self._due: dict[asyncio.Task, float] = {}

    async def prepare(self) -> None:
        for terminal in self.terminals:
            await terminal.connect()
        if self.job["op"] == "payment":   # the admin fee the bank quotes goes into field 4
            _, answer = await self.terminals[0].send("0200", self._inquiry("PLNPRA", self.customers[0]))
            admin = parse_response(answer[48]).admin_fee if answer.get(39) == "00" else 0
            self.amount = f"{(PREPAID_DENOMINATION + admin) * 100:012d}"
        warm = time.monotonic() + self.job.get("warmup_s", 1.0)
        await self._closed_loop(warm, record=False)

    @staticmethod
    def _inquiry(product: str, customer: str) -> dict[int, str]:
        return {3: "380000", 4: "0" * 12, 48: product + customer.ljust(13)}

    def _request(self, ticket: int) -> dict[int, str]:
        customer = self.customers[ticket % len(self.customers)]
        if self.job["op"] == "inquiry":
            return self._inquiry("PLNPST", customer)
        return {3: "500000", 4: self.amount, 48: "PLNPRA" + customer.ljust(13)}

    async def _one(self, terminal: Terminal, started: float, record: bool) -> bool:
        """One request; False when its connection is closed (counted as "closed", not answered)."""
        ticket = next(self._tickets)
        try:
            rc, _ = await terminal.send("0200", self._request(ticket))
        except Closed:
            self.by_rc["closed"] += 1
            return False
        if record:
            self.latencies.append((time.perf_counter() - started) * 1000)
            self.by_rc[rc] += 1
        return True

    async def _closed_loop(self, until: float, record: bool = True) -> None:
        left = [self.job.get("count") or float("inf") if record else float("inf")]

        async def worker(terminal: Terminal) -> None:
            while time.monotonic() < until and left[0] > 0:
                left[0] -= 1
                if not await self._one(terminal, time.perf_counter(), record):
                    return   # the switch closed this terminal's connection
        await asyncio.gather(*(worker(t) for t in self.terminals for _ in range(self.job["per_terminal"])))

    async def _open_loop(self, until: float, rate: float) -> None:
        tasks: set[asyncio.Task] = set()
        start = time.perf_counter()
        for n in itertools.count():
            due = start + n / rate
            if time.monotonic() >= until:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._one(self.terminals[n % len(self.terminals)], due, True))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            self._due[task] = due
        if tasks:   # answers still owed get as long again as the schedule ran, then count as lost
            await asyncio.wait(tasks, timeout=self.job["seconds"])
        now = time.perf_counter()
        for task in list(tasks):
            task.cancel()
            self.latencies.append((now - self._due[task]) * 1000)   # at least this late
            self.by_rc["unanswered"] += 1
        self._due.clear()

    async def run(self) -> dict:
        self.latencies.clear()
        self.by_rc.clear()
        seconds, rate = self.job["seconds"], self.job.get("rate")
        started = time.perf_counter()
        until = time.monotonic() + seconds
        if rate:
            await self._open_loop(until, rate)
        else:
            await self._closed_loop(until)
        elapsed = time.perf_counter() - started
        self.latencies.sort()
        answered = len(self.latencies) - self.by_rc.get("unanswered", 0)
        return {"operations": answered, "elapsed_s": elapsed, "by_rc": dict(self.by_rc),
                "p50_ms": percentile(self.latencies, 50), "p99_ms": percentile(self.latencies, 99),
                "bad_mac": sum(t.bad_mac for t in self.terminals)}

    async def close(self) -> None:
        for terminal in self.terminals:
            await terminal.close()


def percentile(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return 0.0
    rank = max(1, -(-len(sorted_ms) * p // 100))
    return sorted_ms[int(rank) - 1]


async def main() -> None:
    job = json.loads(sys.stdin.readline())
    load = Load(job)
    await load.prepare()
    loop = asyncio.get_running_loop()
    for _ in range(job.get("rounds", 1)):
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        print(json.dumps(await load.run()), flush=True)
    await load.close()


if __name__ == "__main__":
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
