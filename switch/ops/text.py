"""How amounts read for people: minor units as Indonesian rupiah text."""
from __future__ import annotations


def rupiah_text(minor: int) -> str:
    """1234567_00 → 'Rp 1.234.567'; cents, when there are any, after a comma ('Rp 1.234,50')."""
    whole, cents = divmod(abs(minor), 100)
    text = f"{whole:,}".replace(",", ".")
    return ("-" if minor < 0 else "") + "Rp " + text + (f",{cents:02d}" if cents else "")
