"""Fields with structure of their own, built and parsed here only: 7 (transmission time), 15
(settlement date), 54 (balances) and 90 (original data elements)."""
from __future__ import annotations

import time
from datetime import datetime
from typing import Callable, NamedTuple


def _now_field7() -> Callable[[], str]:
    """Field 7 of now, formatted once a second rather than for every bank request."""
    last: list = [-1, ""]

    def now_field7() -> str:
        second = int(time.time())
        if second != last[0]:
            last[:] = [second, time.strftime("%m%d%H%M%S", time.gmtime(second))]
        return last[1]
    return now_field7


_field7_now = _now_field7()


def transmission_time(now: float | datetime | None = None) -> str:
    """Field 7: MMDDhhmmss in UTC (of a Unix time, an aware datetime, or now)."""
    if isinstance(now, datetime):
        return now.strftime("%m%d%H%M%S")
    if now is None:
        return _field7_now()
    return time.strftime("%m%d%H%M%S", time.gmtime(now))


def settlement_date(business_date: str) -> str:
    """Field 15: MMDD of a business date given as YYYY-MM-DD."""
    return business_date[5:7] + business_date[8:10]


# ---- field 54: blocks of account type 2, amount type 2, currency 3, C/D, 12 digits (minor units) --

LEDGER_BALANCE, AVAILABLE_BALANCE = "01", "02"
BLOCK_LEN = 20


def balance_block(amount_type: str, amount: int) -> str:
    """One field-54 block: account type 00, amount type, currency 360, C/D, 12 digits (minor units)."""
    sign = "C" if amount >= 0 else "D"
    return f"00{amount_type}360{sign}{abs(amount):012d}"


def balances_field(ledger: int, available: int) -> str:
    return balance_block(LEDGER_BALANCE, ledger) + balance_block(AVAILABLE_BALANCE, available)


def parse_balances(f54: str) -> tuple[int, int] | None:
    """(ledger, available) in minor units from field 54, or None without both blocks."""
    amounts: dict[str, int] = {}
    for i in range(0, len(f54) - (BLOCK_LEN - 1), BLOCK_LEN):
        block = f54[i:i + BLOCK_LEN]
        kind, sign, digits = block[2:4], block[7], block[8:20]
        if digits.isdigit() and sign in "CD":
            amounts[kind] = int(digits) if sign == "C" else -int(digits)
    if LEDGER_BALANCE not in amounts or AVAILABLE_BALANCE not in amounts:
        return None
    return amounts[LEDGER_BALANCE], amounts[AVAILABLE_BALANCE]


# ---- field 90: original MTI 4 + STAN 6 + field 7 10 + acquiring institution 11 + 11 zeros ------

NO_INSTITUTION = "0" * 11   # a terminal has no acquiring institution id: field 90 carries zeros


class Original(NamedTuple):
    mti: str
    stan: str
    f7: str


def original_data(mti: str, stan: str, f7: str, institution_id: str = "") -> str:
    """Field 90 naming the original: MTI + STAN + field 7 + acquiring institution (11, zero-padded)
    + 11 zeros."""
    return f"{mti}{stan}{f7}{institution_id.zfill(11)}{'0' * 11}"


def parse_original(field90: str) -> Original:
    """(MTI, STAN, field 7) of the original named in field 90."""
    return Original(field90[0:4], field90[4:10], field90[10:20])
