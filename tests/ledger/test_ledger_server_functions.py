"""The ledger's PL/pgSQL functions (switch/ledger/units.py, the end of money.py): each is named by a
hash of its whole definition, so a changed statement is a new function and two versions share a
database without replacing each other."""
from __future__ import annotations

import asyncpg
import pytest

from switch.ledger import money, units
from switch.ledger.storage import StorageError, server_function
from switch.ledger.storage.functions import install_missing
from switch.ledger.storage.postgres import PostgresDatabase


def test_a_function_is_named_by_the_hash_of_its_definition():
    one = server_function("ppob_x", "CREATE FUNCTION @name@() RETURNS INT LANGUAGE sql AS 'SELECT 1'")
    two = server_function("ppob_x", "CREATE FUNCTION @name@() RETURNS INT LANGUAGE sql AS 'SELECT 2'")
    assert one.name.startswith("ppob_x_") and len(one.name) == len("ppob_x_") + 12
    assert one.name != two.name
    assert one.ddl == f"CREATE FUNCTION {one.name}() RETURNS INT LANGUAGE sql AS 'SELECT 1'"
    with pytest.raises(ValueError, match="must name its function once"):
        server_function("ppob_x", "CREATE FUNCTION f() RETURNS INT LANGUAGE sql AS 'SELECT 1'")


def test_editing_a_shared_statement_renames_its_functions_and_their_callers(monkeypatch):
    before = {key: f.name for key, f in units.postgres_functions().items()}
    monkeypatch.setattr(money, "UNCOUNT", money.UNCOUNT + " ")  # used by place_hold and release_hold
    after = {key: f.name for key, f in units.postgres_functions().items()}
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {"place_hold", "release_hold", "payment_hold", "answer"}  # not debit_hold
    assert {f.name for f in units.FUNCTIONS} == set(before.values())  # what the switch calls
    assert before["payment_hold"] in units.HOLD_CALL and before["answer"] in units.ANSWER_CALL


@pytest.mark.postgres
async def test_two_versions_of_the_functions_live_in_one_database_and_neither_is_replaced(open_pg, monkeypatch):
    db = await open_pg()
    old = units.postgres_functions()
    monkeypatch.setattr(money, "UNCOUNT", money.UNCOUNT + " ")
    new = units.postgres_functions()
    conn = await asyncpg.connect(db.url)
    try:
        async with conn.transaction():
            await install_missing(conn, list(old.values()))
        async with conn.transaction():
            created = await install_missing(conn, list(new.values()))
        assert set(created) == {new[k].name for k in ("place_hold", "release_hold", "payment_hold", "answer")}
        async with conn.transaction():
            assert await install_missing(conn, [*old.values(), *new.values()]) == []
        for version in (old, new):  # each callable: a release of a payment never held moves nothing
            assert await conn.fetchval(f"SELECT {version['release_hold'].name}(424242, 'now')") is False
        count = await conn.fetchval("SELECT count(*) FROM pg_proc WHERE proname LIKE 'ppob\\_%'"
                                    " AND pronamespace = current_schema()::regnamespace")
        assert count == 5 + 4
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_a_function_that_cannot_be_created_stops_open_in_one_line_naming_it(open_pg):
    db = await open_pg()
    bad = server_function("ppob_broken", "CREATE FUNCTION @name@() RETURNS INT LANGUAGE plpgsql AS $$ BEGIN $$")
    other = PostgresDatabase(db.url)
    other.server_functions = (bad,)
    with pytest.raises(StorageError) as refused:
        await other.open()
    line = str(refused.value)
    assert "\n" not in line and line.startswith(f"postgresql: cannot create the ledger's function {bad.name}: ")
    assert other._pool is None  # closed again: nothing half-open


@pytest.mark.postgres
async def test_the_functions_are_created_when_the_database_opens_not_at_the_first_payment(open_pg):
    db = await open_pg()  # tests/ledger's databases get units.attach, as the switch's do
    names = await db.read(lambda tx: tx.fetchall(
        "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace"))
    assert {f.name for f in units.FUNCTIONS} <= {row["proname"] for row in names}


_REFUSE_LEDGER_FUNCTIONS = """
CREATE FUNCTION refuse_ppob_functions() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() WHERE object_identity LIKE '%ppob\\_%') THEN
        RAISE EXCEPTION 'this database refuses the ledger''s functions';
    END IF;
END $$;
CREATE EVENT TRIGGER refuse_ppob_functions ON ddl_command_end WHEN TAG IN ('CREATE FUNCTION')
    EXECUTE FUNCTION refuse_ppob_functions();
"""


@pytest.mark.postgres
async def test_serve_on_a_database_that_refuses_the_functions_exits_1_in_one_line(tmp_path):
    from switch.config import sample_config
    from tests.e2e.conftest import run
    from tests.support.nodes import fresh_postgres
    from tests.support.processes import free_port
    async with fresh_postgres("ppob_nofn") as url:
        admin = await asyncpg.connect(url)
        await admin.execute(_REFUSE_LEDGER_FUNCTIONS)
        await admin.close()
        config = tmp_path / "switch.toml"
        config.write_text(sample_config(database=url, terminal_listen=f"127.0.0.1:{free_port()}",
                                        metrics_listen=f"127.0.0.1:{free_port()}"))
        done = run("ppob-switch", "serve", "--config", str(config), cwd=tmp_path, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("ppob-switch:")]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ppob-switch: cannot start: postgresql: cannot create the ledger's function ppob_")
    assert "this database refuses the ledger's functions" in lines[0]
