"""The 0500 totals of one bank's business date, and what its 0510 answer means (contract §8.6).

Gross totals: 74/86 every payment the bank approved (reversed ones too), 76/88 the reversals it
answered 00; 97 = 86 - 88."""
from __future__ import annotations

from enum import StrEnum

import structlog

from switch.links.bank_link import BankTimeout, LinkDown
from switch.services import Services
from switch.wire import Message
from switch.wire.fields import settlement_date, transmission_time
from switch.wire.vocabulary import Mti

from .files import Control, net_field

log = structlog.get_logger("settlement")


class SettlementState(StrEnum):
    """A date's settlement with one bank (the settlements.state column, the metric's label)."""
    SETTLED = "settled"      # 0510 00
    DISPUTED = "disputed"    # 0510 95
    UNSENT = "unsent"        # no link, or no 0510 came
    REFUSED = "refused"      # any other 0510 code


def totals_message(control: Control, stan: str, institution_id: str, f7: str) -> Message:
    return Message(Mti.RECONCILIATION, {
        7: f7, 11: stan, 15: settlement_date(control.business_date), 32: institution_id,
        74: f"{control.paid_count:010d}", 76: f"{control.reversed_count:010d}",
        86: f"{control.paid_amount:016d}", 88: f"{control.reversed_amount:016d}",
        97: net_field(control.paid_amount, control.reversed_amount)})


def outcome_of(rc: str | None) -> SettlementState:
    if rc is None:
        return SettlementState.UNSENT
    return {"00": SettlementState.SETTLED, "95": SettlementState.DISPUTED}.get(rc, SettlementState.REFUSED)


async def send_totals(svc: Services, bank_id: str, control: Control) -> str | None:
    """Sends the 0500; the 0510's field 39, or None when it could not be sent or was not answered."""
    link = svc.router.bank(bank_id)
    if link is None or not link.is_up:
        return None
    stan = await svc.stans.next(bank_id)
    message = totals_message(control, stan, svc.config.switch.institution_id, transmission_time())
    try:
        answer = await link.request(message, link.cfg.timeout_s)
    except (LinkDown, BankTimeout) as exc:
        log.warning("settlement_unanswered", bank=bank_id, date=control.business_date, error=str(exc))
        return None
    return answer.get(39, "")
