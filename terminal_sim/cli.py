"""ppob-terminal: the simulated agent terminal on the command line (OPERATIONS.md).

Exit status: 0 success; 2 usage error (one line naming the bad option); 1 anything else — a declined
transaction (its rc and meaning), a switch that cannot be reached (one line).
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import re
import sqlite3
import ssl
import sys
from pathlib import Path
from typing import NoReturn

from switch.wire.field48 import CUSTOMER_DIGITS, PREPAID, PRODUCTS

from .client import TerminalClient, receipt_from_entry
from .results import Result
from .escpos import to_escpos
from .journal import Journal
from .load import run_load
from switch.wire.receipt import render_balance, render_bill
from .shell import run_shell

PROG = "ppob-terminal"


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:   # one line, exit 2 (argparse prints usage + line)
        print(f"{PROG}: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    # output options are accepted before or after COMMAND (the subparsers' copies only set what is given)
    common = _Parser(add_help=False)
    common.add_argument("--journal", metavar="FILE", default=argparse.SUPPRESS,
                        help="the terminal's journal (STANs, requests, answers; default"
                             " ~/.ppob-terminal/<TID>.journal)")
    common.add_argument("--escpos", metavar="FILE", default=argparse.SUPPRESS,
                        help="also write the receipt as ESC/POS printer bytes to FILE (default: none)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print results as JSON (default: receipts and text)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show the terminal's warnings (bad MACs, late responses) on stderr")
    p = _Parser(prog=PROG, parents=[common],
                description="Simulated PPOB agent terminal (TI side of the contract).")
    p.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    p.add_argument("--switch", metavar="HOST:PORT", help="the switch's terminal port (required but for journal)")
    p.add_argument("--terminal-id", required=True, metavar="TID", help="this terminal's id (field 41), 1-8 chars")
    p.add_argument("--agent-id", metavar="AID", help="its agent's id (field 42; required but for journal)")
    p.add_argument("--key", metavar="HEX32",
                   help="the terminal's 16-byte MAC key in hex, as `ppob-switch terminal add` printed it"
                        " (required but for journal)")
    p.add_argument("--channel", default="6021", choices=("6021", "6022", "6025"),
                   help="field 18: 6021 PC/loket PPOB, 6022 EDC, 6025 mobile (default 6021)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="seconds to wait for a response (default 60)")
    p.add_argument("--tls", action="store_true", help="connect with TLS, trusting the system CAs (default: plain TCP)")
    p.add_argument("--tls-ca", metavar="FILE", help="connect with TLS, trusting this CA file (default: plain TCP)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser = functools.partial(sub.add_parser, parents=[common])  # type: ignore[method-assign]
    product_help = f"one of {', '.join(PRODUCTS)}"
    customer_help = ("the customer number: IDPEL (PLNPST, 12 digits), meter number (11) or IDPEL (12) (PLNPRA),"
                     " registration number (PLNNTL, 13)")
    q = sub.add_parser("inquiry", help="bill / customer inquiry")
    q.add_argument("product", help=product_help)
    q.add_argument("customer", help=customer_help)
    q = sub.add_parser("pay", help="inquiry, then payment of the quoted amount")
    q.add_argument("product", help=product_help)
    q.add_argument("customer", help=customer_help)
    q.add_argument("rupiah", nargs="?", type=int, help="whole rupiah; PLNPRA: the token's denomination (required); others: the total"
                        " to pay (default: the amount the inquiry quoted)")
    sub.add_parser("balance", help="the agent's deposit")
    for name, text in (("reprint", "reprint a payment's receipt (CETAK ULANG)"),
                       ("status", "ask the switch how a payment ended"),
                       ("reverse", "reverse a payment (0400)")):
        sub.add_parser(name, help=text).add_argument(
            "stan", help="the payment's STAN, as on its receipt or in `journal` (up to 6 digits)")
    sub.add_parser("shell", help="interactive loket menu on stdin")
    q = sub.add_parser("journal", help="list this terminal's journal (STAN, kind, rc) without the switch")
    q.add_argument("--last", type=int, default=20, metavar="N", help="the last N requests (default 20; 0: all)")
    q.add_argument("--payments", action="store_true", help="only payments (default: every request)")
    q.add_argument("--stans", action="store_true",
                   help="print only the STANs, one a line, e.g. STAN=$(… journal --payments --last 1 --stans)")
    sub.add_parser("echo", help="0800 echo test")
    q = sub.add_parser("load", help="load generator: throughput and latency percentiles")
    q.add_argument("--count", type=int, default=100, help="requests to send in all (default 100)")
    q.add_argument("--concurrency", type=int, default=10, help="requests in flight at once (default 10)")
    q.add_argument("--product", default="PLNPST", help="product of inquiries and payments (default PLNPST)")
    q.add_argument("--op", default="inquiry", choices=("inquiry", "pay", "balance", "echo"),
                   help="what each request is (default inquiry)")
    q.add_argument("--customers", metavar="C1,C2,...",
                   help="customer numbers to use in turn (default: generated numbers)")
    q.add_argument("--denomination", type=int, default=20_000,
                   help="prepaid purchases: the token, whole rupiah (default 20000)")
    q.add_argument("--max-seconds", type=float, default=300.0, help="stop after this long (default 300)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name, default in (("journal", None), ("escpos", None), ("json", False), ("verbose", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    logging.basicConfig(format=f"{PROG}: %(message)s", level=logging.WARNING if args.verbose else logging.ERROR)
    try:
        host, port, key = _validate(args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    journal_path = args.journal or Path.home() / ".ppob-terminal" / f"{args.terminal_id}.journal"
    if args.command == "journal" and not Path(journal_path).expanduser().is_file():
        return _fail(f"no journal at {journal_path} (give --journal FILE)")
    try:
        journal = Journal(journal_path)
    except (OSError, sqlite3.Error) as exc:
        return _fail(f"cannot open the journal {journal_path}: {exc}")
    try:
        if args.command == "journal":
            return list_journal(journal, args)
        client = TerminalClient(host, port, args.terminal_id, args.agent_id, key, journal,
                                channel=args.channel, tls=_tls(args), timeout=args.timeout)
        return asyncio.run(_run(args, client))
    except LookupError as exc:
        return _fail(str(exc).strip("'\""))
    except BrokenPipeError:   # `… | head`: the reader went away; quietly, and 1 like rich's tables
        _quiet_stdout()
        return 1
    except OSError as exc:
        return _fail(f"cannot reach the switch at {args.switch}: {_reason(exc)}")
    except KeyboardInterrupt:
        return 130
    finally:
        journal.close()


def _quiet_stdout() -> None:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError:
        pass


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("ppob-switch")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _validate(args: argparse.Namespace) -> tuple[str, int, bytes]:
    if not (0 < len(args.terminal_id) <= 8 and args.terminal_id.isascii() and args.terminal_id.isprintable()):
        raise UsageError("--terminal-id: 1 to 8 printable ASCII characters")
    if args.command == "journal":
        if args.last < 0:
            raise UsageError(f"--last: 0 or more, got {args.last}")
        return "", 0, b""
    missing = [flag for flag, value in (("--switch", args.switch), ("--agent-id", args.agent_id),
                                        ("--key", args.key)) if value is None]
    if missing:
        raise UsageError(f"{args.command} needs {', '.join(missing)}")
    m = re.fullmatch(r"\[?([^\[\]]+?)\]?:(\d{1,5})", args.switch)
    if not m or not 0 < int(m.group(2)) < 65536:
        raise UsageError(f"--switch: expected HOST:PORT, got {args.switch!r}")
    if not re.fullmatch(r"[0-9A-Fa-f]{32}", args.key):
        raise UsageError("--key: expected 32 hex characters (a 16-byte key)")
    if not (0 < len(args.agent_id) <= 15 and args.agent_id.isascii() and args.agent_id.isprintable()):
        raise UsageError("--agent-id: 1 to 15 printable ASCII characters")
    if args.tls_ca and not Path(args.tls_ca).is_file():
        raise UsageError(f"--tls-ca: no such file {args.tls_ca}")
    _validate_command(args)
    return m.group(1), int(m.group(2)), bytes.fromhex(args.key)


def _validate_command(args: argparse.Namespace) -> None:
    cmd = args.command
    if cmd in ("inquiry", "pay"):
        _check_customer(args.product, args.customer)
    if args.timeout <= 0:
        raise UsageError(f"--timeout: seconds, more than 0, got {args.timeout:g}")
    if cmd == "pay":
        _check_rupiah("RUPIAH", args.rupiah)
        if args.product == PREPAID and args.rupiah is None:
            raise UsageError("RUPIAH: a PLNPRA purchase needs the token denomination, e.g. 50000")
    if cmd in ("reprint", "status", "reverse") and not (args.stan.isdigit() and len(args.stan) <= 6):
        raise UsageError(f"STAN: up to 6 digits, got {args.stan!r}")
    if cmd == "load":
        if args.count < 0 or args.concurrency < 1 or args.max_seconds <= 0:
            raise UsageError("load: --count >= 0, --concurrency >= 1 and --max-seconds > 0")
        _check_rupiah("--denomination", args.denomination)
        if args.product not in PRODUCTS:
            raise UsageError(f"--product: one of {', '.join(PRODUCTS)}, got {args.product!r}")
        for customer in _customers(args):
            _check_customer(args.product, customer)


MAX_RUPIAH = 9_999_999_999   # field 4 carries 12 digits of minor units


def _check_rupiah(name: str, amount: int | None) -> None:
    if amount is None:
        return
    if amount < 0:
        raise UsageError(f"{name}: {amount} is negative; give a whole number of rupiah, 1 or more")
    if amount == 0:
        raise UsageError(f"{name}: must be at least 1 rupiah, got 0")
    if amount > MAX_RUPIAH:
        raise UsageError(f"{name}: {amount} is more than field 4 can carry (at most {MAX_RUPIAH} rupiah)")


def _check_customer(product: str, customer: str) -> None:
    if product not in PRODUCTS:
        raise UsageError(f"PRODUCT: one of {', '.join(PRODUCTS)}, got {product!r}")
    lengths = CUSTOMER_DIGITS[product]
    if not (customer.isdigit() and len(customer) in lengths):
        raise UsageError(f"CUSTOMER: {product} takes {' or '.join(map(str, lengths))} digits, got {customer!r}")


def _customers(args: argparse.Namespace) -> list[str]:
    return [c.strip() for c in (args.customers or "").split(",") if c.strip()]


def _tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.tls_ca:
        return ssl.create_default_context(cafile=args.tls_ca)
    return ssl.create_default_context() if args.tls else None


async def _run(args: argparse.Namespace, client: TerminalClient) -> int:
    if args.command == "reprint":
        return await _reprint(args, client)
    if args.command == "load":
        return await _load(args, client)
    async with client:
        if args.command == "shell":
            return await run_shell(client, args.escpos)
        if args.command == "echo":
            return _show(args, await client.echo(), None)
        if args.command == "inquiry":
            r = await client.inquiry(args.product, args.customer)
            return _show(args, r, render_bill(r.info) if r.info else None)
        if args.command == "pay":
            r = await client.pay(args.product, args.customer, args.rupiah)
            return _show(args, r, r.receipt())
        if args.command == "balance":
            r = await client.balance_inquiry()
            slip = render_balance(*r.balance, r.receipt_meta()) if r.balance else None
            return _show(args, r, slip)
        if args.command == "status":
            return _show(args, await client.status(args.stan), None)
        return _show(args, await client.reverse(args.stan), None)   # reverse


async def _reprint(args: argparse.Namespace, client: TerminalClient) -> int:
    """Online: a status request first (it settles a pending payment). Offline: the journal's copy."""
    entry = client.journal.find(client.terminal_id, args.stan)
    if entry is None:
        return _fail(f"no payment with STAN {args.stan} in the journal of terminal {client.terminal_id}")
    try:
        async with client:
            status = await client.status(entry.stan)
        if not status.approved:
            return _show(args, status, None)
    except OSError as exc:
        print(f"{PROG}: switch unreachable ({_reason(exc)}); reprinting from the journal",
              file=sys.stderr)
    entry = client.journal.find(client.terminal_id, entry.stan)
    lines = receipt_from_entry(entry) if entry is not None else None
    if entry is None or lines is None:
        return _fail(f"STAN {args.stan} has no approved answer in the journal yet; try again online")
    _print_receipt(args, lines, {"stan": entry.stan, "reprint": True})
    return 0


