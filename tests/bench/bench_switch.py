"""Throughput and latency of the whole switch on this machine: terminals → switch → bank simulator,
in one process over loopback, on SQLite (group commit) or PostgreSQL. Prints figures; asserts nothing.

    python tests/bench/bench_switch.py [--count 3000] [--concurrency 50] [--mix pay] [--database URL]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bank_sim.book import Book  # noqa: E402
from bank_sim.host import BankHost  # noqa: E402
from switch.app import SwitchApp  # noqa: E402
from switch.ledger import accounts, money  # noqa: E402
from switch.cli.demo import demo_config  # noqa: E402
from switch.ops.logging import configure_logging  # noqa: E402
from terminal_sim.load import run_load  # noqa: E402

TRACE = "--trace-memory" in sys.argv
MIXES = {"pay": {"pay:PLNPRA": 1.0}, "inquiry": {"inquiry:PLNPST": 1.0},
         "mixed": {"inquiry:PLNPST": 0.5, "pay:PLNPRA": 0.3, "balance": 0.2}}


async def bench(count: int, concurrency: int, mix: str, database: str | None, terminals: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        book = Book.generate(seed=1, size=500)
        bank = BankHost(book, bank_id="BANKA")
        port = await bank.listen("127.0.0.1", 0)
        config = demo_config(Path(folder), port)
        if database:
            from dataclasses import replace
            config = replace(config, switch=replace(config.switch, database=database))
        app = SwitchApp(config)
        ports = await app.start()
        specs = await provision(app, terminals)
        while not app.svc.router.candidates("PLNPRA"):
            await asyncio.sleep(0.05)
        customers = {"PLNPRA": list(book.prepaid)[:200], "PLNPST": [c for c in book.postpaid][:200]}
        tracemalloc.start() if TRACE else None
        started = time.perf_counter()
        report = await run_load("127.0.0.1", ports.terminals, specs, count, concurrency, mix=MIXES[mix],
                                customers=customers, progress=True)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory() if TRACE else (0, 0)
        commits = getattr(app.db, "commits", None)
        await app.stop()
        await bank.stop()
    print(f"database: {database or 'sqlite (temp file, WAL, synchronous=FULL)'}; mix {mix}; "
          f"{count} operations, concurrency {concurrency}, {terminals} terminals")
    for line in report.lines():
        print("  " + line)
    if commits:
        print(f"  commits: {commits} ({report.operations / commits:.1f} operations per commit)")
    print(f"  wall {elapsed:.1f} s; traced Python memory peak {peak / 1e6:.1f} MB")


async def provision(app: SwitchApp, terminals: int) -> list:
    specs = []
    for i in range(terminals):
        agent, tid = f"BENCH{i:010d}", f"B{i:07d}"

        async def work(tx, agent=agent, tid=tid):
            await accounts.add_agent(tx, agent, "BENCH", None)
            key = await accounts.add_terminal(tx, tid, agent, None)
            await money.topup(tx, agent, money.MAX_TOPUP, f"bench-{agent}")
            return key
        key = await app.db.unit(work)
        specs.append((tid, agent, bytes.fromhex(key)))
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--terminals", type=int, default=10)
    parser.add_argument("--mix", choices=sorted(MIXES), default="pay")
    parser.add_argument("--database", help="postgresql://... (default: a temp SQLite file)")
    parser.add_argument("--trace-memory", action="store_true", help="also trace Python memory (slower)")
    args = parser.parse_args()
    configure_logging(json=True, level="error")
    asyncio.run(bench(args.count, args.concurrency, args.mix, args.database, args.terminals))


if __name__ == "__main__":
    main()
