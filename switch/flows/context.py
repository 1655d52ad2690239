"""What every participant works on: the services of the switch and the context of one request."""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from switch.ledger.accounts import Agent, Terminal
from switch.ledger.calendar import BusinessCalendar
from switch.ledger.storage import Database, Tx
from switch.links.bank_link import BankLink
from switch.links.router import Router
from switch.links.stan import StanAllocator
from switch.links.terminal_server import TerminalSession
from switch.ops.config import Config
from switch.wire import Message

GO, STOP = True, False
MAC_FIELDS = (64, 128)


class InFlight:
    """Transactions being worked on by this node: a retransmission waits on their event."""

    def __init__(self) -> None:
        self._events: dict[int, asyncio.Event] = {}

    def begin(self, txn_id: int) -> None:
        self._events[txn_id] = asyncio.Event()

    def end(self, txn_id: int) -> None:
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
    metrics: Any = None
    node_id: str = ""
    inflight: InFlight = field(default_factory=InFlight)
    saf_wake: Callable[[str], None] = lambda bank_id: None


Money = Callable[[Tx], Awaitable[Any]]


@dataclass
class TxnContext:
    session: TerminalSession
    request: Message
    terminal: Terminal
    agent: Agent | None
    kind: str = ""
    started: float = field(default_factory=time.monotonic)
    rc: str | None = None
    bad_fields: set[int] = field(default_factory=set)
    txn_id: int | None = None
    rrn: str | None = None
    product: str | None = None
    customer: str | None = None
    amount: int | None = None           # field 4, minor units
    business_date: str = ""             # YYYY-MM-DD the transaction settles in
    bank: BankLink | None = None
    bank_stan: str | None = None
    bank_request: Message | None = None
    bank_response: Message | None = None
    response: Message | None = None     # set when the answer is decided (stored or built)
    extra: dict[int, str] = field(default_factory=dict)   # fields the flow adds to the response
    final_state: str = "done"
    expected_states: tuple[str, ...] = ("received",)
    on_finish: list[Money] = field(default_factory=list)  # money moved in the same unit as the answer
    log: dict[str, Any] = field(default_factory=dict)

    def decline(self, rc: str, *bad: int) -> bool:
        self.rc = rc
        self.bad_fields.update(bad)
        if self.final_state in ("done", "sent"):
            self.final_state = "declined"
        return STOP

    @property
    def terminal_id(self) -> str:
        return self.terminal.terminal_id



def request_hash(msg: Message) -> str:
    content = {str(k): v for k, v in sorted(msg.fields.items()) if k not in MAC_FIELDS}
    return hashlib.sha256(json.dumps([msg.mti, content]).encode()).hexdigest()


Step = Callable[[TxnContext, Services], Awaitable[bool]]


async def run_steps(steps: list[Step], ctx: TxnContext, svc: Services) -> None:
    for step in steps:
        if ctx.response is not None or await step(ctx, svc) is STOP:
            return
