"""An agent's statement: every movement of its deposit account (`agent:<ID>`) in a date range —
top-ups, payments (debits), reversals (credits back), commissions — with the running balance.

Lines are dated by when they were posted (local time), so opening balance + lines = closing balance,
exactly as the account moved; each line also shows the business date it belongs to.

This module builds the `Statement` (data); statement_report.py prints it or writes it as CSV."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date as Date, datetime, time as dtime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from switch.ledger import statements
from switch.ledger.money import agent_account
from switch.ledger.storage import Database

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


__all__ = ["DEFAULT_ZONE", "Statement", "StatementLine", "build_statement"]
