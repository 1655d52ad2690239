"""Several switch nodes as real processes (`python -m switch.cli serve`) on one fresh PostgreSQL
database, and Debian's HAProxy in front of them with the configuration shipped in deploy/haproxy/."""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

from .processes import ROOT, free_port, http_status

# another PostgreSQL-compatible server can be named here (its maintenance database's URL)
PG_SERVER = os.environ.get("PPOB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
NO_HAPROXY = "Debian's haproxy is not installed (apt-get install -y haproxy; .ci/run installs it)"


@asynccontextmanager
async def backend_database(backend: str, prefix: str) -> AsyncIterator[str | None]:
    """For a test over both backends: None for "sqlite" (the harness's temp SQLite file), else the URL
    of a fresh PostgreSQL database named after `prefix`, dropped afterwards."""
    if backend == "sqlite":
        yield None
        return
    async with fresh_postgres(prefix) as url:
        yield url


@asynccontextmanager
async def fresh_postgres(prefix: str = "ppob_nodes", server: str = PG_SERVER) -> AsyncIterator[str]:
    """A throw-away database on `server` (default: the local one), dropped afterwards (its connections
    forced out)."""
    import asyncpg
    name = f"{prefix}_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        admin = await asyncpg.connect(server)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@dataclass
class Node:
    name: str
    config: Path
    terminal_port: int
    ops_port: int
    log: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        out = open(self.log, "ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "switch.cli", "serve", "--config", str(self.config),
            stdout=out, stderr=out, env={**os.environ, "PYTHONPATH": str(ROOT)})
        out.close()

    def kill(self) -> None:
        """SIGKILL: no drain, no sign-off, no last commit, its connections reset."""
        if self.alive:
            self.process.kill()

    async def stop(self, timeout: float = 40.0) -> None:
        if not self.alive:
            if self.process is not None:
                await self.process.wait()
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except asyncio.TimeoutError:
            self.process.kill()
            await self.process.wait()

    async def ready(self) -> bool:
        return (await http_status("127.0.0.1", self.ops_port, "/readyz")) == 200


@dataclass
class Cluster:
    """N nodes with their own terminal and ops ports and node ids, one database, the same banks."""
    database: str
    workdir: Path
    banks: list[dict]
    count: int = 3
    nodes: list[Node] = field(default_factory=list)

    def write(self) -> None:
        from switch.config import sample_config
        for n in range(1, self.count + 1):
            terminal_port, ops_port = free_port(), free_port()
            config = self.workdir / f"node{n}.toml"
            config.write_text(sample_config(
                database=self.database, terminal_listen=f"127.0.0.1:{terminal_port}",
                metrics_listen=f"127.0.0.1:{ops_port}", banks=self.banks,
                switch={"settlement_dir": str(self.workdir / f"settlement{n}"), "node_id": f"node{n}"}))
            self.nodes.append(Node(f"node{n}", config, terminal_port, ops_port, self.workdir / f"node{n}.log"))

    async def start(self, timeout: float = 60.0) -> None:
        if not self.nodes:
            self.write()
        for node in self.nodes:
            await node.start()
        await self.wait_ready(self.nodes, timeout)

    async def wait_ready(self, nodes: list[Node], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for node in nodes:
            while not await node.ready():
                if not node.alive:
                    raise RuntimeError(f"{node.name} exited: {self.tail(node)}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{node.name} not ready in {timeout:g} s: {self.tail(node)}")
                await asyncio.sleep(0.2)

    @staticmethod
    def tail(node: Node, size: int = 3000) -> str:
        return node.log.read_text(errors="replace")[-size:] if node.log.exists() else ""

    async def stop(self) -> None:
        await asyncio.gather(*(node.stop() for node in self.nodes))


@dataclass
class Haproxy:
    """deploy/haproxy/haproxy.cfg run by Debian's haproxy in the foreground, ports from the environment."""
    nodes: list[Node]
    workdir: Path
    port: int = 0
    process: asyncio.subprocess.Process | None = None

    stats_port: int = 0

    def environment(self) -> dict[str, str]:
        self.stats_port = self.stats_port or free_port()
        env = {"PPOB_LB_LISTEN": f"127.0.0.1:{self.port}", "PPOB_LB_STATS": f"127.0.0.1:{self.stats_port}"}
        for n in range(1, 4):  # the shipped file names three servers; fewer nodes repeat the last
            node = self.nodes[min(n, len(self.nodes)) - 1]
            env[f"PPOB_NODE{n}"] = f"127.0.0.1:{node.terminal_port}"
            env[f"PPOB_NODE{n}_OPS"] = str(node.ops_port)
        return env

    async def start(self, timeout: float = 30.0) -> int:
        self.port = self.port or free_port()
        self.log = self.workdir / "haproxy.log"
        out = open(self.log, "ab")
        self.process = await asyncio.create_subprocess_exec(
            HAPROXY, "-db", "-f", str(HAPROXY_CFG), stdout=out, stderr=out,
            env={**os.environ, **self.environment()})
        out.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return self.port
            except OSError:
                if self.process.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"haproxy did not start: {self.log.read_text()[-2000:]}")
                await asyncio.sleep(0.1)

    async def server_states(self) -> dict[str, str]:
        """Each server's state as HAProxy sees it (UP, DOWN, "UP 1/2", ...), from its stats CSV."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.stats_port)
        writer.write(b"GET /stats;csv HTTP/1.0\r\n\r\n")
        body = (await asyncio.wait_for(reader.read(), 10)).decode(errors="replace")
        writer.close()
        states = {}
        for line in body.split("\r\n\r\n", 1)[-1].splitlines():
            cells = line.split(",")
            if len(cells) > 17 and cells[0] == "switch_nodes" and cells[1] not in ("FRONTEND", "BACKEND"):
                states[cells[1]] = cells[17]
        return states

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()


async def provision(database: str, agents: dict[str, int], terminals: dict[str, str]) -> None:
    """Agents with their deposits (minor units) and terminals (id -> agent), all with tests' KEY."""
    from switch.ledger import accounts, money
    from switch.ledger.storage import open_database
    from .peers import KEY
    db = open_database(database)
    await db.open()

    async def work(tx) -> None:
        for agent_id, deposit in agents.items():
            await accounts.add_agent(tx, agent_id, f"WARUNG {agent_id[-3:]}", None)
            if deposit:
                await money.topup(tx, agent_id, deposit, f"initial-{agent_id}")
        for terminal_id, agent_id in terminals.items():
            await accounts.add_terminal(tx, terminal_id, agent_id, KEY.hex())
    try:
        await db.unit(work)
    finally:
        await db.close()
