"""`ppob-switch audit --from D --to D [--csv FILE|-]`: the audit trail as a table or CSV.

Dates are business-calendar days in the switch's time zone (switch.timezone); times are shown there
too, and kept in UTC in the database and in the CSV."""
from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime, time, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from switch.ledger import audit
from switch.ledger.audit import AuditRecord
from switch.ledger.storage import Database

CSV_COLUMNS = ("audit_id", "at_utc", "actor", "source", "action", "subject", "before", "after")


def day_bounds(date_from: str, date_to: str, zone: str) -> tuple[datetime, datetime]:
    """[start of date_from, start of the day after date_to) in `zone`, as aware datetimes."""
    tz = ZoneInfo(zone)
    start = datetime.combine(date.fromisoformat(date_from), time(0), tzinfo=tz)
    end = datetime.combine(date.fromisoformat(date_to) + timedelta(days=1), time(0), tzinfo=tz)
    return start, end


def _state(state: dict | None) -> str:
    return "" if state is None else json.dumps(state, sort_keys=True, separators=(",", ":"))


def write_csv(records: list[AuditRecord], out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in records:
        writer.writerow((r.audit_id, r.at, r.actor, r.source, r.action, r.subject, _state(r.before), _state(r.after)))


def _local(at: str, tz: ZoneInfo) -> str:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def print_table(records: list[AuditRecord], title: str, zone: str) -> None:
    from rich.console import Console
    from rich.table import Table
    tz = ZoneInfo(zone)
    table = Table(title=title)
    for name in (f"at ({zone})", "actor", "source", "action", "subject", "before", "after"):
        table.add_column(name, overflow="fold")
    for r in records:
        table.add_row(_local(r.at, tz), r.actor, r.source, r.action, r.subject, _state(r.before), _state(r.after))
    Console(width=200).print(table)
    print(f"{len(records)} record(s)")


async def audit_command(db: Database, config: Any, args: Any) -> int:
    if args.date_from > args.date_to:
        print(f"ppob-switch: audit: --from {args.date_from} is after --to {args.date_to}", file=sys.stderr)
        return 2
    zone = config.switch.timezone
    records = await audit.between(db, *day_bounds(args.date_from, args.date_to, zone))
    if not args.csv:
        print_table(records, f"Audit trail {args.date_from} to {args.date_to}", zone)
        return 0
    if args.csv == "-":
        write_csv(records, sys.stdout)
        return 0
    try:
        with open(args.csv, "w", encoding="utf-8", newline="") as out:
            write_csv(records, out)
    except OSError as exc:
        print(f"ppob-switch: audit: {args.csv}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"{len(records)} audit record(s) written to {args.csv}")
    return 0
