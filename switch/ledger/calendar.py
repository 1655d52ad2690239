"""Business dates: one is open at a time; a cutover closes it and opens the next day.

Dates are ISO strings (YYYY-MM-DD). The open date is cached in memory and refreshed from the
database, so several nodes sharing one database agree on it within a refresh interval.
"""
from __future__ import annotations

import time
from datetime import date, datetime, time as dtime, timedelta
from zoneinfo import ZoneInfo

from .storage import Database, Tx
from .txns import now_iso


async def open_date(tx: Tx) -> str | None:
    return await tx.fetchval(
        "SELECT business_date FROM business_days WHERE state = 'open' ORDER BY business_date DESC LIMIT 1")


async def ensure_open(tx: Tx, initial: str) -> str:
    current = await open_date(tx)
    if current is not None:
        return current
    await tx.execute("INSERT INTO business_days (business_date, state, opened_at) VALUES (?, 'open', ?)"
                     " ON CONFLICT DO NOTHING", initial, now_iso())
    return await open_date(tx) or initial


async def close_date(tx: Tx, closing: str) -> str | None:
    """Closes `closing` if it is still open and opens the next day; returns the new open date, or
    None when another cutover (another node, the operator) got there first."""
    changed = await tx.execute("UPDATE business_days SET state = 'closed', closed_at = ?"
                               " WHERE business_date = ? AND state = 'open'", now_iso(), closing)
    if changed != 1:
        return None
    following = (date.fromisoformat(closing) + timedelta(days=1)).isoformat()
    await tx.execute("INSERT INTO business_days (business_date, state, opened_at) VALUES (?, 'open', ?)"
                     " ON CONFLICT DO NOTHING", following, now_iso())
    return following


async def date_state(tx: Tx, business_date: str) -> str | None:
    return await tx.fetchval("SELECT state FROM business_days WHERE business_date = ?", business_date)


class BusinessCalendar:
    def __init__(self, db: Database, timezone: str = "Asia/Jakarta", cutover: str = "23:00") -> None:
        self._db = db
        self.zone = ZoneInfo(timezone)
        hour, minute = cutover.split(":")
        self.cutover_time = dtime(int(hour), int(minute))
        self.current: str = ""
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Financial requests get 90 for `seconds` (switch.cutover_pause_s after a cutover)."""
        if seconds > 0:
            self._paused_until = time.monotonic() + seconds

    def paused(self) -> bool:
        return time.monotonic() < self._paused_until

    def local_now(self) -> datetime:
        return datetime.now(self.zone)

    def initial_date(self, now: datetime | None = None) -> str:
        """The business date a switch starting now opens: today, or tomorrow after today's cutover."""
        now = now or self.local_now()
        day = now.date()
        if now.time() >= self.cutover_time:
            day += timedelta(days=1)
        return day.isoformat()

    async def load(self) -> str:
        initial = self.initial_date()
        self.current = await self._db.unit(lambda tx: ensure_open(tx, initial))
        return self.current

    async def refresh(self) -> str:
        found = await self._db.read(open_date)
        if found:
            self.current = found
        return self.current

    @property
    def mmdd(self) -> str:
        return self.current[5:7] + self.current[8:10]
