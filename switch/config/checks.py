"""The checks of configuration values: each takes (key path, value) and returns the value to store,
or raises ConfigError("<key>: <what is wrong>") — one line."""
from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Callable, Iterable
from typing import Any


class ConfigError(Exception):
    """A bad configuration; str() is one line naming the key, e.g. "banks[0].mode: must be 'connect' or 'listen'"."""


PRODUCT_CODES = ("PLNPST", "PLNPRA", "PLNNTL")
_BANK_ID = re.compile(r"[A-Z0-9_]{1,11}")
_CUTOVER = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_DB_SCHEMES = ("sqlite:///", "postgresql://")


# the password runs to the last @ before the path (drivers split user:password@host there)
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^/\s]*@")
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
def mask_credentials(text: str) -> str:
    """Any password inside text replaced by ***: in URLs (postgresql://user:***@host/db) and in
    key=value connection strings. Used on every message and log line that may carry a database URL."""
    return _KEYWORD_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def split_address(address: str) -> tuple[str, int]:
    """'host:port' (or '[v6]:port') -> (host, port); ValueError when it is not one."""
    host, sep, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535 or any(c.isspace() for c in host):
        raise ValueError(f"not host:port: {address!r}")
    return host, int(port)


# A checker takes (key path, value) and returns the value to store, or raises ConfigError.
Check = Callable[[str, Any], Any]


def _bad(key: str, why: str) -> ConfigError:
    return ConfigError(f"{key}: {why}")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(mask_credentials(value), ensure_ascii=False)
    return _one_line(repr(value))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _string(key: str, v: Any) -> str:
    if not isinstance(v, str):
        raise _bad(key, f"must be a string, got {_show(v)}")
    return v


def _nonempty(key: str, v: Any) -> str:
    if not _string(key, v).strip():
        raise _bad(key, "must not be empty")
    return v


def _choice(*allowed: str) -> Check:
    def check(key: str, v: Any) -> str:
        if v not in allowed:
            options = " or ".join(json.dumps(a) for a in allowed)
            raise _bad(key, f"must be {options}, got {_show(v)}")
        return v
    return check


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _positive(key: str, v: Any) -> float:
    if not _is_number(v) or not v > 0 or v != v or v == float("inf"):
        raise _bad(key, f"must be a positive number, got {_show(v)}")
    return float(v)


def _non_negative(key: str, v: Any) -> float:
    if not _is_number(v) or not v >= 0 or v == float("inf"):
        raise _bad(key, f"must be a number >= 0, got {_show(v)}")
    return float(v)


def _int_at_least(low: int, high: int | None = None) -> Check:
    def check(key: str, v: Any) -> int:
        if not isinstance(v, int) or isinstance(v, bool) or v < low or (high is not None and v > high):
            limit = f"{low}..{high}" if high is not None else f">= {low}"
            raise _bad(key, f"must be a whole number {limit}, got {_show(v)}")
        return v
    return check


def _boolean(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise _bad(key, f"must be true or false, got {_show(v)}")
    return v


def _address(key: str, v: Any) -> str:
    try:
        split_address(_string(key, v))
    except ValueError:
        raise _bad(key, f'must be "host:port", got {_show(v)}') from None
    return v


def _institution_id(key: str, v: Any) -> str:
    if not isinstance(v, str) or not v.isascii() or not v.isdigit() or len(v) > 11:
        raise _bad(key, f"must be 1 to 11 digits (a string), got {_show(v)}")
    return v


def _database(key: str, v: Any) -> str:
    _string(key, v)
    scheme = next((s for s in _DB_SCHEMES if v.startswith(s)), None)
    if scheme is None or len(v) == len(scheme):
        raise _bad(key, f'must be "sqlite:///PATH" or "postgresql://...", got {_show(v)}')
    return v


def _timezone(key: str, v: Any) -> str:
    try:
        zoneinfo.ZoneInfo(_nonempty(key, v))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _bad(key, f"unknown time zone {_show(v)}") from None
    return v


def _cutover(key: str, v: Any) -> str:
    if not isinstance(v, str) or not _CUTOVER.fullmatch(v):
        raise _bad(key, f'must be a time "HH:MM" (00:00 to 23:59), got {_show(v)}')
    return v


def _optional_path(key: str, v: Any) -> str | None:
    return _nonempty(key, v)


def _bank_id(key: str, v: Any) -> str:
    if not isinstance(v, str) or not _BANK_ID.fullmatch(v):
        raise _bad(key, f"must be 1 to 11 characters of A-Z, 0-9 or _, got {_show(v)}")
    return v


def _product_code(key: str, v: Any) -> str:
    if v not in PRODUCT_CODES:
        raise _bad(key, f"unknown product {_show(v)} (known: {', '.join(PRODUCT_CODES)})")
    return v


def _product_list(key: str, v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not v:
        raise _bad(key, f"must be a non-empty list of product codes, got {_show(v)}")
    codes = tuple(_product_code(f"{key}[{i}]", c) for i, c in enumerate(v))
    if len(set(codes)) != len(codes):
        raise _bad(key, "lists a product twice")
    return codes


def _rupiah(key: str, v: Any) -> int:
    """Whole rupiah in the file, minor units (x100) inside the switch."""
    return _int_at_least(0)(key, v) * 100


def _table(data: dict, key: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise _bad(key, "must be a table")
    return value


def _only_keys(table: dict, prefix: str, allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    for k in table:
        if k not in allowed:
            raise _bad(f"{prefix}{k}", "unknown key")


def _section(table: dict, prefix: str, checks: dict[str, Check], required: Iterable[str] = ()) -> dict:
    """Checks a table against its key -> checker map; returns keyword arguments for its dataclass."""
    _only_keys(table, f"{prefix}.", checks)
    for k in required:
        if k not in table:
            raise _bad(f"{prefix}.{k}", "required key missing")
    return {k: checks[k](f"{prefix}.{k}", v) for k, v in table.items()}


def _pair(values: dict, prefix: str, a: str, b: str) -> None:
    """Two keys that only make sense together (a certificate and its private key)."""
    for one, other in ((a, b), (b, a)):
        if values.get(one) is not None and values.get(other) is None:
            raise _bad(f"{prefix}.{other}", f"required when {one} is given")
