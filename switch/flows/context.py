"""What every participant works on: the context of one request (the services are `switch.services`)."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from switch.ledger.accounts import Agent, Terminal
from switch.ledger.storage import Tx
from switch.links.bank_link import BankLink
from switch.links.terminal_server import TerminalSession
from switch.services import Services
from switch.wire import Message

GO, STOP = True, False
MAC_FIELDS = (64, 128)


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
    digest: str = ""                    # of the request, for the idempotency record
    unrecorded: bool = False            # the record goes into the flow's first durable unit

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
