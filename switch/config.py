"""Configuration: the TOML file of OPERATIONS.md, loaded into frozen dataclasses.

Amounts in the file are whole rupiah; here they are minor units (x100) where noted.
"""
from __future__ import annotations

import json
import os
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class ConfigError(Exception):
    """A bad configuration; str() is one line naming the key, e.g. "banks[0].mode: must be 'connect' or 'listen'"."""


@dataclass(frozen=True)
class SwitchSection:
    institution_id: str
    database: str
    timezone: str = "Asia/Jakarta"
    cutover: str = "23:00"
    settlement_dir: str = "settlement"
    node_id: str = ""            # extra: names this node when several share a PostgreSQL database
    cutover_pause_s: float = 0.0  # extra: answer 90 for this long after a cutover (0 = never pause)
    master_key_file: str | None = None  # extra: seals terminal keys (None: beside the database)


@dataclass(frozen=True)
class TerminalsSection:
    listen: str
    idle_timeout_s: float = 300
    stall_timeout_s: float = 30
    max_frame_bytes: int = 4096
    tls_cert: str | None = None
    tls_key: str | None = None
    # extra, overload limits (specs/hardening.md): beyond them a connection is refused or a request 91
    max_connections: int = 2000               # terminal connections open at once, all addresses
    max_connections_per_address: int = 100   # from one source IP address
    max_in_flight: int = 2000                # requests being processed at once, whole switch
    max_in_flight_per_terminal: int = 32     # per terminal (per connection before sign-on)
    max_requests_per_s: float = 50           # per terminal, sustained (token bucket)
    max_burst: int = 100                     # per terminal, the bucket's depth
    abuse_close_after: int = 50              # refused requests in a row that close the connection
    max_unread_bytes: int = 262144           # answers the terminal has not read before it is closed


@dataclass(frozen=True)
class MetricsSection:
    listen: str = "127.0.0.1:9100"


@dataclass(frozen=True)
class ConsoleSection:
    """The back-office web console (`ppob-switch console`), a process of its own."""
    listen: str = "127.0.0.1:8080"
    session_idle_s: float = 900.0       # a session unused this long ends
    session_max_s: float = 43200.0      # ... and every session ends after this long
    lockout_failures: int = 5           # wrong passwords in a row that lock the user
    lockout_s: float = 900.0            # ... for this long
    secure_cookie: bool = True          # the session cookie's Secure flag (browsers allow it on localhost)
    tls_cert: str | None = None
    tls_key: str | None = None


@dataclass(frozen=True)
class BankConfig:
    id: str
    mode: str                     # "connect" | "listen"
    address: str                  # host:port
    products: tuple[str, ...]
    framing: str = "2B"           # "2B" | "4A"
    timeout_s: float = 20
    reversal_retry_s: float = 30
    echo_interval_s: float = 30
    echo_misses: int = 2
    reconnect_max_s: float = 30
    priority: int = 1
    tls: bool = False
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    max_in_flight: int = 500      # extra: requests waiting on this bank; beyond, new ones fail over or 91
    one_connection: bool = False  # extra: the bank takes one connection from all nodes (connect mode)


@dataclass(frozen=True)
class ProductConfig:
    code: str
    agent_share: int = 0          # minor units (file: rupiah)
    admin_fee: int | None = None  # minor units (file: rupiah)


@dataclass(frozen=True)
class Config:
    switch: SwitchSection
    terminals: TerminalsSection
    banks: tuple[BankConfig, ...]
    metrics: MetricsSection = field(default_factory=MetricsSection)
    products: tuple[ProductConfig, ...] = ()
    console: ConsoleSection = field(default_factory=ConsoleSection)

    def product(self, code: str) -> ProductConfig:
        for p in self.products:
            if p.code == code:
                return p
        return ProductConfig(code=code)

    def bank(self, bank_id: str) -> BankConfig:
        """The bank of that id; KeyError when there is none."""
        for b in self.banks:
            if b.id == bank_id:
                return b
        raise KeyError(bank_id)


