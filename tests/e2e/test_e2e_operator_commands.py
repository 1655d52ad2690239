"""The operator's everyday commands beyond add/topup: `terminal rekey` against a running switch over a real
socket, `terminal list`, `agent list`, `ppob-terminal journal` and `--version` on the three programs."""
from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import pytest

from switch.config import sample_config
from terminal_sim.client import TerminalClient
from terminal_sim.journal import Journal
from tests.e2e.conftest import command, clean_env, run
from tests.support.harness import AGENT, TERMINAL, bank, wait_until
from tests.support.peers import KEY, ScriptedBank
from tests.support.bank_answers import good_bank


async def cli(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """`ppob-switch … --config` as a subprocess, without blocking the loop the switch under test runs on."""
    process = await asyncio.create_subprocess_exec(
        *command("ppob-switch"), *args, "--config", str(folder / "cli.toml"), cwd=folder, env=clean_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())


@pytest.fixture
async def switch_and_cli(start_switch, tmp_path):
    """A running switch (one agent, one terminal with KEY) and a CLI configuration on the same database."""
    peer = ScriptedBank(good_bank)
    port = await peer.listen()
    running = await start_switch([bank("BANKA", port)], daily_limit=5_000_000_00)
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    (tmp_path / "cli.toml").write_text(sample_config(database=f"sqlite:///{tmp_path}/switch.db"))
    yield running, tmp_path
    await peer.close()


async def test_a_rekeyed_terminal_is_refused_with_its_old_key_and_served_with_the_new_one(switch_and_cli):
    running, folder = switch_and_cli
    old = await running.terminal().connect()
    assert (await old.sign_on())[39] == "00"
    assert (await old.balance())[39] == "00"
    done = await cli(folder, "terminal", "rekey", TERMINAL)
    assert done.returncode == 0, done.stderr
    new_key = done.stdout.strip()
    assert re.fullmatch(r"[0-9A-F]{32}", new_key) and new_key != KEY.hex().upper()
    refused = await old.balance()            # the same connection, the old key: refused from now on
    assert refused[39] == "63" and old.bad_macs
    await old.close()
    fresh = await running.terminal(key=bytes.fromhex(new_key)).connect()
    assert (await fresh.sign_on())[39] == "00"
    assert (await fresh.balance())[39] == "00" and not fresh.bad_macs
    await fresh.close()
    listed = await cli(folder, "terminal", "list")
    assert listed.returncode == 0 and TERMINAL in listed.stdout and new_key not in listed.stdout.upper()


async def test_rekey_with_a_given_key_prints_it_and_an_unknown_terminal_is_one_line_exit_1(switch_and_cli):
    _, folder = switch_and_cli
    given = await cli(folder, "terminal", "rekey", TERMINAL, "--key", "00112233445566778899aabbccddeeff")
    assert given.returncode == 0 and given.stdout.strip() == "00112233445566778899AABBCCDDEEFF"
    unknown = await cli(folder, "terminal", "rekey", "T0000099")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr.strip().splitlines() == ["ppob-switch: terminal T0000099: no such terminal"]


async def test_agent_list_shows_balance_held_daily_limit_and_blocked_in_a_table_and_as_json(switch_and_cli):
    running, folder = switch_and_cli
    assert (await cli(folder, "agent", "add", "AGT002", "--name", "TOKO KEDUA")).returncode == 0
    assert (await cli(folder, "agent", "block", "AGT002")).returncode == 0
    table = await cli(folder, "agent", "list")
    assert table.returncode == 0, table.stderr
    header, first, second = table.stdout.strip().splitlines()
    assert header.split() == ["agent", "name", "balance", "held", "available", "daily", "limit", "blocked"]
    assert first.startswith(AGENT) and "Rp 10.000.000" in first and "Rp 5.000.000" in first
    assert first.endswith("no") and second.startswith("AGT002") and second.endswith("yes")
    listed = json.loads((await cli(folder, "agent", "list", "--json")).stdout)
    assert listed[0] == {"agent": AGENT, "name": "WARUNG BU SRI", "balance": 10_000_000, "held": 0,
                         "available": 10_000_000, "daily_limit": 5_000_000, "blocked": False}
    assert listed[1]["blocked"] is True and listed[1]["daily_limit"] is None and listed[1]["balance"] == 0


async def test_terminal_list_filters_by_agent_and_never_prints_a_key(switch_and_cli):
    _, folder = switch_and_cli
    await cli(folder, "agent", "add", "AGT002", "--name", "TOKO KEDUA")
    added = await cli(folder, "terminal", "add", "T0000002", "--agent", "AGT002")
    everything = json.loads((await cli(folder, "terminal", "list", "--json")).stdout)
    assert [t["terminal"] for t in everything] == [TERMINAL, "T0000002"]
    assert all(set(t) == {"terminal", "agent", "blocked", "created_at"} for t in everything)
    only = await cli(folder, "terminal", "list", "--agent", "AGT002")
    assert "T0000002" in only.stdout and TERMINAL not in only.stdout
    assert added.stdout.strip() not in only.stdout


async def test_the_terminal_journal_lists_each_request_with_its_stan_and_answer_without_the_switch(
        switch_and_cli, tmp_path):
    running, folder = switch_and_cli
    path = tmp_path / "t1.journal"
    with Journal(path) as journal:
        async with TerminalClient("127.0.0.1", running.ports.terminals, TERMINAL, AGENT, KEY, journal,
                                  timeout=10) as terminal:
            balance = await terminal.balance_inquiry()
    assert balance.approved
    await running.app.stop()                 # the journal is read offline
    done = run("ppob-terminal", "--terminal-id", TERMINAL, "--journal", str(path), "journal", cwd=folder)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["STAN", "sent"]
    row = next(line for line in lines if " balance " in line)
    assert row.split()[0] == balance.stan and "00" in row.split() and row.endswith("answered")
    as_json = json.loads(run("ppob-terminal", "--terminal-id", TERMINAL, "--journal", str(path), "journal",
                             "--json", cwd=folder).stdout)
    assert {"stan": balance.stan, "kind": "balance", "rc": "00"}.items() <= as_json[-1].items()


def test_a_missing_journal_is_one_line_exit_1(tmp_path):
    done = run("ppob-terminal", "--terminal-id", TERMINAL, "--journal", str(tmp_path / "none.journal"), "journal",
               cwd=tmp_path)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1 and "none.journal" in done.stderr


@pytest.mark.parametrize("program", ["ppob-switch", "ppob-terminal", "ppob-bank-sim"])
def test_each_program_prints_its_version(tmp_path, program):
    done = run(program, "--version", cwd=tmp_path)
    build = r" \((hot path compiled|pure Python)\)" if program == "ppob-switch" else ""
    assert done.returncode == 0 and re.fullmatch(rf"{program} \d+\.\d+\.\d+\S*{build}", done.stdout.strip())
