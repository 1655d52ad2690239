"""ppob-bank-sim: run the simulated partner bank host until SIGINT/SIGTERM."""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from typing import NoReturn, Sequence

import structlog
from rich.console import Console
from rich.table import Table

from .book import Book, Status
from .faults import Faults
from .host import BankHost

log = structlog.get_logger("bank_sim")


class OneLineParser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit status 2 (OPERATIONS.md)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def non_negative(text: str) -> int:
    if text.startswith("-") and text[1:].isdigit():
        raise argparse.ArgumentTypeError(f"{text} is negative; expected a whole number >= 0")
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


MAX_SIZE = 100_000


def book_size(text: str) -> int:
    size = non_negative(text)
    if size > MAX_SIZE:
        raise argparse.ArgumentTypeError(f"at most {MAX_SIZE} customers per product, got {text}")
    return size


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds more than 0, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="ppob-bank-sim", description="Simulated partner bank host (contract HI side).")
    p.add_argument("--version", action="version", version=f"ppob-bank-sim {_version()}")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--listen", type=address, metavar="HOST:PORT", help="accept the switch's connections here")
    where.add_argument("--connect", type=address, metavar="HOST:PORT", help="connect to the switch here")
    p.add_argument("--framing", choices=("2B", "4A"), default="2B",
                   help="length header: 2B two bytes binary, 4A four ASCII digits (default 2B)")
    p.add_argument("--seed", metavar="N", type=int, default=1, help="book seed: the same seed, the same customers (default 1)")
    p.add_argument("--size", metavar="N", type=book_size, default=1000,
                   help=f"customers per product, up to {MAX_SIZE} (default 1000)")
    p.add_argument("--bank-id", metavar="BANK", default="BANKSIM", help="this bank's id in files and logs (default BANKSIM)")
    p.add_argument("--latency-ms", metavar="MS", type=non_negative, default=0,
                   help="wait this many milliseconds before each answer (default 0)")
    p.add_argument("--timeout-rate", metavar="RATE", type=rate, default=0.0,
                   help="share of requests never answered, 0 to 1 (default 0)")
    p.add_argument("--decline-rate", metavar="RATE", type=rate, default=0.0,
                   help="share of payments and inquiries declined with 05, 0 to 1 (default 0)")
    p.add_argument("--drop-rate", metavar="RATE", type=rate, default=0.0,
                   help="share of requests processed, then the link dropped instead of the answer, 0 to 1 (default 0)")
    p.add_argument("--fault-seed", metavar="N", type=int, default=0, help="seed of the fault draws (default 0)")
    p.add_argument("--echo-interval-s", metavar="SECONDS", type=positive_seconds, default=None,
                   help="send our own 0800/301 echo this often, seconds (default: never)")
    p.add_argument("--settlement-dir", metavar="DIR", default=None,
                   help="write the RCN/CTL files here at each cutover (default: none written)")
    p.add_argument("--list-customers", action="store_true",
                   help="print the example customers of --seed for each scenario and exit")
    p.add_argument("--json-logs", action="store_true",
                   help="JSON log lines even on a terminal (default: JSON when stderr is not a terminal)")
    return p


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("ppob-switch")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def configure_logging(json_logs: bool) -> None:
    """JSON lines when asked or when stderr is not a terminal (a file, a pipe, a collector), like serve."""
    as_json = json_logs or not sys.stderr.isatty()
    renderer = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
                    renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr))


def customers_table(book: Book) -> Table:
    table = Table(title=f"Example customers (seed {book.seed}, {book.today:%Y-%m-%d})")
    for column in ("scenario", "product", "customer", "name", "details", "expect"):
        # numbers are what people copy from this table: never cut them
        table.add_column(column, no_wrap=column in ("scenario", "customer"),
                         min_width={"scenario": 17, "customer": 13}.get(column))
    for scenario, number in book.examples().items():
        table.add_row(scenario, *describe(book, number))
    return table


def rupiah(amount: int) -> str:
    return "Rp " + f"{amount:,}".replace(",", ".")


def describe(book: Book, number: str) -> tuple[str, str, str, str, str]:
    """product, customer, name, details, expected response code of one example customer."""
    if number in book.prepaid:
        m = book.prepaid[number]
        return ("PLNPRA", number, m.name, f"{m.tariff.code}/{m.tariff.power_va} VA, IDPEL {m.idpel}", "00")
    if number in book.registrations:
        r = book.registrations[number]
        total = r.amount + book.admin_fees.nontaglis
        return "PLNNTL", number, r.name, f"{r.transaction_name}, Rp {total:,}".replace(",", "."), "00"
    customer = book.postpaid.get(number)
    if customer is None:
        return "PLNPST", number, "-", "not in the book", "14"
    expect = {Status.BLOCKED: "77", Status.NOT_AVAILABLE: "89"}.get(customer.status)
    if expect is None and not customer.unpaid:
        expect = "88"
    offered = customer.offered
    due = sum(b.total for b in offered) + book.admin_fees.postpaid * len(offered)
    details = (f"{customer.tariff.code}/{customer.tariff.power_va} VA, {len(customer.unpaid)} unpaid, "
               f"{len(offered)} offered, {rupiah(due)}")
    return "PLNPST", number, customer.name, details, expect or "00"


async def serve(args: argparse.Namespace, book: Book) -> None:
    faults = Faults(args.latency_ms, args.timeout_rate, args.decline_rate, args.drop_rate, args.fault_seed)
    host = BankHost(book, faults, args.framing, args.bank_id, args.settlement_dir,
                    echo_interval_s=args.echo_interval_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.listen:
        await host.listen(*args.listen)
    else:
        await host.connect(*args.connect)
    await stop.wait()
    await host.stop()
    log.info("stopped", answered=dict(host.stats.by_rc), received=dict(host.stats.received),
             unanswered=host.stats.unanswered, dropped=host.stats.dropped)


def keep_collections_short() -> None:
    """The bank keeps every payment it answered (its settlement file, status and reversals need
    them), so each full garbage collection walked a longer list: 22, 65, 87, then 140 ms with the
    event loop stopped over a benchmark's run, answers held back for that long. Freezing what a full
    collection left alive capped that, but each full collection still walked the ~40,000 objects
    kept since the last one: 15-48 ms on the loaded 2-core machine, inside the switch's open-loop
    measurement. So what survives a collection of the middle generation (alive across two
    collections, i.e. kept) is frozen too: full collections find next to nothing to walk. A frozen
    object is still freed when its last reference goes; only a reference cycle among frozen objects
    would stay, and the bank makes next to none (its full collections freed 0 objects in every run
    logged). Cyclic garbage younger than that is still collected."""
    def after_collection(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] >= 1:
            gc.freeze()
    gc.callbacks.append(after_collection)


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if not (args.listen or args.connect or args.list_customers):
        p.error("one of --listen HOST:PORT or --connect HOST:PORT is required")
    book = Book.generate(args.seed, args.size)
    if args.list_customers:
        # piped or redirected: no terminal width to fit, so every column is printed whole
        Console(width=None if sys.stdout.isatty() else 400).print(customers_table(book))
        return 0
    configure_logging(args.json_logs)
    keep_collections_short()
    try:
        asyncio.run(serve(args, book))
    except OSError as exc:
        print(f"ppob-bank-sim: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
