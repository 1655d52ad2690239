"""Fixtures of the settlement tests (defined in settlement_bed, which tests also import helpers from)."""
from settlement_bed import any_db, bed_factory, db, ledger  # noqa: F401
from tests.support.harness import start_switch  # noqa: F401,E402  (fixture)
