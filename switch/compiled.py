"""The hot path compiled with mypyc: which modules, and whether this process runs them compiled.

`pip install .` compiles these modules to C extensions (setup.py reads COMPILED_MODULES from this
file, so it must stay plain data and standard-library imports); `PPOB_PURE=1 pip install .`, or a
machine without a C compiler's headers, keeps them pure Python. Compiled and pure behave the same
(the suite passes both ways); compiled costs the switch about a sixth less CPU per request.
The storage layer stays pure (its unit driver steps coroutines by hand; compiled, it crashed at
interpreter exit) but for SQLite's Tx, as do the modules off the hot path.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

COMPILED_MODULES = (
    "switch.wire.codec", "switch.wire.errors", "switch.wire.fastpath", "switch.wire.field48",
    "switch.wire.fields", "switch.wire.framing", "switch.wire.layouts", "switch.wire.mac",
    "switch.wire.message",
    "switch.links.bank_link", "switch.links.limits", "switch.links.mux", "switch.links.router",
    "switch.links.stan", "switch.links.terminal_server",
    "switch.flows", "switch.flows.balance", "switch.flows.bank", "switch.flows.common",
    "switch.flows.context", "switch.flows.gateway", "switch.flows.inquiry", "switch.flows.malformed",
    "switch.flows.malfunction", "switch.flows.payment", "switch.flows.recovery", "switch.flows.reversal",
    "switch.flows.status", "switch.flows.store_forward",
    "switch.ledger.accounts", "switch.ledger.money", "switch.ledger.states", "switch.ledger.txns",
    "switch.ledger.units", "switch.ledger.storage.sqlite_tx",
    "switch.ops.metrics",
)


def source_path(module: str, root: Path) -> Path:
    """The .py file of `module` under the project root (a package is its __init__.py)."""
    path = root.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def is_compiled(module: str = "switch.wire.fastpath") -> bool:
    """Whether `module` is imported from a compiled extension in this process."""
    spec = importlib.util.find_spec(module)
    return bool(spec and spec.origin and not spec.origin.endswith(".py"))


def stale_extensions(root: Path) -> list[str]:
    """Compiled extensions in a source tree that are older than their source: after an edit the
    extension (which Python imports first) would still run the old code."""
    stale = []
    for module in COMPILED_MODULES:
        source = source_path(module, root)
        for built in source.parent.glob(f"{source.stem}.*.so"):  # a package's: __init__.*.so
            if source.exists() and built.stat().st_mtime < source.stat().st_mtime:
                stale.append(str(built.relative_to(root)))
    return stale
