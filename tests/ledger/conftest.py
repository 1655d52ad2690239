"""Databases for the ledger tests: a temp SQLite file, or a fresh PostgreSQL schema per test.

PostgreSQL tests are marked `postgres` and skipped when 127.0.0.1:5432 does not answer. Each gets its
own schema (`ppob_test_<hex>` in the `test` database, reached through search_path) dropped afterwards.
"""
from __future__ import annotations

import secrets
from typing import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from tests.support.postgres import postgres_answers

from switch.ledger import accounts, keyring, money, units
from switch.ledger.storage import Database
from switch.ledger.storage.postgres import PostgresDatabase
from switch.ledger.storage.sqlite import SqliteDatabase

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=[
        pytest.mark.postgres,
        pytest.mark.skipif(not postgres_answers(), reason="PostgreSQL does not answer on 127.0.0.1:5432"),
    ]),
]

DatabaseFactory = Callable[[], Awaitable[Database]]


async def _factories(backend: str, tmp_path) -> AsyncIterator[DatabaseFactory]:
    opened: list[Database] = []
    schema = f"ppob_test_{secrets.token_hex(6)}"
    if backend == "postgresql":
        admin = await asyncpg.connect(PG_ADMIN_URL)
        await admin.execute(f"CREATE SCHEMA {schema}")
        await admin.close()

    async def factory() -> Database:
        if backend == "sqlite":
            db: Database = SqliteDatabase(str(tmp_path / "ledger.db"))
        else:
            db = units.attach(PostgresDatabase(f"{PG_ADMIN_URL}?search_path={schema}"))
            keyring.configure(db, str(tmp_path / "postgres.master-key"))  # every node: the same file
        await db.open()
        opened.append(db)
        return db

    try:
        yield factory
    finally:
        for db in opened:
            await db.close()
        if backend == "postgresql":
            admin = await asyncpg.connect(PG_ADMIN_URL)
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
            await admin.close()


@pytest.fixture(params=BACKENDS)
async def open_db(request, tmp_path) -> AsyncIterator[DatabaseFactory]:
    """Opens Database objects on one fresh database (call it twice for two nodes/processes)."""
    async for factory in _factories(request.param, tmp_path):
        yield factory


@pytest.fixture
async def open_pg(tmp_path) -> AsyncIterator[DatabaseFactory]:
    """Like open_db, PostgreSQL only (mark the test `postgres`)."""
    if not postgres_answers():
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    async for factory in _factories("postgresql", tmp_path):
        yield factory


@pytest.fixture
async def db(open_db: DatabaseFactory) -> Database:
    return await open_db()


@pytest.fixture
def new_agent() -> Callable[..., Awaitable[str]]:
    """`await new_agent(db, "AGT01", daily_limit=None, deposit=0)` registers an agent (and tops it up)."""
    async def register(db: Database, agent_id: str = "AGT01", daily_limit: int | None = None,
                       deposit: int = 0) -> str:
        async def work(tx):
            await accounts.add_agent(tx, agent_id, f"Toko {agent_id}", daily_limit)
            if deposit:
                await money.topup(tx, agent_id, deposit, f"initial-{agent_id}")
        await db.unit(work)
        return agent_id
    return register
