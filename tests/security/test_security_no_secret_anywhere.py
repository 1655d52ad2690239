"""A whole day at a loket with PostgreSQL behind a password, and then every byte the programs wrote
is searched for secrets: terminal MAC keys (old and new), master keys (before and after rotation) and
the database password. Nothing but the one line that hands an operator a new key may hold one.

The day: provisioning, serve, payments, inquiries, balances, a terminal with a wrong key, an unknown
terminal, garbage on the terminal port, a rekey under traffic, block/unblock, a failed admin command
or three, cutover, settlement, the audit listing, a master key rotation, and /metrics scraped."""
from __future__ import annotations

import asyncio
import base64
import secrets
import socket
import urllib.request
from pathlib import Path

import asyncpg
import pytest

from bank_sim.book import Book
from switch.config import sample_config
from tests.e2e.conftest import SEED, SHARES, SIZE, Programs, run, wait_ready
from tests.support.postgres import NEEDS_POSTGRES
from tests.support.processes import free_port

pytestmark = NEEDS_POSTGRES

PASSWORD = "Pw-" + secrets.token_hex(8)
AGENT, TERMINAL, OTHER = "AGT001", "T0000001", "T0000002"
PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def schema():
    name = f"ppob_sec_{secrets.token_hex(5)}"

    async def sql(text: str) -> None:
        conn = await asyncpg.connect(PG)
        try:
            await conn.execute(text)
        finally:
            await conn.close()
    asyncio.run(sql(f"CREATE SCHEMA {name}"))
    yield name
    asyncio.run(sql(f"DROP SCHEMA {name} CASCADE"))


class Day:
    """Every command of the day, with everything it wrote kept for the search."""

    def __init__(self, folder: Path, programs: Programs, config: Path, terminal_port: int) -> None:
        self.folder, self.programs, self.config, self.terminal_port = folder, programs, config, terminal_port
        self.outputs: list[tuple[str, str]] = []   # (what, text)
        self.keys: list[str] = []                  # every terminal key handed out

    def switch(self, *args: str, config: Path | None = None) -> "run":
        done = run("ppob-switch", *args, "--config", str(config or self.config), cwd=self.folder, timeout=120)
        hands_out_a_key = args[:2] in (("terminal", "add"), ("terminal", "rekey")) and done.returncode == 0
        if hands_out_a_key:
            self.keys.append(done.stdout.strip())
        else:
            self.outputs.append((f"ppob-switch {' '.join(args)} (stdout)", done.stdout))
        self.outputs.append((f"ppob-switch {' '.join(args)} (stderr)", done.stderr))
        return done

    def terminal(self, key: str, *args: str, terminal_id: str = TERMINAL):
        done = run("ppob-terminal", "--switch", f"127.0.0.1:{self.terminal_port}", "--terminal-id", terminal_id,
                   "--agent-id", AGENT, "--key", key, "--journal", str(self.folder / f"{terminal_id}.journal"),
                   *args, cwd=self.folder, timeout=120)
        self.outputs.append((f"ppob-terminal {' '.join(args)}", done.stdout + done.stderr))
        return done


