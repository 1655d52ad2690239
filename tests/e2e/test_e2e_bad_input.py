"""Every command of the three programs given bad input, as an operator would mistype it: one line on
stderr naming the problem, the promised exit status (2 for what was typed, 1 for what the world said),
never a traceback, never a secret. Plus the same commands writing into a pipe the reader has closed."""
from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from switch.config import sample_config
from tests.e2e.conftest import command, clean_env, run

KEY = "00112233445566778899aabbccddeeff"
T = ("--switch", "127.0.0.1:1", "--terminal-id", "T1", "--agent-id", "AGT001", "--key", KEY)
SECRET = "s3cr3t-pw"
PG_DOWN = f"postgresql://ops:{SECRET}@127.0.0.1:1/ppob"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A configuration, one agent with a topup under ref R1 and one terminal."""
    path = tmp_path_factory.mktemp("bad-input")
    (path / "switch.toml").write_text(sample_config(database="sqlite:///switch.db"))
    for args in (("agent", "add", "AGT001", "--name", "WARUNG"), ("agent", "topup", "AGT001", "500", "--ref", "R1"),
                 ("terminal", "add", "T0000001", "--agent", "AGT001")):
        done = run("ppob-switch", *args, "--config", "switch.toml", cwd=path)
        assert done.returncode == 0, done.stderr
    (path / "some.RCN").write_text("not a settlement file\n")
    return path


C = ("--config", "switch.toml")
# (program, arguments, exit status, text the one line must contain)
TABLE = [
    ("ppob-switch", (), 2, "required"),
    ("ppob-switch", ("launch",), 2, "invalid choice"),
    ("ppob-switch", ("agent", "list", "--config", "nope.toml"), 2, "nope.toml"),
    ("ppob-switch", ("demo", "--keep", "switch.toml/inside"), 1, "switch.toml/inside"),
    ("ppob-switch", ("agent", "add", "AGT 1", "--name", "X", *C), 2, "agent id"),
    ("ppob-switch", ("agent", "add", "AGT002", "--name", " ", *C), 2, "--name"),
    ("ppob-switch", ("agent", "add", "AGT002", "--name", "X", "--daily-limit", "-5", *C), 2, "negative"),
    ("ppob-switch", ("agent", "add", "AGT002", "--name", "X", "--daily-limit", "99999999999999999999", *C), 2,
     "maximum"),
    ("ppob-switch", ("agent", "add", "AGT001", "--name", "X", *C), 1, "already exists"),
    ("ppob-switch", ("agent", "topup", "AGT001", "99999999999999999999", "--ref", "X", *C), 2, "maximum topup"),
    ("ppob-switch", ("agent", "topup", "AGT001", "-5", "--ref", "X", *C), 2, "negative"),
    ("ppob-switch", ("agent", "topup", "AGT001", "0", "--ref", "X", *C), 2, "at least 1 rupiah"),
    ("ppob-switch", ("agent", "topup", "AGT001", "1.5", "--ref", "X", *C), 2, "whole number"),
    ("ppob-switch", ("agent", "topup", "AGT001", "100", *C), 2, "--ref"),
    ("ppob-switch", ("agent", "topup", "AGT001", "600", "--ref", "R1", *C), 1, "amounts differ"),
    ("ppob-switch", ("agent", "topup", "NOPE", "100", "--ref", "X", *C), 1, "NOPE"),
    ("ppob-switch", ("agent", "balance", "NOPE", *C), 1, "no such agent"),
    ("ppob-switch", ("agent", "block", "NOPE", *C), 1, "no such agent"),
    ("ppob-switch", ("agent", "unblock", "NOPE", *C), 1, "no such agent"),
    ("ppob-switch", ("agent", "statement", "AGT001", "--from", "2026-13-01", "--to", "2026-12-31", *C), 2,
     "2026-13-01"),
    ("ppob-switch", ("agent", "statement", "AGT001", "--from", "2026-12-31", "--to", "2026-12-01", *C), 2,
     "is after"),
    ("ppob-switch", ("agent", "statement", "AGT001", "--from", "2026-12-01", "--to", "2026-12-31", "--csv",
                     "no/such/dir/s.csv", *C), 1, "no/such/dir/s.csv"),
    ("ppob-switch", ("terminal", "add", "T0000002", "--agent", "AGT001", "--key", "XYZ", *C), 2, "32 hex"),
    ("ppob-switch", ("terminal", "add", "T000000099", "--agent", "AGT001", *C), 2, "terminal id"),
    ("ppob-switch", ("terminal", "add", "T0000002", "--agent", "NOPE", *C), 1, "NOPE"),
    ("ppob-switch", ("terminal", "add", "T0000001", "--agent", "AGT001", *C), 1, "already exists"),
    ("ppob-switch", ("terminal", "rekey", "T0000009", *C), 1, "no such terminal"),
    ("ppob-switch", ("terminal", "rekey", "T0000001", "--key", "12", *C), 2, "32 hex"),
    ("ppob-switch", ("terminal", "list", "--agent", "A B", *C), 2, "agent id"),
    ("ppob-switch", ("terminal", "block", "T0000009", *C), 1, "T0000009"),
    ("ppob-switch", ("terminal", "unblock", "T0000009", *C), 1, "T0000009"),
    ("ppob-switch", ("cutover", *C), 1, "no running switch"),
    ("ppob-switch", ("settle", "--date", "yesterday", *C), 2, "yesterday"),
    ("ppob-switch", ("settle", "--date", "2026-11-25", "--bank", "BANKZ", *C), 2, "unknown bank BANKZ"),
    ("ppob-switch", ("settle", "--date", "2026-11-25", *C), 1, "no running switch"),
    ("ppob-switch", ("recon", "--bank", "BANKZ", "--date", "2026-11-25", "--file", "some.RCN", *C), 2,
     "unknown bank BANKZ"),
    ("ppob-switch", ("recon", "--bank", "BANKA", "--date", "2026-11-25", "--file", "none.RCN", *C), 1,
     "no such file"),
    ("ppob-switch", ("recon", "--bank", "BANKA", "--date", "25-11-2026", "--file", "some.RCN", *C), 2,
     "25-11-2026"),
    ("ppob-switch", ("audit", "--from", "x", "--to", "2026-11-25", *C), 2, "'x'"),
    ("ppob-terminal", (), 2, "required"),
    ("ppob-terminal", ("--switch", "nohost", *T[2:], "balance"), 2, "--switch"),
    ("ppob-terminal", (*T[:6], "--key", "XYZ", "balance"), 2, "--key"),
    ("ppob-terminal", ("--terminal-id", "T1", "balance"), 2, "--switch"),
    ("ppob-terminal", (*T, "inquiry", "PLNXXX", "123"), 2, "PRODUCT"),
    ("ppob-terminal", (*T, "inquiry", "PLNPST", "12ab"), 2, "CUSTOMER"),
    ("ppob-terminal", (*T, "pay", "PLNPRA", "32749222864", "-5"), 2, "negative"),
    ("ppob-terminal", (*T, "pay", "PLNPRA", "32749222864", "99999999999999999999"), 2, "field 4"),
    ("ppob-terminal", (*T, "pay", "PLNPRA", "32749222864"), 2, "denomination"),
    ("ppob-terminal", (*T, "--timeout", "0", "balance"), 2, "--timeout"),
    ("ppob-terminal", (*T, "reprint", "12x"), 2, "STAN"),
    ("ppob-terminal", (*T, "--journal", "t.journal", "reprint", "000123"), 1, "000123"),
    ("ppob-terminal", (*T, "--journal", "t.journal", "balance"), 1, "cannot reach the switch"),
    ("ppob-terminal", (*T, "load", "--count", "-1"), 2, "--count"),
    ("ppob-terminal", (*T, "load", "--denomination", "-20000", "--product", "PLNPRA"), 2, "negative"),
    ("ppob-terminal", ("--terminal-id", "T1", "--journal", "none.journal", "journal"), 1, "none.journal"),
    ("ppob-terminal", ("--terminal-id", "T1", "--journal", "t.journal", "journal", "--last", "-1"), 2, "--last"),
    ("ppob-bank-sim", (), 2, "--listen"),
    ("ppob-bank-sim", ("--listen", "nope"), 2, "HOST:PORT"),
    ("ppob-bank-sim", ("--listen", "127.0.0.1:0", "--timeout-rate", "2"), 2, "between 0 and 1"),
    ("ppob-bank-sim", ("--listen", "127.0.0.1:0", "--size", "-1"), 2, "negative"),
    ("ppob-bank-sim", ("--listen", "127.0.0.1:0", "--size", "99999999"), 2, "at most"),
    ("ppob-bank-sim", ("--listen", "127.0.0.1:0", "--latency-ms", "slow"), 2, "--latency-ms"),
    ("ppob-bank-sim", ("--listen", "127.0.0.1:0", "--echo-interval-s", "0"), 2, "--echo-interval-s"),
    ("ppob-bank-sim", ("--listen", "127.0.0.1:0", "--framing", "3C"), 2, "--framing"),
    ("ppob-bank-sim", ("--listen", "127.0.0.1:0", "--connect", "127.0.0.1:1"), 2, "not allowed"),
]


def one_line(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("program, args, status, text", TABLE,
                         ids=[f"{p} {' '.join(a[:4])}" for p, a, _, _ in TABLE])
def test_bad_input_is_one_line_with_the_right_exit_status_and_no_traceback(folder, program, args, status, text):
    done = run(program, *args, cwd=folder, timeout=60)
    line = one_line(done)
    assert done.returncode == status, done.stderr
    assert text in line and line.startswith(program)
    assert done.stdout == ""


def test_a_port_in_use_is_one_line_exit_1_for_the_bank_simulator(folder):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = run("ppob-bank-sim", "--listen", f"127.0.0.1:{taken.getsockname()[1]}", cwd=folder, timeout=30)
    assert done.returncode == 1 and "address already in use" in one_line(done)


# ---- a database URL with a password never shows it; the error says where the URL came from ---------

@pytest.mark.parametrize("args", [("agent", "list"), ("agent", "balance", "AGT001"), ("terminal", "list")])
def test_an_unreachable_database_from_ppob_database_names_it_and_masks_the_password(folder, args):
    done = run("ppob-switch", *args, *C, cwd=folder, env={"PPOB_DATABASE": PG_DOWN})
    line = one_line(done)
    assert done.returncode == 1 and SECRET not in done.stderr + done.stdout
    assert "PPOB_DATABASE" in line and "postgresql://ops:***@127.0.0.1:1/ppob" in line


def test_a_bad_ppob_database_is_a_configuration_error_naming_ppob_database_not_the_file(folder):
    done = run("ppob-switch", "agent", "list", *C, cwd=folder, env={"PPOB_DATABASE": f"mysql://ops:{SECRET}@h/db"})
    line = one_line(done)
    assert done.returncode == 2 and SECRET not in line
    assert "PPOB_DATABASE" in line and "switch.database:" not in line


def test_serve_on_an_unreachable_ppob_database_says_so_without_the_password(folder):
    done = run("ppob-switch", "serve", *C, cwd=folder, env={"PPOB_DATABASE": PG_DOWN}, timeout=60)
    assert done.returncode == 1 and SECRET not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("ppob-switch:")]
    assert len(lines) == 1 and "PPOB_DATABASE" in lines[0] and "Traceback" not in done.stderr


def test_a_database_password_in_a_log_line_is_masked():
    import io
    import json

    import structlog

    from switch.ops.logging import configure_logging
    buffer = io.StringIO()
    configure_logging(json=True, level="info", stream=buffer)
    try:
        structlog.get_logger("t").error("database_failed", error=f"cannot open {PG_DOWN}",
                                        dsn=f"host=h user=ops password={SECRET}")
    finally:
        structlog.reset_defaults()
    event = json.loads(buffer.getvalue())
    assert SECRET not in buffer.getvalue() and "ops:***@" in event["error"] and "password=***" in event["dsn"]


# ---- output into a pipe whose reader has gone (`… | head -1`) --------------------------------------

def closed_pipe_run(folder: Path, program: str, *args: str) -> subprocess.CompletedProcess:
    """Runs with stdout on a pipe that nobody reads any more: every write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(command(program) + list(args), cwd=folder, stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=60, env=clean_env())
    finally:
        os.close(write_end)


