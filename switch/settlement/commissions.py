"""The money of a settled day: the agents' commissions (per bill for postpaid, per purchase otherwise)
and the switch's admin-fee income, each posted at most once in total however often a day is settled."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import structlog

from switch.config import Config
from switch.ledger import money, settlements
from switch.ledger.states import STANDING
from switch.ledger.storage import Database, Tx
from switch.wire.field48 import POSTPAID

from .lines import Day, Payment

log = structlog.get_logger("settlement")

COMMISSION_BATCH = 100  # agents per unit: one commit serves many


@dataclass
class Commissions:
    """What settling a day and bank did to the agents' commissions and the fee income."""
    due: int
    posted_now: int
    agents: int
    over_paid: dict[str, int] = field(default_factory=dict)  # agent -> paid more than is due now
    fee_income_posted_now: int = 0


def shares_of(config: Config) -> dict[str, int]:
    return {product.code: product.agent_share for product in config.products}


def commission_of(payment: Payment, shares: dict[str, int]) -> int:
    """The agent's share: per bill for postpaid, per purchase otherwise."""
    share = shares.get(payment.product, 0)
    return share * max(payment.bills, 1) if payment.product == POSTPAID else share


def add_commissions(day: Day, payments: Iterable[Payment], shares: dict[str, int]) -> None:
    for payment in payments:
        if payment.state != STANDING:
            continue
        day.fee_income += payment.line.admin_fee
        amount = commission_of(payment, shares)
        if amount > 0:
            day.commissions[payment.agent_id] = day.commissions.get(payment.agent_id, 0) + amount
            day.commission_counts[payment.agent_id] = day.commission_counts.get(payment.agent_id, 0) + 1


def commission_ref(business_date: str, bank_id: str, agent_id: str) -> str:
    return f"{business_date}:{bank_id}:{agent_id}"


def _ours(postings: list[tuple[str, int]], base: str) -> list[int]:
    return [amount for ref, amount in postings if ref == base or ref.startswith(base + "#")]


async def posted_commission(tx: Tx, business_date: str, bank_id: str, agent_id: str) -> tuple[int, int]:
    """(amount already posted to the agent for this date and bank, number of entries)."""
    ours = _ours(await settlements.commission_postings(tx, business_date, agent_id),
                 commission_ref(business_date, bank_id, agent_id))
    return sum(ours), len(ours)


async def post_agent_commission(tx: Tx, business_date: str, bank_id: str, agent_id: str, due: int) -> int:
    """Posts what is due and not yet posted; a payment that came to stand after an earlier run adds
    an entry `<ref>#<n>`. Returns the amount posted now (negative: more was posted than is due now,
    which money cannot take back here; it is reported)."""
    posted, entries = await posted_commission(tx, business_date, bank_id, agent_id)
    missing = due - posted
    if missing <= 0:
        return missing
    base = commission_ref(business_date, bank_id, agent_id)
    ref = base if entries == 0 else f"{base}#{entries + 1}"
    if not await money.post_commission(tx, agent_id, missing, ref, business_date):
        return 0  # another node posted this very step first
    return missing


async def post_day_fee_income(tx: Tx, day: Day) -> int:
    """The switch's admin-fee income of the day and bank, posted once in total: a payment that came
    to stand after an earlier run adds an entry `<ref>#<n>`. Returns the amount posted now."""
    base = f"{day.business_date}:{day.bank_id}"
    ours = _ours(await settlements.fee_income_postings(tx, day.business_date), base)
    missing = day.fee_income - sum(ours)
    if missing <= 0:
        return 0
    ref = base if not ours else f"{base}#{len(ours) + 1}"
    return missing if await money.post_fee_income(tx, day.bank_id, missing, ref, day.business_date) else 0


async def paid_agents(db: Database, business_date: str, bank_id: str) -> set[str]:
    prefix = commission_ref(business_date, bank_id, "")
    refs = await db.read(lambda tx: settlements.commission_refs(tx, business_date))
    return {agent_id for agent_id, ref in refs if ref.startswith(prefix)}


async def post_commissions(db: Database, day: Day) -> Commissions:
    """Posts each agent's commission for the day and bank, at most once in total (agents paid on an
    earlier run are looked at too: what they got may now be more than is due)."""
    agents = sorted(set(day.commissions) | await paid_agents(db, day.business_date, day.bank_id))
    posted, over, unknown = 0, {}, []

    async def batch(tx: Tx, chunk: list[str]) -> list[tuple[str, int | None]]:
        done: list[tuple[str, int | None]] = []
        for agent_id in chunk:
            if not await settlements.agent_exists(tx, agent_id):
                done.append((agent_id, None))
                continue
            due = day.commissions.get(agent_id, 0)
            done.append((agent_id, await post_agent_commission(tx, day.business_date, day.bank_id, agent_id, due)))
        return done

    for start in range(0, len(agents), COMMISSION_BATCH):
        chunk = agents[start:start + COMMISSION_BATCH]
        for agent_id, now in await db.unit(lambda tx: batch(tx, chunk)):
            if now is None:
                unknown.append(agent_id)
            elif now > 0:
                posted += now
            elif now < 0:
                over[agent_id] = -now
    if unknown:
        log.error("commission_for_unknown_agents", agents=unknown[:20], date=day.business_date)
    if over:
        log.warning("commission_over_paid", bank=day.bank_id, date=day.business_date, agents=over)
    return Commissions(sum(day.commissions.values()), posted, len(day.commissions), over)
