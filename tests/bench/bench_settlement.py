"""Settlement at scale: a business date of 1,000,000 payments in a SQLite file.

    python tests/bench/bench_settlement.py [--rows N] [--dir DIR]

Generates the payments (batched inserts through the storage layer), then times: the 0500 totals
alone (one aggregate query), the settlement pass (totals + RCN/CTL files + commissions due, paged
reads), writing and reading a bank file of the same size, the pure merge comparison, and the whole
recon (the switch's side regenerated from the database, the bank's file streamed). Prints figures;
asserts nothing (they depend on the machine).
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from switch.ledger.storage.sqlite import SqliteDatabase  # noqa: E402
from switch.settlement.files import read_rcn, write_rcn  # noqa: E402
from switch.settlement.recon import compare, reconcile_files  # noqa: E402
from switch.settlement.day import build_day  # noqa: E402
from switch.settlement.progress import progress_bar  # noqa: E402
from switch.wire.field48 import (NontaglisInfo, PostpaidBill, PostpaidInfo, PrepaidInfo,  # noqa: E402
                                 PrepaidSale, build_response)

DAY, BANK = "2026-11-24", "BANKA"
SHARES = {"PLNPST": 150000, "PLNPRA": 100000, "PLNNTL": 200000}
COLUMNS = ("txn_id", "kind", "terminal_id", "agent_id", "mti", "stan", "f7", "proc_code", "product", "customer",
           "amount", "request_hash", "state", "rc", "bank_id", "bank_stan", "rrn", "business_date", "request",
           "response", "bank_response", "node_id", "created_at", "updated_at")
ROWS_PER_STATEMENT = 1000   # 24 columns: well under SQLite's bound-variable limit
STATEMENTS_PER_UNIT = 20    # one commit per 20,000 rows
# how a day's payments end: mostly approved, a few reversed, declined, void or still pending
STATES = [("approved", 9600), ("reversed", 100), ("declined", 200), ("void", 50), ("reversing", 50)]


def field48_templates() -> dict[str, list[str]]:
    def postpaid(n: int) -> str:
        bills = tuple(PostpaidBill(f"2026{m:02d}", f"2026{m:02d}20", f"2026{m:02d}01", 187500, 0, 1000, 1100)
                      for m in range(11 - n, 11))
        return build_response(PostpaidInfo("532110000123", "SITI AMINAH", "R1", 1300, n, 3000, bills,
                                           "0BAG210Z9Y8X7W6V5U4T3S2R1Q0P9O8N"))
    sale = PrepaidSale("0BAG210Z9Y8X7W6V5U4T3S2R1Q0P9O8N", "12345678901234567890", 3364, 0, 0, 4520, 0, 45480)
    return {"PLNPST": [postpaid(n) for n in (1, 2, 3)],
            "PLNPRA": [build_response(PrepaidInfo("12345678901", "12345678901", "532110000777", "BUDI", "R1", 900,
                                                  2500, sale))],
            "PLNNTL": [build_response(NontaglisInfo("5321100001234", "PASANG BARU", "RUDI", "20261120", 1515000,
                                                    3000, "0BAG210Z9Y8X7W6V5U4T3S2R1Q0P9O8N"))]}


def payment_row(i: int, rng: random.Random, templates: dict[str, list[str]]) -> tuple:
    product = rng.choices(("PLNPST", "PLNPRA", "PLNNTL"), (70, 25, 5))[0]
    state = rng.choices([s for s, _ in STATES], [w for _, w in STATES])[0]
    approved = state in ("approved", "reversed")
    field48 = rng.choice(templates[product])
    amount = rng.randrange(20_000, 2_000_000) * 100
    rrn, stan = f"{i:012d}", f"{(i // 1000) % 999999 + 1:06d}"
    answer = {"39": "00" if approved else "05", "37": rrn}
    if approved:
        answer.update({"38": "A1B2C3", "48": field48})
    bank_response = json.dumps(answer)
    stamp = f"2026-11-24T{(i // 3600000) % 24:02d}:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z"
    return (i, "payment", f"T{i % 1000:07d}", f"AGT{i % 5000:012d}", "0200", stan, "1124100000", "500000", product,
            "532110000123", amount, rrn, state, answer["39"], BANK, f"{i % 999999 + 1:06d}", rrn, DAY,
            '{"11": "%s"}' % stan, bank_response, bank_response, "bench", stamp, stamp)


async def generate(db: SqliteDatabase, rows: int) -> None:
    rng, templates = random.Random(20261124), field48_templates()
    marks = "(" + ",".join("?" * len(COLUMNS)) + ")"
    sql_head = f"INSERT INTO txns ({', '.join(COLUMNS)}) VALUES "
    per_unit = ROWS_PER_STATEMENT * STATEMENTS_PER_UNIT
    with progress_bar("generating payments", rows, force=True) as bar:
        for start in range(1, rows + 1, per_unit):
            stop = min(start + per_unit, rows + 1)
            batch = [payment_row(i, rng, templates) for i in range(start, stop)]

            async def work(tx, batch=batch):
                for first in range(0, len(batch), ROWS_PER_STATEMENT):
                    chunk = batch[first:first + ROWS_PER_STATEMENT]
                    await tx.execute(sql_head + ",".join([marks] * len(chunk)),
                                     *[value for row in chunk for value in row])
            await db.unit(work)
            bar.advance(len(batch))
    await db.unit(lambda tx: tx.execute("INSERT INTO business_days (business_date, state, opened_at)"
                                        " VALUES (?, 'closed', '2026-11-24T00:00:00.000Z')", DAY))


class LoopWatch:
    """The longest the event loop went without a turn: what a terminal's request could wait while
    a settlement runs inside the switch."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, loop.time() - before - 0.005)


