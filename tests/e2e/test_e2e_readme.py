"""The README's hand-run section as a newcomer pastes it: its shell blocks, in order, in one bash, in a
fresh folder holding only a link to the virtualenv the tests run in. Every command must succeed
(`bash -e`), and what it prints must be what the README says it prints."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import clean_env
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
HAND_RUN = "## Running the three programs by hand"
PORTS = ("7000", "7100", "9100")      # the README's ports, swapped for free ones here


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = re.search(r"^## ", text[start + len(heading):], flags=re.M)
    return text[start:start + len(heading) + following.start()] if following else text[start:]


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.M | re.S)


def test_the_readme_has_exactly_two_shell_blocks_outside_the_hand_run_section():
    text = README.read_text()
    outside = text.replace(section(text, HAND_RUN), "")
    blocks = shell_blocks(section(outside, "## Two commands"))
    assert len(blocks) == 2 and "ppob-switch demo" in blocks[0] and "pytest" in blocks[1]


def test_the_hand_run_blocks_run_as_pasted_from_a_fresh_folder(tmp_path):
    blocks = shell_blocks(section(README.read_text(), HAND_RUN))
    assert len(blocks) >= 6
    script = "\n".join(blocks)
    for port in PORTS:
        assert f"127.0.0.1:{port}" in script
        script = script.replace(f"127.0.0.1:{port}", f"127.0.0.1:{free_port()}")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))      # the virtualenv these tests run in
    (tmp_path / "readme.sh").write_text(script)
    process = subprocess.Popen(["bash", "-e", "-o", "pipefail", "readme.sh"], cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                               env={**clean_env(), "TERM": "dumb"})
    try:
        out, _ = process.communicate(timeout=420)
    finally:
        try:   # the bank simulator and serve it started in the background, if anything was left
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    folder = tmp_path / "hand-run"
    logs = "".join(f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in folder.glob("*.log"))
    assert process.returncode == 0, out[-6000:] + logs
    assert "Traceback" not in out + logs
    for shown in ("agent AGT001 added", "STRUK PEMBAYARAN TAGIHAN LISTRIK", "STRUK PEMBELIAN LISTRIK PRABAYAR",
                  "STRUK NON TAGIHAN LISTRIK", "INFORMASI SALDO DEPOSIT", "CETAK ULANG", "everything matches"):
        assert shown in out, f"{shown!r} not in the output:\n{out[-6000:]}"
    assert (folder / "switch.db").is_file() and (folder / "t1.journal").is_file()
