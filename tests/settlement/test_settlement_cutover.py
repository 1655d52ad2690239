"""Cutover: which business date a scheduled cutover closes, and what closing one does."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from switch.ledger.calendar import date_state
from switch.ops.metrics import Metrics
from switch.settlement.cutover import close_business_date, forced_cutover, scheduled_closing

WIB = ZoneInfo("Asia/Jakarta")
CUTOVER = time(23, 0)
C = date(2026, 11, 25)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=WIB)


def test_before_the_cutover_time_todays_date_stays_open():
    assert scheduled_closing(C.isoformat(), at(C, 22, 59), CUTOVER) is None


def test_at_and_after_the_cutover_time_todays_date_closes():
    assert scheduled_closing(C.isoformat(), at(C, 23, 0), CUTOVER) == C.isoformat()
    assert scheduled_closing(C.isoformat(), at(C, 23, 59), CUTOVER) == C.isoformat()


def test_nothing_closes_when_the_open_date_is_already_after_today():
    tomorrow = (C + timedelta(days=1)).isoformat()
    assert scheduled_closing(tomorrow, at(C, 23, 30), CUTOVER) is None
    assert scheduled_closing(tomorrow, at(C, 9, 0), CUTOVER) is None


def test_a_date_left_open_while_the_switch_was_down_closes_at_once_whatever_the_time():
    yesterday = (C - timedelta(days=1)).isoformat()
    assert scheduled_closing(yesterday, at(C, 0, 30), CUTOVER) == yesterday
    three_days_ago = (C - timedelta(days=3)).isoformat()
    assert scheduled_closing(three_days_ago, at(C, 10, 0), CUTOVER) == three_days_ago
    assert scheduled_closing(three_days_ago, at(C, 23, 30), CUTOVER) == three_days_ago


def test_a_midnight_cutover_closes_the_date_as_soon_as_the_day_begins():
    assert scheduled_closing(C.isoformat(), at(C, 0, 0), time(0, 0)) == C.isoformat()


async def test_a_forced_cutover_closes_the_open_date_and_tells_every_bank(db, bed_factory):
    bed = await bed_factory(db, ("BANKA", "BANKB"))
    bed.svc.metrics = Metrics()
    closing = bed.svc.calendar.current
    result = await forced_cutover(bed.svc)
    following = (date.fromisoformat(closing) + timedelta(days=1)).isoformat()
    assert (result["closed"], result["opened"]) == (closing, following)
    assert bed.svc.calendar.current == following
    assert await db.read(lambda tx: date_state(tx, closing)) == "closed"
    assert await db.read(lambda tx: date_state(tx, following)) == "open"
    for bank_id in ("BANKA", "BANKB"):
        (sent,) = [m for m in bed.received(bank_id, "0800") if m.get(70) == "201"]
        assert sent[15] == closing[5:7] + closing[8:10]
        assert list(result["banks"][bank_id].values()) == ["00"]
    assert f'ppob_business_date{{date="{following}"}} 1.0' in bed.svc.metrics.render().decode()


async def test_a_date_is_closed_once_even_when_two_cutovers_race(db, bed_factory):
    bed = await bed_factory(db)
    closing = bed.svc.calendar.current
    assert await close_business_date(bed.svc, closing) is not None
    assert await close_business_date(bed.svc, closing) is None
    assert len([m for m in bed.received("BANKA", "0800") if m.get(70) == "201"]) == 1


async def test_with_a_bank_down_the_cutover_still_happens_and_says_so(db, bed_factory):
    bed = await bed_factory(db, up=False)
    result = await forced_cutover(bed.svc)
    assert result["banks"] == {"BANKA": {}}
    assert await db.read(lambda tx: date_state(tx, result["closed"])) == "closed"
