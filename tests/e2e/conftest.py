"""End-to-end beds: the real switch, the simulated bank and the simulated terminal, as a user drives them —
in one process over loopback (like `ppob-switch demo`), or as the installed commands in subprocesses."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from bank_sim.book import Book
from bank_sim.host import BankHost
from terminal_sim.client import TerminalClient
from terminal_sim.journal import Journal
from tests.support.harness import AGENT, TERMINAL, Running, bank, start_switch, wait_until  # noqa: F401
from tests.support.peers import KEY

SEED, SIZE = 7, 50
SHARES = [{"code": "PLNPST", "agent_share": 1500}, {"code": "PLNPRA", "agent_share": 1000},
          {"code": "PLNNTL", "agent_share": 1500}]
MODULES = {"ppob-switch": "switch.cli", "ppob-terminal": "terminal_sim", "ppob-bank-sim": "bank_sim.cli"}


@dataclass
class Shop:
    """One agent's loket: the switch, its bank and the agent's terminal, all in this process."""
    running: Running
    bank: BankHost
    terminal: TerminalClient
    journal: Journal
    customers: dict[str, str]

    async def deposit(self) -> tuple[int, int]:
        """(ledger, available) of the agent in whole rupiah, read from the switch's ledger."""
        ledger, available = await self.running.balances()
        return ledger // 100, available // 100


@pytest.fixture
async def shop(start_switch, tmp_path):
    book = Book.generate(seed=SEED, size=SIZE)
    host = BankHost(book, bank_id="BANKA", settlement_dir=tmp_path / "bank")
    port = await host.listen("127.0.0.1", 0)
    running = await start_switch([bank("BANKA", port)], products=SHARES)
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    journal = Journal(tmp_path / f"{TERMINAL}.journal")
    terminal = TerminalClient("127.0.0.1", running.ports.terminals, TERMINAL, AGENT, KEY, journal, timeout=10)
    await terminal.connect()
    yield Shop(running, host, terminal, journal, book.examples())
    await terminal.close()
    journal.close()
    await host.stop()


# ---- subprocesses ---------------------------------------------------------------------------------

def command(name: str) -> list[str]:
    """The installed console script beside this interpreter, or `python -m` its module."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", MODULES[name]]


def clean_env() -> dict[str, str]:
    # PPOB_CONFIG / PPOB_DATABASE of the person running the tests must not steer the commands
    return {k: v for k, v in os.environ.items() if not k.startswith("PPOB_")}


def run(name: str, *args: str, cwd: Path, stdin: str | None = None, timeout: float = 60,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command(name) + list(args), cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=timeout, env={**clean_env(), **(env or {})})


class Programs:
    """Long-running commands (serve, bank simulator), their output in files; all ended at teardown."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[subprocess.Popen] = []

    def start(self, label: str, name: str, *args: str) -> subprocess.Popen:
        out = (self.folder / f"{label}.out").open("w")
        err = (self.folder / f"{label}.err").open("w")
        process = subprocess.Popen(command(name) + list(args), cwd=self.folder, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL, env=clean_env())
        out.close()
        err.close()
        self.started.append(process)
        return process

    def log(self, label: str) -> str:
        return (self.folder / f"{label}.err").read_text()

    def stop(self, process: subprocess.Popen, timeout: float = 20) -> int:
        """SIGTERM, then the exit status."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process.wait(timeout)

    def end_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


@pytest.fixture
def programs(tmp_path):
    started = Programs(tmp_path)
    try:
        yield started
    finally:
        started.end_all()


def wait_ready(metrics_port: int, process: subprocess.Popen, timeout: float = 20) -> None:
    """Until the switch's /readyz says a bank link is up for every product (or the switch died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"ppob-switch serve exited {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("ppob-switch serve never became ready")


def wait_for_text(path: Path, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path.name}")
