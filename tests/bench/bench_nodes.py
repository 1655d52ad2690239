"""Payments per second for 1, 2 and 3 `ppob-switch serve` nodes on one PostgreSQL database, side by
side, with the CPU each payment costs: in the switch nodes, in PostgreSQL (the backends serving this
database) and in this process (terminals and the bank). Terminals connect to the nodes round-robin
(or through HAProxy with --haproxy), each of its own agent, keeping --depth payments in flight for --seconds after a
warm-up. Prints a table; asserts nothing. On a 2-core machine the total does not scale with nodes
(they share the cores with PostgreSQL and the load); the CPU columns show what a payment costs.

    python tests/bench/bench_nodes.py [--nodes 1,2,3] [--seconds 15] [--terminals 12] [--depth 4] [--haproxy]
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_report import cpu_seconds  # noqa: E402
from tests.support.bank_answers import good_bank  # noqa: E402
from tests.support.nodes import HAPROXY, Cluster, Haproxy, fresh_postgres, provision  # noqa: E402
from tests.support.peers import ScriptedBank  # noqa: E402
from tests.support.processes import signed_on  # noqa: E402

TOKEN = 20_000_00


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def backend_pids(database: str) -> list[int]:
    import asyncpg
    name = database.rsplit("/", 1)[1]
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                                name)
        return [row["pid"] for row in rows]
    finally:
        await conn.close()


@dataclass
class Figures:
    nodes: int
    payments: int
    seconds: float
    switch_cpu: float
    postgres_cpu: float
    load_cpu: float

    def row(self) -> str:
        per = 1000 / max(self.payments, 1)
        return (f"{self.nodes:>5} | {self.payments:>8} | {self.payments / self.seconds:>10.1f} |"
                f" {self.switch_cpu * per:>17.2f} | {self.postgres_cpu * per:>17.2f} | {self.load_cpu * per:>14.2f}")


HEADER = ("nodes | payments | payments/s | switch CPU ms/pay | PostgreSQL ms/pay | load+bank ms/pay\n"
          "------+----------+------------+-------------------+-------------------+-----------------")


async def measure(count: int, args: argparse.Namespace, workdir: Path) -> Figures:
    peer = ScriptedBank(good_bank)
    port = await peer.listen()
    peer.received = _Discard()  # the bank keeps nothing: a long run must not grow memory
    terminal_ids = [f"T{n:07d}" for n in range(1, args.terminals + 1)]
    async with fresh_postgres("ppob_bench_nodes") as database:
        agents = {t: f"AGT{n:012d}" for n, t in enumerate(terminal_ids, 1)}  # one shop per terminal
        await provision(database, {a: 100_000_000_000 for a in agents.values()}, agents)
        cluster = Cluster(database, workdir, [{"id": "BANKA", "mode": "connect", "address": f"127.0.0.1:{port}",
                                               "products": ["PLNPRA", "PLNPST", "PLNNTL"], "timeout_s": 20,
                                               "reversal_retry_s": 30, "echo_interval_s": 30}], count=count)
        lb = Haproxy([], workdir) if args.haproxy else None
        try:
            await cluster.start()
            ports = itertools.cycle(node.terminal_port for node in cluster.nodes)
            if lb is not None:
                lb.nodes = cluster.nodes
                ports = itertools.repeat(await lb.start())
            terminals = [await signed_on(next(ports), t, agents[t], timeout=60) for t in terminal_ids]
            done = [0]
            stop_at = [time.monotonic() + args.warmup]

            async def pay_loop(terminal, lane: int) -> None:
                n = 0
                while time.monotonic() < stop_at[0]:
                    n += 1
                    answer = await terminal.pay("PLNPRA", f"9{lane:04d}{n:06d}", TOKEN)
                    if answer[39] == "00":
                        done[0] += 1

            lanes = [(t, i * args.depth + d) for i, t in enumerate(terminals) for d in range(args.depth)]
            await asyncio.gather(*(pay_loop(t, lane) for t, lane in lanes))  # warm-up
            nodes, backends = [node.process.pid for node in cluster.nodes], await backend_pids(database)
            before = (sum(map(cpu_s, nodes)), sum(map(cpu_s, backends)), own_cpu_s(), time.monotonic())
            done[0], stop_at[0] = 0, time.monotonic() + args.seconds
            await asyncio.gather(*(pay_loop(t, lane) for t, lane in lanes))
            after = (sum(map(cpu_s, nodes)), sum(map(cpu_s, backends)), own_cpu_s(), time.monotonic())
            for terminal in terminals:
                await terminal.close()
            return Figures(count, done[0], after[3] - before[3], after[0] - before[0], after[1] - before[1],
                           after[2] - before[2])
        finally:
            if lb is not None:
                await lb.stop()
            await cluster.stop()
            await peer.close()


class _Discard(list):
    def append(self, item) -> None:  # noqa: D401 - a list that keeps nothing
        pass


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="1,2,3", help="node counts to measure, comma-separated")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time per node count")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--terminals", type=int, default=12)
    parser.add_argument("--depth", type=int, default=4, help="payments in flight per terminal")
    parser.add_argument("--haproxy", action="store_true", help="terminals connect through HAProxy")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.nodes.split(",")]
    if args.haproxy and HAPROXY is None:
        print("bench_nodes: --haproxy needs Debian's haproxy (apt-get install -y haproxy)", file=sys.stderr)
        return 2
    print(f"{os.cpu_count()} CPUs, {args.terminals} terminals x {args.depth} in flight, {args.seconds:g} s each,"
          f" {'through HAProxy' if args.haproxy else 'round-robin to the nodes'};"
          " PLNPRA payments, bank answers at once")
    print(HEADER, flush=True)
    for count in counts:
        with tempfile.TemporaryDirectory(prefix="bench-nodes-") as folder:
            print((await measure(count, args, Path(folder))).row(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
