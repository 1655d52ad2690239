"""TLS towards a bank (contract §3): TLS 1.2 at least, client certificates when configured."""
from __future__ import annotations

import ssl

from switch.config import BankConfig


def client_context(cfg: BankConfig) -> ssl.SSLContext | None:
    """For a bank the switch connects to; None for plain TCP."""
    if not cfg.tls:
        return None
    context = ssl.create_default_context(cafile=cfg.tls_ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cfg.tls_cert:
        context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    return context


def server_context(cfg: BankConfig) -> ssl.SSLContext | None:
    """For a bank that connects to the switch (listen mode); it must show a certificate when a CA is set."""
    if not cfg.tls:
        return None
    if cfg.tls_cert is None:  # the configuration refuses this already (config._bank_tls)
        raise ValueError(f"banks.{cfg.id}.tls_cert: required when tls = true in listen mode")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=cfg.tls_ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    if cfg.tls_ca:
        context.verify_mode = ssl.CERT_REQUIRED
    return context
