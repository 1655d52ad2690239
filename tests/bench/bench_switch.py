"""Throughput, latency, CPU and memory of the switch against a plain relay, in one run.

Three processes per measurement: the bank simulator (`ppob-bank-sim`), the system under test
(`ppob-switch serve` on SQLite or PostgreSQL, or the relay of tests/bench/relay.py, which only
decodes and re-encodes each message both ways), and the load generator of tests/bench/loadgen.py
(20 terminals × 4 requests in flight; it builds and MACs every request and checks every answer's
MAC). The bank, the relay and the load generator run from a copy of the tree without compiled
extensions: plain Python, whatever the switch under test runs (see its --version). Prints one
table; asserts nothing.

    python tests/bench/bench_switch.py [--seconds 8] [--rate 1000] [--database postgresql://...]
    python tests/bench/bench_switch.py --soak 1000000        # RSS of the switch every 100,000 payments
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bank_sim.book import Book, Status  # noqa: E402
from switch.ledger import accounts, money  # noqa: E402
from switch.ledger.storage import open_database  # noqa: E402
from switch.config import sample_config  # noqa: E402
from tests.bench.bench_report import (Phase, Profile, cpu_seconds, machine_cpu, measured_targets,  # noqa: E402
                                     postgres_cpu, spent, summary, table, unit_buckets, unit_quantiles)

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
BOOK_SEED, BOOK_SIZE = 1, 1000
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
# The switch's per-terminal overload limits (50/s each by default) would answer most of a 1,000/s
# load from 20 terminals with 91: the bench measures the switch's work, so it lifts them (a bench
# setting only; the defaults stay as they are).
BENCH_LIMITS = {"max_requests_per_s": 1_000_000.0, "max_burst": 1_000_000, "max_in_flight_per_terminal": 1000}


def build_of(root: Path) -> str:
    """'hot path compiled' or 'pure Python': what `python -m switch.cli` runs from `root`."""
    done = subprocess.run([sys.executable, "-m", "switch.cli", "--version"], capture_output=True, text=True,
                          cwd=str(root), env=ENV, timeout=60)
    return done.stdout.strip().rpartition("(")[2].rstrip(")") or "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def wait_port(port: int, process: asyncio.subprocess.Process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.returncode is not None:
            raise RuntimeError(f"process {process.pid} ended with {process.returncode} before listening")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def spawn(*args: str, log: Path | None = None, root: Path = ROOT) -> asyncio.subprocess.Process:
    out = open(log, "ab") if log else asyncio.subprocess.DEVNULL
    # cwd too: `python -m` puts the working directory first on sys.path, before PYTHONPATH, so
    # without it --against would run this tree's switch twice
    return await asyncio.create_subprocess_exec(*args, stdout=out, stderr=out, cwd=str(root),
                                                env={**ENV, "PYTHONPATH": str(root)})


async def stop(process: asyncio.subprocess.Process | None) -> None:
    if process is not None and process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()


@dataclass
class Bed:
    """The bank, the terminals, the customers: shared by every server measured."""
    folder: Path
    bank_port: int
    terminals: list[dict]
    postpaid: list[str]
    prepaid: list[str]
    args: argparse.Namespace
    bank: asyncio.subprocess.Process | None = None

    @property
    def pure(self) -> Path:
        """The copy of the tree that the bank, the relay and the load generator run from."""
        return self.folder / "pure"

    async def load(self, server_pid: int, port: int, op: str, label: str, *, rate: float | None = None,
                   count: int | None = None, rounds: int = 1, on_round=None, metrics_port: int | None = None
                   ) -> Phase:
        """Runs the load generator against `port`; CPU and RSS are read from `server_pid`, and the
        durable units' latency from the switch's /metrics on `metrics_port` (none for the relay)."""
        job = {"host": "127.0.0.1", "port": port, "terminals": self.terminals, "op": op,
               "customers": self.postpaid if op == "inquiry" else self.prepaid,
               "per_terminal": self.args.in_flight, "seconds": 10**6 if count else self.args.seconds,
               "rate": rate, "count": count, "rounds": rounds, "warmup_s": 1.0,
               "seed": secrets.randbelow(2**32)}
        gen = await asyncio.create_subprocess_exec(
            sys.executable, str(self.pure / "tests" / "bench" / "loadgen.py"), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env={**ENV, "PYTHONPATH": str(self.pure)}, cwd=str(self.pure))
        gen.stdin.write((json.dumps(job) + "\n").encode())
        phase = None
        try:
            for n in range(rounds):
                if (await gen.stdout.readline()).strip() != b"ready":
                    raise RuntimeError("the load generator did not start (is the server up?)")
                units0 = await asyncio.to_thread(unit_buckets, metrics_port) if metrics_port else {}
                cpu0, loop0 = cpu_seconds(server_pid), cpu_seconds(server_pid, loop_thread=True)
                machine0, db0 = machine_cpu(), postgres_cpu() if label == "pg" else None
                gen.stdin.write(b"go\n")
                result = json.loads(await gen.stdout.readline())
                units = await asyncio.to_thread(unit_buckets, metrics_port) if metrics_port else {}
                cpu = cpu_seconds(server_pid) - cpu0
                machine = [b - a for a, b in zip(machine0, machine_cpu())]
                db_cpu = None if db0 is None else spent(db0, postgres_cpu())
                loop_busy = (cpu_seconds(server_pid, loop_thread=True) - loop0) / max(result["elapsed_s"], 1e-9)
                ops = max(result["operations"], 1)
                phase = Phase(label, result["operations"], result["elapsed_s"], result["p50_ms"],
                              result["p99_ms"], cpu / ops * 1000, rss_mb(server_pid), result["by_rc"], loop_busy,
                              unit_quantiles(units0, units), machine_busy=machine[0] / max(machine[1], 1e-9),
                              db_server_cpu_ms=None if db_cpu is None else db_cpu / ops * 1000)
                if on_round:
                    on_round(n, phase)
            await gen.wait()
        finally:
            await stop(gen)
        return phase


def copy_pure(folder: Path) -> None:
    """The tree without its compiled extensions: the bank, the relay and the load generator stay
    plain Python whatever the switch under test runs (the relay is the plain baseline)."""
    for name in ("switch", "bank_sim", "terminal_sim", "specs", "tests/bench"):
        shutil.copytree(ROOT / name, folder / "pure" / name, ignore=shutil.ignore_patterns("*.so", "__pycache__"))


async def open_bed(folder: Path, args: argparse.Namespace) -> Bed:
    # a PostgreSQL switch keeps its master key under $XDG_STATE_HOME: the bench's own, not the user's
    os.environ["XDG_STATE_HOME"] = ENV["XDG_STATE_HOME"] = str(folder / "state")
    book = Book.generate(BOOK_SEED, BOOK_SIZE)
    postpaid = [c.idpel for c in book.postpaid.values() if c.status == Status.OK and c.offered][:300]
    prepaid = list(book.prepaid)[:300]
    terminals = [{"tid": f"B{i:07d}", "agent": f"BENCH{i:010d}", "key": secrets.token_hex(16).upper()}
                 for i in range(args.terminals)]
    bed = Bed(folder, free_port(), terminals, postpaid, prepaid, args)
    copy_pure(folder)
    bed.bank = await spawn(sys.executable, "-m", "bank_sim.cli", "--listen", f"127.0.0.1:{bed.bank_port}",
                           "--bank-id", "BANKA", "--seed", str(BOOK_SEED), "--size", str(BOOK_SIZE),
                           log=folder / "bank.log", root=bed.pure)
    await wait_port(bed.bank_port, bed.bank)
    return bed


async def measure_relay(bed: Bed) -> dict[str, Phase]:
    keys = bed.folder / "keys.json"
    keys.write_text(json.dumps(bed.terminals))
    port = free_port()
    relay = await spawn(sys.executable, str(bed.pure / "tests" / "bench" / "relay.py"), "--listen", str(port),
                        "--bank", f"127.0.0.1:{bed.bank_port}", "--keys", str(keys), log=bed.folder / "relay.log",
                        root=bed.pure)
    try:
        await wait_port(port, relay)
        return await measure_server(bed, relay.pid, port, "relay")
    finally:
        await stop(relay)


async def measure_server(bed: Bed, pid: int, port: int, label: str, metrics_port: int | None = None
                         ) -> dict[str, Phase]:
    folder = bed.args.profile if label != "relay" else None
    async with Profile(folder, pid, label, bed.args.seconds, "inquiries"):
        out = {"inquiry": await bed.load(pid, port, "inquiry", label)}
    async with Profile(folder, pid, label, bed.args.seconds):
        out["payment"] = await bed.load(pid, port, "payment", label)
    if bed.args.rate:
        async with Profile(folder, pid, label, bed.args.seconds, "open-loop"):
            out["open"] = await bed.load(pid, port, "payment", label, rate=bed.args.rate,
                                         metrics_port=metrics_port)
    return out


class SwitchUnderTest:
    """`ppob-switch serve` as a process on a fresh database, provisioned with the bench terminals."""

    def __init__(self, bed: Bed, database: str, label: str, root: Path = ROOT) -> None:
        self.bed, self.database, self.label, self.root = bed, database, label, root
        self.port, self.metrics_port = free_port(), free_port()
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> "SwitchUnderTest":
        folder = self.bed.folder / self.label
        folder.mkdir()
        config = folder / "switch.toml"
        config.write_text(sample_config(
            database=self.database, terminal_listen=f"127.0.0.1:{self.port}",
            metrics_listen=f"127.0.0.1:{self.metrics_port}",
            switch={"settlement_dir": str(folder), "node_id": "bench"}, terminals=BENCH_LIMITS,
            banks=[{"id": "BANKA", "mode": "connect", "address": f"127.0.0.1:{self.bed.bank_port}",
                    "products": ["PLNPST", "PLNPRA", "PLNNTL"]}]))
        await self._provision()
        self.process = await spawn(sys.executable, "-m", "switch.cli", "serve", "--config", str(config),
                                   log=folder / "switch.log", root=self.root)
        await wait_port(self.port, self.process)
        await asyncio.sleep(1.0)   # the bank link comes up
        return self

    async def _provision(self) -> None:
        db = open_database(self.database)
        await db.open()
        try:
            for t in self.bed.terminals:
                async def work(tx, t=t):
                    await accounts.add_agent(tx, t["agent"], "BENCH", None)
                    await accounts.add_terminal(tx, t["tid"], t["agent"], t["key"])
                    for n in range(9):   # Rp 9e9: room for a million payments over 20 agents
                        await money.topup(tx, t["agent"], money.MAX_TOPUP, f"bench-{t['agent']}-{n}")
                await db.unit(work)
        finally:
            await db.close()

    async def __aexit__(self, *exc) -> None:
        await stop(self.process)


class FreshPostgres:
    def __init__(self, url: str) -> None:
        self.url, self.name = url, f"ppob_bench_{secrets.token_hex(4)}"

    async def __aenter__(self) -> str:
        import asyncpg
        admin = await asyncpg.connect(self.url)
        await admin.execute(f"CREATE DATABASE {self.name}")
        await admin.close()
        return self.url.rsplit("/", 1)[0] + "/" + self.name

    async def __aexit__(self, *exc) -> None:
        import asyncpg
        admin = await asyncpg.connect(self.url)
        await admin.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        await admin.close()


async def bench(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-switch-") as folder:
        bed = await open_bed(Path(folder), args)
        try:
            if args.soak:
                return await soak(bed, args)
            if args.against:
                return await against(bed, args)
            results: dict[str, dict[str, Phase]] = {}
            runs = []
            for _ in range(args.repeat):
                results["relay"] = await measure_relay(bed)
                if not args.skip_sqlite:
                    async with SwitchUnderTest(bed, f"sqlite:///{folder}/switch-{_}.db", f"sqlite{_}") as sw:
                        results["sqlite"] = await measure_server(bed, sw.process.pid, sw.port, "sqlite",
                                                                   sw.metrics_port)
                if args.database != "none":
                    async with FreshPostgres(args.database) as url:
                        async with SwitchUnderTest(bed, url, f"postgresql{_}") as sw:
                            results["postgresql"] = await measure_server(bed, sw.process.pid, sw.port, "pg",
                                                                           sw.metrics_port)
                print(f"load average {os.getloadavg()[0]:.2f}; {args.terminals} terminals x {args.in_flight} "
                      f"in flight; {args.seconds:g} s per measurement; the switch: {build_of(ROOT)}")
                print("\n".join(table(results, args.rate)), flush=True)
                runs.append(measured_targets(results.get("relay"), results.get("sqlite"), results.get("postgresql"),
                                             args.rate))
            if args.repeat > 1:
                print("\n".join(summary(runs)), flush=True)
        finally:
            await stop(bed.bank)


async def against(bed: Bed, args: argparse.Namespace) -> None:
    """This tree's switch and another's (e.g. the commit before a change) on SQLite (with --skip-sqlite
    on PostgreSQL, a fresh database each), loaded at the same
    time by two load generators: on a shared machine only such a paired comparison says what a change
    bought. CPU per request is the figure to read; the rates share the machine."""
    trees = {"this": ROOT, "other": Path(args.against).resolve()}
    seen: dict[str, list[Phase]] = {}
    postgres = args.skip_sqlite and args.database != "none"  # --skip-sqlite: both on PostgreSQL
    print(f"paired on {'PostgreSQL (a database each)' if postgres else 'SQLite'}; "
          + ", ".join(f"{name}: {build_of(root)}" for name, root in trees.items()))
    for n in range(args.repeat):
        async with contextlib.AsyncExitStack() as stack:
            urls = [await stack.enter_async_context(FreshPostgres(args.database)) if postgres
                    else f"sqlite:///{bed.folder}/{name}{n}.db" for name in trees]
            a = await stack.enter_async_context(SwitchUnderTest(bed, urls[0], f"this{n}", trees["this"]))
            b = await stack.enter_async_context(SwitchUnderTest(bed, urls[1], f"other{n}", trees["other"]))
            for op in ("inquiry", "payment"):
                pair = await asyncio.gather(*(bed.load(sw.process.pid, sw.port, op, name)
                                              for name, sw in (("this", a), ("other", b))))
                for p in pair:
                    seen.setdefault(f"{p.label} {op}", []).append(p)
                    print(f"  {p.label:5} {op:7}: {p.rate:7,.0f}/s  CPU {p.cpu_ms:.2f} ms each  p50 {p.p50_ms:.1f}"
                          f"  p99 {p.p99_ms:.1f} ms  load {os.getloadavg()[0]:.1f}", flush=True)
    for op in ("inquiry", "payment"):
        mid = {}
        for name in trees:
            values = sorted(p.cpu_ms for p in seen[f"{name} {op}"])
            mid[name] = values[len(values) // 2]
        print(f"{op}: median CPU per request this {mid['this']:.2f} ms, other {mid['other']:.2f} ms "
              f"({(mid['other'] - mid['this']) / mid['other']:+.0%} saved)")


async def soak(bed: Bed, args: argparse.Namespace) -> None:
    every = args.soak_every
    async with SwitchUnderTest(bed, f"sqlite:///{bed.folder}/soak.db", "soak") as sw:
        print(f"soak: {args.soak:,} payments, switch RSS every {every:,}; start RSS {rss_mb(sw.process.pid):.1f} MB")

        def report(n: int, phase: Phase) -> None:
            print(f"  {(n + 1) * every:>9,} payments: RSS {phase.rss_mb:6.1f} MB, {phase.rate:,.0f}/s, "
                  f"p99 {phase.p99_ms:.1f} ms, CPU {phase.cpu_ms:.2f} ms each, load {os.getloadavg()[0]:.1f}",
                  flush=True)
        await bed.load(sw.process.pid, sw.port, "payment", "soak", count=every,
                       rounds=max(1, args.soak // every), on_round=report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each measurement")
    parser.add_argument("--terminals", type=int, default=20)
    parser.add_argument("--in-flight", type=int, default=4, help="requests in flight per terminal")
    parser.add_argument("--rate", type=float, help="also an open-loop payment load at this rate per second")
    parser.add_argument("--database", default=DEFAULT_PG,
                        help=f"PostgreSQL server to create a throw-away database on ({DEFAULT_PG}); 'none' skips")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="run the whole table this many times")
    parser.add_argument("--profile", metavar="DIR",
                        help="profile the switch in each measurement: perf, by layer, where it can record; else py-spy")
    parser.add_argument("--against", metavar="TREE", help="instead: compare with the switch of another source tree")
    parser.add_argument("--soak", type=int, metavar="N", help="instead: N payments on SQLite, RSS printed")
    parser.add_argument("--soak-every", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
