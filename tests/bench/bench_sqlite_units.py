"""The SQL of one prepaid payment, replayed on SQLite without the switch around it: what its two
durable units cost in SQLite itself, and what the write connection's settings and the indexes change.

The statements are those the switch runs for an approved prepaid payment (a trace of
`tests/switch`'s harness): the record with its hold, then the answer with its debit, each unit in a
SAVEPOINT of a batch (BEGIN IMMEDIATE ... COMMIT) as `switch/ledger/storage/sqlite.py` runs them, on
the project's own schema, with `synchronous=FULL` on a real file. Prints the CPU per payment of the
statements alone (on the switch's event-loop thread) and of the COMMIT (the switch's commit thread).

    .venv/bin/python tests/bench/bench_sqlite_units.py [--payments 12000] [--batch 8] [--rounds 2]
"""
from __future__ import annotations

import argparse
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from switch.ledger.storage.schema import schema_sql  # noqa: E402

NOW = "2026-12-07T12:21:10.378Z"
REQUEST = ('{"3":"500000","4":"000002000000","7":"1207122110","11":"000005","12":"122110","13":"1207",'
           '"18":"6021","41":"T0000001","42":"AGT000000000001","48":"PLNPRA14123456789  ","49":"360",'
           '"64":"F8803460E6D6ED70"}')
BANK_REQUEST = REQUEST.replace('"41"', '"32":"90001","37":"000000000004","41"').replace(',"64":"F8803460E6D6ED70"', "")
ANSWER = REQUEST.replace('"64":"F8803460E6D6ED70"', '"62":"Informasi Hubungi Call Center 123"').replace(
    '"48":"PLNPRA14123456789  "', '"38":"A1B2C3","39":"00","48":"PLNPRA14123456789  14123456789532110000777'
    'BUDI SANTOSO             R1  000000900000025000BAG210Z9Y8X7W6V5U4T3S2R1Q0P9O8N123456789012345678900000'
    '0033640000000000000000000000000045200000000000000000045480"')
AGENTS = [f"BENCH{i:010d}" for i in range(20)]


def hold_unit(c: sqlite3.Connection, n: int) -> int:
    agent = AGENTS[n % len(AGENTS)]
    txn_id = c.execute(
        "INSERT INTO txns (kind, terminal_id, agent_id, mti, stan, f7, proc_code, product, customer, amount,"
        " request_hash, state, business_date, original_txn_id, request, node_id, created_at, updated_at)"
        " VALUES ('payment', ?, ?, '0200', ?, '1207122110', '500000', 'PLNPRA', ?, 2000000, ?, 'received',"
        " '2026-12-07', NULL, ?, 'bench', ?, ?) ON CONFLICT (terminal_id, stan, f7, mti) DO NOTHING RETURNING txn_id",
        (f"B{n % 20:07d}", agent, f"{n:08d}", f"14{n % 300:09d}", f"{n * 7919:064x}", REQUEST, NOW, NOW)).fetchone()[0]
    c.execute("INSERT INTO holds (txn_id, agent_id, amount, business_date, state, created_at, updated_at)"
              " VALUES (?, ?, 2000000, '2026-12-07', 'held', ?, ?) ON CONFLICT (txn_id) DO NOTHING RETURNING txn_id",
              (txn_id, agent, NOW, NOW)).fetchone()
    c.execute("INSERT INTO daily_usage (agent_id, business_date, used) VALUES (?, '2026-12-07', 2000000)"
              " ON CONFLICT (agent_id, business_date) DO UPDATE SET used = daily_usage.used + excluded.used", (agent,))
    c.execute("UPDATE accounts SET held = held + 2000000 WHERE account_id = ? AND balance - held >= 2000000",
              (f"agent:{agent}",))
    c.execute("UPDATE txns SET bank_id = 'BANKA', bank_stan = ?, bank_request = ?, rrn = ?, state = 'sent',"
              " updated_at = ? WHERE txn_id = ? AND state IN ('received')",
              (f"{n % 999_999:06d}", BANK_REQUEST, f"{txn_id:012d}", NOW, txn_id))
    return txn_id


