"""How a settlement reads for the operator: the table `ppob-switch settle` prints."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from switch.ops.text import rupiah_text

from .commissions import Commissions
from .settle import DaySettlement
from .totals import SettlementState


def wide_console(stderr: bool = False):
    """A rich console; when output goes to a file or pipe, wide enough that RRNs never wrap."""
    from rich.console import Console
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr) if stream.isatty() else Console(stderr=stderr, width=160)


def print_settlement(result: DaySettlement | dict[str, Any]) -> int:
    """Prints the outcome of `settle` (as settled here, or as the running switch sent it back) as a
    table; 0 when every bank settled, 1 otherwise."""
    from rich.console import JustifyMethod
    from rich.table import Table
    day = result if isinstance(result, DaySettlement) else DaySettlement.from_json(result)
    table = Table(title=f"Settlement {day.date}")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("bank", "left"), ("credits", "right"), ("credits amount", "right"),
                          ("debits", "right"), ("debits amount", "right"), ("net", "right"),
                          ("rc", "center"), ("state", "left"), ("files", "left"))
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for r in day.banks:
        net = int(r.net[1:]) * (1 if r.net[0] == "C" else -1)
        state = r.state if r.state == r.recorded else f"{r.state} ({r.recorded})"
        table.add_row(r.bank, str(r.credits_count), rupiah_text(r.credits_amount),
                      str(r.debits_count), rupiah_text(r.debits_amount),
                      f"{r.net[0]} {rupiah_text(abs(net))}", r.rc or "-", state,
                      "\n".join(Path(f).name for f in r.files))
    console = wide_console()
    console.print(table)
    for r in day.banks:
        for line in _notes(r.bank, r.pending, r.commissions):
            console.print(line)
    unsettled = [f"{r.bank} {r.state}" for r in day.banks if r.state != SettlementState.SETTLED]
    if unsettled:
        print(f"ppob-switch: settlement {day.date} not agreed by every bank: {', '.join(unsettled)}",
              file=sys.stderr)
        return 1
    return 0


def _notes(bank: str, pending: dict[str, int], commissions: Commissions) -> list[str]:
    notes = []
    if pending:
        waiting = ", ".join(f"{n} {s}" for s, n in sorted(pending.items()))
        notes.append(f"{bank}: not final yet: {waiting} (settle again once they are)")
    if commissions.posted_now:
        notes.append(f"{bank}: commissions posted {rupiah_text(commissions.posted_now)}"
                     f" to {commissions.agents} agent(s)")
    if commissions.fee_income_posted_now:
        notes.append(f"{bank}: admin-fee income booked {rupiah_text(commissions.fee_income_posted_now)}")
    if commissions.over_paid:
        over = sum(commissions.over_paid.values())
        notes.append(f"{bank}: {len(commissions.over_paid)} agent(s) were paid {rupiah_text(over)}"
                     " more commission than is due now (payments reversed after settlement): adjust by hand")
    return notes
