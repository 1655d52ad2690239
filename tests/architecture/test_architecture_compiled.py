"""The hot path compiled with mypyc (switch/compiled.py, setup.py): what is compiled is there, a
stale extension is caught, and the switch runs the same without its extensions (pure Python)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from switch.compiled import COMPILED_MODULES, is_compiled, source_path, stale_extensions

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = ".cpython-311-x86_64-linux-gnu.so"


def test_every_module_named_for_compilation_has_its_source():
    missing = [m for m in COMPILED_MODULES if not source_path(m, ROOT).is_file()]
    assert missing == []
    assert "switch.ledger.storage.sqlite" not in COMPILED_MODULES  # its unit driver stays pure


def test_an_extension_older_than_its_source_is_named_stale(tmp_path):
    source = tmp_path / "switch" / "wire" / "codec.py"
    source.parent.mkdir(parents=True)
    source.write_text("x = 1\n")
    built = source.with_name("codec" + SUFFIX)
    built.write_bytes(b"")
    package = tmp_path / "switch" / "flows" / "__init__.py"
    package.parent.mkdir(parents=True)
    package.write_text("")
    package_built = package.with_name("__init__" + SUFFIX)
    package_built.write_bytes(b"")
    now = time.time()
    os.utime(built, (now + 10, now + 10))
    os.utime(package_built, (now - 10, now - 10))
    os.utime(package, (now, now))
    assert stale_extensions(tmp_path) == [str(Path("switch/flows") / ("__init__" + SUFFIX))]
    os.utime(built, (now - 20, now - 20))   # the source edited after the build
    assert str(Path("switch/wire") / ("codec" + SUFFIX)) in stale_extensions(tmp_path)


def test_the_version_says_whether_this_process_runs_the_hot_path_compiled():
    done = subprocess.run([sys.executable, "-m", "switch.cli", "--version"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    build = "hot path compiled" if is_compiled() else "pure Python"
    assert done.returncode == 0 and done.stdout.strip().endswith(f"{build})"), done.stdout


def test_a_source_tree_without_its_extensions_runs_the_demo_pure(tmp_path):
    for folder in ("switch", "terminal_sim", "bank_sim", "specs"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    version = subprocess.run([sys.executable, "-m", "switch.cli", "--version"], capture_output=True, text=True,
                             cwd=tmp_path, env=env, timeout=60)
    assert version.stdout.strip().endswith("(pure Python)"), version.stdout
    demo = subprocess.run([sys.executable, "-m", "switch.cli", "demo"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=180)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "Demo summary" in demo.stdout and "balanced" in demo.stdout