def answer_unit(c: sqlite3.Connection, n: int, txn_id: int) -> None:
    agent = f"agent:{AGENTS[n % len(AGENTS)]}"
    c.execute("UPDATE txns SET rc = '00', response = ?, business_date = '2026-12-07', bank_id = 'BANKA',"
              " bank_stan = ?, bank_response = ?, state = 'approved', updated_at = ? WHERE txn_id = ?"
              " AND state IN ('sent')", (ANSWER, f"{n % 999_999:06d}", ANSWER, NOW, txn_id))
    c.execute("UPDATE holds SET state = 'debited', updated_at = ? WHERE txn_id = ? AND state = 'held'"
              " RETURNING agent_id, amount, business_date", (NOW, txn_id)).fetchone()
    entry = c.execute("INSERT INTO entries (kind, ref, agent_id, txn_id, business_date, memo, created_at)"
                      " VALUES ('debit', ?, ?, ?, '2026-12-07', NULL, ?) ON CONFLICT (kind, ref) DO NOTHING"
                      " RETURNING entry_id", (str(txn_id), agent[6:], txn_id, NOW)).fetchone()[0]
    c.execute("INSERT INTO accounts (account_id, kind) VALUES ('bank:BANKA', 'bank') ON CONFLICT (account_id) DO NOTHING")
    c.execute("INSERT INTO postings (entry_id, account_id, amount) VALUES (?, ?, -2000000), (?, 'bank:BANKA', 2000000)"
              " ON CONFLICT DO NOTHING", (entry, agent, entry))
    c.execute("UPDATE accounts SET balance = balance - 2000000, held = held - 2000000 WHERE account_id = ?", (agent,))
    c.execute("UPDATE accounts SET balance = balance + 2000000 WHERE account_id = 'bank:BANKA'")


class Batches:
    """Units in SAVEPOINTs of one write transaction, the COMMIT's CPU counted apart."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn, self.commit_cpu = conn, 0.0

    def run(self, units: list) -> list:
        self.conn.execute("BEGIN IMMEDIATE")
        results = []
        for unit in units:
            self.conn.execute("SAVEPOINT unit")
            results.append(unit())
            self.conn.execute("RELEASE unit")
        started = time.process_time()
        self.conn.execute("COMMIT")
        self.commit_cpu += time.process_time() - started
        return results


def open_file(folder: str, schema: str, temp_store: str, checkpoint: int) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{folder}/replay.db", isolation_level=None)
    conn.execute(f"PRAGMA temp_store = {temp_store}")
    conn.execute(f"PRAGMA wal_autocheckpoint = {checkpoint}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(schema)
    for agent in AGENTS:
        conn.execute("INSERT INTO accounts (account_id, kind, balance) VALUES (?, 'agent', 900000000000000)",
                     (f"agent:{agent}",))
    return conn


def replay(label: str, schema: str, temp_store: str, payments: int, batch: int, checkpoint: int = 1000) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-units-") as folder:
        conn = open_file(folder, schema, temp_store, checkpoint)
        batches = Batches(conn)
        started = time.process_time()
        for first in range(0, payments, batch):
            numbers = range(first, first + batch)
            ids = batches.run([lambda n=n: hold_unit(conn, n) for n in numbers])
            batches.run([lambda n=n, t=t: answer_unit(conn, n, t) for n, t in zip(numbers, ids)])
        total = (time.process_time() - started) / payments * 1e6
        commit = batches.commit_cpu / payments * 1e6
        conn.close()
    print(f"  {label:50} statements {total - commit:6.1f} us  commit {commit:6.1f} us  per payment", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=12_000)
    parser.add_argument("--batch", type=int, default=8, help="units per commit (the switch's group commit)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    schema = schema_sql("sqlite")
    index = r"CREATE INDEX IF NOT EXISTS \w+ ON \w+ \([^)]*\)(?: WHERE [^;]*)?;"
    bare, indexes = re.subn(index, "", schema)
    print(f"one prepaid payment's two units, {args.payments:,} payments in batches of {args.batch}, CPU:")
    for _ in range(args.rounds):
        replay("as the switch runs it (temp_store=MEMORY)", schema, "MEMORY", args.payments, args.batch)
        replay("savepoint journal on a file (temp_store=DEFAULT)", schema, "DEFAULT", args.payments, args.batch)
        replay(f"without the {indexes} secondary indexes", bare, "MEMORY", args.payments, args.batch)
        replay("WAL checkpointed every 10,000 pages, not 1,000", schema, "MEMORY", args.payments, args.batch, 10_000)


if __name__ == "__main__":
    main()