@contextmanager
def timed(label: str, figures: list[tuple[str, float, str]], note: str = ""):
    start = time.perf_counter()
    yield
    figures.append((label, time.perf_counter() - start, note))


def bank_side(switch_lines, rng: random.Random):
    """The bank's view of the same day with a sprinkling of every kind of difference."""
    for line in switch_lines:
        roll = rng.random()
        if roll < 0.0001:
            continue                                            # only at the switch
        if roll < 0.0002:
            yield line._replace(amount=line.amount + 100)       # amount differs
            continue
        yield line
        if roll > 0.9999:
            yield line._replace(rrn=line.rrn + "X")             # only at the bank (sorts right after)


async def run(rows: int, folder: Path) -> None:
    db_path = folder / "bench.db"
    db = SqliteDatabase(str(db_path))
    await db.open()
    figures: list[tuple[str, float, str]] = []
    try:
        if await db.read(lambda tx: tx.fetchval("SELECT COUNT(*) FROM txns")) != rows:
            with timed("generate payments (batched inserts)", figures, f"{rows:,} rows"):
                await generate(db, rows)
        with timed("0500 totals alone (one aggregate query)", figures):
            totals = await db.read(lambda tx: tx.fetchall(
                "SELECT state, COUNT(*) AS n, CAST(SUM(amount) AS BIGINT) AS total FROM txns WHERE kind = 'payment'"
                " AND bank_id = ? AND business_date = ? GROUP BY state", BANK, DAY))
        credits = sum(row["n"] for row in totals if row["state"] in ("approved", "reversed"))
        watch = LoopWatch()
        watcher = asyncio.create_task(watch.run())
        with progress_bar("settlement pass", force=True) as bar:
            with timed("settlement pass: totals + RCN/CTL + commissions", figures, f"{credits:,} lines"):
                day = await build_day(db, BANK, DAY, folder / "switch", SHARES, bar)
        watcher.cancel()
        print(f"longest event-loop stall during the settlement pass: {watch.worst * 1000:.0f} ms")
        switch_file = Path(day.files[0])
        c = day.control
        print(f"0500: 74={c.paid_count} 86={c.paid_amount} 76={c.reversed_count} 88={c.reversed_amount}"
              f" 97={c.net}; commissions due to {len(day.commissions):,} agents")

        with timed("read RCN (streamed, every line parsed)", figures, f"{credits:,} lines"):
            count = sum(1 for _ in read_rcn(switch_file))
        with timed("read RCN + write the bank's RCN/CTL (streamed)", figures, f"{count:,} lines"):
            write_rcn(folder / "bank", BANK, DAY, bank_side(read_rcn(switch_file), random.Random(7)))
        bank_file = folder / "bank" / switch_file.name
        gc.freeze()  # a million lines held in lists: keep the collector from walking them over and over
        lines, bank_lines = list(read_rcn(switch_file)), list(read_rcn(bank_file))
        with timed("compare (pure merge, in memory)", figures, f"{len(lines):,} x {len(bank_lines):,}"):
            result = compare(lines, bank_lines)
        del lines, bank_lines
        gc.unfreeze()
        print("differences:", {k: v for k, v in result.counts.items()})
        with timed("compare two files (streamed)", figures):
            reconcile_files(switch_file, bank_file, BANK, DAY)
        with timed("recon: switch side from the database + compare", figures):
            from switch.settlement.recon import switch_side
            scratch = Path(tempfile.mkdtemp(dir=folder))
            regenerated = await switch_side(db, BANK, DAY, scratch)
            reconcile_files(regenerated, bank_file, BANK, DAY)
    finally:
        await db.close()
    print(f"\n{'step':<52}{'seconds':>9}{'per line µs':>13}  note")
    for label, seconds, note in figures:
        count = int(note.split()[0].replace(",", "")) if note and note.split()[0].replace(",", "").isdigit() else 0
        per = f"{seconds / count * 1e6:.2f}" if count else ""
        print(f"{label:<52}{seconds:>9.2f}{per:>13}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", help="keep the database and files here (reused when it holds --rows rows)")
    args = parser.parse_args()
    if args.dir:
        folder = Path(args.dir)
        folder.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(args.rows, folder))
        return
    with tempfile.TemporaryDirectory(prefix="bench-settlement-") as folder:
        asyncio.run(run(args.rows, Path(folder)))


if __name__ == "__main__":
    main()
