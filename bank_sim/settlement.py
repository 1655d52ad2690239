"""The bank's business dates, its payment records and its settlement files (specs/settlement-files.md).

The bank has no clock of its own for business dates: it learns them from the switch's 0800/201
cutover (field 15 = the date being closed). Payments belong to the open BusinessDay object; a cutover
gives that object its final date, so payments taken before the first cutover, while the bank only
guessed the date, still land in the date the switch closes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

RCN_HEADER = ("RRN|STAN|TERMINAL|AGENT|PRODUCT|CUSTOMER|PERIODS|AMOUNT|ADMIN_FEE|BANK_REF|STATUS|"
              "TRX_TIME|UPDATED_TIME")
CTL_HEADER = "BANK|BUSINESS_DATE|PAID_COUNT|PAID_AMOUNT|REVERSED_COUNT|REVERSED_AMOUNT|NET"
PAID, REVERSED = "PAID", "REVERSED"


@dataclass(eq=False)
class BusinessDay:
    date: date
    closed: bool = False


@dataclass(eq=False, slots=True)  # no __dict__: one object fewer per payment for the collector to walk
class Payment:
    """A payment the bank approved (or declined: approved=False), as its records keep it."""
    stan: str
    transmitted: str       # field 7 of the original request: with the STAN it names the original
    rrn: str
    terminal: str
    agent: str
    product: str
    customer: str
    amount: int            # field 4, minor units
    admin_fee: int         # minor units, all bills together
    day: BusinessDay
    result: dict[int, str]  # the answer's own fields: 39, and 38/48/62 when approved
    periods: tuple[str, ...] = ()
    biller_ref: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    updated_at: datetime | None = None
    status: str = PAID

    @property
    def approved(self) -> bool:
        return self.result.get(39) == "00"


@dataclass(frozen=True)
class Totals:
    """One business date as in a 0500: gross approved payments (74/86) and reversals (76/88)."""
    paid_count: int = 0
    paid_amount: int = 0
    reversed_count: int = 0
    reversed_amount: int = 0

    @property
    def net(self) -> str:
        """Field 97: C when the switch owes the bank (86 > 88), D otherwise, then 16 digits."""
        net = self.paid_amount - self.reversed_amount
        return f"{'C' if net > 0 else 'D'}{abs(net):016d}"

    @classmethod
    def of(cls, payments: list[Payment]) -> "Totals":
        paid = [p for p in payments if p.approved]
        reversed_ = [p for p in paid if p.status == REVERSED]
        return cls(len(paid), sum(p.amount for p in paid), len(reversed_), sum(p.amount for p in reversed_))


def signed_net(field97: str) -> int | None:
    """Field 97 as a signed amount (C positive), or None when it is not C/D + 16 digits."""
    if len(field97) != 17 or field97[0] not in "CD" or not field97[1:].isdigit():
        return None
    value = int(field97[1:])
    return value if field97[0] == "C" else -value


class Calendar:
    """The open business day, the closed ones, and how field 15 (MMDD) maps to a date."""

    def __init__(self, today: date) -> None:
        self.open = BusinessDay(today)
        self.closed: dict[date, BusinessDay] = {}

    def cutover(self, closing: date) -> BusinessDay | None:
        """Closes the open day as `closing`; a repeat of an already closed date changes nothing and
        returns None."""
        if closing in self.closed or (self.closed and closing < max(self.closed)):
            return None
        day = self.open
        day.date, day.closed = closing, True
        self.closed[closing] = day
        self.open = BusinessDay(closing + timedelta(days=1))
        return day

    def closing_date(self, mmdd: str) -> date | None:
        """Field 15 of a cutover: the date with that MMDD nearest the open day (the year may turn)."""
        anchor = self.open.date
        years = (anchor.year - 1, anchor.year, anchor.year + 1)
        candidates = [d for d in (_date_in(year, mmdd) for year in years) if d is not None]
        return min(candidates, key=lambda d: abs(d - anchor), default=None)

    def resolve(self, mmdd: str) -> date | None:
        """The latest known business date with that month and day, else the latest such date not
        after the open day. None when MMDD is no date."""
        known = sorted([*self.closed, self.open.date], reverse=True)
        for day in known:
            if day.strftime("%m%d") == mmdd:
                return day
        anchor = self.open.date
        for year in (anchor.year, anchor.year - 1):
            candidate = _date_in(year, mmdd)
            if candidate is not None and candidate <= anchor:
                return candidate
        return None


def _date_in(year: int, mmdd: str) -> date | None:
    if len(mmdd) != 4 or not mmdd.isdigit():
        return None
    try:
        return date(year, int(mmdd[:2]), int(mmdd[2:]))
    except ValueError:
        return None


def iso_utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def rcn_line(p: Payment) -> str:
    updated = p.updated_at or p.at
    return "|".join((p.rrn, p.stan, p.terminal, p.agent, p.product, p.customer, ",".join(p.periods),
                     str(p.amount), str(p.admin_fee), p.biller_ref, p.status, iso_utc(p.at), iso_utc(updated)))


def ctl_line(bank_id: str, business_date: date, totals: Totals) -> str:
    return "|".join((bank_id, business_date.isoformat(), str(totals.paid_count), str(totals.paid_amount),
                     str(totals.reversed_count), str(totals.reversed_amount), totals.net))


def write_files(directory: str | Path, bank_id: str, business_date: date,
                payments: list[Payment]) -> tuple[Path, Path]:
    """Writes <BANK>_<YYYYMMDD>.RCN and .CTL for the approved payments of one business date.
    Each file is written whole and renamed into place, so a reader never sees half a file."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    approved = sorted((p for p in payments if p.approved), key=lambda p: (p.rrn, p.stan))
    stem = f"{bank_id}_{business_date:%Y%m%d}"
    rcn = _write(folder / f"{stem}.RCN", [RCN_HEADER, *map(rcn_line, approved)])
    ctl = _write(folder / f"{stem}.CTL", [CTL_HEADER, ctl_line(bank_id, business_date, Totals.of(approved))])
    return rcn, ctl


def _write(path: Path, lines: list[str]) -> Path:
    temp = path.with_name(path.name + ".tmp")
    with open(temp, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)
    return path
