"""`ppob-switch`: the operator's command line (OPERATIONS.md). Exit 0 on success, 2 on a usage or
configuration error (one line naming the option or key), 1 on any other failure (one line)."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import re
import signal
import sys
from contextlib import asynccontextmanager
from datetime import date
from importlib import metadata
from typing import Any, AsyncIterator, NoReturn

from switch.cli.commands import CommandFailed
from switch.compiled import is_compiled
from switch.config import Config, ConfigError, database_origin, load_config, mask_credentials
from switch.ops.text import rupiah_text


def rupiah_arg(text: str) -> int:
    """A whole-rupiah amount on the command line → minor units (0 .. the largest deposit)."""
    from switch.ledger.money import MAX_BALANCE
    if text.startswith("-") and text[1:].isdigit():
        raise argparse.ArgumentTypeError(f"{text} is negative; give a whole number of rupiah, 0 or more")
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of rupiah")
    if int(text) * 100 > MAX_BALANCE:
        raise argparse.ArgumentTypeError(f"{text} is more than the maximum {rupiah_text(MAX_BALANCE)}")
    return int(text) * 100


def positive_rupiah_arg(text: str) -> int:
    """A topup: whole rupiah, more than nothing, at most the largest single topup."""
    from switch.ledger.money import MAX_TOPUP
    if text.isdigit() and int(text) * 100 > MAX_TOPUP:
        raise argparse.ArgumentTypeError(f"{text} is more than the maximum topup {rupiah_text(MAX_TOPUP)}")
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


def version_text() -> str:
    build = "hot path compiled" if is_compiled() else "pure Python"
    try:
        return f"{metadata.version('ppob-switch')} ({build})"
    except metadata.PackageNotFoundError:   # run from a checkout that was never installed
        return f"unknown (not installed; {build})"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


NEEDS_SERVE = " Needs a running `ppob-switch serve` on the same database: the switch does the work."


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ppob-switch", description="PPOB ISO 8583 payment switch. Exit status: 0 success,"
                    " 2 usage or configuration error, 1 any other failure (one line on stderr).")
    parser.add_argument("--version", action="version", version=f"ppob-switch {version_text()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    demo = commands.add_parser("demo", help="switch + simulated bank + simulated terminal, one process")
    demo.add_argument("--keep", metavar="DIR", help="keep the demo's database and files in DIR (default: a"
                      " temporary folder, removed at the end); a DIR kept before is started afresh")
    _with_config(commands.add_parser("serve", help="run the switch until SIGTERM/SIGINT"))
    _agent_commands(commands)
    _terminal_commands(commands)
    _console_commands(commands)
    _with_config(commands.add_parser("cutover", help="close the open business date now (needs a running serve)",
                                     description="Close the open business date now; prints the date closed."
                                     + NEEDS_SERVE), audited=True)
    settle = _with_config(commands.add_parser(
        "settle", help="settle a closed business date with the banks (needs a running serve)",
        description="Send each bank its 0500 totals of a closed business date and write the settlement"
                    " files." + NEEDS_SERVE), audited=True)
    settle.add_argument("--date", type=date_arg, required=True, help="the closed business date, YYYY-MM-DD")
    settle.add_argument("--bank", help="only this bank (an id of the configuration; default: every bank)")
    recon = _with_config(commands.add_parser("recon", help="reconcile a bank's file with the switch's records"))
    recon.add_argument("--bank", required=True, help="the bank whose file it is (an id of the configuration)")
    recon.add_argument("--date", type=date_arg, required=True, help="the business date, YYYY-MM-DD")
    recon.add_argument("--file", required=True, help="the bank's RCN file (its CTL file is read from beside it)")
    recon.add_argument("--csv", metavar="FILE", help="also write the differences as CSV here (default: none)")
    audit = _with_config(commands.add_parser("audit", help="who changed money or access, when, what"))
    audit.add_argument("--from", dest="date_from", type=date_arg, required=True, metavar="DATE",
                       help="first day, YYYY-MM-DD (inclusive)")
    audit.add_argument("--to", dest="date_to", type=date_arg, required=True, metavar="DATE",
                       help="last day, YYYY-MM-DD (inclusive)")
    audit.add_argument("--csv", metavar="FILE", help="write CSV here ('-' for stdout; default: a table)")
    keys = commands.add_parser("keys", help="the master key that seals terminal keys in the database")
    keys_cmds = keys.add_subparsers(dest="keys_command", required=True, parser_class=Parser)
    _with_config(keys_cmds.add_parser(
        "rotate-master", help="re-seal every terminal key under a new master key (the file is replaced)",
        description="Re-seal every terminal key under a new master key, in one transaction, and replace the"
                    " master key file (switch.master_key_file, PPOB_MASTER_KEY_FILE, or beside the SQLite"
                    " database). The previous key is kept as <file>.<key id>.retired for older backups."),
        audited=True)
    return parser


def _with_config(sub: argparse.ArgumentParser, audited: bool = False) -> argparse.ArgumentParser:
    """--config on every command; --operator only on those that change something (and are audited)."""
    sub.add_argument("--config", metavar="FILE", help="the switch's TOML file (default: $PPOB_CONFIG)")
    if audited:
        sub.add_argument("--operator", type=text_arg, metavar="NAME",
                         help="who does this, for the audit trail (default: the OS user)")
    return sub


AGENT_ID_HELP = "the agent's id (1 to 15 printable characters, no spaces)"
TERMINAL_ID_HELP = "the terminal's id (1 to 8 printable characters, no spaces)"


def _agent_commands(commands: Any) -> None:
    agent_id = id_arg("agent", 15)
    agent = commands.add_parser("agent", help="agents (mitra) and their deposits")
    agent_cmds = agent.add_subparsers(dest="agent_command", required=True, parser_class=Parser)
    add = _with_config(agent_cmds.add_parser("add", help="register an agent with an empty deposit"), audited=True)
    add.add_argument("agent_id", type=agent_id, help=AGENT_ID_HELP)
    add.add_argument("--name", required=True, type=text_arg, help="the shop's name, printed on statements")
    add.add_argument("--daily-limit", type=rupiah_arg, metavar="RUPIAH",
                     help="the most the agent may pay out per business date, whole rupiah (default: no limit)")
    lst = _with_config(agent_cmds.add_parser("list", help="every agent: balance, held, daily limit, blocked"))
    lst.add_argument("--json", action="store_true", help="print JSON (amounts in whole rupiah) instead of a table")
    topup = _with_config(agent_cmds.add_parser("topup", help="credit the deposit (idempotent by --ref)"),
                         audited=True)
    topup.add_argument("agent_id", type=agent_id, help=AGENT_ID_HELP)
    topup.add_argument("amount", type=positive_rupiah_arg, metavar="RUPIAH",
                       help="whole rupiah, 1 to 1000000000 per topup")
    topup.add_argument("--ref", required=True, type=text_arg,
                       help="the transfer's reference (required); the same ref again changes nothing")
    balance = _with_config(agent_cmds.add_parser("balance", help="ledger and available balance"))
    balance.add_argument("agent_id", type=agent_id, help=AGENT_ID_HELP)
    balance.add_argument("--json", action="store_true", help="print JSON (amounts in whole rupiah)")
    for verb, what in (("block", "block an agent: its terminals get 58"),
                       ("unblock", "let a blocked agent's terminals transact again")):
        _with_config(agent_cmds.add_parser(verb, help=what), audited=True).add_argument(
            "agent_id", type=agent_id, help=AGENT_ID_HELP)
    statement = _with_config(agent_cmds.add_parser("statement", help="topups, payments, reversals, commissions"))
    statement.add_argument("agent_id", type=agent_id, help=AGENT_ID_HELP)
    statement.add_argument("--from", dest="date_from", type=date_arg, required=True, metavar="DATE",
                           help="first day, YYYY-MM-DD (WIB, inclusive)")
    statement.add_argument("--to", dest="date_to", type=date_arg, required=True, metavar="DATE",
                           help="last day, YYYY-MM-DD (WIB, inclusive)")
    statement.add_argument("--csv", metavar="FILE", help="write CSV here ('-' for stdout; default: a table)")


def _console_commands(commands: Any) -> None:
    _with_config(commands.add_parser(
        "console", help="run the back-office web console on [console] listen until SIGTERM/SIGINT"))
    user = commands.add_parser("user", help="users of the back-office console")
    user_cmds = user.add_subparsers(dest="user_command", required=True, parser_class=Parser)
    add = _with_config(user_cmds.add_parser(
        "add", help="add a console user; the password is read from stdin (never an argument)"), audited=True)
    add.add_argument("name", help="1 to 32 letters, digits, '.', '_' or '-'")
    add.add_argument("--role", required=True, choices=("viewer", "operator", "admin"),
                     help="viewer reads; operator also acts (top-ups, blocks, rekeys); admin does everything")


def _terminal_commands(commands: Any) -> None:
    agent_id, terminal_id = id_arg("agent", 15), id_arg("terminal", 8)
    terminal = commands.add_parser("terminal", help="agent terminals and their MAC keys")
    terminal_cmds = terminal.add_subparsers(dest="terminal_command", required=True, parser_class=Parser)
    tadd = _with_config(terminal_cmds.add_parser("add", help="register a terminal; prints its MAC key"),
                        audited=True)
    tadd.add_argument("terminal_id", type=terminal_id, help=TERMINAL_ID_HELP)
    tadd.add_argument("--agent", required=True, type=agent_id, help="the agent the terminal belongs to")
    tadd.add_argument("--key", metavar="HEX32", type=key_arg, help="the MAC key (default: a fresh random key)")
    rekey = _with_config(terminal_cmds.add_parser(
        "rekey", help="give a terminal a new MAC key, printed once; the old key is refused from then on"),
        audited=True)
    rekey.add_argument("terminal_id", type=terminal_id, help=TERMINAL_ID_HELP)
    rekey.add_argument("--key", metavar="HEX32", type=key_arg, help="the new key (default: a fresh random key)")
    tlist = _with_config(terminal_cmds.add_parser("list", help="every terminal: agent, blocked (never keys)"))
    tlist.add_argument("--agent", type=agent_id, help="only this agent's terminals (default: all)")
    tlist.add_argument("--json", action="store_true", help="print JSON instead of a table")
    for verb, what in (("block", "block a terminal: it gets 58"), ("unblock", "unblock a terminal")):
        _with_config(terminal_cmds.add_parser(verb, help=what), audited=True).add_argument(
            "terminal_id", type=terminal_id, help=TERMINAL_ID_HELP)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from switch.cli.demo import run_demo
            return run_demo(keep=args.keep)
        config = load_config(getattr(args, "config", None))
        if args.command == "serve":
            return run_serve(config)
        if args.command == "console":
            from switch.console.app import run_console
            return run_console(config)
        return asyncio.run(run_admin(args, config))
    except ConfigError as exc:
        print(f"ppob-switch: configuration error: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"ppob-switch: error: {exc}", file=sys.stderr)
        return 2
    except CommandFailed as exc:
        print(mask_credentials(f"ppob-switch: {exc}"), file=sys.stderr)
        return 1
    except BrokenPipeError:   # `… | head`: the reader went away; quietly, and 1 like rich's tables
        _quiet_stdout()
        return 1
    except KeyboardInterrupt:
        return 130


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush stays silent."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


class UsageError(Exception):
    """Exit 2: what was typed does not fit the configuration (e.g. a bank it does not have)."""


# ---- serve ---------------------------------------------------------------------------------------

def run_serve(config: Config) -> int:
    from switch.ops.logging import configure_logging
    configure_logging(final=True)
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
    from switch.ops.logging import flush_logs
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = SwitchApp(config, metrics=Metrics())
    try:
        await app.start()
    except (OSError, StorageError, VaultError) as exc:  # a port in use, a database or key file refused
        await _abandon(app)
        where = f" (the database named by {database_origin()})" if isinstance(exc, StorageError) else ""
        flush_logs()  # the events of the failed start first, the one-line summary last
        print(mask_credentials(f"ppob-switch: cannot start: {exc}{where}"), file=sys.stderr)
        return 1
    freeze_startup_heap()
    await stop.wait()
    await app.stop()
    return 0


def freeze_startup_heap() -> None:
    """What start-up built (modules, configuration, caches) lives as long as the process: frozen out
    of the garbage collector, so that its full collections, which came every few seconds under load,
    scan only what came after (each was a 13-19 ms pause of the event loop, collecting nothing)."""
    gc.collect()
    gc.freeze()


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
async def database(config: Config) -> AsyncIterator[Any]:
    """The switch's database with its key ring, the master key file checked first (and keys still in
    clear sealed), as serve does: every admin command refuses in one line when a database whose keys
    are sealed has its key file missing or wrong, whether or not the command touches keys."""
    from switch.ledger import keyring, units
    from switch.ledger.storage import StorageError, open_database
    from switch.ledger.vault import VaultError
    db = units.attach(open_database(config.switch.database))
    try:
        await db.open()
    except (StorageError, OSError) as exc:
        raise CommandFailed(mask_credentials(f"database {config.switch.database} (from {database_origin()}):"
                                             f" {exc}"))
    try:
        keyring.configure(db, config.switch.master_key_file, notify=say)
        await keyring.start(db)
        yield db
    except VaultError as exc:
        raise CommandFailed(str(exc))
    finally:
        await db.close()


async def run_admin(args: argparse.Namespace, config: Config) -> int:
    from switch.cli.commands import agent_command, handed_over, terminal_command
    bank = getattr(args, "bank", None)
    if bank is not None and bank not in [b.id for b in config.banks]:
        raise UsageError(f"{args.command}: unknown bank {bank} (--bank; configured: "
                         f"{', '.join(b.id for b in config.banks) or 'none'})")
    async with database(config) as db:
        if args.command == "agent":
            return await agent_command(args, db)
        if args.command == "terminal":
            return await terminal_command(args, db)
        if args.command == "user":
            from switch.cli.commands import operator_of
            from switch.console.users_cli import UserCommandFailed, add_user
            try:
                print(await add_user(db, operator_of(args), args.name, args.role))
            except UserCommandFailed as exc:
                raise CommandFailed(f"user add: {exc}")
            return 0
        if args.command in ("cutover", "settle"):
            return await handed_over(args, db)
        if args.command == "recon":
            from switch.settlement.recon import recon_command
            return await recon_command(db, config, args)
        if args.command == "audit":
            from switch.cli.audit_report import audit_command
            return await audit_command(db, config, args)
        if args.command == "keys":
            from switch.cli.commands import keys_command
            return await keys_command(args, db)
    raise CommandFailed(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
