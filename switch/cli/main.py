"""`ppob-switch`: the operator's command line (OPERATIONS.md). Exit 0 on success, 2 on a usage or
configuration error (one line naming the option or key), 1 on any other failure (one line)."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import sys
from contextlib import asynccontextmanager
from datetime import date
from typing import Any, AsyncIterator

from switch.config import Config, ConfigError, load_config
from switch.ops.text import rupiah_text


class CommandFailed(Exception):
    """Exit 1 with this line."""


def rupiah_arg(text: str) -> int:
    """A whole-rupiah amount on the command line → minor units."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of rupiah")
    return int(text) * 100


def positive_rupiah_arg(text: str) -> int:
    """A topup: whole rupiah, more than nothing."""
    minor = rupiah_arg(text)
    if minor == 0:
        raise argparse.ArgumentTypeError("must be at least 1 rupiah")
    return minor


def id_arg(what: str, max_len: int):
    """Agent and terminal ids travel space-padded in fields 42 / 41: printable, no spaces. Checked here
    so a bad id is a usage error (exit 2) naming the argument, not a failure."""
    def check(text: str) -> str:
        if not 1 <= len(text) <= max_len or not re.fullmatch(r"[\x21-\x7e]+", text):
            raise argparse.ArgumentTypeError(
                f"{what} id must be 1 to {max_len} printable characters without spaces, got {text!r}")
        return text
    return check


def key_arg(text: str) -> str:
    if not re.fullmatch(r"[0-9A-Fa-f]{32}", text):
        raise argparse.ArgumentTypeError("expected 32 hex characters (a 16-byte MAC key)")
    return text


