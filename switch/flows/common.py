"""Participants shared by every flow: field checks, the idempotency record, the answer."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from typing import Any

import structlog

from switch.ledger import txns, units
from switch.ledger.storage import StorageError, Tx
from switch.services import Services
from switch.wire import CodecError, Message
from switch.wire.field48 import PRODUCTS, parse_request
from switch.wire.fields import settlement_date
from switch.wire.vocabulary import Mti

from .context import GO, STOP, TxnContext, filled, request_hash

log = structlog.get_logger("flows")

CHANNELS = ("6021", "6022", "6025")
ECHOED = (3, 4, 7, 11, 12, 13, 18, 32, 37, 41, 42, 49, 70, 90)
RETRANSMISSION_WAIT_S = 120.0


def check_fields(*required: int):
    """Mandatory fields present and sane; anything else is a format error (30)."""
    async def step(ctx: TxnContext, svc: Services) -> bool:
        req = ctx.request
        missing = [n for n in required if n not in req]
        if missing:
            return ctx.decline("30", *missing)
        if 49 in req and req[49] != "360":
            return ctx.decline("30", 49, reason=f"currency {req[49]!r} is not 360")
        if 18 in req and req[18] not in CHANNELS:
            return ctx.decline("30", 18, reason=f"channel {req[18]!r} is not one of {', '.join(CHANNELS)}")
        if 42 in req and ctx.agent is not None and req[42].rstrip() != ctx.agent.agent_id:
            return ctx.decline("58", reason=f"field 42 names agent {req[42].rstrip()!r}, the terminal's agent is"
                                            f" {ctx.agent.agent_id}")
        if 4 in req:
            ctx.amount = int(req[4])
        return GO
    return step


async def parse_product(ctx: TxnContext, svc: Services) -> bool:
    try:
        product_request = parse_request(ctx.request[48])
    except CodecError:
        raw = ctx.request[48]
        if raw[:6] not in PRODUCTS and len(raw) >= 6:
            return ctx.decline("12")
        return ctx.decline("30", 48, reason="field 48 does not parse as a product request")
    ctx.product, ctx.customer = product_request.product, product_request.customer
    return GO


async def record(ctx: TxnContext, svc: Services) -> bool:
    """The idempotency record: a new (terminal, STAN, field 7) is written before anything else
    happens; a repeat gets the first answer (after waiting for it), other content gets 94."""
    prepare_record(ctx, svc)
    while True:
        # the RRN column goes with the answer (one statement less): the RRN itself is known from
        # here on (rrn_of the id), and a record that never gets its answer is forgotten by recovery
        written = await write_first(ctx, svc)
        if written is None:
            continue  # the earlier record was forgotten meanwhile: this one is written afresh
        settled = await recorded(ctx, svc, written)
        if isinstance(written, int):
            ctx.rrn_unstored = True
        if settled is not None:
            return settled
        # the first transmission's node died before anything moved and a survivor forgot it:
        # this one is processed afresh


async def record_with_first_unit(ctx: TxnContext, svc: Services) -> bool:
    """A payment's record is written in its first durable unit — with the hold, or with the answer
    when it is refused before — so nothing reaches the deposit or the bank before it, and a payment
    costs one commit less. A repeat is found there and gets the first answer, as with `record`."""
    prepare_record(ctx, svc)
    ctx.unrecorded = True
    return GO


def prepare_record(ctx: TxnContext, svc: Services) -> None:
    ctx.digest = request_hash(ctx.request)
    ctx.business_date = svc.calendar.current


async def write_record(tx: Tx, ctx: TxnContext, svc: Services) -> int | txns.Txn:
    """Inside a unit: the new txn id, or the earlier transaction for a repeat. The RRN column is
    left to the row's next update (the hold's, or the answer's): one statement less per request."""
    req = ctx.request
    txn_id = await txns.insert_txn(tx, **record_of(ctx, svc))
    if txn_id is None:
        earlier = await txns.find_txn(tx, ctx.terminal_id, req[11], req[7], req.mti)
        if earlier is None:  # its key is taken, so the row is there
            raise StorageError(f"the record of terminal {ctx.terminal_id} STAN {req[11]} field 7 {req[7]}"
                               f" ({req.mti}) is there but cannot be read")
        return earlier
    return txn_id


