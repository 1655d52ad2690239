"""Settling a closed business date with each bank (contract §8.6).

Per bank, one pass over the day's payments writes the switch's RCN/CTL files and gives the 0500
totals (day.py), so file and totals always agree. Then the 0500 goes out (totals.py), the 0510
decides the state (00 settled, 95 disputed, silence unsent), the day's agent commissions and the
switch's admin-fee income are posted, each at most once (commissions.py), and the settlements row is
stored. Running it again sends the same totals and posts nothing twice: files are rewritten byte
for byte from stored data. What it did comes back as a `DaySettlement`; report.py prints it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date as Date
from typing import Any

import structlog

from switch.ledger import settlements
from switch.ledger.calendar import date_state
from switch.ledger.commands import AdminError
from switch.ledger.storage import Database, Tx
from switch.services import Services

from .commissions import Commissions, post_commissions, post_day_fee_income, shares_of
from .day import Progress, build_day, unfinished
from .lines import Day
from .progress import progress_bar
from .totals import SettlementState, outcome_of, send_totals

log = structlog.get_logger("settlement")


@dataclass
class BankSettlement:
    """A business date settled with one bank: the 0500 totals, the 0510 and what was posted."""
    bank: str
    date: str
    credits_count: int
    credits_amount: int
    debits_count: int
    debits_amount: int
    net: str                      # as field 97: C/D and 16 digits
    rc: str | None                # the 0510's code; None when unsent
    state: str                    # what this run found (a SettlementState)
    recorded: str                 # what is stored: an unanswered re-run keeps an earlier agreement
    pending: dict[str, int]       # payments of the date not final yet, by state
    commissions: Commissions
    files: list[str] = field(default_factory=list)


@dataclass
class DaySettlement:
    date: str
    banks: list[BankSettlement]

    @property
    def settled(self) -> bool:
        return all(bank.state == SettlementState.SETTLED for bank in self.banks)

    def to_json(self) -> dict[str, Any]:
        """As handed back to the CLI through the database (admin_commands.result)."""
        return {"date": self.date, "banks": [asdict(bank) for bank in self.banks], "settled": self.settled}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DaySettlement:
        banks = [BankSettlement(**{**bank, "commissions": Commissions(**bank["commissions"])})
                 for bank in data["banks"]]
        return cls(data["date"], banks)


async def store_settlement(tx: Tx, day: Day, rc: str | None, state: SettlementState) -> str:
    """Stores the outcome; an unanswered re-run does not undo an agreement on the same totals.
    Returns the state recorded."""
    c = day.control
    previous = await settlements.settlement_row(tx, day.business_date, day.bank_id)
    same = previous is not None and (previous["credits_count"], previous["credits_amount"],
                                     previous["debits_count"], previous["debits_amount"]) == c.totals()
    if state == SettlementState.UNSENT and same and previous is not None \
            and previous["state"] in (SettlementState.SETTLED, SettlementState.DISPUTED):
        return str(previous["state"])
    await settlements.upsert_settlement(tx, day.business_date, day.bank_id, c.totals(), c.net, rc, state.value)
    return state.value


def _valid_date(text: Any) -> str:
    try:
        return Date.fromisoformat(str(text)).isoformat()
    except ValueError:
        raise AdminError(f"settle: {text!r} is not a date YYYY-MM-DD") from None


async def check_closed(db: Database, business_date: str) -> None:
    state = await db.read(lambda tx: date_state(tx, business_date))
    if state is None:
        raise AdminError(f"settle: business date {business_date} is unknown (the switch never opened it)")
    if state != "closed":
        raise AdminError(f"settle: business date {business_date} is still open")


def banks_to_settle(svc: Services, bank: str | None) -> list[str]:
    configured = [b.id for b in svc.config.banks]
    if bank is None:
        return configured
    if bank not in configured:
        raise AdminError(f"settle: unknown bank {bank} (configured: {', '.join(configured)})")
    return [bank]


async def settle_bank(svc: Services, bank_id: str, business_date: str,
                      progress: Progress | None = None) -> BankSettlement:
    day = await build_day(svc.db, bank_id, business_date, svc.config.switch.settlement_dir,
                          shares_of(svc.config), progress)
    rc = await send_totals(svc, bank_id, day.control)
    state = outcome_of(rc)
    commissions = await post_commissions(svc.db, day)
    commissions.fee_income_posted_now = await svc.db.unit(lambda tx: post_day_fee_income(tx, day))
    recorded = await svc.db.unit(lambda tx: store_settlement(tx, day, rc, state))
    svc.metrics.set_settlement_state(bank_id, recorded)
    c = day.control
    pending = await unfinished(svc.db, bank_id, business_date)
    log.info("settlement", bank=bank_id, date=business_date, credits=c.paid_count,
             credits_amount_minor=c.paid_amount, debits=c.reversed_count, debits_amount_minor=c.reversed_amount,
             net=c.net, rc=rc, state=state.value, recorded=recorded, pending=pending,
             commissions=commissions.posted_now)
    return BankSettlement(bank_id, business_date, c.paid_count, c.paid_amount, c.reversed_count,
                          c.reversed_amount, c.net, rc, state.value, recorded, pending, commissions, day.files)


async def settle_day(svc: Services, business_date: str, bank: str | None = None) -> DaySettlement:
    """Settles a closed business date with every bank (or one). AdminError (one line) for an open or
    unknown date or an unknown bank."""
    await check_closed(svc.db, business_date)
    banks = banks_to_settle(svc, bank)
    results = []
    with progress_bar(f"settling {business_date}") as bar:
        for bank_id in banks:
            results.append(await settle_bank(svc, bank_id, business_date, bar))
    return DaySettlement(business_date, results)


async def settle_command(svc: Services, args: dict[str, Any]) -> dict[str, Any]:
    """`ppob-switch settle --date D [--bank B]`, run inside the switch: its answer to the CLI."""
    business_date = _valid_date(args.get("date"))
    return (await settle_day(svc, business_date, args.get("bank"))).to_json()
