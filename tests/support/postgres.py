"""Whether the PostgreSQL of this machine (127.0.0.1:5432, trust auth) answers, for skip marks."""
from __future__ import annotations

import socket

import pytest


def postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


NEEDS_POSTGRES = [pytest.mark.postgres,
                  pytest.mark.skipif(not postgres_answers(), reason="PostgreSQL does not answer on 127.0.0.1:5432")]

# a test parametrized over both backends (the PostgreSQL one skipped when the server does not answer)
BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql", marks=NEEDS_POSTGRES)]