async def write_first(ctx: TxnContext, svc: Services) -> int | txns.Txn | None:
    """record's unit: on PostgreSQL the INSERT alone, in autocommit (one round trip, ledger.units),
    then the earlier record read for a repeat (None when it is gone by then); else write_record."""
    if not units.in_one_statement(svc.db):
        return await svc.db.unit(lambda tx: write_record(tx, ctx, svc))
    txn_id = await units.record(svc.db, record_of(ctx, svc))
    if txn_id is not None:
        return txn_id
    req = ctx.request
    return await svc.db.read(lambda tx: txns.find_txn(tx, ctx.terminal_id, req[11], req[7], req.mti))


def record_of(ctx: TxnContext, svc: Services) -> dict[str, Any]:
    """The columns of the idempotency record (txns.insert_txn's arguments)."""
    req = ctx.request
    return dict(kind=ctx.kind, terminal_id=ctx.terminal_id, agent_id=ctx.terminal.agent_id, mti=req.mti,
                stan=req[11], f7=req[7], proc_code=req.get(3), product=ctx.product, customer=ctx.customer,
                amount=ctx.amount, request_hash=ctx.digest, request=req.fields, business_date=ctx.business_date,
                node_id=svc.node_id)


def rrn_of(txn_id: int) -> str:
    return units.rrn_of(txn_id)  # ValueError past 12 digits, as the PostgreSQL unit refuses


async def recorded(ctx: TxnContext, svc: Services, written: int | txns.Txn) -> bool | None:
    """After the unit holding the record (write_record's result): GO for a new transaction; for a
    repeat STOP with the first answer, or a decline (94 other content, 68 still pending); None when
    the first was forgotten (its node died before anything moved): the caller writes the record again."""
    if isinstance(written, int):
        ctx.txn_id, ctx.rrn, ctx.unrecorded = written, rrn_of(written), False
        svc.inflight.begin(written)
        return GO
    earlier = written
    req = ctx.request
    if earlier.request_hash != ctx.digest:
        ctx.unrecorded = False  # this transmission is answered, never recorded
        return ctx.decline("94", reason=f"STAN {req[11]} and field 7 repeat txn {earlier.txn_id} with"
                                        " other content")
    finished = await wait_finished(earlier, svc)
    if finished is None:
        return None
    ctx.unrecorded = False
    ctx.log["retransmission_of"] = finished.txn_id
    if finished.response is None:  # still pending after a long wait: the outcome is not known yet
        ctx.rrn = finished.rrn or rrn_of(finished.txn_id)  # its RRN column may come with its answer
        return ctx.decline("68")
    ctx.response = Message(req.response_mti, dict(finished.response))
    return STOP


async def wait_finished(txn: txns.Txn, svc: Services) -> txns.Txn | None:
    """The transaction once it has its answer (or after a long wait); None when it was forgotten
    meanwhile (its node died before anything moved)."""
    deadline = time.monotonic() + RETRANSMISSION_WAIT_S
    while txn.response is None and time.monotonic() < deadline:
        event = svc.inflight.event(txn.txn_id)
        if event is not None:
            try:
                async with asyncio.timeout(1.0):  # not wait_for: see StoreAndForward._worker
                    await event.wait()
            except TimeoutError:
                pass
        else:  # another node (or a recovery) owns it: poll the database
            await asyncio.sleep(0.1)
        again = await svc.db.read(lambda tx: txns.get_txn(tx, txn.txn_id))
        if again is None:
            return None
        txn = again
    return txn


def answer_fields(request: dict[int, str], rrn: str | None, business_date: str, rc: str,
                  omit: Collection[int] = frozenset()) -> dict[int, str]:
    """What every answer to a terminal's 0200/0400 carries: the echoed fields (less those that were
    bad), the RRN, field 15 (the business date, MMDD) and the response code."""
    fields = {n: v for n, v in request.items() if n in ECHOED and n not in omit}
    if rrn:
        fields[37] = rrn
    if business_date:
        fields[15] = settlement_date(business_date)
    fields[39] = rc
    return fields


def build_response(ctx: TxnContext, rrn: str | None = None) -> Message:
    req = ctx.request
    financial = req.mti in (Mti.FINANCIAL, Mti.REVERSAL)
    fields = answer_fields(req.fields, rrn or ctx.rrn, ctx.business_date if financial else "", ctx.rc or "96",
                           ctx.bad_fields)
    fields.update(ctx.extra)
    return Message(req.response_mti, fields)


