"""The storage door: atomic, durable units on SQLite (group commit) and PostgreSQL."""
from __future__ import annotations

import asyncio
import sqlite3
import sys
import textwrap

import pytest

from switch.ledger.storage import DuplicateKey, StorageError, open_database
from switch.ledger.storage.postgres import PostgresDatabase, inline_values, rewrite_placeholders
from switch.ledger.storage.sqlite import SqliteDatabase


def insert_counter(name: str, value: int = 0):
    async def work(tx):
        return await tx.execute("INSERT INTO counters (name, value) VALUES (?, ?)", name, value)
    return work


async def counter_names(db) -> list[str]:
    rows = await db.read(lambda tx: tx.fetchall("SELECT name FROM counters ORDER BY name"))
    return [row["name"] for row in rows]


# -- SQLite group commit ------------------------------------------------------------------------

async def test_units_arriving_together_share_a_few_commits(tmp_path):
    db = SqliteDatabase(str(tmp_path / "g.db"))
    await db.open()
    try:
        await asyncio.gather(*(db.unit(insert_counter(f"c{i:03}")) for i in range(300)))
        assert db.units == 300
        assert db.commits <= 30  # one fsync serves many units
        assert len(await counter_names(db)) == 300
    finally:
        await db.close()


async def test_a_unit_returns_only_once_its_commit_is_visible_to_another_connection(tmp_path):
    path = str(tmp_path / "d.db")
    db = SqliteDatabase(path)
    await db.open()
    outsider = sqlite3.connect(path)
    seen_at_return: list[bool] = []

    async def one(i: int) -> None:
        await db.unit(insert_counter(f"c{i:03}"))
        row = outsider.execute("SELECT 1 FROM counters WHERE name = ?", (f"c{i:03}",)).fetchone()
        seen_at_return.append(row is not None)

    try:
        await asyncio.gather(*(one(i) for i in range(100)))
        assert seen_at_return == [True] * 100
    finally:
        outsider.close()
        await db.close()


async def test_read_does_not_see_a_batch_before_its_commit(tmp_path):
    db = SqliteDatabase(str(tmp_path / "r.db"))
    await db.open()
    inside = asyncio.Event()
    release = asyncio.Event()

    async def slow(tx):
        await tx.execute("INSERT INTO counters (name, value) VALUES ('late', 1)")
        inside.set()
        await release.wait()

    try:
        writing = asyncio.create_task(db.unit(slow))
        await inside.wait()
        assert await counter_names(db) == []  # written but not committed
        release.set()
        await writing
        assert await counter_names(db) == ["late"]
    finally:
        await db.close()


async def test_read_refuses_to_write(tmp_path):
    db = SqliteDatabase(str(tmp_path / "q.db"))
    await db.open()
    try:
        with pytest.raises(StorageError):
            await db.read(insert_counter("x"))
        assert await counter_names(db) == []
    finally:
        await db.close()


async def test_an_in_memory_database_works_for_units_and_reads():
    db = open_database("sqlite:///:memory:")
    await db.open()
    try:
        await db.unit(insert_counter("m"))
        assert await counter_names(db) == ["m"]
    finally:
        await db.close()


async def test_another_process_can_write_the_same_file_while_this_one_writes(tmp_path):
    path = str(tmp_path / "shared.db")
    db = SqliteDatabase(path)
    await db.open()
    script = textwrap.dedent(f"""
        import asyncio
        from switch.ledger.storage.sqlite import SqliteDatabase
        async def main():
            db = SqliteDatabase({path!r})
            await db.open()
            for i in range(50):
                async def work(tx, i=i):
                    await tx.execute("INSERT INTO counters (name, value) VALUES (?, ?)", f"cli{{i:02}}", i)
                await db.unit(work)
            await db.close()
        asyncio.run(main())
    """)
    try:
        cli = await asyncio.create_subprocess_exec(sys.executable, "-c", script)
        for i in range(50):
            await db.unit(insert_counter(f"srv{i:02}"))
        assert await cli.wait() == 0
        names = await counter_names(db)
        assert len(names) == 100
        assert sum(name.startswith("cli") for name in names) == 50
    finally:
        await db.close()


