"""The README walkthrough by hand: `ppob-bank-sim --listen`, `ppob-switch serve` and `ppob-terminal` as
separate processes on free loopback ports, provisioned with `ppob-switch agent/terminal`."""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from bank_sim.book import Book
from switch.config import sample_config
from switch.wire.receipt import WIDTH
from tests.e2e.conftest import SEED, SHARES, SIZE, Programs, run, wait_for_text, wait_ready
from tests.support.processes import free_port

AGENT, TERMINAL, DEPOSIT = "AGT001", "T0000001", 2_000_000


@dataclass
class Loket:
    folder: Path
    config: Path
    key: str
    terminal_port: int
    customers: dict[str, str]

    def switch(self, *args: str) -> subprocess.CompletedProcess:
        return run("ppob-switch", *args, "--config", str(self.config), cwd=self.folder)

    def terminal(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return run("ppob-terminal", "--switch", f"127.0.0.1:{self.terminal_port}", "--terminal-id", TERMINAL,
                   "--agent-id", AGENT, "--key", self.key, "--journal", str(self.folder / "t.journal"), *args,
                   cwd=self.folder, stdin=stdin)

    def ledger(self) -> int:
        return json.loads(self.switch("agent", "balance", AGENT, "--json").stdout)["ledger"]


def set_up(folder: Path, programs: Programs, *bank_options: str) -> Loket:
    """Provision with the CLI, start the bank simulator and the switch, wait until the switch is ready."""
    bank_port, terminal_port, metrics_port = free_port(), free_port(), free_port()
    config = folder / "switch.toml"
    config.write_text(sample_config(
        database="sqlite:///switch.db", terminal_listen=f"127.0.0.1:{terminal_port}",
        metrics_listen=f"127.0.0.1:{metrics_port}", products=SHARES,
        banks=[{"id": "BANKA", "mode": "connect", "address": f"127.0.0.1:{bank_port}",
                "products": ["PLNPST", "PLNPRA", "PLNNTL"], "timeout_s": 10, "reconnect_max_s": 1}]))
    loket = Loket(folder, config, "", terminal_port, Book.generate(SEED, SIZE).examples())
    assert loket.switch("agent", "add", AGENT, "--name", "WARUNG BU SRI").returncode == 0
    assert loket.switch("agent", "topup", AGENT, str(DEPOSIT), "--ref", "BCA-TRF-0001").returncode == 0
    loket.key = loket.switch("terminal", "add", TERMINAL, "--agent", AGENT).stdout.strip()
    programs.start("bank", "ppob-bank-sim", "--listen", f"127.0.0.1:{bank_port}", "--bank-id", "BANKA",
                   "--seed", str(SEED), "--size", str(SIZE), "--settlement-dir", "bank", *bank_options)
    serve = programs.start("serve", "ppob-switch", "serve", "--config", str(config))
    wait_ready(metrics_port, serve)
    return loket


@pytest.fixture(scope="module")
def loket(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loket")
    programs = Programs(folder)
    try:
        yield set_up(folder, programs)
    finally:
        programs.end_all()


def rupiah_on(receipt: str, label: str) -> int:
    match = re.search(rf"^{label}\s*: Rp ([\d.]+)$", receipt, re.MULTILINE)
    assert match, receipt
    return int(match.group(1).replace(".", ""))


def test_pay_prints_the_struk_exits_0_and_the_operator_sees_the_deposit_go_down_by_its_total(loket):
    before = loket.ledger()
    paid = loket.terminal("pay", "PLNPST", loket.customers["postpaid"])
    assert paid.returncode == 0, paid.stderr
    assert paid.stdout.splitlines()[0] == "STRUK PEMBAYARAN TAGIHAN LISTRIK"
    assert f"IDPEL      : {loket.customers['postpaid']}" in paid.stdout
    assert all(len(line) <= WIDTH for line in paid.stdout.splitlines())
    assert loket.ledger() == before - rupiah_on(paid.stdout, "TOTAL BAYAR")


def test_pay_for_an_unknown_customer_prints_one_line_with_rc_14_and_exits_1(loket):
    refused = loket.terminal("pay", "PLNPST", loket.customers["unknown"])
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip().splitlines() == ["ppob-terminal: rc 14 IDPEL tidak dikenal / unknown customer"]


def test_the_shell_driven_on_stdin_pays_on_y_cancels_on_n_and_exits_0_on_0(loket):
    before = loket.ledger()
    typed = f"1\n{loket.customers['postpaid_1']}\nY\n3\n{loket.customers['nontaglis_upgrade']}\nN\n0\n"
    done = loket.terminal("shell", stdin=typed)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    bill, struk = out.index("INFORMASI TAGIHAN LISTRIK"), out.index("STRUK PEMBAYARAN TAGIHAN LISTRIK")
    not_paid = out.index("INFORMASI NON TAGIHAN LISTRIK")
    assert bill < struk < not_paid < out.index("Transaksi dibatalkan.") < out.index("Sampai jumpa.")
    assert loket.customers["postpaid_1"] in out[struk:not_paid]
    assert "STRUK NON TAGIHAN LISTRIK" not in out
    assert loket.ledger() == before - rupiah_on(out[struk:not_paid], "TOTAL BAYAR")


def test_a_terminal_with_the_wrong_key_is_told_the_switch_could_not_verify_its_mac(loket):
    wrong = run("ppob-terminal", "--switch", f"127.0.0.1:{loket.terminal_port}", "--terminal-id", TERMINAL,
                "--agent-id", AGENT, "--key", "0" * 32, "--journal", str(loket.folder / "wrong.journal"), "balance",
                cwd=loket.folder)
    assert wrong.returncode == 1 and wrong.stdout == ""
    line, = wrong.stderr.strip().splitlines()
    assert "rc 63" in line and "key" in line


def test_load_of_50_inquiries_prints_throughput_and_latency_percentiles(loket):
    done = loket.terminal("load", "--count", "50", "--concurrency", "5")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^operations 50 in \d+\.\d+ s: \d+\.\d+ tps$", done.stdout, re.MULTILINE)
    assert re.search(r"^latency ms: p50 [\d.]+  p90 [\d.]+  p99 [\d.]+  max [\d.]+$", done.stdout, re.MULTILINE)
    assert re.search(r"^rc 00: 50 ", done.stdout, re.MULTILINE), done.stdout
    print(done.stdout)   # the figures, for the record


def test_a_terminal_blocked_by_the_operator_gets_58_until_unblocked(loket):
    assert loket.switch("terminal", "block", TERMINAL).returncode == 0
    try:
        blocked = loket.terminal("balance")
        assert blocked.returncode == 1 and "rc 58" in blocked.stderr
    finally:
        assert loket.switch("terminal", "unblock", TERMINAL).returncode == 0
    slip = loket.terminal("balance")
    assert slip.returncode == 0 and rupiah_on(slip.stdout, "SALDO") == loket.ledger()


def test_cutover_prints_the_date_it_closed_and_the_next_cutover_closes_the_day_after(loket):
    first = loket.switch("cutover")
    assert first.returncode == 0, first.stderr
    closed = date.fromisoformat(first.stdout.strip())
    # the bank simulator was told too: it writes that date's control file at its cutover
    wait_for_text(loket.folder / "bank" / f"BANKA_{closed:%Y%m%d}.CTL", f"BANKA|{closed.isoformat()}|")
    second = loket.switch("cutover")
    assert second.returncode == 0 and date.fromisoformat(second.stdout.strip()) == closed + timedelta(days=1)


def test_sigterm_lets_a_payment_in_flight_finish_then_serve_exits_0(tmp_path, programs):
    loket = set_up(tmp_path, programs, "--latency-ms", "1000")
    serve = programs.started[-1]
    paying = programs.start("pay", "ppob-terminal", "--switch", f"127.0.0.1:{loket.terminal_port}",
                            "--terminal-id", TERMINAL, "--agent-id", AGENT, "--key", loket.key,
                            "--journal", str(tmp_path / "t.journal"), "pay", "PLNPST", loket.customers["postpaid"])
    wait_for_text(tmp_path / "bank.err", '"code": "500000"')   # the payment is with the bank now
    assert programs.stop(serve) == 0
    assert paying.wait(20) == 0, programs.log("pay")
    assert (tmp_path / "pay.out").read_text().startswith("STRUK PEMBAYARAN TAGIHAN LISTRIK")
    events = [json.loads(line) for line in programs.log("serve").splitlines() if line.startswith("{")]
    assert "switch_stopped" in [e["event"] for e in events]
