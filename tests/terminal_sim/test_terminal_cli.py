"""ppob-terminal as an operator runs it: a real process against the stand-in switch on loopback."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys

import pytest
from terminal_peer import AGENT, TID
from terminal_peer import KEY

from terminal_sim.escpos import CUT, INIT

KEY_HEX = KEY.hex().upper()


def base_args(port: int, journal) -> list[str]:
    return ["--switch", f"127.0.0.1:{port}", "--terminal-id", TID, "--agent-id", AGENT, "--key", KEY_HEX,
            "--journal", str(journal)]


async def run_cli(args: list[str], stdin: bytes = b"", env: dict | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "terminal_sim.cli", *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 120)
    return proc.returncode, out.decode(), err.decode()


def run_sync(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "terminal_sim.cli", *args], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("bad, option", [
    (["--key", "XYZ"], "--key"),
    (["--switch", "nohostport"], "--switch"),
    (["--terminal-id", "TOO-LONG-ID"], "--terminal-id"),
])
def test_a_bad_option_exits_2_with_one_line_naming_it(tmp_path, bad, option):
    args = base_args(7000, tmp_path / "j")
    i = args.index(bad[0])
    args[i + 1] = bad[1]
    done = run_sync(args + ["balance"])
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and option in done.stderr


@pytest.mark.parametrize("command, word", [([], "COMMAND"), (["pay", "PLNPRA", "14234567890"], "RUPIAH"),
                                           (["inquiry", "PLNPST", "123"], "CUSTOMER"),
                                           (["frobnicate"], "frobnicate")])
def test_a_bad_command_exits_2_with_one_line(tmp_path, command, word):
    done = run_sync(base_args(7000, tmp_path / "j") + command)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and word in done.stderr


def test_a_switch_that_refuses_the_connection_gives_one_line_and_exit_1(tmp_path):
    port = closed_port()
    done = run_sync(base_args(port, tmp_path / "j") + ["balance"])
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"ppob-terminal: cannot reach the switch at 127.0.0.1:{port}: Connection refused"]


async def test_pay_prints_the_receipt_and_writes_escpos_bytes(peer, tmp_path):
    escpos = tmp_path / "struk.bin"
    code, out, err = await run_cli(base_args(peer.port, tmp_path / "j") +
                                   ["pay", "PLNPRA", "14234567890", "50000", "--escpos", str(escpos)])
    assert code == 0, err
    assert "STRUK PEMBELIAN LISTRIK PRABAYAR" in out and "1234 5678 9012 3456 7890" in out
    assert all(len(line) <= 32 for line in out.splitlines())
    data = escpos.read_bytes()
    assert data.startswith(INIT) and data.endswith(CUT) and b"RP BAYAR    : Rp 52.500" in data


async def test_a_declined_payment_prints_the_code_and_its_meaning_and_exits_1(peer, tmp_path):
    code, out, err = await run_cli(base_args(peer.port, tmp_path / "j") + ["pay", "PLNPST", "999999999999"])
    assert code == 1 and out == ""
    assert err.strip() == "ppob-terminal: rc 14 IDPEL tidak dikenal / unknown customer"


async def test_json_output_carries_the_result_and_the_receipt(peer, tmp_path):
    code, out, _ = await run_cli(base_args(peer.port, tmp_path / "j") + ["--json", "inquiry", "PLNNTL",
                                                                         "5321126110001"])
    doc = json.loads(out)
    assert code == 0 and doc["rc"] == "00" and doc["amount_minor"] == 151_800_000
    assert doc["receipt"][0].strip() == "INFORMASI NON TAGIHAN LISTRIK"


async def test_reprint_works_offline_from_the_journal_marked_cetak_ulang(peer, tmp_path):
    journal = tmp_path / "j"
    code, out, _ = await run_cli(base_args(peer.port, journal) + ["pay", "PLNPST", "532110000123"])
    stan = next(line.split(":")[1].strip() for line in out.splitlines() if line.startswith("STAN "))
    await peer.stop()
    code, out, err = await run_cli(base_args(peer.port, journal) + ["reprint", stan])
    assert code == 0 and "reprinting from the journal" in err
    assert [line.strip() for line in out.splitlines()[:2]] == ["STRUK PEMBAYARAN TAGIHAN LISTRIK", "CETAK ULANG"]
    assert f"STAN    : {stan}" in out


async def test_reprint_online_asks_the_switch_with_a_status_request_first(peer, tmp_path):
    journal = tmp_path / "j"
    _, out, _ = await run_cli(base_args(peer.port, journal) + ["pay", "PLNNTL", "5321126110001"])
    stan = next(line.split(":")[1].strip() for line in out.splitlines() if line.startswith("STAN "))
    code, out, _ = await run_cli(base_args(peer.port, journal) + ["reprint", stan])
    status = peer.received[-1]
    assert code == 0 and "CETAK ULANG" in out
    assert status[3] == "390000" and status[90][4:10] == stan and 48 not in status


async def test_reprint_of_an_unknown_stan_exits_1_with_one_line(peer, tmp_path):
    code, _, err = await run_cli(base_args(peer.port, tmp_path / "j") + ["reprint", "424242"])
    assert code == 1 and len(err.strip().splitlines()) == 1 and "424242" in err


async def test_the_journal_defaults_to_the_home_folder_per_terminal(peer, tmp_path):
    args = base_args(peer.port, "x")[:-2] + ["echo"]
    code, out, _ = await run_cli(args, env={**os.environ, "HOME": str(tmp_path)})
    assert code == 0 and out.startswith("00 ")
    assert (tmp_path / ".ppob-terminal" / f"{TID}.journal").is_file()


async def test_the_shell_pays_a_bill_and_survives_bad_input_until_end_of_input(peer, tmp_path):
    script = "\n".join(["7", "1", "12345", "1", "532110000123", "Y", "2", "14234567890", "9",
                        "2", "14234567890", "2", "Y", "4"]) + "\n"
    code, out, err = await run_cli(base_args(peer.port, tmp_path / "j") + ["shell"], script.encode())
    assert code == 0, err
    assert "Pilihan '7' tidak ada" in out and "Nomor '12345' tidak valid" in out and "Nominal '9' tidak ada" in out
    assert "STRUK PEMBAYARAN TAGIHAN LISTRIK" in out and "STRUK PEMBELIAN LISTRIK PRABAYAR" in out
    assert "INFORMASI SALDO DEPOSIT" in out and out.rstrip().endswith("Sampai jumpa.")
    assert [m[4] for m in peer.received if m.get(3) == "500000"] == ["000039980000", "000005250000"]


async def test_the_shell_does_not_pay_when_the_agent_says_no(peer, tmp_path):
    script = "3\n5321126110001\nN\n0\n"
    code, out, _ = await run_cli(base_args(peer.port, tmp_path / "j") + ["shell"], script.encode())
    assert code == 0 and "INFORMASI NON TAGIHAN LISTRIK" in out
    assert [m[3] for m in peer.received if m.mti == "0200"] == ["380000"]


async def test_load_command_prints_throughput_and_percentiles(peer, tmp_path):
    code, out, err = await run_cli(base_args(peer.port, tmp_path / "j") +
                                   ["--json", "load", "--count", "60", "--concurrency", "6", "--op", "pay"])
    report = json.loads(out)
    print("load figures:", report)
    assert code == 0, err
    assert report["operations"] == 60 and report["by_rc"] == {"00": 60}
    assert report["p50_ms"] <= report["p90_ms"] <= report["p99_ms"] <= report["max_ms"]
