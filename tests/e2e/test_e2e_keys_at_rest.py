"""Terminal keys at rest through the real commands: the master key file appears beside the database on
first use (said once), `switch.master_key_file` and PPOB_MASTER_KEY_FILE name another, `serve` refuses
in one line when the file is missing or wrong, and `keys rotate-master` re-seals every key while a
running switch goes on answering the terminal."""
from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from switch.config import sample_config
from tests.e2e.conftest import Programs, run
from tests.e2e.test_e2e_three_programs import AGENT, TERMINAL, set_up
from tests.support.processes import free_port


class Operator:
    def __init__(self, folder: Path, **switch) -> None:
        self.folder = folder
        self.config = folder / "switch.toml"
        self.config.write_text(sample_config(database="sqlite:///switch.db", terminal_listen=f"127.0.0.1:{free_port()}",
                                             metrics_listen=f"127.0.0.1:{free_port()}", switch=switch or None))

    def __call__(self, *args: str, env: dict | None = None):
        return run("ppob-switch", *args, "--config", str(self.config), cwd=self.folder, env=env)


def one_line(done) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_the_key_file_is_made_beside_the_database_once_and_a_missing_one_stops_serve_in_one_line(tmp_path):
    operator = Operator(tmp_path)
    assert operator("agent", "add", AGENT, "--name", "WARUNG BU SRI").returncode == 0
    first = operator("terminal", "add", "T0000001", "--agent", AGENT)
    second = operator("terminal", "add", "T0000002", "--agent", AGENT)
    key_file = tmp_path / "switch.db.master-key"
    assert first.returncode == 0 and "created master key file" in one_line(first) and str(key_file) in first.stderr
    assert second.returncode == 0 and second.stderr == ""
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    for key in (first.stdout.strip(), second.stdout.strip()):
        for name in ("switch.db", "switch.db-wal"):
            data = (tmp_path / name).read_bytes() if (tmp_path / name).exists() else b""
            assert key.encode() not in data and key.lower().encode() not in data

    key_file.rename(tmp_path / "away.key")
    refused = run("ppob-switch", "serve", "--config", str(operator.config), cwd=tmp_path, timeout=60)
    line = one_line(refused)
    assert refused.returncode == 1 and "cannot start" in line and "master key file" in line and "missing" in line
    listed = operator("terminal", "rekey", "T0000001")
    assert listed.returncode == 1 and "missing" in one_line(listed) and listed.stdout == ""

    (tmp_path / "wrong.key").write_text("ab" * 32 + "\n")
    (tmp_path / "wrong.key").chmod(0o600)
    wrong = run("ppob-switch", "serve", "--config", str(operator.config), cwd=tmp_path, timeout=60,
                env={"PPOB_MASTER_KEY_FILE": str(tmp_path / "wrong.key")})
    assert wrong.returncode == 1 and "sealed under master key" in one_line(wrong)
    # the right file named by the environment: the terminal keys open again
    rekey = operator("terminal", "rekey", "T0000001", env={"PPOB_MASTER_KEY_FILE": str(tmp_path / "away.key")})
    assert rekey.returncode == 0 and rekey.stderr == ""


def test_agent_and_audit_commands_refuse_in_one_line_when_the_key_file_is_missing(tmp_path):
    operator = Operator(tmp_path)
    operator("agent", "add", AGENT, "--name", "WARUNG BU SRI")
    assert operator("terminal", "add", "T0000001", "--agent", AGENT).returncode == 0
    (tmp_path / "switch.db.master-key").rename(tmp_path / "away.key")
    for args in (("agent", "list"), ("agent", "balance", AGENT), ("agent", "topup", AGENT, "100000", "--ref", "T1"),
                 ("agent", "block", AGENT), ("audit", "--from", "2020-01-01", "--to", "2099-12-31")):
        refused = operator(*args)
        assert refused.returncode == 1 and "missing" in one_line(refused) and refused.stdout == "", args
    # the right file named by the environment: they work again, and nothing refused was done
    listed = operator("agent", "list", "--json", env={"PPOB_MASTER_KEY_FILE": str(tmp_path / "away.key")})
    assert listed.returncode == 0 and listed.stderr == "" and AGENT in listed.stdout
    audit = operator("audit", "--from", "2020-01-01", "--to", "2099-12-31", "--csv", "-",
                     env={"PPOB_MASTER_KEY_FILE": str(tmp_path / "away.key")})
    actions = [line.split(",")[4] for line in audit.stdout.splitlines()[1:]]
    assert audit.returncode == 0 and actions == ["agent.add", "terminal.add"]


def test_switch_master_key_file_names_where_the_key_lives(tmp_path):
    operator = Operator(tmp_path, master_key_file=str(tmp_path / "secrets" / "ppob.key"))
    operator("agent", "add", AGENT, "--name", "WARUNG BU SRI")
    added = operator("terminal", "add", "T0000001", "--agent", AGENT)
    assert added.returncode == 0 and str(tmp_path / "secrets" / "ppob.key") in added.stderr
    assert (tmp_path / "secrets" / "ppob.key").exists() and not (tmp_path / "switch.db.master-key").exists()


@pytest.fixture(scope="module")
def loket(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    programs = Programs(folder)
    try:
        yield set_up(folder, programs)
    finally:
        programs.end_all()


def test_rotating_the_master_key_under_a_running_switch_keeps_the_terminal_answered(loket):
    assert loket.terminal("balance").returncode == 0
    key_file = loket.folder / "switch.db.master-key"
    old = key_file.read_text()
    rotated = loket.switch("keys", "rotate-master", "--operator", "sec-officer")
    assert rotated.returncode == 0, rotated.stderr
    assert "1 terminal key(s) re-sealed" in rotated.stdout and key_file.read_text() != old
    retired = [p for p in loket.folder.iterdir() if p.name.endswith(".retired")]
    assert [p.read_text() for p in retired] == [old]
    assert old.strip() not in rotated.stdout + rotated.stderr
    after = loket.terminal("balance")
    assert after.returncode == 0, after.stdout + after.stderr
    assert loket.terminal("inquiry", "PLNPST", loket.customers["postpaid"]).returncode == 0
    audit = loket.switch("audit", "--from", "2020-01-01", "--to", "2100-01-01", "--csv", "-")
    assert "keys.rotate-master" in audit.stdout and "sec-officer" in audit.stdout
    shutil.copy(key_file, loket.folder / "copy.key")