async def test_sqlite_statements_of_a_unit_share_a_cursor_and_each_completes(tmp_path):
    db = SqliteDatabase(str(tmp_path / "s.db"))
    await db.open()

    async def work(tx):
        inserted = await tx.execute("INSERT INTO ops_flags (kind, detail, created_at) VALUES (?, ?, ?)"
                                    " RETURNING flag_id", "test", "x", "2026-01-01T00:00:00.000Z")
        await tx.defer("INSERT INTO counters (name, value) VALUES (?, ?)", "n", 1)
        rows = await tx.fetchall("SELECT name, value FROM counters")
        changed = await tx.execute("UPDATE counters SET value = value + 1 WHERE name = ?", "n")
        selected = await tx.execute("SELECT name FROM counters")  # a query counts no changed rows
        return inserted, [dict(row) for row in rows], changed, selected, \
            await tx.fetchval("SELECT value FROM counters WHERE name = 'n'")

    try:
        assert await db.unit(work) == (1, [{"name": "n", "value": 1}], 1, 0, 2)
        assert await db.read(lambda tx: tx.fetchval("SELECT COUNT(*) FROM ops_flags")) == 1
    finally:
        await db.close()


async def test_sqlite_runs_in_wal_mode_with_full_sync_and_foreign_keys(tmp_path):
    db = SqliteDatabase(str(tmp_path / "w.db"))
    await db.open()
    try:
        pragmas = await db.unit(lambda tx: tx.fetchone(
            "SELECT (SELECT journal_mode FROM pragma_journal_mode) AS journal,"
            " (SELECT synchronous FROM pragma_synchronous) AS sync,"
            " (SELECT foreign_keys FROM pragma_foreign_keys) AS fk"))
        assert (pragmas["journal"], pragmas["sync"], pragmas["fk"]) == ("wal", 2, 1)
    finally:
        await db.close()


async def test_sqlite_keeps_a_units_savepoint_journal_in_memory_and_still_undoes_a_large_unit_alone(tmp_path):
    """temp_store=MEMORY on the write connection: the journal of a unit's SAVEPOINT never spills to a
    temporary file (a pwrite for every page a unit first touches); rolling back to it still works
    for a unit that touched far more than the 64 KiB SQLite would otherwise keep in memory."""
    db = SqliteDatabase(str(tmp_path / "m.db"))
    await db.open()
    try:
        assert await db.unit(lambda tx: tx.fetchval("SELECT temp_store FROM pragma_temp_store")) == 2

        async def kept(tx):
            await tx.execute("INSERT INTO counters (name, value) VALUES (?, ?)", "kept", 1)

        async def large_then_fails(tx):
            for i in range(3000):  # ~1 MB of rows: hundreds of pages in the savepoint's journal
                await tx.execute("INSERT INTO counters (name, value) VALUES (?, ?)", f"big{i:05}{'x' * 300}", i)
            raise RuntimeError("the unit fails after touching many pages")

        results = await asyncio.gather(db.unit(kept), db.unit(large_then_fails), return_exceptions=True)
        assert results[0] is None and isinstance(results[1], RuntimeError)
        names = await db.read(lambda tx: tx.fetchall("SELECT name FROM counters"))
        assert [row["name"] for row in names] == ["kept"]
    finally:
        await db.close()


# -- both backends ------------------------------------------------------------------------------

async def test_a_unit_that_raises_leaves_nothing_and_spares_the_units_beside_it(db):
    async def failing(i: int):
        async def work(tx):
            await tx.execute("INSERT INTO counters (name, value) VALUES (?, ?)", f"bad{i:02}", i)
            raise RuntimeError("business rule said no")
        return work

    ok = [db.unit(insert_counter(f"ok{i:02}")) for i in range(20)]
    bad = [db.unit(await failing(i)) for i in range(20)]
    results = await asyncio.gather(*ok, *bad, return_exceptions=True)
    assert all(r == 1 for r in results[:20])
    assert all(isinstance(r, RuntimeError) for r in results[20:])
    assert await counter_names(db) == [f"ok{i:02}" for i in range(20)]


