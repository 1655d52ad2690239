"""Form checking: every field read through a `Form` either gives a clean value or records one line
naming what is wrong with it, shown beside that field; a handler changes nothing unless `form.ok`."""
from __future__ import annotations

import re
from datetime import date
from typing import Mapping

_PRINTABLE = re.compile(r"[\x21-\x7e]+")
_DIGITS = re.compile(r"[0-9]+")
MAX_RUPIAH = 10**12          # a trillion rupiah: far above any deposit, far below BIGINT


class Form:
    def __init__(self, data: Mapping[str, object]) -> None:
        self.values: dict[str, str] = {k: str(v).strip() for k, v in data.items() if isinstance(v, str)}
        self.errors: dict[str, str] = {}

    @property
    def ok(self) -> bool:
        return not self.errors

    def fail(self, name: str, why: str) -> None:
        self.errors.setdefault(name, why)

    def text(self, name: str, *, required: bool = True, max_len: int = 64) -> str:
        value = self.values.get(name, "")
        if not value:
            if required:
                self.fail(name, "required")
            return ""
        if len(value) > max_len:
            self.fail(name, f"at most {max_len} characters")
        elif any(ord(ch) < 32 for ch in value):
            self.fail(name, "no control characters")
        return value

    def ident(self, name: str, what: str, max_len: int, *, required: bool = True) -> str:
        """An agent or terminal id (fields 42 / 41): printable, no spaces."""
        value = self.values.get(name, "")
        if not value:
            if required:
                self.fail(name, "required")
            return ""
        if len(value) > max_len or not _PRINTABLE.fullmatch(value):
            self.fail(name, f"{what} id: 1 to {max_len} printable characters without spaces")
        return value

    def digits(self, name: str, length: tuple[int, ...] | None = None, *, required: bool = False) -> str:
        value = self.values.get(name, "")
        if not value:
            if required:
                self.fail(name, "required")
            return ""
        if not _DIGITS.fullmatch(value) or (length and len(value) not in length):
            sizes = " or ".join(str(n) for n in length) if length else "some"
            self.fail(name, f"{sizes} digits")
        return value

    def rupiah(self, name: str, *, required: bool = True, positive: bool = True) -> int | None:
        """Whole rupiah, digits only → minor units."""
        value = self.values.get(name, "").replace(" ", "")
        if not value:
            if required:
                self.fail(name, "required")
            return None
        if not _DIGITS.fullmatch(value):
            self.fail(name, "whole rupiah, digits only (no dots, commas or decimals), e.g. 500000")
            return None
        whole = int(value)
        if positive and whole == 0:
            self.fail(name, "must be at least 1 rupiah")
            return None
        if whole > MAX_RUPIAH:
            self.fail(name, "too large")
            return None
        return whole * 100

    def day(self, name: str, *, required: bool = False) -> str:
        value = self.values.get(name, "")
        if not value:
            if required:
                self.fail(name, "required")
            return ""
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            self.fail(name, "a date YYYY-MM-DD")
            return ""

    def number(self, name: str) -> int | None:
        value = self.values.get(name, "")
        if not _DIGITS.fullmatch(value) or len(value) > 18:
            self.fail(name, "a number")
            return None
        return int(value)

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.values.get(name, "")
        if value not in allowed:
            self.fail(name, f"one of {', '.join(allowed)}")
        return value

    def hex_key(self, name: str) -> str | None:
        """Optional: a 32-hex MAC key; empty means "make one"."""
        value = self.values.get(name, "")
        if not value:
            return None
        if not re.fullmatch(r"[0-9A-Fa-f]{32}", value):
            self.fail(name, "32 hex characters (a 16-byte key), or empty for a fresh random key")
        return value
