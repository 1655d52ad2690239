"""How an agent's statement reads: the table `ppob-switch agent statement` prints, or its CSV
(built by statement.py)."""
from __future__ import annotations

import csv
import sys
from typing import Any

from switch.ledger.storage import Database
from switch.ops.text import rupiah_text

from .report import wide_console
from .statement import DEFAULT_ZONE, Statement, build_statement


def decimal_rupiah(minor: int) -> str:
    """Minor units as a rupiah decimal string (no floats): 150000 -> '1500.00'."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole}.{cents:02d}"


CSV_COLUMNS = ("posted_at", "kind", "ref", "product", "customer", "business_date", "debit", "credit", "balance")


def write_csv(statement: Statement, out) -> None:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerow((f"{statement.date_from}T00:00:00", "opening", "", "", "", "", "", "",
                     decimal_rupiah(statement.opening)))
    for line in statement.lines:
        debit = decimal_rupiah(-line.amount) if line.amount < 0 else ""
        credit = decimal_rupiah(line.amount) if line.amount > 0 else ""
        writer.writerow((line.posted_at.strftime("%Y-%m-%dT%H:%M:%S"), line.kind, line.ref, line.product,
                         line.customer, line.business_date, debit, credit, decimal_rupiah(line.balance)))


def print_statement(statement: Statement) -> None:
    from rich.console import JustifyMethod
    from rich.table import Table
    table = Table(title=f"Agent {statement.agent_id} statement {statement.date_from} to {statement.date_to}")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("posted (WIB)", "left"), ("kind", "left"), ("reference", "left"),
                          ("product", "left"), ("customer", "left"), ("business date", "left"),
                          ("debit", "right"), ("credit", "right"), ("balance", "right"))
    for name, justify in columns:
        table.add_column(name, justify=justify)
    table.add_row("", "opening balance", "", "", "", "", "", "", rupiah_text(statement.opening))
    for line in statement.lines:
        table.add_row(line.posted_at.strftime("%Y-%m-%d %H:%M:%S"), line.kind, line.ref, line.product,
                      line.customer, line.business_date,
                      rupiah_text(-line.amount) if line.amount < 0 else "",
                      rupiah_text(line.amount) if line.amount > 0 else "", rupiah_text(line.balance))
    table.add_row("", "closing balance", "", "", "", "", rupiah_text(-statement.total(-1)),
                  rupiah_text(statement.total(1)), rupiah_text(statement.closing))
    wide_console().print(table)


async def statement_command(db: Database, args: Any) -> int:
    """`ppob-switch agent statement AGENT --from D --to D [--csv FILE|-]`."""
    if args.date_from > args.date_to:
        print(f"ppob-switch: agent statement: --from {args.date_from} is after --to {args.date_to}",
              file=sys.stderr)
        return 2
    zone = getattr(args, "timezone", None) or DEFAULT_ZONE
    statement = await build_statement(db, args.agent_id, args.date_from, args.date_to, zone)
    target = getattr(args, "csv", None)
    if not target:
        print_statement(statement)
        return 0
    if target == "-":
        write_csv(statement, sys.stdout)
        return 0
    try:
        with open(target, "w", encoding="utf-8", newline="") as out:
            write_csv(statement, out)
    except OSError as exc:
        print(f"ppob-switch: agent statement: {target}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"agent {args.agent_id}: {len(statement.lines)} line(s) written to {target}")
    return 0


__all__ = ["print_statement", "statement_command", "write_csv"]
