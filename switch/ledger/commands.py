"""Operator commands handed to a running switch, and the nodes' heartbeats: their SQL.

The CLI writes a command row and polls it; a running node takes it, runs it and writes the result
(switch/admin.py). A heartbeat row per node tells the CLI (and other nodes) who is alive."""
from __future__ import annotations

import json
from typing import Any

from .storage import Tx, fetch_row
from .txns import now_iso


class AdminError(Exception):
    """A command could not be carried out; str() is the one line to print."""


async def beat(tx: Tx, node_id: str, started_at: str) -> None:
    # one upsert: an update-then-insert could lose a race to a second process with the same node id
    await tx.execute("INSERT INTO nodes (node_id, heartbeat_at, started_at) VALUES (?,?,?)"
                     " ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                     node_id, now_iso(), started_at)


async def nodes_alive_since(tx: Tx, since: str) -> list[str]:
    rows = await tx.fetchall("SELECT node_id FROM nodes WHERE heartbeat_at >= ?", since)
    return [row["node_id"] for row in rows]


async def stop_beating(tx: Tx, node_id: str) -> None:
    await tx.execute("DELETE FROM nodes WHERE node_id = ?", node_id)


async def add_command(tx: Tx, command: str, args: dict[str, Any]) -> int:
    return await tx.fetchval(
        "INSERT INTO admin_commands (command, args, state, created_at, updated_at) VALUES (?,?,'new',?,?)"
        " RETURNING command_id", command, json.dumps(args), now_iso(), now_iso())


async def command_outcome(tx: Tx, command_id: int) -> tuple[str, Any]:
    """(state, result decoded or None) of a command: new | taken | done | failed."""
    row = await fetch_row(tx, "SELECT state, result FROM admin_commands WHERE command_id = ?", command_id)
    return row["state"], json.loads(row["result"]) if row["result"] else None


async def new_commands(tx: Tx) -> list[tuple[int, str, dict[str, Any]]]:
    rows = await tx.fetchall(
        "SELECT command_id, command, args FROM admin_commands WHERE state = 'new' ORDER BY command_id")
    return [(row["command_id"], row["command"], json.loads(row["args"])) for row in rows]


async def take_command(tx: Tx, command_id: int, node_id: str) -> bool:
    changed = await tx.execute("UPDATE admin_commands SET state = 'taken', node_id = ?, updated_at = ?"
                               " WHERE command_id = ? AND state = 'new'", node_id, now_iso(), command_id)
    return changed == 1


async def finish_command(tx: Tx, command_id: int, state: str, result: dict[str, Any]) -> None:
    await tx.execute("UPDATE admin_commands SET state = ?, result = ?, updated_at = ? WHERE command_id = ?",
                     state, json.dumps(result), now_iso(), command_id)
