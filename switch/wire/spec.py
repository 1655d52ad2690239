"""Field specifications of the two interfaces, loaded from specs/ti.json and specs/hi.json.

Each is a pyiso8583 spec dict; every entry also has "type" ("n", "an" or "ans") for our validation.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

Spec = dict[str, dict[str, Any]]


def _read_spec_text(name: str) -> str:
    # installed: specs/ ships as the package switch.specs; from a source tree: the repo's specs/ folder
    try:
        return resources.files("switch.specs").joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        return (Path(__file__).resolve().parents[2] / "specs" / name).read_text(encoding="utf-8")


def load_spec(name: str) -> Spec:
    """Load one spec file by name, e.g. "ti.json"."""
    spec: Spec = json.loads(_read_spec_text(name))
    for key, entry in spec.items():
        if entry.get("type") not in ("n", "an", "ans"):
            raise ValueError(f"{name}: field {key} has no valid type")
    return spec


TI: Spec = load_spec("ti.json")
HI: Spec = load_spec("hi.json")