def text_arg(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def date_arg(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD")


def rupiah(minor: int) -> int | str:
    return minor // 100 if minor % 100 == 0 else f"{minor / 100:.2f}"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ppob-switch", description="PPOB ISO 8583 payment switch")
    agent_id, terminal_id = id_arg("agent", 15), id_arg("terminal", 8)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def with_config(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--config", help="the switch's TOML file (or PPOB_CONFIG)")
        sub.add_argument("--operator", type=text_arg, metavar="NAME",
                         help="who does this, for the audit trail (default: the OS user)")
        return sub

    demo = commands.add_parser("demo", help="switch + simulated bank + simulated terminal, one process")
    demo.add_argument("--keep", metavar="DIR", help="keep the demo's database and files in DIR")
    with_config(commands.add_parser("serve", help="run the switch until SIGTERM/SIGINT"))

    agent = commands.add_parser("agent", help="agents (mitra) and their deposits")
    agent_cmds = agent.add_subparsers(dest="agent_command", required=True, parser_class=Parser)
    add = with_config(agent_cmds.add_parser("add", help="register an agent with an empty deposit"))
    add.add_argument("agent_id", type=agent_id)
    add.add_argument("--name", required=True, type=text_arg)
    add.add_argument("--daily-limit", type=rupiah_arg, metavar="RUPIAH")
    topup = with_config(agent_cmds.add_parser("topup", help="credit the deposit (idempotent by --ref)"))
    topup.add_argument("agent_id", type=agent_id)
    topup.add_argument("amount", type=positive_rupiah_arg, metavar="RUPIAH")
    topup.add_argument("--ref", required=True, type=text_arg)
    balance = with_config(agent_cmds.add_parser("balance", help="ledger and available balance"))
    balance.add_argument("agent_id", type=agent_id)
    balance.add_argument("--json", action="store_true")
    for verb, what in (("block", "block an agent: its terminals get 58"),
                       ("unblock", "let a blocked agent's terminals transact again")):
        sub = with_config(agent_cmds.add_parser(verb, help=what))
        sub.add_argument("agent_id", type=agent_id)
    statement = with_config(agent_cmds.add_parser("statement", help="topups, payments, reversals, commissions"))
    statement.add_argument("agent_id", type=agent_id)
    statement.add_argument("--from", dest="date_from", type=date_arg, required=True)
    statement.add_argument("--to", dest="date_to", type=date_arg, required=True)
    statement.add_argument("--csv", metavar="FILE", help="write CSV here ('-' for stdout)")

    terminal = commands.add_parser("terminal", help="agent terminals and their MAC keys")
    terminal_cmds = terminal.add_subparsers(dest="terminal_command", required=True, parser_class=Parser)
    tadd = with_config(terminal_cmds.add_parser("add", help="register a terminal; prints its MAC key"))
    tadd.add_argument("terminal_id", type=terminal_id)
    tadd.add_argument("--agent", required=True, type=agent_id)
    tadd.add_argument("--key", metavar="HEX32", type=key_arg)
    for verb, what in (("block", "block a terminal: it gets 58"), ("unblock", "unblock a terminal")):
        sub = with_config(terminal_cmds.add_parser(verb, help=what))
        sub.add_argument("terminal_id", type=terminal_id)

    with_config(commands.add_parser("cutover", help="close the open business date now"))
    settle = with_config(commands.add_parser("settle", help="settle a closed business date with the banks"))
    settle.add_argument("--date", type=date_arg, required=True)
    settle.add_argument("--bank")
    recon = with_config(commands.add_parser("recon", help="reconcile a bank's file with the switch's records"))
    recon.add_argument("--bank", required=True)
    recon.add_argument("--date", type=date_arg, required=True)
    recon.add_argument("--file", required=True)
    recon.add_argument("--csv", metavar="FILE", help="also write the differences as CSV")
    audit = with_config(commands.add_parser("audit", help="who changed money or access, when, what"))
    audit.add_argument("--from", dest="date_from", type=date_arg, required=True)
    audit.add_argument("--to", dest="date_to", type=date_arg, required=True)
    audit.add_argument("--csv", metavar="FILE", help="write CSV here ('-' for stdout)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from switch.cli.demo import run_demo
            return run_demo(keep=args.keep)
        config = load_config(getattr(args, "config", None))
        if args.command == "serve":
            return run_serve(config)
        return asyncio.run(run_admin(args, config))
    except ConfigError as exc:
        print(f"ppob-switch: configuration error: {exc}", file=sys.stderr)
        return 2
    except CommandFailed as exc:
        print(f"ppob-switch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# ---- serve ---------------------------------------------------------------------------------------

def run_serve(config: Config) -> int:
    from switch.ops.logging import configure_logging
    configure_logging()
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # uvloop is optional (not on every platform)
        pass
    return asyncio.run(_serve(config))


async def _serve(config: Config) -> int:
    from switch.app import SwitchApp
    from switch.ledger.storage import StorageError
    from switch.ledger.vault import VaultError
    from switch.ops.metrics import Metrics
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = SwitchApp(config, metrics=Metrics())
    try:
        await app.start()
    except (OSError, StorageError, VaultError) as exc:  # a port in use, a database or key file refused
        await _abandon(app)
        print(f"ppob-switch: cannot start: {exc}", file=sys.stderr)
        return 1
    await stop.wait()
    await app.stop()
    return 0


async def _abandon(app: Any) -> None:
    """Undo a start that failed half-way. Its links and database writer must be stopped here: left to
    asyncio.run's final cancellation, a writer caught inside a unit never ends and serve hangs."""
    try:
        await app.stop()
        return
    except Exception:  # stop() expects a whole app; what started can still be closed
        pass
    if app.db is not None:
        with contextlib.suppress(Exception):
            await app.db.close()


# ---- admin commands ------------------------------------------------------------------------------

def say(line: str) -> None:
    print(f"ppob-switch: {line}", file=sys.stderr)


@asynccontextmanager
async def database(config: Config, *, check_keys: bool = False) -> AsyncIterator[Any]:
    """The switch's database with its key ring; `check_keys` checks the master key file first (and
    seals keys still in clear) — commands that touch terminal keys."""
    from switch.ledger import keyring
    from switch.ledger.storage import StorageError, open_database
    from switch.ledger.vault import VaultError
    db = open_database(config.switch.database)
    try:
        await db.open()
    except (StorageError, OSError) as exc:
        raise CommandFailed(f"database {config.switch.database}: {exc}")
    try:
        keyring.configure(db, config.switch.master_key_file, notify=say)
        if check_keys:
            await keyring.start(db)
        yield db
    except VaultError as exc:
        raise CommandFailed(str(exc))
    finally:
        await db.close()


async def run_admin(args: argparse.Namespace, config: Config) -> int:
    async with database(config, check_keys=args.command in ("terminal", "keys")) as db:
        if args.command == "agent":
            return await agent_command(args, db, config)
        if args.command == "terminal":
            return await terminal_command(args, db)
        if args.command in ("cutover", "settle"):
            return await handed_over(args, db)
        if args.command == "recon":
            from switch.settlement.recon import recon_command
            return await recon_command(db, config, args)
        if args.command == "audit":
            from switch.cli.audit_report import audit_command
            return await audit_command(db, config, args)
    raise CommandFailed(f"unknown command {args.command}")


def operator_of(args: argparse.Namespace) -> Any:
    """Who runs this command, for the audit trail: --operator, else the OS user."""
    from switch.ledger.audit import AuditSource, os_user
    from switch.ledger.operations import Operator
    return Operator(getattr(args, "operator", None) or os_user(), AuditSource.CLI)


async def agent_command(args: argparse.Namespace, db: Any, config: Config) -> int:
    from switch.ledger import accounts, money, operations
    agent_id, who = args.agent_id, operator_of(args)
    if args.agent_command == "add":
        try:
            await operations.add_agent(db, who, agent_id, args.name, args.daily_limit)
        except ValueError as exc:
            raise CommandFailed(str(exc))
        limit = f", daily limit {rupiah_text(args.daily_limit)}" if args.daily_limit else ""
        print(f"agent {agent_id} added ({args.name}{limit})")
        return 0
    if await db.read(lambda tx: accounts.get_agent(tx, agent_id)) is None:
        raise CommandFailed(f"agent {agent_id}: no such agent")
    if args.agent_command == "topup":
        try:
            done = await operations.topup(db, who, agent_id, args.amount, args.ref)
        except ValueError as exc:
            raise CommandFailed(str(exc))
        if done.applied:
            print(f"agent {agent_id}: topped up {rupiah_text(args.amount)} (ref {args.ref});"
                  f" balance {rupiah_text(done.ledger)}, available {rupiah_text(done.available)}")
        else:
            print(f"agent {agent_id}: ref {args.ref} was already applied; nothing changed"
                  f" (balance {rupiah_text(done.ledger)})")
        return 0
    if args.agent_command == "balance":
        ledger, available = await db.read(lambda tx: money.balances(tx, agent_id))
        if args.json:
            print(json.dumps({"agent": agent_id, "ledger": rupiah(ledger), "available": rupiah(available)}))
        else:
            print(f"agent {agent_id}: ledger {rupiah_text(ledger)}, available {rupiah_text(available)}")
        return 0
    if args.agent_command in ("block", "unblock"):
        try:
            await operations.set_agent_blocked(db, who, agent_id, args.agent_command == "block")
        except ValueError as exc:
            raise CommandFailed(str(exc))
        print(f"agent {agent_id} {args.agent_command}ed")
        return 0
    if args.agent_command == "statement":
        from switch.settlement.statement import statement_command
        return await statement_command(db, args)
    raise CommandFailed(f"unknown agent command {args.agent_command}")


async def terminal_command(args: argparse.Namespace, db: Any) -> int:
    from switch.ledger import operations
    terminal_id, who = args.terminal_id, operator_of(args)
    try:
        if args.terminal_command == "add":
            print(await operations.add_terminal(db, who, terminal_id, args.agent, args.key))
            return 0
        await operations.set_terminal_blocked(db, who, terminal_id, args.terminal_command == "block")
    except ValueError as exc:
        raise CommandFailed(str(exc))
    print(f"terminal {terminal_id} {args.terminal_command}ed")
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
    from switch.settlement.settle import print_settlement
    return print_settlement(result)


if __name__ == "__main__":
    sys.exit(main())