async def _load(args: argparse.Namespace, client: TerminalClient) -> int:
    op = args.op if args.op in ("balance", "echo") else f"{args.op}:{args.product}"
    customers = {args.product: _customers(args)} if _customers(args) else None
    report = await run_load(client.host, client.port, [(client.terminal_id, client.agent_id, client.key)],
                            total=args.count, concurrency=args.concurrency, mix={op: 1.0},
                            customers=customers, max_seconds=args.max_seconds, denomination=args.denomination,
                            progress=not args.json, tls=client.tls, timeout=client.timeout,
                            journal=client.journal)
    print(json.dumps(report.as_dict()) if args.json else "\n".join(report.lines()))
    return 0


def _show(args: argparse.Namespace, result: Result, lines: list[str] | None) -> int:
    if result.approved:
        if lines is not None:
            _print_receipt(args, lines, result.as_dict())
        elif args.json:
            print(json.dumps(result.as_dict()))
        else:
            print(f"{result.rc} {result.rc_meaning} (STAN {result.stan}, {result.elapsed_s * 1000:.1f} ms)")
        return 0
    if args.json:
        print(json.dumps(result.as_dict()))
    detail = f" ({result.error})" if result.error else ""
    if result.error and result.request.get(3) == "500000":
        detail += f"; check later with: reprint {result.stan}"
    print(f"{PROG}: rc {result.rc} {result.rc_meaning}{detail}", file=sys.stderr)
    return 1


