"""One schema source: both dialects come from schema.sql and have the same tables and columns."""
from __future__ import annotations

import difflib
import re

from switch.ledger.storage.schema import DIALECTS, schema_sql


def columns(sql: str) -> dict[str, list[str]]:
    tables = {}
    for name, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", sql, re.S):
        tables[name] = [line.split()[0] for line in body.strip().splitlines()
                        if line.strip() and not line.strip().startswith(("--", "PRIMARY", "UNIQUE", "FOREIGN",
                                                                          "CHECK"))]
    return tables


def test_both_dialects_have_the_same_tables_and_columns_and_no_placeholder_left() -> None:
    sqlite, postgres = schema_sql("sqlite"), schema_sql("postgresql")
    assert "{{" not in sqlite and "{{" not in postgres
    assert columns(sqlite) == columns(postgres)
    assert {"txns", "accounts", "holds", "saf", "audit_log"} <= set(columns(sqlite))


def test_every_line_that_differs_holds_a_substituted_part() -> None:
    sqlite, postgres = schema_sql("sqlite").splitlines(), schema_sql("postgresql").splitlines()
    parts = {line for d in DIALECTS.values() for value in d.values() for line in value.splitlines()}
    blocks = [op for op in difflib.SequenceMatcher(a=sqlite, b=postgres).get_opcodes() if op[0] != "equal"]
    assert blocks, "the dialects differ somewhere (identity columns at least)"
    for _, a0, a1, b0, b1 in blocks:
        for line in sqlite[a0:a1] + postgres[b0:b1]:
            assert any(part in line for part in parts), line
