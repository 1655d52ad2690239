"""Configuration: the TOML file of OPERATIONS.md, loaded into frozen dataclasses.

Amounts in the file are whole rupiah; here they are minor units (x100) where noted.
"""
from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class TerminalsSection:
    listen: str
    idle_timeout_s: float = 300
    stall_timeout_s: float = 30
    max_frame_bytes: int = 4096
    tls_cert: str | None = None
    tls_key: str | None = None


@dataclass(frozen=True)
class MetricsSection:
    listen: str = "127.0.0.1:9100"


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

    def product(self, code: str) -> ProductConfig:
        for p in self.products:
            if p.code == code:
                return p
        return ProductConfig(code=code)


def load_config(path: str | None, *, env: dict[str, str] | None = None) -> Config:
    """Reads the TOML file (PPOB_CONFIG overrides path, PPOB_DATABASE overrides switch.database).
    Raises ConfigError naming the key for an unknown key, a missing required key or a bad value."""
    raise NotImplementedError


def parse_config(data: dict, *, env: dict[str, str] | None = None) -> Config:
    """Validates an already-parsed TOML document."""
    raise NotImplementedError
