"""`ppob-switch demo`: the whole thing in one process, on embedded defaults and free local ports —
a switch, a simulated bank host and a simulated terminal, with a throw-away SQLite database."""
from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from rich.console import Console
from rich.table import Table

from switch.app import SwitchApp
from switch.ledger import accounts, money
from switch.config import parse_config, sample_config
from switch.ops.logging import configure_logging
from switch.ops.metrics import Metrics
from switch.ops.text import rupiah_text

AGENT, TERMINAL, AGENT_NAME = "DEMO00000000001", "DEMO0001", "WARUNG BU SRI (DEMO)"
DEPOSIT_RUPIAH = 5_000_000
PREPAID_DENOMINATION = 50_000


def run_demo(keep: str | None = None) -> int:
    configure_logging(json=False, level="warning")
    if keep:
        folder = Path(keep)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            start_afresh(folder)
        except OSError as exc:
            print(f"ppob-switch: demo --keep {keep}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        return asyncio.run(demo(folder))
    with tempfile.TemporaryDirectory(prefix="ppob-demo-") as scratch:
        return asyncio.run(demo(Path(scratch), throwaway=True))


KEPT = ("switch.db", "switch.db-wal", "switch.db-shm", "switch.db.master-key", "bank", "settlement")


def start_afresh(folder: Path) -> None:
    """A folder kept by an earlier demo: its database and files are removed (only those), so the demo
    runs the same every time instead of finding its agent already there."""
    for name in KEPT:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


async def demo(folder: Path, *, throwaway: bool = False) -> int:
    from bank_sim.book import Book
    from bank_sim.host import BankHost
    console = Console(highlight=False)
    started = time.monotonic()
    book = Book.generate(seed=42, size=200)
    bank = BankHost(book, bank_id="BANKA", settlement_dir=folder / "bank")
    bank_port = await bank.listen("127.0.0.1", 0)
    # a throw-away folder's master key dies with it: nothing worth saying about it
    app = SwitchApp(demo_config(folder, bank_port), metrics=Metrics(),
                    key_notice=(lambda line: None) if throwaway else None)
    ports = await app.start()
    try:
        key = await provision(app)
        await wait_for_bank(app)
        console.print(f"[bold]PPOB switch demo[/bold] — switch on 127.0.0.1:{ports.terminals}, "
                      f"bank BANKA on 127.0.0.1:{bank_port}, database {folder / 'switch.db'}\n")
        outcomes = await run_terminal(console, ports.terminals, key, book.examples())
        db = app.running.db
        before, after = DEPOSIT_RUPIAH * 100, (await db.read(lambda tx: money.balances(tx, AGENT)))[0]
        books = await db.read(money.check_books)
    finally:
        await app.stop()
        await bank.stop()
    print_summary(console, outcomes, before, after, books, time.monotonic() - started)
    return 0 if all(ok for _, ok in outcomes) and not books else 1


def demo_config(folder: Path, bank_port: int):
    text = sample_config(database=f"sqlite:///{folder / 'switch.db'}", terminal_listen="127.0.0.1:0",
                         metrics_listen="127.0.0.1:0",
                         banks=[{"id": "BANKA", "mode": "connect", "address": f"127.0.0.1:{bank_port}",
                                 "products": ["PLNPST", "PLNPRA", "PLNNTL"], "timeout_s": 10}],
                         switch={"settlement_dir": str(folder / "settlement")},
                         products=[{"code": "PLNPST", "agent_share": 1500}, {"code": "PLNPRA", "agent_share": 1000},
                                   {"code": "PLNNTL", "agent_share": 1500}])
    return parse_config(tomllib.loads(text), env={})


async def provision(app: SwitchApp) -> bytes:
    async def work(tx) -> str:
        await accounts.add_agent(tx, AGENT, AGENT_NAME, None)
        key_hex = await accounts.add_terminal(tx, TERMINAL, AGENT, None)
        await money.topup(tx, AGENT, DEPOSIT_RUPIAH * 100, "DEMO-TOPUP-1")
        return key_hex
    return bytes.fromhex(await app.running.db.unit(work))


async def wait_for_bank(app: SwitchApp, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not app.running.router.candidates("PLNPST"):
        if time.monotonic() > deadline:
            raise RuntimeError("the simulated bank did not sign on")
        await asyncio.sleep(0.05)


async def run_terminal(console: Console, port: int, key: bytes, customers: dict[str, str]
                       ) -> list[tuple[str, bool]]:
    from terminal_sim.client import TerminalClient
    outcomes: list[tuple[str, bool]] = []
    async with TerminalClient("127.0.0.1", port, TERMINAL, AGENT, key) as terminal:
        plan = [("Tagihan listrik (PLNPST)", "PLNPST", customers["postpaid"], None),
                ("Token listrik (PLNPRA)", "PLNPRA", customers["prepaid"], PREPAID_DENOMINATION),
                ("Non taglis (PLNNTL)", "PLNNTL", customers["nontaglis"], None)]
        for title, product, customer, amount in plan:
            quote = await terminal.inquiry(product, customer)
            outcomes.append((f"inquiry {product}", quote.approved))
            result = await terminal.pay(product, customer, amount, inquiry=quote)
            outcomes.append((f"payment {product}", result.approved))
            show(console, title, result)
        balance = await terminal.balance_inquiry()
        outcomes.append(("balance", balance.approved))
        show(console, "Saldo deposit", balance)
    return outcomes


def show(console: Console, title: str, result) -> None:
    console.print(f"[bold]{title}[/bold]: {result.rc} {result.rc_meaning} ({result.elapsed_s * 1000:.0f} ms)")
    lines = result.receipt() if result.info is not None else balance_slip(result)
    if lines:
        console.print("\n".join(["-" * 32, *lines, "-" * 32]) + "\n", markup=False)


def balance_slip(result) -> list[str] | None:
    from switch.wire.receipt import render_balance
    if result.balance is None:
        return None
    ledger, available = result.balance
    return render_balance(ledger, available, result.receipt_meta())


def print_summary(console: Console, outcomes, before: int, after: int, books: list[str], seconds: float) -> None:
    table = Table(title="Demo summary")
    table.add_column("transactions", justify="right")
    table.add_column("approved", justify="right")
    table.add_column("deposit before", justify="right")
    table.add_column("deposit after", justify="right")
    table.add_column("books")
    table.add_column("time", justify="right")
    approved = sum(1 for _, ok in outcomes if ok)
    table.add_row(str(len(outcomes)), str(approved), rupiah_text(before), rupiah_text(after),
                  "balanced" if not books else "; ".join(books), f"{seconds:.1f} s")
    console.print(table)
