"""The ledger's PL/pgSQL functions (switch/ledger/units.py, the end of money.py): each is named by a
hash of its whole definition, so a changed statement is a new function and two versions share a
database without replacing each other."""
from __future__ import annotations

import asyncpg
import pytest

from switch.ledger import money, units
from switch.ledger.storage import server_function
from switch.ledger.storage.postgres import install_missing


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
