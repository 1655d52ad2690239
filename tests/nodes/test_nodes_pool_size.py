"""A node's PostgreSQL connection pool is sized in the database URL (`?pool_max=N&pool_min=M`,
default 1..10): what max_connections must cover is nodes x pool_max plus the operator's commands."""
from __future__ import annotations

import asyncio

import asyncpg
import pytest

from switch.ledger.storage import StorageError, open_database
from tests.support.nodes import fresh_postgres
from tests.support.postgres import NEEDS_POSTGRES

pytestmark = NEEDS_POSTGRES


async def test_a_node_never_holds_more_connections_than_its_pool_max():
    async with fresh_postgres() as database:
        db = open_database(database + "?pool_max=2&application_name=pool-test")
        await db.open()
        try:
            await asyncio.gather(*(db.read(lambda tx: tx.fetchval("SELECT pg_sleep(0.2)")) for _ in range(8)))
            admin = await asyncpg.connect(database)
            count = await admin.fetchval("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'pool-test'")
            await admin.close()
        finally:
            await db.close()
    assert count == 2  # eight concurrent units queued on two connections (the name reached the driver)


@pytest.mark.parametrize("query", ["pool_max=0", "pool_max=ten", "pool_min=20"])
def test_a_pool_size_that_cannot_work_is_refused_with_one_line(query):
    with pytest.raises(StorageError, match="pool_m"):
        open_database(f"postgresql://postgres@127.0.0.1:5432/x?{query}")
