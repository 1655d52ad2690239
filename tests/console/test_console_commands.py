"""`ppob-switch user add` and `ppob-switch console` as commands: the password only from stdin and only
its argon2id hash stored; one line and the right exit status for every bad start; the [console] table."""
from __future__ import annotations

import socket
import sqlite3
import subprocess

import pytest

from switch.config import ConfigError, ConsoleSection, parse_config, sample_config
from tests.e2e.conftest import command, run
from tests.support.processes import free_port


def _config(folder, **console) -> str:
    path = folder / "switch.toml"
    path.write_text(sample_config(database=f"sqlite:///{folder}/switch.db", console=console or None))
    return str(path)


def test_user_add_reads_the_password_from_stdin_and_stores_only_its_argon2id_hash(tmp_path):
    config = _config(tmp_path)
    added = run("ppob-switch", "user", "add", "ana", "--role", "operator", "--config", config, cwd=tmp_path,
                stdin="correct horse battery\n")
    assert added.returncode == 0 and added.stdout.strip() == "user ana added (operator)"
    row = sqlite3.connect(tmp_path / "switch.db").execute(
        "SELECT role, password_hash FROM console_users WHERE name = 'ana'").fetchone()
    assert row[0] == "operator" and row[1].startswith("$argon2id$") and "horse" not in row[1]
    again = run("ppob-switch", "user", "add", "ana", "--role", "viewer", "--config", config, cwd=tmp_path,
                stdin="another long password\n")
    assert again.returncode == 1 and again.stderr.strip() == "ppob-switch: user add: user ana already exists"


@pytest.mark.parametrize("args, stdin, status, says", [
    (["ana", "--role", "viewer"], "short\n", 1, "at least 10 characters"),
    (["ana", "--role", "root"], "long enough password\n", 2, "--role"),
    (["a name", "--role", "viewer"], "long enough password\n", 1, "user name must be"),
    (["ana", "--role", "viewer", "--password", "long enough password"], "", 2, "--password"),
])
def test_user_add_refuses_with_one_line_and_adds_nobody(tmp_path, args, stdin, status, says):
    config = _config(tmp_path)
    refused = run("ppob-switch", "user", "add", *args, "--config", config, cwd=tmp_path, stdin=stdin)
    assert refused.returncode == status and says in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    if (tmp_path / "switch.db").exists():
        assert sqlite3.connect(tmp_path / "switch.db").execute("SELECT COUNT(*) FROM console_users").fetchone()[0] == 0


def test_console_exits_1_with_one_line_when_its_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = _config(tmp_path, listen=f"127.0.0.1:{port}")
        done = subprocess.run(command("ppob-switch") + ["console", "--config", config], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_console_exits_1_with_one_line_when_the_database_cannot_open(tmp_path):
    config = tmp_path / "switch.toml"
    config.write_text(sample_config(database=f"sqlite:///{tmp_path}/missing/dir/switch.db",
                                    console={"listen": f"127.0.0.1:{free_port()}"}))
    done = run("ppob-switch", "console", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("ppob-switch: console cannot start: database")


def test_the_console_table_has_defaults_and_names_a_bad_key():
    base = {"switch": {"institution_id": "90001", "database": "sqlite:///x.db"}, "terminals": {"listen": "127.0.0.1:7000"},
            "banks": [{"id": "BANKA", "mode": "connect", "address": "127.0.0.1:9000", "products": ["PLNPST"]}]}
    assert parse_config(base, env={}).console == ConsoleSection()
    assert ConsoleSection().listen == "127.0.0.1:8080"
    chosen = parse_config({**base, "console": {"listen": "127.0.0.1:9999", "lockout_failures": 3}}, env={})
    assert chosen.console.listen == "127.0.0.1:9999" and chosen.console.lockout_failures == 3
    for table, key in (({"listn": "x"}, "console.listn"), ({"lockout_failures": 0}, "console.lockout_failures"),
                       ({"tls_cert": "c.pem"}, "console.tls_key")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            parse_config({**base, "console": table}, env={})
