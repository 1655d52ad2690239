"""The layers of specs/architecture.md, enforced: imports only point down, SQL only in switch/ledger,
only the demo touches the simulators, and no module (of the programs or of tests/) is over 400 lines."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# bottom to top; a module may import its own layer and the ones below it (siblings on one rank apart)
LAYERS: list[tuple[str, ...]] = [
    ("switch.config", "switch.compiled"),
    ("switch.ops",),
    ("switch.wire",),
    ("switch.ledger",),
    ("switch.links",),
    ("switch.services",),
    ("switch.flows", "switch.settlement"),
    ("switch.admin",),
    ("switch.app",),
    ("switch.console",),
    ("switch.cli",),
]
SIMULATORS = ("terminal_sim", "bank_sim")
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b", re.S)


def modules(package: str) -> list[tuple[str, Path]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str) -> tuple[int, str] | None:
    for rank, names in enumerate(LAYERS):
        for top in names:
            if module == top or module.startswith(top + "."):
                return rank, top
    return None


def test_every_module_of_the_switch_belongs_to_a_layer() -> None:
    loose = [name for name, _ in modules("switch") if name != "switch" and layer_of(name) is None]
    assert loose == []


def test_imports_only_point_down() -> None:
    upward = []
    for name, path in modules("switch"):
        mine = layer_of(name)
        if mine is None:
            continue
        for target in imports(name, path):
            theirs = layer_of(target)
            if theirs is None or theirs[1] == mine[1]:
                continue
            if theirs[0] >= mine[0]:
                upward.append(f"{name} imports {target}")
    assert upward == []


def test_only_the_demo_touches_the_simulators_and_they_use_only_the_wire() -> None:
    touching = [name for name, path in modules("switch")
                if any(t.split(".")[0] in SIMULATORS for t in imports(name, path)) and name != "switch.cli.demo"]
    assert touching == []
    for package in SIMULATORS:
        for name, path in modules(package):
            used = {t for t in imports(name, path) if t.startswith("switch.")}
            assert all(t.startswith("switch.wire") for t in used), (name, sorted(used))


def test_no_sql_outside_the_ledger() -> None:
    offenders = []
    for name, path in modules("switch"):
        if name.startswith("switch.ledger"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                offenders.append(f"{name}:{node.lineno}: {node.value[:60]!r}")
    assert offenders == []


def test_no_module_of_the_three_programs_or_their_tests_is_over_400_lines() -> None:
    long = [f"{path.relative_to(ROOT)}: {n}" for package in ("switch", *SIMULATORS, "tests")
            for _, path in modules(package) if (n := len(path.read_text().splitlines())) > 400]
    assert long == []
