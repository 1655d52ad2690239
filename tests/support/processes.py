"""The switch as a real process (`python -m switch.cli serve`), for tests that signal or kill it."""
from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .peers import KEY, ContractTerminal

ROOT = Path(__file__).resolve().parents[2]
# Tests of the flows pipeline dozens to hundreds of requests from one terminal at once; the
# per-terminal overload limits (whose defaults would answer most of those 91) have tests of their
# own, which set the limit they test.
ROOMY = {"max_in_flight_per_terminal": 1000, "max_requests_per_s": 100000, "max_burst": 100000}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serve(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switch.cli", "serve", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


async def signed_on(port: int, terminal_id: str, agent_id: str, key: bytes = KEY,
                    timeout: float = 15.0) -> ContractTerminal:
    """A terminal connected and signed on, retrying while the switch starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            terminal = await ContractTerminal("127.0.0.1", port, terminal_id, agent_id, key).connect()
            if (await terminal.sign_on())[39] == "00":
                return terminal
        except (OSError, ConnectionError, asyncio.TimeoutError):
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


@dataclass
class SwitchFiles:
    """A configuration file and a provisioned database for `serve`: one agent, one terminal, a deposit."""
    config: Path
    terminal_port: int
    db: object  # an open Database on the same file, for the test's checks
    ops_port: int = 0  # the switch's /metrics, /healthz, /readyz


async def ready(files: SwitchFiles, timeout: float = 15.0) -> None:
    """Until /readyz says 200: a terminal can sign on as soon as the switch listens, before the
    switch's own sign-on to its bank is answered, and until then every payment is (rightly) a 91."""
    deadline = time.monotonic() + timeout
    while await http_status("127.0.0.1", files.ops_port, "/readyz") != 200:
        assert time.monotonic() < deadline, "the switch never became ready (no bank link up?)"
        await asyncio.sleep(0.05)


async def prepare(tmp_path: Path, bank: dict, deposit: int, terminal_id: str, agent_id: str,
                  key: bytes = KEY) -> SwitchFiles:
    from switch.ledger import accounts, money
    from switch.ledger.storage import open_database
    from switch.config import sample_config
    terminal_port, ops_port = free_port(), free_port()
    database = f"sqlite:///{tmp_path}/switch.db"
    config = tmp_path / "switch.toml"
    config.write_text(sample_config(database=database, terminal_listen=f"127.0.0.1:{terminal_port}",
                                    metrics_listen=f"127.0.0.1:{ops_port}",
                                    switch={"settlement_dir": str(tmp_path)}, banks=[bank], terminals=ROOMY))
    db = open_database(database)
    await db.open()

    async def provision(tx) -> None:
        await accounts.add_agent(tx, agent_id, "WARUNG", None)
        await accounts.add_terminal(tx, terminal_id, agent_id, key.hex())
        await money.topup(tx, agent_id, deposit, "initial")
    await db.unit(provision)
    return SwitchFiles(config, terminal_port, db, ops_port)


async def http_status(host: str, port: int, path: str) -> int | None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
    except (OSError, asyncio.TimeoutError):
        return None
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), 10)
        parts = line.split()
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    except (OSError, asyncio.TimeoutError, ValueError):
        return None
    finally:
        writer.close()