@pytest.mark.parametrize("program, args", [
    ("ppob-switch", ("agent", "statement", "AGT001", "--from", "2020-01-01", "--to", "2030-12-31", "--csv", "-", *C)),
    ("ppob-switch", ("agent", "statement", "AGT001", "--from", "2020-01-01", "--to", "2030-12-31", *C)),
    ("ppob-switch", ("agent", "list", *C)),
    ("ppob-switch", ("terminal", "list", "--json", *C)),
    ("ppob-switch", ("agent", "balance", "AGT001", "--json", *C)),
    ("ppob-bank-sim", ("--list-customers",)),
    ("ppob-terminal", ("--terminal-id", "T1", "--journal", "t.journal", "journal")),
])
def test_a_reader_that_went_away_ends_the_command_quietly_with_exit_1(folder, program, args):
    if program == "ppob-terminal":   # a journal with something in it
        from terminal_sim.journal import Journal
        with Journal(folder / "t.journal") as journal:
            journal.record_request("T1", "0800", {7: "1201120000", 11: "000001", 70: "301"})
    done = closed_pipe_run(folder, program, *args)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 1 and done.stderr == ""


@pytest.mark.parametrize("program", ["ppob-switch", "ppob-terminal", "ppob-bank-sim"])
def test_help_into_a_closed_pipe_is_no_traceback(folder, program):
    done = closed_pipe_run(folder, program, "--help")
    assert "Traceback" not in done.stderr and done.returncode in (0, 1), done.stderr


def test_the_customer_list_piped_is_not_cut(folder):
    done = run("ppob-bank-sim", "--list-customers", "--seed", "7", cwd=folder)
    rows = [line for line in done.stdout.splitlines() if "PLNPST" in line and "offered" in line]
    assert rows and all("…" not in line for line in done.stdout.splitlines())
    assert all(line.rstrip().endswith("│") for line in rows)   # every column, each row on one line
