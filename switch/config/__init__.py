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

from .checks import (  # the public checks (ConfigError, mask_credentials, ...) and the private ones
    Check, ConfigError, mask_credentials, split_address, _address, _bad, _bank_id, _boolean,
    _choice, _cutover, _database, _institution_id, _int_at_least, _non_negative, _nonempty,
    _one_line, _only_keys, _optional_path, _pair, _positive, _product_code, _product_list, _rupiah,
    _section, _show, _string, _table, _timezone)
from .sample import sample_config


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
    max_connections: int = 8      # extra, listen mode: the bank's connections open at once (specs/hardening.md)


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



DATABASE_FROM_ENV = "PPOB_DATABASE"


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
    "max_in_flight": _int_at_least(1), "one_connection": _boolean, "max_connections": _int_at_least(1),
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
    _no_duplicates([bank.id for bank in banks], "banks[{}].id", "duplicate bank id")
    return banks


def _bank(table: dict, prefix: str) -> BankConfig:
    values = _section(table, prefix, _BANK_KEYS, required=("id", "mode", "address", "products"))
    if values["mode"] == "connect" and split_address(values["address"])[1] == 0:
        raise _bad(f"{prefix}.address", f"port 0 cannot be connected to, got {_show(values['address'])}")
    if values.get("one_connection") and values["mode"] != "connect":
        raise _bad(f"{prefix}.one_connection", "only for mode = \"connect\" (a bank that calls in picks the node)")
    if "max_connections" in values and values["mode"] != "listen":
        raise _bad(f"{prefix}.max_connections", "only for mode = \"listen\" (connecting, the switch opens them)")
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
    _no_duplicates([p.code for p in products], "products[{}].code", "duplicate product")
    return products


def _no_duplicates(names: list[str], key: str, what: str) -> None:
    """The first repeat of a name is an error at its own key (`key` formatted with its index)."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise _bad(key.format(i), f"{what} {_show(name)}")
        seen.add(name)
