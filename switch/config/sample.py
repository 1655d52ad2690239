"""A valid configuration as TOML text, for tests and the demo."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .checks import PRODUCT_CODES


_DEFAULT_BANK = {"id": "BANKA", "mode": "connect", "address": "127.0.0.1:7100",
                 "products": list(PRODUCT_CODES)}


def sample_config(
    *,
    institution_id: str = "90001",
    database: str = "sqlite:///ppob-switch.db",
    terminal_listen: str = "127.0.0.1:7000",
    metrics_listen: str = "127.0.0.1:9100",
    banks: Sequence[Mapping[str, Any]] | None = None,
    products: Sequence[Mapping[str, Any]] = (),
    switch: Mapping[str, Any] | None = None,
    terminals: Mapping[str, Any] | None = None,
    console: Mapping[str, Any] | None = None,
) -> str:
    """TOML text of a valid configuration. `switch` / `terminals` add or replace keys of those
    tables (e.g. switch={"cutover": "00:00"}); banks and products are lists of key -> value dicts
    written as [[banks]] / [[products]] (product amounts in whole rupiah, as in the file)."""
    sections = [
        ("[switch]", {"institution_id": institution_id, "database": database, **(switch or {})}),
        ("[terminals]", {"listen": terminal_listen, **(terminals or {})}),
        ("[metrics]", {"listen": metrics_listen}),
    ]
    if console:
        sections.append(("[console]", dict(console)))
    sections += [("[[banks]]", dict(b)) for b in (banks if banks is not None else [_DEFAULT_BANK])]
    sections += [("[[products]]", dict(p)) for p in products]
    return "\n".join(_toml_table(header, values) for header, values in sections)


def _toml_table(header: str, values: Mapping[str, Any]) -> str:
    lines = [header] + [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"sample_config: cannot write {v!r} as TOML")
