"""Overload limits on the terminal side: what a connection, an address and a terminal may hold.

Each check is a few integer comparisons on the frame's path (no allocation per message), so a
well-behaved terminal pays nothing for the abusive one's limits."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum


class Shed(str, Enum):
    """Why a connection was refused or closed, or a request answered 91 without being processed
    (the `reason` label of ppob_overload_shed_total)."""
    CONNECTIONS = "connections"              # the switch-wide connection cap
    ADDRESS = "address"                      # the per-source-address connection cap
    SWITCH_IN_FLIGHT = "switch_in_flight"    # the switch-wide cap on requests being processed
    TERMINAL_IN_FLIGHT = "terminal_in_flight"
    TERMINAL_RATE = "terminal_rate"
    ABUSE = "abuse"                          # connection closed after too many refusals in a row
    UNREAD = "unread"                        # connection closed: it does not read its answers
    BANK_BUSY = "bank_busy"                  # a bank with max_in_flight requests waiting
    BANK_CONNECTIONS = "bank_connections"    # a listen-mode bank port at its banks[].max_connections


@dataclass(eq=False)
class Budget:
    """One terminal's allowance: requests in flight, and a token bucket for its rate. Shared by
    every connection the terminal signs on from, so a second connection buys it nothing."""
    rate: float
    burst: float
    max_in_flight: int
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)
    in_flight: int = 0

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def admit(self, now: float) -> Shed | None:
        """None when one more request may start now (and takes its token), else why not."""
        if self.in_flight >= self.max_in_flight:
            return Shed.TERMINAL_IN_FLIGHT
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens < 1.0:
            self.tokens = tokens
            return Shed.TERMINAL_RATE
        self.tokens = tokens - 1.0
        return None


@dataclass
class AddressBook:
    """Open connections per source address, to cap each address; forgets an address at zero."""
    per_address: int
    open: Counter = field(default_factory=Counter)

    def full(self, address: str) -> bool:
        return self.open[address] >= self.per_address

    def add(self, address: str) -> None:
        self.open[address] += 1

    def remove(self, address: str) -> None:
        left = self.open[address] - 1
        if left > 0:
            self.open[address] = left
        else:
            del self.open[address]


class Quiet:
    """At most one log line per reason per interval: a flood must not turn into a flood of logs."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self.suppressed: Counter = Counter()

    def allow(self, reason: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(reason, -self.interval_s) >= self.interval_s:
            self._last[reason] = now
            return True
        self.suppressed[reason] += 1
        return False
