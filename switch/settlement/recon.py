"""Reconciliation: a bank's settlement file against the switch's records of the same bank and date.

Both sides are RCN lines sorted by RRN, so the comparison is a merge: one pass, memory only for the
differences. The switch's side is written to a temporary RCN file first (from the same lines a
settlement writes), which keeps a million-payment day out of memory too.
"""
from __future__ import annotations

import csv
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from switch.ledger.calendar import date_state

from .files import Control, RcnLine, SettlementFileError, ctl_beside, read_ctl, read_rcn
from switch.ops.text import rupiah_text

from .day import build_day
from .report import wide_console

MATCHED, ONLY_SWITCH, ONLY_BANK, DIFFERS = "matched", "only-at-switch", "only-at-bank", "amount-differs"
KINDS = (MATCHED, ONLY_SWITCH, ONLY_BANK, DIFFERS)
SHOWN = 50


class NotSorted(Exception):
    def __init__(self, side: str, rrn: str, previous: str) -> None:
        super().__init__(f"{side} lines are not sorted by RRN ({rrn} after {previous})")
        self.side = side


@dataclass(frozen=True)
class Difference:
    kind: str
    rrn: str
    switch: RcnLine | None
    bank: RcnLine | None

    @property
    def detail(self) -> str:
        if self.kind == ONLY_SWITCH:
            return "the bank's file does not have it"
        if self.kind == ONLY_BANK:
            return "the switch has no such approved payment"
        switch, bank = self.switch, self.bank
        assert switch is not None and bank is not None  # neither 'only' kind: both sides have it
        parts = []
        if switch.amount != bank.amount:
            parts.append(f"amount {switch.amount} at switch, {bank.amount} at bank")
        if switch.status != bank.status:
            parts.append(f"{switch.status} at switch, {bank.status} at bank")
        return "; ".join(parts)

    @property
    def line(self) -> RcnLine:
        """The payment as one side has it (the switch's when both do)."""
        known = self.switch or self.bank
        if known is None:
            raise ValueError(f"difference for RRN {self.rrn} has neither side's line")
        return known


@dataclass
class ReconResult:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    amounts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    differences: list[Difference] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences

    def _differ(self, kind: str, rrn: str, switch: RcnLine | None, bank: RcnLine | None) -> None:
        difference = Difference(kind, rrn, switch, bank)
        self.counts[kind] += 1
        self.amounts[kind] += difference.line.amount
        self.differences.append(difference)


def _in_order(lines: Iterable[RcnLine], side: str) -> Iterator[RcnLine]:
    previous = ""
    for line in lines:
        if line.rrn < previous:
            raise NotSorted(side, line.rrn, previous)
        previous = line.rrn
        yield line


def compare(switch_lines: Iterable[RcnLine], bank_lines: Iterable[RcnLine]) -> ReconResult:
    """Merges two RRN-sorted streams: matched, only at the switch, only at the bank, or differing in
    amount or status. A duplicate RRN on one side shows up as 'only' on that side. Raises NotSorted."""
    result = ReconResult()
    switch_iter, bank_iter = _in_order(switch_lines, "switch"), _in_order(bank_lines, "bank")
    s, b = next(switch_iter, None), next(bank_iter, None)
    matched = matched_amount = 0
    while s is not None or b is not None:
        if s is not None and (b is None or s.rrn < b.rrn):
            result._differ(ONLY_SWITCH, s.rrn, s, None)
            s = next(switch_iter, None)
        elif b is not None and (s is None or b.rrn < s.rrn):
            result._differ(ONLY_BANK, b.rrn, None, b)
            b = next(bank_iter, None)
        else:
            assert s is not None and b is not None  # neither side is ahead: the same RRN on both
            if s.amount == b.amount and s.status == b.status:
                matched += 1
                matched_amount += s.amount
            else:
                result._differ(DIFFERS, s.rrn, s, b)
            s, b = next(switch_iter, None), next(bank_iter, None)
    result.counts[MATCHED], result.amounts[MATCHED] = matched, matched_amount
    return result


# ---- control file -------------------------------------------------------------------------------

def control_problems(stated: Control, counted: Control, bank_id: str, business_date: str) -> list[str]:
    """What a bank's CTL says that its RCN (or the command line) does not."""
    problems = []
    if stated.bank != bank_id:
        problems.append(f"control file is for bank {stated.bank}, not {bank_id}")
    if stated.business_date != business_date:
        problems.append(f"control file is for {stated.business_date}, not {business_date}")
    names = ("PAID_COUNT", "PAID_AMOUNT", "REVERSED_COUNT", "REVERSED_AMOUNT")
    for name, said, found in zip(names, stated.totals(), counted.totals()):
        if said != found:
            problems.append(f"control file {name} {said}, its settlement file has {found}")
    return problems


class _Counting:
    """Passes the bank's lines through while totalling them (checked against its CTL)."""

    def __init__(self, lines: Iterable[RcnLine], control: Control) -> None:
        self.lines, self.control = lines, control

    def __iter__(self) -> Iterator[RcnLine]:
        add = self.control.add
        for line in self.lines:
            add(line)
            yield line


# ---- the command --------------------------------------------------------------------------------

async def switch_side(db: Any, bank_id: str, business_date: str, directory: Path) -> Path:
    """The switch's own RCN for the bank and date (what a comparison needs of it), written into
    `directory`."""
    day = await build_day(db, bank_id, business_date, directory, {}, lean=True)
    return Path(day.files[0])


