"""A support desk: the simulated bank, `ppob-switch serve` and `ppob-switch console` as real processes on
one SQLite file, provisioned with the CLI (agent, terminal, console users from stdin), real payments made
by `ppob-terminal` — and Debian's chromium driven by Playwright, launched by its executable path."""
from __future__ import annotations

import os
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bank_sim.book import Book
from switch.config import sample_config
from tests.e2e.conftest import SEED, SHARES, SIZE, Programs, run, wait_ready
from tests.support.processes import free_port

AGENT, TERMINAL, DEPOSIT = "AGT001", "T0000001", 5_000_000
PASSWORDS = {"op1": "operator-one-secret", "op2": "operator-two-secret", "viewer": "viewer-only-secret",
             "boss": "administrator-secret"}
ROLES = {"op1": "operator", "op2": "operator", "viewer": "viewer", "boss": "admin"}
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
SHOTS_ENV = "PPOB_CONSOLE_SHOTS"   # a folder (e.g. docs/console) to keep the pages' screenshots in


def chromium_path() -> str:
    for candidate in (os.environ.get("PPOB_CHROMIUM", ""), *CHROMIUM_PATHS, shutil.which("chromium") or ""):
        if candidate and Path(candidate).is_file():
            return candidate
    raise AssertionError("Debian's chromium is needed for the console's browser tests:"
                         " apt-get install -y chromium (bash .ci/run does it)")


@dataclass
class Desk:
    folder: Path
    config: Path
    url: str
    key: str
    terminal_port: int
    customers: dict[str, str]
    receipts: dict[str, str] = field(default_factory=dict)   # customer -> the struk ppob-terminal printed
    bank: Any = None                                         # the bank simulator's process

    def switch(self, *args: str, stdin: str | None = None):
        return run("ppob-switch", *args, "--config", str(self.config), cwd=self.folder, stdin=stdin)

    def terminal(self, *args: str, key: str | None = None):
        return run("ppob-terminal", "--switch", f"127.0.0.1:{self.terminal_port}", "--terminal-id", TERMINAL,
                   "--agent-id", AGENT, "--key", key or self.key, "--journal", str(self.folder / "t.journal"),
                   *args, cwd=self.folder)

    def balance(self) -> int:
        import json
        return json.loads(self.switch("agent", "balance", AGENT, "--json").stdout)["ledger"]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("desk")
    bank_port, terminal_port, metrics_port, console_port = free_port(), free_port(), free_port(), free_port()
    config = folder / "switch.toml"
    config.write_text(sample_config(
        database="sqlite:///switch.db", terminal_listen=f"127.0.0.1:{terminal_port}",
        metrics_listen=f"127.0.0.1:{metrics_port}", products=SHARES, switch={"settlement_dir": str(folder / "settle")},
        banks=[{"id": "BANKA", "mode": "connect", "address": f"127.0.0.1:{bank_port}",
                "products": ["PLNPST", "PLNPRA", "PLNNTL"], "timeout_s": 10, "reconnect_max_s": 1,
                "reversal_retry_s": 60}],
        console={"listen": f"127.0.0.1:{console_port}", "lockout_failures": 3}))
    desk = Desk(folder, config, f"http://127.0.0.1:{console_port}", "", terminal_port,
                Book.generate(SEED, SIZE).examples())
    assert desk.switch("agent", "add", AGENT, "--name", "WARUNG BU SRI").returncode == 0
    assert desk.switch("agent", "topup", AGENT, str(DEPOSIT), "--ref", "BCA-TRF-0001").returncode == 0
    desk.key = desk.switch("terminal", "add", TERMINAL, "--agent", AGENT).stdout.strip()
    for name, role in ROLES.items():
        added = desk.switch("user", "add", name, "--role", role, stdin=PASSWORDS[name] + "\n")
        assert added.returncode == 0, added.stderr
    programs = Programs(folder)
    try:
        desk.bank = programs.start("bank", "ppob-bank-sim", "--listen", f"127.0.0.1:{bank_port}", "--bank-id", "BANKA",
                       "--seed", str(SEED), "--size", str(SIZE), "--settlement-dir", "bank")
        wait_ready(metrics_port, programs.start("serve", "ppob-switch", "serve", "--config", str(config)))
        programs.start("console", "ppob-switch", "console", "--config", str(config))
        wait_http(desk.url + "/login")
        for example in ("postpaid", "postpaid_1"):
            customer = desk.customers[example]
            paid = desk.terminal("pay", "PLNPST", customer)
            assert paid.returncode == 0, paid.stderr
            desk.receipts[customer] = paid.stdout
        yield desk
    finally:
        programs.end_all()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def as_user(browser, desk):
    """as_user("op1") → a logged-in page in its own browser context (its own cookies)."""
    contexts = []

    def open_as(name: str):
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        contexts.append(context)
        page = context.new_page()
        login(page, desk.url, name, PASSWORDS[name])
        assert page.locator("#who").inner_text().startswith(name)
        return page

    yield open_as
    for context in contexts:
        context.close()


def login(page, url: str, name: str, password: str) -> None:
    page.goto(url + "/login")
    fill_login(page, name, password)


def fill_login(page, name: str, password: str) -> None:
    page.fill("#f-name", name)
    page.fill("#f-password", password)
    page.click("form[action='/login'] button[type=submit]")


def screenshot(page, name: str) -> None:
    """Kept in $PPOB_CONSOLE_SHOTS when set (how docs/console/ is made), else only taken."""
    target = os.environ.get(SHOTS_ENV)
    image = page.screenshot(full_page=True)
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        (Path(target) / f"{name}.png").write_bytes(image)
