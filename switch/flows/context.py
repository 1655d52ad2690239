"""What every participant works on: the context of one request (the services are `switch.services`)."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TypeVar

import structlog

from switch.ledger.accounts import Agent, Terminal
from switch.ledger.states import TxnState
from switch.ledger.storage import Tx
from switch.links.bank_link import BankLink
from switch.links.terminal_server import TerminalSession
from switch.services import Services
from switch.wire import Message

log = structlog.get_logger("flows")

GO, STOP = True, False
MAC_FIELDS = (64, 128)


Money = Callable[[Tx], Awaitable[Any]]
T = TypeVar("T")


class StepOrderError(Exception):
    """A step needs what an earlier step fills, and that step has not run: the flow's steps are out
    of order (a bug, aborted like any unexpected fault). An Exception rather than a RuntimeError:
    mypyc cannot compile a native class deriving from RuntimeError, and nothing catches it by that
    base."""


def filled(value: T | None, what: str) -> T:
    """`value`, filled by an earlier step; StepOrderError naming what is missing when it is not."""
    if value is None:
        raise StepOrderError(f"{what} is not known yet")
    return value


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
    wake_bank: str | None = None        # a bank whose store-and-forward queue has new work
    final_state: TxnState = TxnState.DONE
    expected_states: tuple[TxnState, ...] = (TxnState.RECEIVED,)
    at_bank: bool = False               # the payment may have reached the bank (written to its link)
    on_finish: list[Money] = field(default_factory=list)  # money moved in the same unit as the answer
    log: dict[str, Any] = field(default_factory=dict)
    reason: str = ""                    # why the request was refused, for the operator's log line
    digest: str = ""                    # of the request, for the idempotency record
    unrecorded: bool = False            # the record goes into the flow's first durable unit
    rrn_unstored: bool = False          # recorded without its RRN column: it goes with the answer

    def decline(self, rc: str, *bad: int, reason: str = "") -> bool:
        self.rc = rc
        self.bad_fields.update(bad)
        if reason:
            self.reason = reason
        if self.final_state in (TxnState.DONE, TxnState.SENT):
            self.final_state = TxnState.DECLINED
        return STOP

    @property
    def terminal_id(self) -> str:
        return self.terminal.terminal_id

    # what earlier steps fill, for the steps that need it (StepOrderError when it is not there)
    @property
    def recorded_id(self) -> int:
        return filled(self.txn_id, "the txn id (the request is recorded first)")

    @property
    def parsed_product(self) -> str:
        return filled(self.product, "the product (parse_product)")

    @property
    def bill(self) -> tuple[str, str]:
        """(product, customer) of field 48."""
        return self.parsed_product, filled(self.customer, "the customer (parse_product)")

    @property
    def picked_bank(self) -> BankLink:
        return filled(self.bank, "the bank (it is picked first)")

    @property
    def request_to_bank(self) -> Message:
        return filled(self.bank_request, "the request to the bank")

    @property
    def bank_answer(self) -> Message:
        return filled(self.bank_response, "the bank's answer")


def request_hash(msg: Message) -> str:
    """SHA-256 of json.dumps([mti, {field: value}]) without the MAC, fields in order. Records keep
    it, so its text never changes: values that JSON writes as they are (printable ASCII without a
    quote or backslash — every decoded field) are joined directly, which is several times faster."""
    items = [(k, v) for k, v in sorted(msg.fields.items()) if k not in MAC_FIELDS]
    values = [msg.mti, *(v for _, v in items)]
    if all(type(v) is str for v in values):
        joined = "".join(values)
        if joined.isascii() and joined.isprintable() and '"' not in joined and "\\" not in joined:
            body = ", ".join([f'"{k}": "{v}"' for k, v in items])
            return hashlib.sha256(f'["{msg.mti}", {{{body}}}]'.encode()).hexdigest()
    content = {str(k): v for k, v in items}
    return hashlib.sha256(json.dumps([msg.mti, content]).encode()).hexdigest()


Step = Callable[[TxnContext, Services], Awaitable[bool]]
Abort = Callable[[TxnContext, Services], Awaitable[object]]


@dataclass(frozen=True)
class Participant:
    """A step with its own failure path (jPOS's AbortParticipant): when a later step fails
    unexpectedly, the abort of the latest prepared participant that has one decides the outcome."""
    prepare: Step
    abort: Abort | None = None


def participant(step: Step | Participant) -> Participant:
    return step if isinstance(step, Participant) else Participant(step)


async def run_steps(steps: list[Step | Participant], ctx: TxnContext, svc: Services) -> None:
    """Runs the steps until one stops the flow or the answer is known; an unexpected fault aborts."""
    prepared: list[Participant] = []
    try:
        for step in map(participant, steps):
            if ctx.response is not None:
                return
            go = await step.prepare(ctx, svc)
            prepared.append(step)
            if go is STOP:
                return
    except Exception:
        log.exception("flow_failed", terminal=ctx.terminal_id, stan=ctx.request.get(11), kind=ctx.kind)
        await abort(prepared, ctx, svc)


async def abort(prepared: list[Participant], ctx: TxnContext, svc: Services) -> None:
    """Nothing decided so far stands; the latest participant with an abort says what happens now
    (e.g. a payment whose hold is placed is treated as unanswered); without one it is a 96."""
    ctx.on_finish.clear()
    ctx.extra.clear()  # nothing of what the flow had prepared (a quote, a token) goes with the outcome
    for step in reversed(prepared):
        if step.abort is not None:
            await step.abort(ctx, svc)
            return
    ctx.rc, ctx.final_state, ctx.reason = "96", TxnState.FAILED, "the flow failed (see flow_failed)"
