"""The console on PostgreSQL (the database several switch nodes share): users from the CLI, a login,
the dashboard without a running switch, and a top-up approved under four eyes in chromium."""
from __future__ import annotations

import asyncio
import json
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest

from switch.config import sample_config
from tests.console.desk import login, wait_http
from tests.e2e.conftest import Programs, run
from tests.support.postgres import NEEDS_POSTGRES
from tests.support.processes import free_port

pytestmark = NEEDS_POSTGRES
SERVER = "postgresql://postgres@127.0.0.1:5432"


def _admin(sql: str) -> None:
    async def go() -> None:
        import asyncpg
        connection = await asyncpg.connect(f"{SERVER}/postgres")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()
    # in a thread of its own: Playwright's sync API keeps an event loop running in this one
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result(timeout=60)


@pytest.fixture
def pg_desk(tmp_path):
    name = f"ppob_console_{secrets.token_hex(5)}"
    _admin(f'CREATE DATABASE "{name}"')
    programs = Programs(tmp_path)
    try:
        port = free_port()
        config = tmp_path / "switch.toml"
        config.write_text(sample_config(database=f"{SERVER}/{name}", metrics_listen=f"127.0.0.1:{free_port()}",
                                        console={"listen": f"127.0.0.1:{port}"}))

        def cli(*args: str, stdin: str | None = None):
            return run("ppob-switch", *args, "--config", str(config), cwd=tmp_path, stdin=stdin)
        assert cli("agent", "add", "AGT01", "--name", "TOKO PG").returncode == 0
        for user in ("ana", "budi"):
            assert cli("user", "add", user, "--role", "operator", stdin=f"{user}-long-password\n").returncode == 0
        programs.start("console", "ppob-switch", "console", "--config", str(config))
        wait_http(f"http://127.0.0.1:{port}/login")
        yield f"http://127.0.0.1:{port}", cli
    finally:
        programs.end_all()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_on_postgresql_a_topup_is_entered_by_one_operator_and_approved_by_another(browser, pg_desk):
    url, cli = pg_desk
    pages = []
    for user in ("ana", "budi"):
        context = browser.new_context()
        page = context.new_page()
        login(page, url, user, f"{user}-long-password")
        pages.append(page)
    ana, budi = pages
    try:
        assert "cannot read the switch's metrics" in ana.locator("#metrics-error").inner_text()   # no switch: said so
        ana.goto(url + "/topups")
        ana.fill("#f-agent_id", "AGT01")
        ana.fill("#f-amount", "75000")
        ana.fill("#f-bank_ref", "PG-REF-1")
        ana.click("#enter-topup button")
        budi.goto(url + "/topups")
        budi.locator("#topups tr", has_text="PG-REF-1").locator("button:has-text('Approve')").click()
        assert "approved" in budi.locator(".flash").inner_text()
        balance = json.loads(cli("agent", "balance", "AGT01", "--json").stdout)
        assert balance["ledger"] == 75_000
    finally:
        for page in pages:
            page.context.close()
