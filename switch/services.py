"""What a node's steps work with: configuration, database, bank routes, calendar, STANs, metrics.

Below flows and settlement (both type their `svc` with it), above links and ledger."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

from switch.config import Config
from switch.ledger.calendar import BusinessCalendar
from switch.ledger.storage import Database
from switch.links.router import Router
from switch.links.stan import StanAllocator
from switch.ops.metrics import Metrics, NullMetrics


class InFlight:
    """Transactions being worked on by this node: a retransmission waits on their event."""

    def __init__(self) -> None:
        self._events: dict[int, asyncio.Event] = {}

    def begin(self, txn_id: int) -> None:
        self._events[txn_id] = asyncio.Event()

    def end(self, txn_id: int | None) -> None:
        """None: nothing was recorded, so nothing waits on it."""
        if txn_id is None:
            return
        event = self._events.pop(txn_id, None)
        if event:
            event.set()

    def event(self, txn_id: int) -> asyncio.Event | None:
        return self._events.get(txn_id)


@dataclass
class Services:
    config: Config
    db: Database
    router: Router
    calendar: BusinessCalendar
    stans: StanAllocator
    metrics: Metrics = field(default_factory=NullMetrics)
    node_id: str = ""
    inflight: InFlight = field(default_factory=InFlight)
    saf_wake: Callable[[str], None] = lambda bank_id: None