# ---------------------------------------------------------------------------------------------
# Loading and validation. Each check raises ConfigError("<key>: <what is wrong>") — one line.

PRODUCT_CODES = ("PLNPST", "PLNPRA", "PLNNTL")
_BANK_ID = re.compile(r"[A-Z0-9_]{1,11}")
_CUTOVER = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_DB_SCHEMES = ("sqlite:///", "postgresql://")


# the password runs to the last @ before the path (drivers split user:password@host there)
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^/\s]*@")
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
DATABASE_FROM_ENV = "PPOB_DATABASE"


def mask_credentials(text: str) -> str:
    """Any password inside text replaced by ***: in URLs (postgresql://user:***@host/db) and in
    key=value connection strings. Used on every message and log line that may carry a database URL."""
    return _KEYWORD_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def database_origin(env: Mapping[str, str] | None = None) -> str:
    """Where switch.database came from, for an error about it: the environment or the file."""
    env = os.environ if env is None else env
    return DATABASE_FROM_ENV if env.get(DATABASE_FROM_ENV) else "switch.database"


def load_config(path: str | None, *, env: Mapping[str, str] | None = None) -> Config:
    """Reads the TOML file (PPOB_CONFIG overrides path, PPOB_DATABASE overrides switch.database,
    PPOB_MASTER_KEY_FILE overrides switch.master_key_file).
    Raises ConfigError naming the key for an unknown key, a missing required key or a bad value."""
    env = os.environ if env is None else env
    path = env.get("PPOB_CONFIG") or path
    if not path:
        raise ConfigError("--config: no configuration file given (nor PPOB_CONFIG)")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: bad TOML: {_one_line(str(e))}") from None
    return parse_config(data, env=env)


def parse_config(data: dict, *, env: Mapping[str, str] | None = None) -> Config:
    """Validates an already-parsed TOML document."""
    env = os.environ if env is None else env
    _only_keys(data, "", ("switch", "terminals", "metrics", "banks", "products", "console"))
    switch = _switch(_table(data, "switch"), env.get("PPOB_DATABASE") or None,
                     env.get("PPOB_MASTER_KEY_FILE") or None)
    terminals = _terminals(_table(data, "terminals"))
    metrics = MetricsSection(**_section(_table(data, "metrics"), "metrics", _METRICS_KEYS))
    banks = _banks(data.get("banks"))
    products = _products(data.get("products", []))
    console_keys = _section(_table(data, "console"), "console", _CONSOLE_KEYS)
    _pair(console_keys, "console", "tls_cert", "tls_key")
    return Config(switch=switch, terminals=terminals, banks=banks, metrics=metrics, products=products,
                  console=ConsoleSection(**console_keys))


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


_SWITCH_KEYS: dict[str, Check] = {
    "institution_id": _institution_id, "database": _database, "timezone": _timezone,
    "cutover": _cutover, "settlement_dir": _nonempty, "node_id": _string,
    "cutover_pause_s": _non_negative, "master_key_file": _optional_path,
}
_TERMINAL_KEYS: dict[str, Check] = {
    "listen": _address, "idle_timeout_s": _positive, "stall_timeout_s": _positive,
    "max_frame_bytes": _int_at_least(1, 65535), "tls_cert": _optional_path, "tls_key": _optional_path,
    "max_connections": _int_at_least(1), "max_connections_per_address": _int_at_least(1),
    "max_in_flight": _int_at_least(1), "max_in_flight_per_terminal": _int_at_least(1),
    "max_requests_per_s": _positive, "max_burst": _int_at_least(1), "abuse_close_after": _int_at_least(1),
    "max_unread_bytes": _int_at_least(4096),
}
_METRICS_KEYS: dict[str, Check] = {"listen": _address}
_CONSOLE_KEYS: dict[str, Check] = {
    "listen": _address, "session_idle_s": _positive, "session_max_s": _positive,
    "lockout_failures": _int_at_least(1), "lockout_s": _positive, "secure_cookie": _boolean,
    "tls_cert": _optional_path, "tls_key": _optional_path,
}
_BANK_KEYS: dict[str, Check] = {
    "id": _bank_id, "mode": _choice("connect", "listen"), "address": _address,
    "products": _product_list, "framing": _choice("2B", "4A"), "timeout_s": _positive,
    "reversal_retry_s": _positive, "echo_interval_s": _positive, "echo_misses": _int_at_least(1),
    "reconnect_max_s": _positive, "priority": _int_at_least(0), "tls": _boolean,
    "tls_ca": _optional_path, "tls_cert": _optional_path, "tls_key": _optional_path,
    "max_in_flight": _int_at_least(1), "one_connection": _boolean,
}
_PRODUCT_KEYS: dict[str, Check] = {"code": _product_code, "agent_share": _rupiah, "admin_fee": _rupiah}


