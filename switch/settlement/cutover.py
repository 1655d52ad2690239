"""Cutover: the open business date closes and the next opens, without stopping traffic.

Scheduled at `cutover` (local time) on calendar day C, it closes business date C if that is still
open (or an older one left open while the switch was down); an operator's forced cutover closes the
open date at once. Each bank then hears 0800/201 with field 15 = the closed date."""
from __future__ import annotations

import asyncio
from datetime import date, datetime

import structlog

from switch.ledger import calendar as cal
from switch.services import Services

log = structlog.get_logger("cutover")


async def close_business_date(svc: Services, closing: str) -> str | None:
    """Closes `closing` (if still open), tells every bank, returns the new open date or None."""
    opened, _ = await close_and_announce(svc, closing)
    return opened


async def close_and_announce(svc: Services, closing: str) -> tuple[str | None, dict[str, dict[str, str]]]:
    """Closes `closing` if still open; returns (the new open date or None, each bank's 0810 codes
    per connection, {} for a bank with no link up)."""
    opened = await svc.db.unit(lambda tx: cal.close_date(tx, closing))
    if opened is None:
        return None, {}
    await svc.calendar.refresh()
    svc.calendar.pause(svc.config.switch.cutover_pause_s)
    svc.metrics.set_business_date(svc.calendar.current)
    banks = await announce(svc, closing)
    log.info("business_date_closed", closed=closing, opened=opened, banks=banks)
    return opened, banks


async def announce(svc: Services, closing: str) -> dict[str, dict[str, str]]:
    """0800/201 with field 15 = the closed date to every bank (all at once: one slow bank does not
    hold up the others)."""
    mmdd = closing[5:7] + closing[8:10]
    links = list(svc.router.links)
    answers = await asyncio.gather(*(link.cutover(mmdd) for link in links), return_exceptions=True)
    banks: dict[str, dict[str, str]] = {}
    for link, answer in zip(links, answers):
        if isinstance(answer, BaseException):
            log.warning("cutover_not_sent", bank=link.id, closed=closing, error=str(answer))
            answer = {"error": type(answer).__name__}
        elif not answer:
            log.warning("cutover_not_sent", bank=link.id, closed=closing, error="no link up")
        banks[link.id] = answer
    return banks


async def forced_cutover(svc: Services) -> dict:
    closing = await svc.calendar.refresh()
    opened, banks = await close_and_announce(svc, closing)
    return {"closed": closing, "opened": opened or svc.calendar.current, "banks": banks,
            "by_this_command": opened is not None}


def scheduled_closing(open_date: str, now_local: datetime, cutover_time) -> str | None:
    """The business date a scheduled cutover closes now, or None (nothing to close yet)."""
    today = now_local.date()
    if now_local.time() < cutover_time:
        return open_date if date.fromisoformat(open_date) < today else None
    return open_date if date.fromisoformat(open_date) <= today else None


async def scheduled_cutover(svc: Services) -> str | None:
    current = await svc.calendar.refresh()
    closing = scheduled_closing(current, svc.calendar.local_now(), svc.calendar.cutover_time)
    if closing is None:
        return None
    return await close_business_date(svc, closing)
