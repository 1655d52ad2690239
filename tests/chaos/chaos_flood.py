"""Flood chaos: the switch runs as a real process (`python -m switch.cli serve`, default overload
limits) between a bank host and well-behaved terminals in this process, which send inquiries at a
steady rate. After a quiet phase, a second process adds one abusive terminal that pipelines
thousands of requests at a time (and reconnects whenever it is cut off) and a flood of idle and
half-open connections (half a length header, or a header and part of a body) from many loopback
addresses. The flood process runs at a lower CPU priority (`--flood-nice`, 10): on a real deployment
the attackers' machines are not the switch's, and on this one a flood that takes the CPU from the
switch and the well-behaved terminals would measure the machine, not the switch. It is still a full
flood: every connection it can open, as fast as it can open them; it outlasts the measured phase.
The script prints the well-behaved terminals' p50 / p99 before and during the flood, what they were
answered, the switch's RSS over time, what the abuser and the flood got, and the switch's
ppob_overload_shed_total counters. Loopback only, bounded in time.

Run: python -m tests.chaos.chaos_flood [--seconds 20] [--terminals 20] [--rate 40]
     [--abusive-requests 5000] [--flood 3000] [--flood-nice 10]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from switch.config import sample_config
from switch.ledger import accounts, money
from switch.ledger.storage import open_database
from switch.wire import TI, FrameReader, Message, decode, frame, sign
from tests.support.bank_answers import good_bank
from tests.support.peers import ContractTerminal, ScriptedBank, now_f7
from tests.support.processes import ROOT, free_port, signed_on

ABUSER = "TABUSE01"
FLOOD_ADDRESSES = 30  # 127.0.1.1 .. 127.0.1.30; well-behaved terminals come from 127.0.0.1
FLOOD_NICE = 10


@dataclass
class Report:
    before_ms: list[float] = field(default_factory=list)
    during_ms: list[float] = field(default_factory=list)
    codes_before: Counter = field(default_factory=Counter)
    codes_during: Counter = field(default_factory=Counter)
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds into the run, MiB)
    abuser: dict = field(default_factory=dict)
    shed: dict[str, float] = field(default_factory=dict)
    alive_after: bool = False
    exit_code: int | None = None

    @staticmethod
    def percentile(values: list[float], share: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")

    def p99(self, phase: str) -> float:
        return self.percentile(self.before_ms if phase == "before" else self.during_ms, 0.99)

    def print(self) -> None:
        for phase, values, codes in (("before", self.before_ms, self.codes_before),
                                     ("during", self.during_ms, self.codes_during)):
            print(f"well-behaved {phase:6}: {len(values):5} answers  p50 {self.percentile(values, 0.5):7.1f} ms"
                  f"  p99 {self.percentile(values, 0.99):7.1f} ms  codes {dict(codes)}")
        ratio = self.p99("during") / self.p99("before") if self.before_ms and self.during_ms else float("nan")
        print(f"p99 during / before: {ratio:.2f}  ({'within' if ratio <= 2 else 'OVER'} the 2x target)")
        rss = [mb for _, mb in self.rss_mb]
        if rss:
            print(f"switch RSS MiB: start {rss[0]:.0f}  peak {max(rss):.0f}  end {rss[-1]:.0f}  over time "
                  + " ".join(f"{t:.0f}s:{mb:.0f}" for t, mb in self.rss_mb[::max(1, len(self.rss_mb) // 12)]))
        print("abuser and flood:", json.dumps(self.abuser, sort_keys=True))
        print("ppob_overload_shed_total:", json.dumps(self.shed, sort_keys=True))
        print(f"switch alive and answering after the flood: {self.alive_after}; exit code on SIGTERM: "
              f"{self.exit_code}")


# ---- the switch process --------------------------------------------------------------------------

async def provision(database: str, terminals: int) -> dict[str, bytes]:
    db = open_database(database)
    await db.open()
    keys: dict[str, bytes] = {}

    async def work(tx) -> None:
        for i in range(terminals + 1):
            terminal_id, agent_id = (f"TGOOD{i:03d}", f"AGTGOOD{i:08d}") if i < terminals else (ABUSER, "AGTABUSE0000001")
            await accounts.add_agent(tx, agent_id, "WARUNG", None)
            key = os.urandom(16)
            await accounts.add_terminal(tx, terminal_id, agent_id, key.hex())
            await money.topup(tx, agent_id, 1_000_000_00, "initial")
            keys[terminal_id] = key
    await db.unit(work)
    await db.close()
    return keys


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def shed_counters(metrics_port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    counters = {}
    for line in text.splitlines():
        if line.startswith("ppob_overload_shed_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            counters[reason] = float(line.rsplit(" ", 1)[1])
    return counters


# ---- well-behaved terminals ----------------------------------------------------------------------

async def steady(terminal: ContractTerminal, interval: float, until: float, sink: list[float],
                 codes: Counter) -> None:
    """One inquiry every `interval` seconds, on a fixed schedule (a slow answer does not slow the next)."""
    next_at = time.monotonic() + interval * (hash(terminal.terminal_id) % 100) / 100

    async def one() -> None:
        started = time.perf_counter()
        try:
            answer = await terminal.inquiry("PLNPST", "532110000123")
            codes[answer[39]] += 1
        except (asyncio.TimeoutError, ConnectionError) as exc:
            codes[type(exc).__name__] += 1
            return
        sink.append((time.perf_counter() - started) * 1000)
    pending = set()
    while next_at < until:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
        next_at += interval
    await asyncio.gather(*pending)


async def run(seconds: float, terminals: int, rate: float, abusive_requests: int, flood: int,
              workdir: Path, limits: dict | None = None, flood_nice: int = FLOOD_NICE) -> Report:
    """`limits`: [terminals] keys to set instead of the defaults (the suite's short run uses small caps)."""
    report = Report()
    bank = ScriptedBank(good_bank)
    bank_port = await bank.listen()
    database = f"sqlite:///{workdir}/switch.db"
    port, metrics_port = free_port(), free_port()
    config = workdir / "switch.toml"
    config.write_text(sample_config(database=database, terminal_listen=f"127.0.0.1:{port}",
                                    metrics_listen=f"127.0.0.1:{metrics_port}",
                                    switch={"settlement_dir": str(workdir)}, terminals=limits,
                                    banks=[{"id": "BANKA", "mode": "connect", "address": f"127.0.0.1:{bank_port}",
                                            "products": ["PLNPST", "PLNPRA", "PLNNTL"], "reconnect_max_s": 1}]))
    keys = await provision(database, terminals)
    switch = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switch.cli", "serve", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    started = time.monotonic()
    try:
        good = [await signed_on(port, f"TGOOD{i:03d}", f"AGTGOOD{i:08d}", keys[f"TGOOD{i:03d}"], timeout=30)
                for i in range(terminals)]
        await asyncio.sleep(1.0)  # the bank link is up once the first sign-on is answered; let it settle
        sampler = asyncio.create_task(sample_rss(switch.pid, started, report))
        interval = terminals / rate
        await asyncio.gather(*(steady(t, interval, time.monotonic() + seconds, report.before_ms, report.codes_before)
                               for t in good))
        abuser = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.chaos.chaos_flood", "--role", "abuser", "--port", str(port),
            "--key", keys[ABUSER].hex(), "--seconds", str(seconds + 4), "--abusive-requests",
            str(abusive_requests), "--flood", str(flood), "--flood-nice", str(flood_nice),
            stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
        # the abuser is at it and the flood at full strength; the flood outlasts the measured phase by
        # 1.5 s, so 'during' measures the flood and not its 3,000 connections closing all at once
        await asyncio.sleep(2.5)
        await asyncio.gather(*(steady(t, interval, time.monotonic() + seconds, report.during_ms, report.codes_during)
                               for t in good))
        out, _ = await asyncio.wait_for(abuser.communicate(), seconds + 60)
        report.abuser = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {"output": "none"}
        sampler.cancel()
        report.shed = await asyncio.to_thread(shed_counters, metrics_port)
        answer = await good[0].inquiry("PLNPST", "532110000123")
        report.alive_after = switch.returncode is None and answer[39] == "00"
        for terminal in good:
            await terminal.close()
    finally:
        if switch.returncode is None:
            switch.send_signal(signal.SIGTERM)
        report.exit_code = await asyncio.wait_for(switch.wait(), 60)
        await bank.close()
    return report


async def sample_rss(pid: int, started: float, report: Report) -> None:
    while True:
        report.rss_mb.append((time.monotonic() - started, rss_mib(pid)))
        await asyncio.sleep(0.5)


# ---- the abuser (its own process, so its work does not delay the well-behaved terminals' clock) --

def request_frames(key: bytes, first_stan: int, count: int) -> bytes:
    local = time.strftime("%H%M%S"), time.strftime("%m%d")
    out = []
    for i in range(count):
        stan = f"{(first_stan + i) % 999999 + 1:06d}"
        msg = Message("0200", {3: "380000", 4: "0" * 12, 7: now_f7(), 11: stan, 12: local[0], 13: local[1],
                               18: "6021", 41: ABUSER, 42: "AGTABUSE0000001", 48: "PLNPST532110000123 ",
                               49: "360"})
        out.append(frame(sign(msg, key, TI), "2B"))
    return b"".join(out)


async def abusive_terminal(port: int, key: bytes, until: float, requests: int, stats: Counter) -> None:
    burst = request_frames(key, 0, requests)
    sign_on = frame(sign(Message("0800", {7: now_f7(), 11: "999999", 41: ABUSER, 70: "001"}), key, TI), "2B")
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.2.1", 0))
        except OSError:
            stats["abuser_connect_failed"] += 1
            await asyncio.sleep(0.1)
            continue
        stats["abuser_connections"] += 1
        writer.write(sign_on + burst)  # thousands in flight at once
        frames = FrameReader(reader, "2B", 4096, stall_timeout=10)
        try:
            while time.monotonic() < until:
                raw = await asyncio.wait_for(frames.read_frame(), max(0.1, until - time.monotonic()))
                stats[f"abuser_rc_{decode(raw, TI).get(39)}"] += 1
        except (asyncio.TimeoutError, TimeoutError):
            pass
        except Exception:
            stats["abuser_cut_off"] += 1
        writer.close()


async def flood_connection(address: str, port: int, kind: str, until: float, stats: Counter) -> None:
    """Holds one idle or half-open connection; when the switch closes or refuses it, opens another."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
        except OSError:
            stats["flood_connect_failed"] += 1
            await asyncio.sleep(0.5)
            continue
        stats["flood_opened"] += 1
        if kind == "half_header":
            writer.write(b"\x00")
        elif kind == "half_body":
            writer.write(b"\x00\x64" + b"0200")
        try:
            if await asyncio.wait_for(reader.read(1), max(0.1, until - time.monotonic())) == b"":
                stats["flood_closed_by_switch"] += 1
        except (asyncio.TimeoutError, TimeoutError):
            stats["flood_held_to_the_end"] += 1
        except ConnectionError:
            stats["flood_closed_by_switch"] += 1
        writer.close()
        await asyncio.sleep(0.2)


async def abuse(port: int, key: bytes, seconds: float, requests: int, flood: int) -> None:
    stats: Counter = Counter()
    until = time.monotonic() + seconds
    kinds = ("idle", "half_header", "half_body")
    abuser = asyncio.create_task(abusive_terminal(port, key, until, requests, stats))
    await asyncio.sleep(1.0)  # the abuser is in before the flood fills the connection slots
    await asyncio.gather(abuser, *(flood_connection(f"127.0.1.{1 + i % FLOOD_ADDRESSES}", port, kinds[i % 3],
                                                    until, stats) for i in range(flood)))
    print(json.dumps(dict(stats)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="length of each phase (before, during)")
    parser.add_argument("--terminals", type=int, default=20, help="well-behaved terminals")
    parser.add_argument("--rate", type=float, default=40, help="their inquiries per second, all together")
    parser.add_argument("--abusive-requests", type=int, default=5000, help="requests the abuser pipelines at once")
    parser.add_argument("--flood", type=int, default=3000, help="idle and half-open connections kept open")
    parser.add_argument("--flood-nice", type=int, default=FLOOD_NICE,
                        help="CPU priority the abuser and flood process lowers itself by (os.nice)")
    parser.add_argument("--role", choices=("run", "abuser"), default="run", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "abuser":
        os.nice(args.flood_nice)
        asyncio.run(abuse(args.port, bytes.fromhex(args.key), args.seconds, args.abusive_requests, args.flood))
        return
    import structlog
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # quiet: the figures are the output
    with tempfile.TemporaryDirectory(prefix="ppob-flood-") as folder:
        report = asyncio.run(run(args.seconds, args.terminals, args.rate, args.abusive_requests, args.flood,
                                 Path(folder), flood_nice=args.flood_nice))
    report.print()
    sys.exit(0 if report.alive_after and report.exit_code == 0 else 1)


if __name__ == "__main__":
    main()