def reconcile_files(switch_file: Path, bank_file: Path, bank_id: str,
                    business_date: str) -> tuple[ReconResult, Control]:
    """Compares two RCN files; an unsorted bank file is sorted in memory and compared again."""
    counted = Control(bank_id, business_date)
    try:
        return compare(read_rcn(switch_file), _Counting(read_rcn(bank_file), counted)), counted
    except NotSorted as exc:
        if exc.side != "bank":
            raise
    counted = Control(bank_id, business_date)
    bank_lines = sorted(_Counting(read_rcn(bank_file), counted), key=lambda line: line.rrn)
    return compare(read_rcn(switch_file), bank_lines), counted


_FILE_NAME = re.compile(r"(?P<bank>.+)_(?P<day>\d{8})\.RCN", re.IGNORECASE)


def file_mismatch(bank_file: Path, stated: Control | None, bank_id: str, business_date: str) -> str:
    """Why this file is not the bank's file of that date ('' when nothing says so): its control file's
    BANK and BUSINESS_DATE, else its name <BANK>_<YYYYMMDD>.RCN."""
    named = _FILE_NAME.fullmatch(bank_file.name)
    if stated is not None:
        bank, day, source = stated.bank, stated.business_date, "its control file says so"
    elif named is not None:
        digits = named["day"]
        bank, day, source = named["bank"], f"{digits[:4]}-{digits[4:6]}-{digits[6:]}", "by its name"
    else:
        return ""
    if day != business_date:
        return f"{bank_file.name} is the file of business date {day} ({source}), not --date {business_date}"
    if bank != bank_id:
        return f"{bank_file.name} is the file of bank {bank} ({source}), not --bank {bank_id}"
    return ""


async def recon_command(db: Any, config: Any, args: Any) -> int:
    """`ppob-switch recon --bank B --date D --file F [--csv OUT]`: 0 only when everything matches."""
    bank_id, business_date, bank_file = args.bank, args.date, Path(args.file)
    if bank_id not in [b.id for b in config.banks]:
        print(f"ppob-switch: recon: unknown bank {bank_id} (--bank)", file=sys.stderr)
        return 2
    if not bank_file.is_file():
        print(f"ppob-switch: recon: {bank_file}: no such file", file=sys.stderr)
        return 1
    problems: list[str] = []
    try:
        ctl = ctl_beside(bank_file)
        stated = read_ctl(ctl) if ctl.is_file() else None
        mismatch = file_mismatch(bank_file, stated, bank_id, business_date)
        if mismatch:   # the first line says so: comparing it would list every payment as a difference
            print(f"ppob-switch: recon: {mismatch}", file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory(prefix="ppob-recon-") as scratch:
            switch_file = await switch_side(db, bank_id, business_date, Path(scratch))
            result, counted = reconcile_files(switch_file, bank_file, bank_id, business_date)
    except SettlementFileError as exc:
        print(f"ppob-switch: recon: {exc}", file=sys.stderr)
        return 1
    if stated is not None:
        problems = control_problems(stated, counted, bank_id, business_date)
    print_recon(result, bank_id, business_date, bank_file, problems, stated is not None)
    if await db.read(lambda tx: date_state(tx, business_date)) != "closed":
        print(f"note: business date {business_date} is not closed: the switch's side may still change")
    if getattr(args, "csv", None):
        try:
            write_differences_csv(result.differences, args.csv)
        except OSError as exc:
            print(f"ppob-switch: recon: --csv {args.csv}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    return 0 if result.clean and not problems else 1




def print_recon(result: ReconResult, bank_id: str, business_date: str, bank_file: Path,
                problems: list[str], had_ctl: bool) -> None:
    from rich.table import Table
    console = wide_console()
    summary = Table(title=f"Reconciliation {bank_id} {business_date} ({bank_file.name})")
    summary.add_column("result")
    summary.add_column("count", justify="right")
    summary.add_column("amount", justify="right")
    for kind in KINDS:
        summary.add_row(kind, str(result.counts[kind]), rupiah_text(result.amounts[kind]))
    console.print(summary)
    if result.differences:
        rows = Table(title=f"differences (first {min(SHOWN, len(result.differences))}"
                           f" of {len(result.differences)})")
        for name in ("kind", "RRN", "switch amount", "bank amount", "switch status", "bank status", "detail"):
            rows.add_column(name)
        for d in result.differences[:SHOWN]:
            rows.add_row(d.kind, d.rrn, _amount(d.switch), _amount(d.bank), d.switch.status if d.switch else "-",
                         d.bank.status if d.bank else "-", d.detail)
        console.print(rows)
    for problem in problems:
        console.print(f"[bold red]control:[/] {problem}")
    if not had_ctl:
        console.print(f"no control file beside {bank_file.name}: totals not cross-checked")
    if result.clean and not problems:
        console.print(f"[green]everything matches[/] ({result.counts[MATCHED]} payments)")


def _amount(line: RcnLine | None) -> str:
    return "-" if line is None else str(line.amount)


CSV_COLUMNS = ("kind", "rrn", "switch_amount", "bank_amount", "switch_status", "bank_status", "stan",
               "terminal", "agent", "product", "customer", "detail")


def write_differences_csv(differences: list[Difference], target: str) -> None:
    """Every difference (not only the first shown); amounts in minor units; '-' is stdout."""
    out = sys.stdout if target == "-" else open(target, "w", encoding="utf-8", newline="")
    try:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for d in differences:
            known = d.line
            writer.writerow((d.kind, d.rrn, _csv_amount(d.switch), _csv_amount(d.bank),
                             d.switch.status if d.switch else "", d.bank.status if d.bank else "",
                             known.stan, known.terminal, known.agent, known.product, known.customer, d.detail))
    finally:
        if out is not sys.stdout:
            out.close()


def _csv_amount(line: RcnLine | None) -> str:
    return "" if line is None else str(line.amount)
