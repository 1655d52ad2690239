"""The storage door: `open_database(url)` gives a `Database`; work is done in units over a `Tx`.

Portable SQL rules (both backends run the same text):
* `?` placeholders only; pass Python values of the column's type (PostgreSQL is strict: str for TEXT,
  int for BIGINT/INTEGER). A bare `? IS NULL` needs a cast: `CAST(? AS TEXT) IS NULL`.
* SUM() of BIGINT is NUMERIC on PostgreSQL: write `CAST(COALESCE(SUM(x), 0) AS BIGINT)` to get an int.
* New ids: `INSERT ... RETURNING id` with `fetchval`. Upserts: `ON CONFLICT (...) DO NOTHING/UPDATE`.
* Rows: use `row["col"]` (or `dict(row)`); SQLite rows are sqlite3.Row, PostgreSQL rows asyncpg.Record.
* A plain INSERT that hits a unique key raises `DuplicateKey`; the unit stays usable on both backends.
  Any other error inside a unit: let it propagate (on PostgreSQL the transaction is then aborted).
* A statement whose row count nobody needs and that is not expected to fail (a balance move, the
  postings of an entry) goes through `tx.defer(sql, *args)`: it keeps its place in the unit, and on
  PostgreSQL travels with the next statement or the COMMIT in one round trip. Its values must be int,
  str or None (PostgreSQL writes them in as literals).
* A unit may be run more than once on PostgreSQL (retried on serialization failure / deadlock), so
  it must not have side effects outside the Tx, and it must never open another unit.
"""
from __future__ import annotations

from .base import Database, DuplicateKey, Row, StorageError, Tx, fetch_row, open_database, utc_now
from .functions import NAME_HERE, ServerFunction, server_function

__all__ = ["NAME_HERE", "Database", "DuplicateKey", "Row", "ServerFunction", "StorageError", "Tx", "fetch_row",
           "open_database", "server_function", "utc_now"]
