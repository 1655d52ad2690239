"""Functions the ledger keeps inside the database (PostgreSQL's one-statement units, see
switch/ledger/units.py), named by what they are: a changed definition is a new name, so a database
shared by nodes of two versions holds both, and one that is there is never replaced."""
from __future__ import annotations

import hashlib
from typing import NamedTuple, Sequence

import asyncpg

from .base import StorageError


class ServerFunction(NamedTuple):
    """A function the ledger keeps inside the database (PostgreSQL's one-statement units): its name
    and its whole CREATE FUNCTION statement. See `server_function`."""
    name: str
    ddl: str


NAME_HERE = "@name@"  # where a server function's DDL template has its own name


def server_function(base: str, template: str) -> ServerFunction:
    """`base` + the first 12 hex digits of the SHA-256 of the DDL `template` (which has its own name
    as NAME_HERE, and its callees' computed names): a changed body, signature or callee is always a
    new function, never a replacement of one that nodes of another version may be calling."""
    if template.count(NAME_HERE) != 1:
        raise ValueError(f"{base}: the DDL must name its function once, as {NAME_HERE}")
    name = f"{base}_{hashlib.sha256(template.encode()).hexdigest()[:12]}"
    return ServerFunction(name, template.replace(NAME_HERE, name))


async def install_missing(conn: asyncpg.Connection, functions: Sequence[ServerFunction]) -> list[str]:
    """Creates those of `functions` not in the current schema yet (the caller holds the schema lock);
    one there already is never replaced: its name is the hash of its definition. Their names."""
    there = {row["proname"] for row in await conn.fetch(
        "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace"
        " AND proname = ANY($1::text[])", [f.name for f in functions])}
    missing = [f for f in functions if f.name not in there]
    for function in missing:
        try:
            await conn.execute(function.ddl)
        except asyncpg.PostgresError as exc:
            raise StorageError(f"postgresql: cannot create the ledger's function {function.name}:"
                               f" {' '.join(str(exc).split())}") from exc
    return [f.name for f in missing]
