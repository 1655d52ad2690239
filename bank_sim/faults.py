"""Fault injection for the simulated bank: slow, silent, declining or link-dropping, reproducibly.

Random faults apply to financial requests only (0200, 0220/0221, 0400/0401, 0500); network management
(0800) is answered at once, as the contract asks of echo, unless `mute` is switched on.
"""
from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field


class Fate(enum.Enum):
    ANSWER = "answer"
    DECLINE = "decline"    # 05 instead of processing (0200 only)
    TIMEOUT = "timeout"    # processed at the bank, the response is lost
    DROP = "drop"          # processed at the bank, then the link is closed instead of answering


@dataclass
class Faults:
    latency_ms: int = 0
    timeout_rate: float = 0
    decline_rate: float = 0
    drop_rate: float = 0
    seed: int = 0
    # runtime switches for tests
    never_answer: bool = False   # financial requests are processed but never answered
    mute: bool = False           # nothing is answered at all, echo included (a hung host)
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("timeout_rate", "decline_rate", "drop_rate"):
            rate = getattr(self, name)
            if not 0 <= rate <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must not be negative, got {self.latency_ms}")
        self._rng = random.Random(self.seed)

    def draw(self, can_decline: bool) -> Fate:
        """One request's fate. Always three draws, so the sequence depends only on the seed and the
        order of requests, not on which faults are switched on."""
        decline, timeout, drop = (self._rng.random() for _ in range(3))
        if can_decline and decline < self.decline_rate:
            return Fate.DECLINE
        if timeout < self.timeout_rate:
            return Fate.TIMEOUT
        if drop < self.drop_rate:
            return Fate.DROP
        return Fate.ANSWER
