"""The terminal's electronic journal: a small SQLite file beside the terminal.

It holds the STAN counter (so a STAN never repeats within a day, across restarts) and every request
and response the terminal exchanged, so a receipt can be reprinted offline and a payment whose
answer never came stays visible as pending until a status request settles it.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

MAX_STAN = 999_999
PENDING, ANSWERED = "pending", "answered"

SCHEMA = """
CREATE TABLE IF NOT EXISTS stan_counter (
    terminal_id TEXT PRIMARY KEY,
    last        INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    terminal_id TEXT NOT NULL,
    stan        TEXT NOT NULL,
    f7          TEXT NOT NULL,
    mti         TEXT NOT NULL,
    proc        TEXT NOT NULL,       -- field 3 ('' for 0800)
    request     TEXT NOT NULL,       -- JSON {field: value}
    sent_at     TEXT NOT NULL,       -- ISO 8601, UTC
    status      TEXT NOT NULL,       -- pending | answered
    rc          TEXT,
    response    TEXT,                -- JSON of the response (or of the status answer that settled it)
    answered_at TEXT,
    note        TEXT
);
CREATE INDEX IF NOT EXISTS messages_key ON messages (terminal_id, stan, f7);
"""


@dataclass(frozen=True)
class Entry:
    """One request of this terminal with whatever answer it got."""
    terminal_id: str
    stan: str
    f7: str
    mti: str
    proc: str
    request: dict[int, str]
    sent_at: datetime
    status: str
    rc: str | None
    response: dict[int, str] | None
    note: str | None

    @property
    def is_payment(self) -> bool:
        return self.mti == "0200" and self.proc == "500000"


class Journal:
    """Journal(path) opens or creates the file; Journal(None) keeps it in memory (load runs, tests)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path).expanduser()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: each statement commits unless inside an explicit BEGIN
        self._db = sqlite3.connect(":memory:" if self.path is None else str(self.path),
                                   isolation_level=None, timeout=10)
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._seed = _time_seed() if self.path is None else 0

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- STAN

    def next_stan(self, terminal_id: str) -> str:
        """The next STAN of this terminal, 000001..999999 then round again; atomic across processes
        sharing the file (BEGIN IMMEDIATE takes the write lock before reading the counter)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute("SELECT last FROM stan_counter WHERE terminal_id = ?",
                                   (terminal_id,)).fetchone()
            stan = (row[0] if row else self._seed) % MAX_STAN + 1
            self._db.execute("INSERT INTO stan_counter (terminal_id, last) VALUES (?, ?) "
                             "ON CONFLICT (terminal_id) DO UPDATE SET last = excluded.last",
                             (terminal_id, stan))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return f"{stan:06d}"

    # ---------------------------------------------------------------- messages

    def record_request(self, terminal_id: str, mti: str, fields: dict[int, str]) -> None:
        self._db.execute(
            "INSERT INTO messages (terminal_id, stan, f7, mti, proc, request, sent_at, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (terminal_id, fields.get(11, ""), fields.get(7, ""), mti, fields.get(3, ""),
             _dump(fields), _now(), PENDING))

    def record_response(self, terminal_id: str, stan: str, f7: str | None, fields: dict[int, str] | None,
                        rc: str | None, note: str | None = None, settled: bool = True) -> None:
        """Store the answer to (terminal, STAN, field 7). settled=False keeps the entry pending (a
        timeout, a response whose MAC failed, a status answer 68) so reprint/status can find it.
        f7=None matches the latest request with that STAN (a late response that did not echo 7)."""
        match = "terminal_id = ? AND stan = ?" + ("" if f7 is None else " AND f7 = ?")
        args = (terminal_id, stan) if f7 is None else (terminal_id, stan, f7)
        self._db.execute(
            "UPDATE messages SET status = ?, rc = ?, response = ?, answered_at = ?, note = ? "
            f"WHERE id = (SELECT max(id) FROM messages WHERE {match})",
            (ANSWERED if settled else PENDING, rc, None if fields is None else _dump(fields), _now(), note,
             *args))

    def find(self, terminal_id: str, stan: str, payments_only: bool = True) -> Entry | None:
        """The latest request of this terminal with this STAN (a payment, unless told otherwise)."""
        where = " AND mti = '0200' AND proc = '500000'" if payments_only else ""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE terminal_id = ? AND stan = ?{where} "
            "ORDER BY id DESC LIMIT 1", (terminal_id, f"{int(stan):06d}" if stan.isdigit() else stan)).fetchone()
        return None if row is None else _entry(row)

    def pending_payments(self, terminal_id: str) -> list[Entry]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE terminal_id = ? AND status = ? AND mti = '0200' "
            "AND proc = '500000' ORDER BY id", (terminal_id, PENDING)).fetchall()
        return [_entry(r) for r in rows]

    def entries(self, terminal_id: str) -> list[Entry]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM messages WHERE terminal_id = ? ORDER BY id",
                                (terminal_id,)).fetchall()
        return [_entry(r) for r in rows]


_COLUMNS = "terminal_id, stan, f7, mti, proc, request, sent_at, status, rc, response, note"


def _entry(row: tuple) -> Entry:
    tid, stan, f7, mti, proc, request, sent_at, status, rc, response, note = row
    return Entry(tid, stan, f7, mti, proc, _load(request), datetime.fromisoformat(sent_at), status, rc,
                 None if response is None else _load(response), note)


def _dump(fields: dict[int, str]) -> str:
    return json.dumps({str(k): v for k, v in sorted(fields.items())})


def _load(text: str) -> dict[int, str]:
    return {int(k): v for k, v in json.loads(text).items()}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _time_seed() -> int:
    # a journal kept in memory has no memory of earlier runs: start where a run begun earlier today
    # is unlikely to be (ten STANs per second of the day so far)
    now = datetime.now(timezone.utc)
    return (now.hour * 3600 + now.minute * 60 + now.second) * 10 % MAX_STAN
