"""The build's one dynamic part: the hot-path modules compiled with mypyc (switch/compiled.py).

Everything else about the package is in pyproject.toml. The build stays pure Python with PPOB_PURE=1,
or where no C compiler or Python headers are found (it says so): `pip install .` is the whole
install either way.
"""
from __future__ import annotations

import os
import runpy
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent


def why_pure() -> str | None:
    if os.environ.get("PPOB_PURE") == "1":
        return "PPOB_PURE=1"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler}) on PATH"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "no Python headers (Python.h)"
    return None


def ext_modules() -> list:
    reason = why_pure()
    if reason:
        print(f"ppob-switch: building pure Python ({reason}); the compiled hot path is skipped", file=sys.stderr)
        return []
    from mypyc.build import mypycify  # mypy (which ships mypyc) is a build requirement

    listing = runpy.run_path(str(ROOT / "switch" / "compiled.py"))
    sources = [listing["source_path"](module, Path(".")).as_posix() for module in listing["COMPILED_MODULES"]]
    return mypycify(sources, opt_level="3", multi_file=True)


setup(ext_modules=ext_modules())
