"""Frames from a terminal that do not decode: what can be read of them, whether they can be
answered, and how they are counted and logged.

A frame is answerable when its MTI is a request's and fields 41 and 11 read well (the terminal
matches answers by them): it is answered 30 (58 to an unknown terminal). Anything less cannot be
matched by the sender, so the connection is closed at once instead of leaving it waiting.
Each frame is counted in `ppob_terminal_malformed_frames_total{kind, outcome}`; the log gets one
line per kind and outcome at most every LOG_EVERY_S seconds, carrying how many were not logged."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import structlog

from switch.wire import TI, CodecError, Message
from switch.wire.salvage import salvage
from switch.wire.vocabulary import response_mti

log = structlog.get_logger("gateway")

LOG_EVERY_S = 10.0


class Kind(str, Enum):
    """What could not be read (the `kind` label)."""
    MTI = "mti"            # the first 4 bytes are not digits (random bytes, non-ASCII MTI)
    BITMAP = "bitmap"      # a bitmap is not 16 upper-case hex characters, or names a field outside the spec
    FIELD = "field"        # a field's content or length prefix is bad (non-ASCII, letters in n, ...)
    MESSAGE = "message"    # the message as a whole: truncated, bytes after the last field


class Outcome(str, Enum):
    """What the switch did with it (the `outcome` label)."""
    ANSWERED = "answered"  # 30 (MAC'd) to a known terminal, 58 (no MAC) to an unknown one
    CLOSED = "closed"      # MTI, field 41 or field 11 unreadable: the connection is closed


def kind_of(error: CodecError) -> Kind:
    if error.field == "t":
        return Kind.MTI
    if error.field in ("p", "1", "h") or (isinstance(error.field, int) and str(error.field) not in TI):
        return Kind.BITMAP
    if isinstance(error.field, int):
        return Kind.FIELD
    return Kind.MESSAGE


def answerable(raw: bytes) -> Message | None:
    """The readable part of an undecodable request, or None when it cannot be answered."""
    try:
        readable = salvage(raw, TI)
    except Exception:  # noqa: BLE001 - salvaging must never fail the frame
        return None
    if readable is None or 11 not in readable or 41 not in readable or not readable[41].strip():
        return None
    if response_mti(readable.mti) is None:  # a response or an odd function: nothing to answer
        return None
    return readable


@dataclass
class MalformedLog:
    """One warning per (kind, outcome) at most every `every_s`; counts the rest."""
    every_s: float = LOG_EVERY_S
    _last: dict[tuple[str, str], float] = field(default_factory=dict)
    _quiet: dict[tuple[str, str], int] = field(default_factory=dict)

    def frame(self, kind: Kind, outcome: Outcome, error: CodecError, **context: Any) -> None:
        key, now = (kind.value, outcome.value), time.monotonic()
        if now - self._last.get(key, -self.every_s) < self.every_s:
            self._quiet[key] = self._quiet.get(key, 0) + 1
            return
        self._last[key] = now
        log.warning("terminal_frame_malformed", kind=kind.value, outcome=outcome.value, error=str(error)[:200],
                    not_logged_since_last=self._quiet.pop(key, 0), **context)
