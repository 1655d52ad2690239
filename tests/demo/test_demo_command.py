"""`ppob-switch demo` as a new user runs it: one command, no configuration, receipts and a summary."""
from __future__ import annotations

import subprocess
import sys


def test_the_demo_runs_every_product_prints_receipts_and_exits_0():
    done = subprocess.run([sys.executable, "-m", "switch.cli", "demo"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for title in ("STRUK PEMBAYARAN TAGIHAN LISTRIK", "STRUK PEMBELIAN LISTRIK PRABAYAR",
                  "STRUK NON TAGIHAN LISTRIK", "INFORMASI SALDO DEPOSIT", "Demo summary"):
        assert title in out
    assert "PLN menyatakan struk ini sebagai" in out
    receipt_lines = [line for line in out.splitlines() if line.startswith(("IDPEL", "NAMA", "TOTAL"))]
    assert receipt_lines and all(len(line) <= 32 for line in receipt_lines)
    assert "balanced" in out and "Rp 5.000.000" in out


def test_the_demo_kept_in_one_folder_runs_again_afresh_and_keeps_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for attempt in (1, 2):
        done = subprocess.run([sys.executable, "-m", "switch.cli", "demo", "--keep", str(tmp_path)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"run {attempt}: {done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr and "Demo summary" in done.stdout
    assert (tmp_path / "switch.db").is_file() and (tmp_path / "notes.txt").read_text() == "mine"
