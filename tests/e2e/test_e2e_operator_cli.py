"""`ppob-switch` as an operator types it (subprocesses on a temp TOML and SQLite file): the outputs and exit
statuses OPERATIONS.md promises — 0 success, 2 usage or configuration error naming the option or key,
1 any other failure — each error on one line."""
from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import pytest

from switch.config import sample_config
from tests.e2e.conftest import run
from tests.support.processes import free_port


class Operator:
    def __init__(self, folder: Path, **config) -> None:
        self.folder = folder
        self.config = folder / "switch.toml"
        self.config.write_text(sample_config(database="sqlite:///switch.db", **config))

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        return run("ppob-switch", *args, "--config", str(self.config), cwd=self.folder)


@pytest.fixture
def operator(tmp_path) -> Operator:
    return Operator(tmp_path)


def one_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_an_agent_topped_up_twice_with_one_ref_has_the_amount_once_and_the_repeat_says_so(operator):
    added = operator("agent", "add", "AGT001", "--name", "WARUNG BU SRI", "--daily-limit", "10000000")
    assert added.returncode == 0 and "AGT001" in added.stdout
    first = operator("agent", "topup", "AGT001", "2000000", "--ref", "BCA-TRF-0001")
    assert first.returncode == 0 and "Rp 2.000.000" in first.stdout
    again = operator("agent", "topup", "AGT001", "2000000", "--ref", "BCA-TRF-0001")
    assert again.returncode == 0 and "already applied" in again.stdout and "nothing changed" in again.stdout
    balance = operator("agent", "balance", "AGT001", "--json")
    assert balance.returncode == 0
    assert json.loads(balance.stdout) == {"agent": "AGT001", "ledger": 2_000_000, "available": 2_000_000}


def test_terminal_keys_print_in_upper_case_and_terminals_block_and_unblock(operator):
    operator("agent", "add", "AGT001", "--name", "WARUNG BU SRI")
    given = operator("terminal", "add", "T0000001", "--agent", "AGT001", "--key", "00112233445566778899aabbccddeeff")
    assert given.returncode == 0 and given.stdout.strip() == "00112233445566778899AABBCCDDEEFF"
    generated = operator("terminal", "add", "T0000002", "--agent", "AGT001")
    assert generated.returncode == 0 and re.fullmatch(r"[0-9A-F]{32}", generated.stdout.strip())
    assert generated.stdout.strip() != given.stdout.strip()
    assert operator("terminal", "block", "T0000001").returncode == 0
    assert operator("terminal", "unblock", "T0000001").returncode == 0
    unknown = operator("terminal", "block", "T0000009")
    assert unknown.returncode == 1 and "T0000009" in one_line(unknown)


@pytest.mark.parametrize("command", [("agent", "balance", "NOPE"), ("terminal", "add", "T0000001", "--agent", "NOPE")])
def test_an_unknown_agent_fails_with_exit_1_and_one_line_naming_it(operator, command):
    done = operator(*command)
    assert done.returncode == 1 and "NOPE" in one_line(done) and done.stdout == ""


@pytest.mark.parametrize("extra, key", [({"switch": {"colour": "blue"}}, "switch.colour"),
                                        ({"banks": [{"id": "BANKA", "mode": "connect", "address": "127.0.0.1:7100",
                                                     "products": ["PLNPST"], "timeout": 5}]}, "banks[0].timeout")])
def test_an_unknown_configuration_key_is_exit_2_with_one_line_naming_it(tmp_path, extra, key):
    done = Operator(tmp_path, **extra)("agent", "balance", "AGT001")
    assert done.returncode == 2 and key in one_line(done)


def test_a_missing_required_key_is_exit_2_naming_it(operator):
    text = operator.config.read_text()
    operator.config.write_text(text.replace('institution_id = "90001"\n', ""))
    done = operator("agent", "add", "AGT001", "--name", "WARUNG BU SRI")
    assert done.returncode == 2 and "switch.institution_id" in one_line(done)


@pytest.mark.parametrize("command, named", [
    (("terminal", "add", "T0000001", "--agent", "AGT001", "--key", "XYZ"), "--key"),
    (("agent", "topup", "AGT001", "0", "--ref", "R1"), "RUPIAH"),
    (("agent", "add", "AGENT-ID-TOO-LONG", "--name", "X"), "agent_id")])
def test_a_bad_argument_is_exit_2_with_one_line_naming_it(operator, command, named):
    done = operator(*command)
    assert done.returncode == 2 and named in one_line(done)


def test_cutover_without_a_running_switch_fails_with_exit_1_and_one_line(operator):
    done = operator("cutover")
    assert done.returncode == 1 and "no running switch" in one_line(done) and done.stdout == ""


def test_serve_on_a_terminal_port_already_in_use_exits_1_with_one_line_instead_of_hanging(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        operator = Operator(tmp_path, terminal_listen=f"127.0.0.1:{port}", metrics_listen=f"127.0.0.1:{free_port()}")
        done = run("ppob-switch", "serve", "--config", str(operator.config), cwd=tmp_path, timeout=30)
    assert done.returncode == 1
    assert [line for line in done.stderr.splitlines() if line.startswith("ppob-switch:")] == [
        f"ppob-switch: cannot start: [Errno 98] error while attempting to bind on address ('127.0.0.1', {port}): "
        "address already in use"]
    assert done.stderr.strip().splitlines()[-1].startswith("ppob-switch: cannot start:")  # after the start's events


def test_serve_with_a_database_that_cannot_be_opened_exits_1_with_one_line(tmp_path):
    operator = Operator(tmp_path, terminal_listen=f"127.0.0.1:{free_port()}",
                        metrics_listen=f"127.0.0.1:{free_port()}")
    operator.config.write_text(operator.config.read_text().replace("sqlite:///switch.db", "sqlite:///no/such/dir.db"))
    done = run("ppob-switch", "serve", "--config", str(operator.config), cwd=tmp_path, timeout=30)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert one_line(done).startswith("ppob-switch: cannot start: sqlite: cannot open no/such/dir.db")