def _switch(table: dict, database_override: str | None, key_file_override: str | None = None) -> SwitchSection:
    if database_override is not None:   # checked under its own name: the file is not to blame
        _database(f"{DATABASE_FROM_ENV} (it replaces switch.database)", database_override)
        table = {**table, "database": database_override}
    if key_file_override is not None:
        table = {**table, "master_key_file": key_file_override}
    values = _section(table, "switch", _SWITCH_KEYS, required=("institution_id", "database"))
    return SwitchSection(**values)


def _terminals(table: dict) -> TerminalsSection:
    values = _section(table, "terminals", _TERMINAL_KEYS, required=("listen",))
    _pair(values, "terminals", "tls_cert", "tls_key")
    return TerminalsSection(**values)


def _banks(value: Any) -> tuple[BankConfig, ...]:
    if value is None:
        raise _bad("banks", "at least one [[banks]] table is required")
    if not isinstance(value, list) or not value or not all(isinstance(b, dict) for b in value):
        raise _bad("banks", "must be one or more [[banks]] tables")
    banks = tuple(_bank(table, f"banks[{i}]") for i, table in enumerate(value))
    seen: set[str] = set()
    for i, bank in enumerate(banks):
        if bank.id in seen:
            raise _bad(f"banks[{i}].id", f"duplicate bank id {_show(bank.id)}")
        seen.add(bank.id)
    return banks


def _bank(table: dict, prefix: str) -> BankConfig:
    values = _section(table, prefix, _BANK_KEYS, required=("id", "mode", "address", "products"))
    if values["mode"] == "connect" and split_address(values["address"])[1] == 0:
        raise _bad(f"{prefix}.address", f"port 0 cannot be connected to, got {_show(values['address'])}")
    if values.get("one_connection") and values["mode"] != "connect":
        raise _bad(f"{prefix}.one_connection", "only for mode = \"connect\" (a bank that calls in picks the node)")
    _bank_tls(values, prefix)
    return BankConfig(**values)


def _bank_tls(values: dict, prefix: str) -> None:
    files = ("tls_ca", "tls_cert", "tls_key")
    if not values.get("tls", False):
        for k in files:
            if k in values:
                raise _bad(f"{prefix}.{k}", f"given but {prefix}.tls is not true")
        return
    _pair(values, prefix, "tls_cert", "tls_key")
    # Listening we present a certificate; connecting we must verify the bank's against its CA.
    needed = ("tls_cert", "tls_key") if values["mode"] == "listen" else ("tls_ca",)
    for k in needed:
        if values.get(k) is None:
            raise _bad(f"{prefix}.{k}", f"required when tls = true in {values['mode']} mode")


def _products(value: Any) -> tuple[ProductConfig, ...]:
    if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
        raise _bad("products", "must be [[products]] tables")
    products = tuple(
        ProductConfig(**_section(t, f"products[{i}]", _PRODUCT_KEYS, required=("code",)))
        for i, t in enumerate(value)
    )
    seen: set[str] = set()
    for i, p in enumerate(products):
        if p.code in seen:
            raise _bad(f"products[{i}].code", f"duplicate product {_show(p.code)}")
        seen.add(p.code)
    return products


# ---------------------------------------------------------------------------------------------
# A valid configuration as TOML text, for tests and the demo.

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