def garbage_on_the_wire(port: int) -> None:
    """Hostile bytes: a frame of noise, a zero-length frame, an oversized length, a half-sent frame."""
    for payload in (b"\x00\x10" + bytes(range(16)), b"\x00\x00", b"\xff\xff" + b"A" * 64, b"\x00\x40" + b"0200"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(payload)
            conn.settimeout(2)
            try:
                conn.recv(4096)
            except OSError:
                pass


def forms(secret: str) -> set[str]:
    """How a hex secret could show: as hex either case, and base64 of its bytes."""
    raw = bytes.fromhex(secret)
    return {secret.upper(), secret.lower(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}


def test_a_whole_day_leaves_no_key_or_password_in_any_output(tmp_path, schema):
    database = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/test?search_path={schema}"
    bank_port, terminal_port, metrics_port = free_port(), free_port(), free_port()
    key_file = tmp_path / "keys" / "master.key"
    config = tmp_path / "switch.toml"
    config.write_text(sample_config(
        database=database, terminal_listen=f"127.0.0.1:{terminal_port}", metrics_listen=f"127.0.0.1:{metrics_port}",
        products=SHARES, switch={"master_key_file": str(key_file), "settlement_dir": str(tmp_path / "settlement")},
        banks=[{"id": "BANKA", "mode": "connect", "address": f"127.0.0.1:{bank_port}",
                "products": ["PLNPST", "PLNPRA", "PLNNTL"], "timeout_s": 10, "reconnect_max_s": 1}]))
    programs = Programs(tmp_path)
    day = Day(tmp_path, programs, config, terminal_port)
    customers = Book.generate(SEED, SIZE).examples()
    masters: list[str] = []
    try:
        assert day.switch("agent", "add", AGENT, "--name", "WARUNG BU SRI").returncode == 0
        assert day.switch("agent", "topup", AGENT, "5000000", "--ref", "TRF-1").returncode == 0
        assert day.switch("terminal", "add", TERMINAL, "--agent", AGENT).returncode == 0
        assert day.switch("terminal", "add", OTHER, "--agent", AGENT, "--key", secrets.token_hex(16)).returncode == 0
        masters.append(key_file.read_text().strip())
        programs.start("bank", "ppob-bank-sim", "--listen", f"127.0.0.1:{bank_port}", "--bank-id", "BANKA",
                       "--seed", str(SEED), "--size", str(SIZE), "--settlement-dir", "bank")
        serve = programs.start("serve", "ppob-switch", "serve", "--config", str(config))
        wait_ready(metrics_port, serve, timeout=60)

        key = day.keys[0]
        assert day.terminal(key, "pay", "PLNPST", customers["postpaid"]).returncode == 0
        assert day.terminal(key, "inquiry", "PLNPRA", customers["prepaid"]).returncode == 0
        assert day.terminal(key, "balance").returncode == 0
        assert day.terminal(key, "pay", "PLNPST", customers["unknown"]).returncode == 1
        wrong_key = secrets.token_hex(16)
        day.keys.append(wrong_key)  # a terminal's wrong key must not be echoed either
        assert day.terminal(wrong_key, "balance").returncode != 0
        assert day.terminal(key, "balance", terminal_id="T0000099").returncode != 0
        garbage_on_the_wire(terminal_port)
        assert day.switch("terminal", "rekey", TERMINAL).returncode == 0
        assert day.terminal(key, "balance").returncode != 0            # the old key is refused now
        key = day.keys[-1]
        assert day.terminal(key, "pay", "PLNNTL", customers["nontaglis"]).returncode == 0
        for command in (("agent", "block", AGENT), ("agent", "unblock", AGENT), ("terminal", "block", OTHER),
                        ("terminal", "unblock", OTHER), ("terminal", "list"), ("terminal", "list", "--json"),
                        ("agent", "list"), ("agent", "balance", AGENT)):
            assert day.switch(*command).returncode == 0, command
        assert day.switch("terminal", "add", TERMINAL, "--agent", AGENT).returncode == 1     # exists
        assert day.switch("agent", "topup", "NOPE", "100", "--ref", "X").returncode == 1
        assert day.switch("terminal", "add", "T0000003", "--agent", AGENT, "--key", "XYZ").returncode == 2
        closed = day.switch("cutover")
        assert closed.returncode == 0, closed.stderr
        assert day.switch("settle", "--date", closed.stdout.strip()).returncode == 0
        assert day.switch("keys", "rotate-master").returncode == 0
        masters.append(key_file.read_text().strip())
        assert day.terminal(key, "balance").returncode == 0
        assert day.switch("audit", "--from", "2020-01-01", "--to", "2100-01-01").returncode == 0
        assert day.switch("audit", "--from", "2020-01-01", "--to", "2100-01-01", "--csv", "-").returncode == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as answer:
            day.outputs.append(("/metrics", answer.read().decode()))

        # errors that name the database or the key file: a closed port, a bad URL, a wrong key file
        for name, switch in (("closed", {"database": database.replace(":5432/", f":{free_port()}/")}),
                             ("bad-url", {"database": f"mysql://postgres:{PASSWORD}@127.0.0.1/x"}),
                             ("wrong-key", {"master_key_file": str(tmp_path / "wrong.key")})):
            (tmp_path / "wrong.key").write_text(secrets.token_hex(32) + "\n")
            (tmp_path / "wrong.key").chmod(0o600)
            other = tmp_path / f"{name}.toml"
            other.write_text(config.read_text().replace(database, switch.get("database", database))
                             .replace(str(key_file), switch.get("master_key_file", str(key_file))))
            done = day.switch("terminal", "list", config=other)
            assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1, (name, done.stderr)
        masters.append((tmp_path / "wrong.key").read_text().strip())
        assert programs.stop(serve) == 0
    finally:
        programs.end_all()

    for label in ("serve", "bank"):
        day.outputs.append((f"{label} stdout", (tmp_path / f"{label}.out").read_text()))
        day.outputs.append((f"{label} stderr", (tmp_path / f"{label}.err").read_text()))
    for path in [*(tmp_path / "settlement").rglob("*"), *(tmp_path / "bank").rglob("*")]:
        if path.is_file():
            day.outputs.append((str(path), path.read_text(errors="replace")))
    assert len(day.keys) == 4 and len(masters) == 3 and sum(len(text) for _, text in day.outputs) > 10_000
    assert "terminal_out" in (tmp_path / "serve.err").read_text() + (tmp_path / "serve.out").read_text()
    secrets_by_name = {**{f"terminal key {i}": k for i, k in enumerate(day.keys)},
                       **{f"master key {i}": m for i, m in enumerate(masters)}}
    found = [(what, name) for what, text in day.outputs for name, secret in secrets_by_name.items()
             for form in forms(secret) if form in text]
    found += [(what, "database password") for what, text in day.outputs if PASSWORD in text]
    assert found == []