async def finish(ctx: TxnContext, svc: Services) -> Message:
    """Builds the answer and, for a recorded transaction, stores it together with the money moves
    of the outcome in one unit, before the terminal hears anything. A payment refused before its
    first unit is recorded here, with its answer."""
    if ctx.response is not None:
        return ctx.response
    ctx.response = build_response(ctx)
    if ctx.txn_id is None and not ctx.unrecorded:
        return ctx.response
    while True:
        try:
            stored = await store(ctx, svc)
        finally:
            svc.inflight.end(ctx.txn_id)
        if not isinstance(stored, txns.Txn):
            break
        unanswered(ctx)
        settled = await recorded(ctx, svc, stored)   # a repeat of a payment refused early
        answered(ctx)
        if settled is not None:
            return ctx.response
    txn_id, response = stored
    if ctx.unrecorded:
        ctx.txn_id, ctx.rrn, ctx.unrecorded = txn_id, rrn_of(txn_id), False
    ctx.response = response
    return response


# unanswered() and answered() are calls, not `ctx.response = None` and `if ctx.response is None` in
# finish: there mypy narrows ctx.response by the assignments before (to a Message, or None) across the
# await of recorded(), which changes it, and mypyc compiles that narrowed type into a check that
# fails at run time (TypeError: Message object expected; got None).
def unanswered(ctx: TxnContext) -> None:
    """Drops the answer built for a first transmission, for recorded() to decide again."""
    ctx.response = None


def answered(ctx: TxnContext) -> None:
    """After recorded(): the answer it set (the first transmission's), else one built now (94, or 68
    while the first is still pending: not stored)."""
    if ctx.response is None:
        ctx.response = build_response(ctx)


async def store(ctx: TxnContext, svc: Services) -> tuple[int, Message] | txns.Txn:
    """finish's unit: one statement on PostgreSQL for a recorded transaction whose answer moves no
    money but a payment's debit or release (ledger.units), else store_answer."""
    if ctx.unrecorded or not units.in_one_statement(svc.db, ctx.on_finish):
        return await svc.db.unit(lambda tx: store_answer(tx, ctx, svc))
    txn_id, response = ctx.recorded_id, filled(ctx.response, "the answer (finish builds it first)")
    changes = answer_changes(ctx, response, rrn_of(txn_id) if ctx.rrn_unstored else None)
    stored = await units.store_answer(svc.db, txn_id, ctx.expected_states, changes, ctx.on_finish)
    return txn_id, response if stored is None else Message(ctx.request.response_mti, stored)


def answer_changes(ctx: TxnContext, response: Message, rrn: str | None) -> dict[str, Any]:
    """What an answer sets on its transaction's row."""
    changes: dict[str, Any] = {"rrn": rrn} if rrn else {}
    changes.update(state=ctx.final_state, rc=ctx.rc, response=response.fields, business_date=ctx.business_date)
    if ctx.bank is not None:
        changes.update(bank_id=ctx.bank.id, bank_stan=ctx.bank_stan)
    if ctx.bank_response is not None:
        changes["bank_response"] = ctx.bank_response.fields
    return changes


async def store_answer(tx: Tx, ctx: TxnContext, svc: Services) -> tuple[int, Message] | txns.Txn:
    """Inside finish's unit: (txn id, the answer as stored), or the earlier transaction when an
    unrecorded payment turns out to be a repeat (nothing is stored)."""
    response = filled(ctx.response, "the answer (finish builds it first)")
    rrn = None
    if ctx.unrecorded:
        written = await write_record(tx, ctx, svc)
        if isinstance(written, txns.Txn):
            return written
        txn_id = written
        response = build_response(ctx, rrn_of(txn_id))
        rrn = rrn_of(txn_id)
    else:
        txn_id = ctx.recorded_id
        if ctx.rrn_unstored:
            rrn = rrn_of(txn_id)
    changes = answer_changes(ctx, response, rrn)
    units.check_own(txn_id, ctx.on_finish)  # as units.store_answer does on PostgreSQL
    if not await txns.set_state_if(tx, txn_id, ctx.expected_states, **changes):
        stored = await txns.get_txn(tx, txn_id)  # decided elsewhere (recovery, another node)
        if stored is not None and stored.response is not None:
            response = Message(ctx.request.response_mti, dict(stored.response))
        return txn_id, response
    for money in ctx.on_finish:
        await money(tx)
    return txn_id, response
