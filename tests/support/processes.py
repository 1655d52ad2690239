"""The switch as a real process (`python -m switch.ops.cli serve`), for tests that signal or kill it."""
from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

from .peers import KEY, ContractTerminal

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serve(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switch.ops.cli", "serve", "--config", str(config),
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