async def test_committed_units_survive_closing_and_reopening(open_db):
    first = await open_db()
    await asyncio.gather(*(first.unit(insert_counter(f"c{i}", i)) for i in range(10)))
    await first.close()
    again = await open_db()  # opening creates nothing new and loses nothing
    total = await again.read(lambda tx: tx.fetchval("SELECT CAST(SUM(value) AS BIGINT) FROM counters"))
    assert total == sum(range(10))


async def test_a_duplicate_key_is_reported_and_the_unit_can_carry_on(db):
    await db.unit(insert_counter("taken"))

    async def work(tx):
        with pytest.raises(DuplicateKey):
            await tx.execute("INSERT INTO counters (name, value) VALUES ('taken', 2)")
        await tx.execute("INSERT INTO counters (name, value) VALUES ('free', 3)")
        return await tx.fetchval("SELECT COUNT(*) FROM counters")

    assert await db.unit(work) == 2
    assert await counter_names(db) == ["free", "taken"]


async def test_a_deferred_statement_runs_before_the_next_one_and_commits_with_the_unit(db):
    await db.unit(insert_counter("hot", 0))

    async def work(tx):
        await tx.defer("UPDATE counters SET value = value + ? WHERE name = ?", -5, "hot")
        await tx.defer("UPDATE counters SET value = value -? WHERE name = ?", -7, "hot")  # never `--`
        seen = await tx.fetchval("SELECT value FROM counters WHERE name = ?", "hot")
        await tx.defer("INSERT INTO ops_flags (kind, detail, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                       "test", "it's a '?' -- not a comment", "2026-01-01T00:00:00.000Z")
        return seen

    assert await db.unit(work) == 2
    assert await db.read(lambda tx: tx.fetchval("SELECT value FROM counters WHERE name = 'hot'")) == 2
    assert await db.read(lambda tx: tx.fetchval("SELECT detail FROM ops_flags")) == "it's a '?' -- not a comment"


async def test_a_deferred_statement_that_fails_fails_its_unit_and_leaves_nothing(db):
    async def work(tx):
        await tx.execute("INSERT INTO counters (name, value) VALUES (?, ?)", "first", 1)
        await tx.defer("UPDATE counters SET value = ? WHERE name = ?", None, "first")  # NOT NULL
        return "committed"

    with pytest.raises(StorageError):
        await db.unit(work)
    assert await counter_names(db) == []
    assert await db.unit(insert_counter("after")) == 1  # the connection went back usable


async def test_a_read_refuses_to_write_on_either_backend(db):
    with pytest.raises(StorageError):
        await db.read(insert_counter("x"))
    assert await counter_names(db) == []


async def test_rows_are_mappings_and_execute_counts_changed_rows(db):
    await asyncio.gather(*(db.unit(insert_counter(f"c{i}", i)) for i in range(5)))

    async def work(tx):
        changed = await tx.execute("UPDATE counters SET value = value + ? WHERE value >= ?", 10, 2)
        row = await tx.fetchone("SELECT name, value FROM counters WHERE name = ?", "c4")
        missing = await tx.fetchone("SELECT name FROM counters WHERE name = ?", "nope")
        new_id = await tx.fetchval(
            "INSERT INTO ops_flags (kind, detail, created_at) VALUES (?, ?, ?) RETURNING flag_id",
            "test", "it's a '?' inside quotes", "2026-01-01T00:00:00.000Z")
        return changed, dict(row), missing, new_id

    changed, row, missing, new_id = await db.unit(work)
    assert changed == 3
    assert row == {"name": "c4", "value": 14}
    assert missing is None
    assert isinstance(new_id, int)


async def test_a_unit_cannot_open_a_unit_or_a_read_inside_itself(db):
    async def nested(tx):
        return await db.unit(insert_counter("inner"))

    async def nested_read(tx):
        await tx.execute("INSERT INTO counters (name, value) VALUES ('outer', 1)")
        return await counter_names(db)  # would not see 'outer'

    with pytest.raises(StorageError):
        await db.unit(nested)
    with pytest.raises(StorageError):
        await db.unit(nested_read)
    assert await counter_names(db) == []


async def test_opening_twice_beside_a_running_database_keeps_its_data(open_db):
    first = await open_db()
    await first.unit(insert_counter("kept"))
    second = await open_db()
    assert await counter_names(second) == ["kept"]
    await second.unit(insert_counter("also"))
    assert await counter_names(first) == ["also", "kept"]


# -- PostgreSQL specifics -----------------------------------------------------------------------

def test_placeholders_are_numbered_outside_quotes_and_comments():
    sql = "SELECT '?', \"a?\", ? -- ?\n FROM t /* ? */ WHERE a = ? AND b = 'it''s ?'"
    assert rewrite_placeholders(sql) == \
        "SELECT '?', \"a?\", $1 -- ?\n FROM t /* ? */ WHERE a = $2 AND b = 'it''s ?'"


def test_deferred_values_are_written_as_literals_that_cannot_break_out():
    sql = "UPDATE t SET a = a -?, b = ?, c = ? WHERE d = '?' AND e = ?"
    assert inline_values(sql, [-5, "it's", None, 7]) == \
        "UPDATE t SET a = a -(-5), b = 'it''s', c = NULL WHERE d = '?' AND e = (7)"
    for bad in (1.5, True, b"x", "nul\x00"):
        with pytest.raises(StorageError):
            inline_values("SELECT ?", [bad])
    for values in ([1, 2], []):
        with pytest.raises(StorageError):
            inline_values("SELECT ?", values)


@pytest.mark.postgres
async def test_on_postgresql_deferred_statements_travel_with_the_commit_and_a_read_takes_one_round_trip(open_pg):
    db = await open_pg()
    assert isinstance(db, PostgresDatabase)
    await db.unit(insert_counter("a", 0))

    async def work(tx):
        value = await tx.fetchval("SELECT value FROM counters WHERE name = ?", "a")
        await tx.defer("UPDATE counters SET value = value + ? WHERE name = ?", 1, "a")
        await tx.defer("UPDATE counters SET value = value + ? WHERE name = ?", 2, "a")
        return value

    before = db.round_trips
    assert await db.unit(work) == 0
    assert db.round_trips - before == 3  # BEGIN, the SELECT, both UPDATEs with the COMMIT
    before = db.round_trips
    assert await db.read(lambda tx: tx.fetchval("SELECT value FROM counters WHERE name = 'a'")) == 3
    assert db.round_trips - before == 1  # no BEGIN, no COMMIT


@pytest.mark.postgres
async def test_a_deadlocked_unit_is_run_again_and_both_units_commit(open_pg):
    node_a, node_b = await open_pg(), await open_pg()
    assert isinstance(node_a, PostgresDatabase)
    await node_a.unit(insert_counter("x", 0))
    await node_a.unit(insert_counter("y", 0))
    both_locked = asyncio.Barrier(2)

    def crossing(first: str, second: str):
        attempts = 0

        async def work(tx):
            nonlocal attempts
            attempts += 1
            await tx.execute("UPDATE counters SET value = value + 1 WHERE name = ?", first)
            if attempts == 1:
                await both_locked.wait()  # each holds one row and wants the other's
            await tx.execute("UPDATE counters SET value = value + 1 WHERE name = ?", second)
        return work

    await asyncio.gather(node_a.unit(crossing("x", "y")), node_b.unit(crossing("y", "x")))
    assert node_a.retries + node_b.retries == 1
    rows = await node_a.read(lambda tx: tx.fetchall("SELECT value FROM counters ORDER BY name"))
    assert [row["value"] for row in rows] == [2, 2]


async def test_an_unsupported_database_url_is_refused():
    with pytest.raises(ValueError):
        open_database("mysql://localhost/db")
