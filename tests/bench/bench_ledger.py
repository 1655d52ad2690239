"""Ledger throughput: payments as the flows run them — one unit places the hold, a second debits it.

    python tests/bench/bench_ledger.py [payments] [concurrency]

Prints units/second and payments/second on SQLite (group commit, temp file) and on PostgreSQL
(127.0.0.1:5432, a throw-away schema in database `test`; skipped when it does not answer), plus the
SQLite average batch size (units per fsync). Asserts nothing: the figures depend on the machine's disk.
"""
from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from switch.ledger import accounts, money  # noqa: E402
from switch.ledger.storage import Database  # noqa: E402
from switch.ledger.storage.postgres import PostgresDatabase  # noqa: E402
from switch.ledger.storage.sqlite import SqliteDatabase  # noqa: E402

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
AGENTS = 20
DATE = "2026-03-02"


async def provision(db: Database) -> None:
    async def work(tx):
        for i in range(AGENTS):
            await accounts.add_agent(tx, f"AGT{i:02}", "Toko", None)
            await money.topup(tx, f"AGT{i:02}", money.MAX_TOPUP, f"bench-{i}")
    await db.unit(work)


async def pay(db: Database, txn_id: int) -> None:
    agent = f"AGT{txn_id % AGENTS:02}"
    await db.unit(lambda tx: money.place_hold(tx, txn_id, agent, 150_000_00, DATE, None))
    await db.unit(lambda tx: money.debit_hold(tx, txn_id, "BANKA"))


async def run(db: Database, payments: int, concurrency: int) -> tuple[float, int]:
    await provision(db)
    commits_before = db.commits
    queue = iter(range(1, payments + 1))

    async def worker() -> None:
        for txn_id in queue:
            await pay(db, txn_id)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    problems = await db.read(money.check_books)
    if problems:
        raise SystemExit(f"books do not balance: {problems[:3]}")
    return elapsed, db.commits - commits_before


def report(name: str, payments: int, elapsed: float, commits: int) -> None:
    units = 2 * payments
    print(f"{name:<11} {units / elapsed:>9.0f} units/s  {payments / elapsed:>8.0f} payments/s"
          f"  {commits:>6} commits  avg batch {units / max(commits, 1):6.1f} units")


async def bench_sqlite(payments: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = SqliteDatabase(str(Path(folder) / "bench.db"))
        await db.open()
        try:
            elapsed, commits = await run(db, payments, concurrency)
        finally:
            await db.close()
    report("sqlite", payments, elapsed, commits)


async def bench_postgres(payments: int, concurrency: int) -> None:
    try:
        admin = await asyncpg.connect(PG_URL, timeout=2)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
        print(f"postgresql  skipped ({exc})")
        return
    schema = f"ppob_bench_{secrets.token_hex(4)}"
    await admin.execute(f"CREATE SCHEMA {schema}")
    db = PostgresDatabase(f"{PG_URL}?search_path={schema}")
    try:
        await db.open()
        elapsed, commits = await run(db, payments, concurrency)
        report("postgresql", payments, elapsed, commits)
        print(f"            ({db.retries} units retried after a deadlock/serialization failure)")
    finally:
        await db.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("payments", nargs="?", type=int, default=5000)
    parser.add_argument("concurrency", nargs="?", type=int, default=100)
    args = parser.parse_args()
    payments, concurrency = args.payments, args.concurrency
    print(f"{payments} payments (hold unit + debit unit) over {AGENTS} agents, {concurrency} concurrent")
    await bench_sqlite(payments, concurrency)
    await bench_postgres(payments, concurrency)


if __name__ == "__main__":
    asyncio.run(main())
