"""Handing operator commands (cutover, settle) to the running switch, through the database.

The CLI writes a command row and waits; the running `serve` (any node) takes it, carries it out and
writes the result. A heartbeat row per node tells the CLI whether a switch is running at all."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable

import structlog

from switch.ledger import audit, commands
from switch.ledger.audit import AuditAction, AuditSource
from switch.ledger.commands import AdminError
from switch.ledger.storage import Database, Tx

log = structlog.get_logger("admin")

HEARTBEAT_S = 1.0
ALIVE_S = 5.0
Handler = Callable[[dict], Awaitable[dict]]


def _iso_ago(seconds: float) -> str:
    moment = datetime.now(timezone.utc) - timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def beat(db: Database, node_id: str, started_at: str) -> None:
    await db.unit(lambda tx: commands.beat(tx, node_id, started_at))


async def running_nodes(db: Database) -> list[str]:
    return await db.read(lambda tx: commands.nodes_alive_since(tx, _iso_ago(ALIVE_S)))


async def stop_beating(db: Database, node_id: str) -> None:
    await db.unit(lambda tx: commands.stop_beating(tx, node_id))


async def submit(db: Database, command: str, args: dict, timeout_s: float = 120.0, *,
                 actor: str | None = None, source: str = AuditSource.CLI) -> dict:
    """Runs `command` on a running switch and returns its result; AdminError when none runs or it fails.
    `actor` (default: the OS user) and `source` go into the audit record the switch writes."""
    args = {**args, "operator": {"actor": actor or audit.os_user(), "source": str(source)}}
    if not await running_nodes(db):
        raise AdminError(f"{command}: no running switch (start `ppob-switch serve` with this configuration)")
    command_id = await db.unit(lambda tx: commands.add_command(tx, command, args))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state, result = await db.read(lambda tx: commands.command_outcome(tx, command_id))
        if state == "done":
            return result
        if state == "failed":
            raise AdminError(result.get("error", f"{command} failed"))
        await asyncio.sleep(0.2)
    raise AdminError(f"{command}: the running switch did not finish within {timeout_s:g} s")


class AdminPoller:
    """Takes commands written by the CLI and runs them on this node."""

    def __init__(self, db: Database, node_id: str, handlers: dict[str, Handler]) -> None:
        self.db = db
        self.node_id = node_id
        self.handlers = handlers

    async def poll_once(self) -> int:
        waiting = await self.db.read(commands.new_commands)
        for command_id, command, args in waiting:
            if await self.db.unit(lambda tx: commands.take_command(tx, command_id, self.node_id)):
                await self._run(command_id, command, args)
        return len(waiting)

    async def _run(self, command_id: int, command: str, args: dict) -> None:
        operator = args.pop("operator", None) or {}
        handler = self.handlers.get(command)
        try:
            if handler is None:
                raise AdminError(f"{command}: unknown command")
            result, state = await handler(args), "done"
        except AdminError as exc:
            result, state = {"error": str(exc)}, "failed"
        except Exception as exc:  # the operator gets one line; the log has the rest
            log.exception("admin_command_crashed", command=command)
            result, state = {"error": f"{command}: {exc}"}, "failed"
        if state == "failed":   # why, for the operator who reads the log rather than the CLI's line
            log.error("admin_command_failed", command=command, args=args, error=result["error"])
        else:
            log.info("admin_command", command=command, args=args, state=state)

        async def finish(tx: Tx) -> None:
            await commands.finish_command(tx, command_id, state, result)
            if state == "done":  # the record commits with the command's result
                await audit_change(tx, command, operator, result)
        await self.db.unit(finish)


async def audit_change(tx: Tx, command: str, operator: dict, result: dict) -> None:
    """The audit record of a cutover or settlement carried out here for an operator."""
    actor = str(operator.get("actor") or "unknown")
    source = str(operator.get("source") or AuditSource.SWITCH)
    if command == "cutover":
        if not result.get("by_this_command"):
            return  # the date had just closed by itself: this command changed nothing
        await audit.record(tx, actor=actor, source=source, action=AuditAction.CUTOVER, subject=result["closed"],
                           before={"open_business_date": result["closed"]},
                           after={"open_business_date": result["opened"], "closed": result["closed"]})
    elif command == "settle":
        banks = {r["bank"]: {"state": r["state"], "rc": r.get("rc"), "net": r.get("net")}
                 for r in result.get("banks", [])}
        await audit.record(tx, actor=actor, source=source, action=AuditAction.SETTLE, subject=result["date"],
                           before=None, after={"banks": banks, "settled": result.get("settled")})
