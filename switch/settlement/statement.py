"""An agent's statement: every movement of its deposit account (`agent:<ID>`) in a date range —
top-ups, payments (debits), reversals (credits back), commissions — with the running balance.

Lines are dated by when they were posted (local time), so opening balance + lines = closing balance,
exactly as the account moved; each line also shows the business date it belongs to."""
from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from datetime import date as Date, datetime, time as dtime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from switch.ledger import statements
from switch.ledger.money import agent_account
from switch.ledger.storage import Database
from switch.ops.text import rupiah_text

from .report import wide_console

KIND_NAMES = {"topup": "topup", "debit": "payment", "credit_back": "reversal", "commission": "commission"}
DEFAULT_ZONE = "Asia/Jakarta"
PAGE = 5000


@dataclass(frozen=True)
class StatementLine:
    posted_at: datetime     # local time
    kind: str               # topup | payment | reversal | commission | (other entry kinds as stored)
    ref: str                # RRN for payments and reversals, else the entry's reference
    product: str
    customer: str
    business_date: str
    amount: int             # minor units, + credit / - debit
    balance: int            # running balance after this line


@dataclass
class Statement:
    agent_id: str
    date_from: str
    date_to: str
    opening: int
    lines: list[StatementLine]

    @property
    def closing(self) -> int:
        return self.lines[-1].balance if self.lines else self.opening

    def total(self, sign: int) -> int:
        return sum(line.amount for line in self.lines if line.amount * sign > 0)


def utc_bound(day: str, zone: ZoneInfo) -> str:
    """Local midnight at the start of `day` as the schema's UTC timestamp text."""
    local = datetime.combine(Date.fromisoformat(day), dtime(0), tzinfo=zone)
    return local.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _local(text: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(zone)


async def build_statement(db: Database, agent_id: str, date_from: str, date_to: str,
                          zone_name: str = DEFAULT_ZONE) -> Statement:
    zone = ZoneInfo(zone_name)
    account = agent_account(agent_id)
    start = utc_bound(date_from, zone)
    end = utc_bound((Date.fromisoformat(date_to) + timedelta(days=1)).isoformat(), zone)
    opening = await db.read(lambda tx: statements.balance_before(tx, account, start))
    balance, lines, after = opening, [], 0
    while True:
        rows = await db.read(lambda tx: statements.postings_between(tx, account, start, end, after, PAGE))
        for row in rows:
            balance += int(row["amount"])
            lines.append(_line(row, balance, zone))
        if len(rows) < PAGE:
            break
        after = rows[-1]["posting_id"]
    return Statement(agent_id, date_from, date_to, opening, lines)


def _line(row: Any, balance: int, zone: ZoneInfo) -> StatementLine:
    kind = KIND_NAMES.get(row["kind"], row["kind"])
    ref = row["rrn"] if row["rrn"] and kind in ("payment", "reversal") else row["ref"]
    return StatementLine(_local(row["created_at"], zone), kind, ref or "", row["product"] or "",
                         row["customer"] or "", row["business_date"] or "", int(row["amount"]), balance)


# ---- output -------------------------------------------------------------------------------------

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


__all__ = ["Statement", "StatementLine", "build_statement", "statement_command", "write_csv"]
