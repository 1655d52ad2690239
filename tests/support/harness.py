"""Starting a real switch on loopback with a temp SQLite file, one agent and one terminal provisioned."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass

import pytest

from switch.app import Ports, SwitchApp
from switch.ledger import accounts, money
from switch.config import parse_config, sample_config
from switch.ops.metrics import Metrics
from tests.support.peers import KEY, ContractTerminal
from tests.support.processes import ROOMY

AGENT, TERMINAL = "AGT000000000001", "T0000001"


@dataclass
class Running:
    app: SwitchApp
    ports: Ports

    @property
    def db(self):
        return self.app.db

    def terminal(self, terminal_id: str = TERMINAL, agent_id: str = AGENT, key: bytes = KEY) -> ContractTerminal:
        return ContractTerminal("127.0.0.1", self.ports.terminals, terminal_id, agent_id, key)

    async def balances(self, agent_id: str = AGENT) -> tuple[int, int]:
        return await self.db.read(lambda tx: money.balances(tx, agent_id))

    async def books(self) -> list[str]:
        return await self.db.read(money.check_books)


def bank(bank_id: str, port: int, *, mode: str = "connect", products=("PLNPST", "PLNPRA", "PLNNTL"),
         **extra) -> dict:
    return {"id": bank_id, "mode": mode, "address": f"127.0.0.1:{port}", "products": list(products),
            "timeout_s": 2, "reversal_retry_s": 0.5, "echo_interval_s": 30, "reconnect_max_s": 1, **extra}


@pytest.fixture
async def start_switch(tmp_path):
    started: list[SwitchApp] = []

    async def start(banks: list[dict], *, deposit: int = 10_000_000_00, daily_limit: int | None = None,
                    database: str | None = None, switch: dict | None = None, products=(),
                    terminals: dict | None = None) -> Running:
        text = sample_config(database=database or f"sqlite:///{tmp_path}/switch.db",
                             terminal_listen="127.0.0.1:0", metrics_listen="127.0.0.1:0", banks=banks,
                             switch={"settlement_dir": str(tmp_path / "settlement"), **(switch or {})},
                             products=products, terminals={**ROOMY, **(terminals or {})})
        config = parse_config(tomllib.loads(text), env={})
        app = SwitchApp(config, metrics=Metrics())
        ports = await app.start()
        started.append(app)
        running = Running(app, ports)
        await provision(running, deposit, daily_limit)
        return running

    yield start
    for app in started:
        if not app._stopped.is_set():
            await app.stop()


async def provision(running: Running, deposit: int, daily_limit: int | None) -> None:
    async def work(tx):
        if await accounts.get_agent(tx, AGENT) is None:
            await accounts.add_agent(tx, AGENT, "WARUNG BU SRI", daily_limit)
            await accounts.add_terminal(tx, TERMINAL, AGENT, KEY.hex())
            if deposit:
                await money.topup(tx, AGENT, deposit, "initial")
    await running.db.unit(work)


async def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    import asyncio
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return True
        await asyncio.sleep(interval)
    return False


async def switch_with_bank(start_switch, answer=None, *, timeout_s: float = 2, **kwargs):
    """A running switch whose one bank (BANKA) is a ScriptedBank answering with `answer` (default: a
    well-behaved bank), and a contract terminal signed on to it: (running, bank peer, terminal)."""
    from tests.support.bank_answers import good_bank
    from tests.support.peers import ScriptedBank
    peer = ScriptedBank(answer or good_bank)
    port = await peer.listen()
    running = await start_switch([bank("BANKA", port, timeout_s=timeout_s)], **kwargs)
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    terminal = await running.terminal().connect()
    assert (await terminal.sign_on())[39] == "00"
    return running, peer, terminal
