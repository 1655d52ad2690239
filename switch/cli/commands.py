"""The admin commands that work on the database directly: agents, their deposits, terminals and keys.
(cutover and settle are handed to the running switch, see admin.py.) Each prints what it did on
stdout, or raises CommandFailed with the one line to print (exit 1)."""
from __future__ import annotations

import argparse
import json
from collections.abc import Collection, Sequence
from typing import Any

from switch.ops.text import rupiah_text


class CommandFailed(Exception):
    """Exit 1 with this line."""


def rupiah(minor: int) -> int | str:
    """An amount for JSON: whole rupiah as an integer; with cents, exact text ('12.50'), never a float."""
    whole, cents = divmod(abs(minor), 100)
    return minor // 100 if cents == 0 else f"{'-' if minor < 0 else ''}{whole}.{cents:02d}"


def table(header: tuple[str, ...], rows: Sequence[tuple[Any, ...]], right: Collection[int] = frozenset()) -> str:
    """Plain columns for the terminal and for pipes alike: nothing is cut, nothing wraps."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = []
    for row in (header, *rows):
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def operator_of(args: argparse.Namespace) -> Any:
    """Who runs this command, for the audit trail: --operator, else the OS user."""
    from switch.ledger.audit import AuditSource, os_user
    from switch.ledger.operations import Operator
    return Operator(getattr(args, "operator", None) or os_user(), AuditSource.CLI)


async def agent_command(args: argparse.Namespace, db: Any) -> int:
    from switch.ledger import accounts, operations
    if args.agent_command == "add":
        return await _agent_add(args, db)
    if args.agent_command == "list":
        return await _agent_list(args, db)
    agent_id = args.agent_id
    if await db.read(lambda tx: accounts.get_agent(tx, agent_id)) is None:
        raise CommandFailed(f"agent {agent_id}: no such agent")
    if args.agent_command == "topup":
        return await _topup(args, db)
    if args.agent_command == "balance":
        return await _balance(args, db)
    if args.agent_command in ("block", "unblock"):
        try:
            await operations.set_agent_blocked(db, operator_of(args), agent_id, args.agent_command == "block")
        except ValueError as exc:
            raise CommandFailed(str(exc))
        print(f"agent {agent_id} {args.agent_command}ed")
        return 0
    if args.agent_command == "statement":
        from switch.settlement.statement_report import statement_command
        return await statement_command(db, args)
    raise CommandFailed(f"unknown agent command {args.agent_command}")


async def _agent_add(args: argparse.Namespace, db: Any) -> int:
    from switch.ledger import operations
    try:
        await operations.add_agent(db, operator_of(args), args.agent_id, args.name, args.daily_limit)
    except ValueError as exc:
        raise CommandFailed(str(exc))
    limit = f", daily limit {rupiah_text(args.daily_limit)}" if args.daily_limit else ""
    print(f"agent {args.agent_id} added ({args.name}{limit})")
    return 0


async def _topup(args: argparse.Namespace, db: Any) -> int:
    from switch.ledger import money, operations
    agent_id, amount, ref = args.agent_id, args.amount, args.ref
    try:
        done = await operations.topup(db, operator_of(args), agent_id, amount, ref)
    except money.BalanceCapExceeded as exc:
        raise CommandFailed(f"agent {agent_id}: a topup of {rupiah_text(amount)} would take the balance"
                            f" {rupiah_text(exc.balance)} past the maximum {rupiah_text(money.MAX_BALANCE)};"
                            " nothing changed")
    except ValueError as exc:
        raise CommandFailed(str(exc))
    ledger, available = done.ledger, done.available
    if done.applied:
        print(f"agent {agent_id}: topped up {rupiah_text(amount)} (ref {ref});"
              f" balance {rupiah_text(ledger)}, available {rupiah_text(available)}")
        return 0
    earlier = await db.read(lambda tx: money.topup_of(tx, ref))
    if earlier is not None and earlier != (agent_id, amount):
        before_agent, before_amount = earlier
        what = (f"amounts differ: ref {ref} was applied with {rupiah_text(before_amount)}, not"
                f" {rupiah_text(amount)}" if before_agent == agent_id
                else f"ref {ref} was already applied to agent {before_agent}")
        raise CommandFailed(f"agent {agent_id}: {what}; nothing changed (use a new --ref for a new transfer)")
    print(f"agent {agent_id}: ref {ref} was already applied; nothing changed"
          f" (balance {rupiah_text(ledger)})")
    return 0


async def _balance(args: argparse.Namespace, db: Any) -> int:
    from switch.ledger import money
    ledger, available = await db.read(lambda tx: money.balances(tx, args.agent_id))
    if args.json:
        print(json.dumps({"agent": args.agent_id, "ledger": rupiah(ledger), "available": rupiah(available)}))
    else:
        print(f"agent {args.agent_id}: ledger {rupiah_text(ledger)}, available {rupiah_text(available)}")
    return 0


async def _agent_list(args: argparse.Namespace, db: Any) -> int:
    from switch.ledger import accounts, money

    async def read(tx):
        return await accounts.list_agents(tx), await money.all_balances(tx)
    agents, balances = await db.read(read)
    listed = []
    for agent in agents:
        ledger, held = balances.get(agent.agent_id, (0, 0))
        listed.append((agent, ledger, held))
    if args.json:
        print(json.dumps([{"agent": a.agent_id, "name": a.name, "balance": rupiah(ledger), "held": rupiah(held),
                           "available": rupiah(ledger - held),
                           "daily_limit": None if a.daily_limit is None else rupiah(a.daily_limit),
                           "blocked": a.blocked} for a, ledger, held in listed]))
        return 0
    if not listed:
        print("no agents (add one with: ppob-switch agent add AGENT --name NAME)")
        return 0
    rows = [(a.agent_id, a.name, rupiah_text(ledger), rupiah_text(held), rupiah_text(ledger - held),
             "none" if a.daily_limit is None else rupiah_text(a.daily_limit), "yes" if a.blocked else "no")
            for a, ledger, held in listed]
    print(table(("agent", "name", "balance", "held", "available", "daily limit", "blocked"), rows, {2, 3, 4, 5}))
    return 0


async def terminal_command(args: argparse.Namespace, db: Any) -> int:
    from switch.ledger import operations
    if args.terminal_command == "list":
        return await _terminal_list(args, db)
    terminal_id, who = args.terminal_id, operator_of(args)
    try:
        if args.terminal_command == "add":
            print(await operations.add_terminal(db, who, terminal_id, args.agent, args.key))
            return 0
        if args.terminal_command == "rekey":
            # printed this once; the old key is refused from the terminal's next message
            print(await operations.rekey_terminal(db, who, terminal_id, args.key))
            return 0
        await operations.set_terminal_blocked(db, who, terminal_id, args.terminal_command == "block")
    except ValueError as exc:
        raise CommandFailed(str(exc))
    print(f"terminal {terminal_id} {args.terminal_command}ed")
    return 0


async def _terminal_list(args: argparse.Namespace, db: Any) -> int:
    from switch.ledger import accounts
    agent = getattr(args, "agent", None)
    terminals = await db.read(lambda tx: accounts.list_terminals(tx, agent))
    if args.json:   # never the key
        print(json.dumps([{"terminal": t.terminal_id, "agent": t.agent_id, "blocked": t.blocked,
                           "created_at": t.created_at} for t in terminals]))
        return 0
    if not terminals:
        print("no terminals" + (f" of agent {agent}" if agent else "")
              + " (add one with: ppob-switch terminal add TERMINAL --agent AGENT)")
        return 0
    rows = [(t.terminal_id, t.agent_id, "yes" if t.blocked else "no", t.created_at) for t in terminals]
    print(table(("terminal", "agent", "blocked", "added (UTC)"), rows))
    return 0


async def keys_command(args: argparse.Namespace, db: Any) -> int:
    from switch.ledger import operations
    rotation = await operations.rotate_master_key(db, operator_of(args))
    print(f"master key rotated: {rotation.old_key_id} -> {rotation.new_key_id};"
          f" {rotation.terminals} terminal key(s) re-sealed; key file {rotation.path}")
    if rotation.retired is not None:
        print(f"the previous master key is kept in {rotation.retired} for restoring older backups;"
              f" destroy it when they are gone. Other nodes: copy the new key file to each")
    return 0


async def handed_over(args: argparse.Namespace, db: Any) -> int:
    """cutover and settle run inside the running switch; this waits for its answer."""
    from switch.admin import AdminError, submit
    payload: dict = {} if args.command == "cutover" else {"date": args.date, "bank": args.bank}
    who = operator_of(args)
    try:
        # a million-payment day settles in well under a minute; leave room on a loaded machine
        result = await submit(db, args.command, payload, timeout_s=600.0, actor=who.actor, source=who.source)
    except AdminError as exc:
        raise CommandFailed(str(exc))
    if args.command == "cutover":
        print(result["closed"])
        return 0
    from switch.settlement.report import print_settlement
    return print_settlement(result)