def _print_receipt(args: argparse.Namespace, lines: list[str], data: dict) -> None:
    print(json.dumps({**data, "receipt": lines}) if args.json else "\n".join(lines))
    if args.escpos:
        Path(args.escpos).write_bytes(to_escpos(lines))


KINDS = {("0200", "380000"): "inquiry", ("0200", "500000"): "payment", ("0200", "310000"): "balance",
         ("0200", "390000"): "status", ("0400", "500000"): "reversal", ("0800", ""): "network"}


def list_journal(journal: Journal, args: argparse.Namespace) -> int:
    """One line per request, oldest first: the STAN to give reprint / status / reverse, and how it ended."""
    entries = journal.entries(args.terminal_id)
    if args.payments:
        entries = [e for e in entries if e.is_payment]
    if args.last:
        entries = entries[-args.last:]
    if args.stans:
        if entries:
            print("\n".join(e.stan for e in entries))
        return 0
    if args.json:
        print(json.dumps([{"stan": e.stan, "sent_at": e.sent_at.isoformat(), "kind": _kind(e),
                           "product": _product(e), "customer": _customer(e), "amount_minor": _amount(e),
                           "status": e.status, "rc": e.rc} for e in entries]))
        return 0
    if not entries:
        print(f"the journal of terminal {args.terminal_id} is empty")
        return 0
    print(f"{'STAN':6}  {'sent (UTC)':19}  {'kind':8}  {'product':7}  {'customer':13}  {'amount':>15}  rc  status")
    for e in entries:
        amount = _amount(e)
        shown = rupiah(amount // 100) if amount else "-"
        print(f"{e.stan:6}  {e.sent_at:%Y-%m-%d %H:%M:%S}  {_kind(e):8}  {_product(e) or '-':7}  "
              f"{_customer(e) or '-':13}  {shown:>15}  {e.rc or '--'}  {e.status}")
    return 0


def rupiah(whole: int) -> str:
    return "Rp " + f"{whole:,}".replace(",", ".")


def _kind(e) -> str:
    return KINDS.get((e.mti, e.proc), f"{e.mti}/{e.proc}")


def _product(e) -> str:
    return (e.request.get(48) or "")[:6]


def _customer(e) -> str:
    return (e.request.get(48) or "")[6:19].strip()


def _amount(e) -> int:
    text = e.request.get(4) or "0"
    return int(text) if text.isdigit() else 0


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
