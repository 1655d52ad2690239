"""Fixtures: a real switch on loopback (see tests/support/harness.py); nodes as processes: tests/support/nodes.py."""
from tests.support.harness import start_switch  # noqa: F401  (fixture)
