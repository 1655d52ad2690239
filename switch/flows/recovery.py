"""After a crash: what this node left half-done is put right before it takes new work.

* `received` — nothing moved and the terminal heard nothing: the record is removed, so the
  terminal's retransmission is processed afresh.
* `sent` — the hold is on disk and the bank may have the payment: it is treated as unanswered
  (a reversal, or for prepaid an advice, is queued; a retransmission gets 68).
* the store-and-forward queue needs nothing here: it is in the database, and each bank's queue is
  made due at once when its link comes up (store_forward), so it resumes without waiting out the
  retry interval of an attempt the crash interrupted.

While running, `take_over_dead_nodes` does the same for the transactions of a node sharing the
database that stopped beating (killed -9, its machine gone): a survivor adopts each one (the first to
move it wins) and puts it right as above, so the dead node's holds are resolved and a terminal that
retransmits to a survivor gets the stored outcome. Its store-and-forward items need no adopting:
their attempt leases expire and any node's worker sends them.

`sweep_stranded` does the same for a payment whose flow died without recording its
outcome (e.g. the database refused the final unit): it would otherwise keep its hold until a restart."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import structlog

from switch.ledger import txns
from switch.ledger.states import UNFINISHED, TxnState
from switch.ledger.storage import Tx
from switch.services import Services
from switch.wire import Message

from .bank import repeat_message, unanswered_follow_up
from .common import answer_fields

log = structlog.get_logger("recovery")

NODE_DEAD_S = 10.0  # a node whose heartbeat (every second) is older than this is taken for dead


def iso_ago(seconds: float) -> str:
    moment = datetime.now(timezone.utc) - timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def recover(svc: Services) -> dict[str, int]:
    txn_ids = await svc.db.read(lambda tx: txns.txn_ids_of_node(tx, svc.node_id, UNFINISHED))
    counts = {"forgotten": 0, "queued": 0}
    for txn_id in txn_ids:
        await put_right(svc, await svc.db.read(lambda tx: txns.get_known_txn(tx, txn_id)), counts)
    if any(counts.values()):
        log.warning("recovered", **counts)
    return counts


async def put_right(svc: Services, txn: txns.Txn, counts: dict[str, int]) -> bool:
    """As after a crash: a request only recorded is forgotten; a payment the bank may have seen is
    queued for reversal or advice (True)."""
    if txn.state == TxnState.RECEIVED:
        await svc.db.unit(lambda tx: forget(tx, txn))
        counts["forgotten"] += 1
        return False
    if txn.kind == "payment" and txn.bank_request:
        await queue_unanswered(svc, txn)
        counts["queued"] += 1
        return True
    return False


async def forget(tx: Tx, txn: txns.Txn) -> None:
    await txns.forget_received(tx, txn.txn_id)


async def queue_unanswered(svc: Services, txn: txns.Txn) -> None:
    kind, mti, state = unanswered_follow_up(txn.product)
    bank_id = txn.sent_to
    stan = await svc.stans.next(bank_id)
    message = repeat_message(Message("0200", dict(txn.bank_request or {})), mti, stan,
                             svc.config.switch.institution_id)

    async def work(tx: Tx) -> None:
        if await txns.set_state_if(tx, txn.txn_id, (TxnState.SENT,), state=state, rc="68",
                                   response=answer_fields(txn.request or {}, txn.rrn,
                                                            txn.business_date or "", "68")):
            await txns.enqueue_saf(tx, txn.txn_id, bank_id, kind, message.fields)
    await svc.db.unit(work)


async def take_over_dead_nodes(svc: Services, older_than_s: float) -> dict[str, int]:
    """What nodes that stopped beating left 'received' or 'sent' (untouched for `older_than_s`, longer
    than any bank timeout) is adopted by this node and put right as after a crash."""
    orphans = await svc.db.read(lambda tx: txns.orphaned_txns(
        tx, svc.node_id, iso_ago(NODE_DEAD_S), iso_ago(older_than_s)))
    counts = {"forgotten": 0, "queued": 0}
    for txn_id, dead in orphans:
        if not await svc.db.unit(lambda tx: txns.adopt_txn(tx, txn_id, dead, svc.node_id)):
            continue  # another survivor took it
        txn = await svc.db.read(lambda tx: txns.get_known_txn(tx, txn_id))
        if await put_right(svc, txn, counts):
            svc.saf_wake(txn.sent_to)
        log.warning("dead_node_txn_taken_over", txn=txn_id, rrn=txn.rrn, dead_node=dead, state=txn.state)
    return counts


async def sweep_stranded(svc: Services, older_than_s: float) -> int:
    """Payments of this node still 'sent' long after any bank timeout, and no longer worked on by a
    flow here, are treated as unanswered (reversal or advice queued, 68 stored)."""
    cutoff = (datetime.now(timezone.utc) - timedelta(seconds=older_than_s)).isoformat(timespec="milliseconds")
    txn_ids = await svc.db.read(lambda tx: txns.txn_ids_of_node(
        tx, svc.node_id, (TxnState.SENT,), updated_before=cutoff.replace("+00:00", "Z")))
    swept = 0
    for txn_id in txn_ids:
        if svc.inflight.event(txn_id) is not None:
            continue  # its flow is still running (waiting on a slow bank)
        txn = await svc.db.read(lambda tx: txns.get_known_txn(tx, txn_id))
        if txn.state == TxnState.SENT and txn.kind == "payment" and txn.bank_request:
            await queue_unanswered(svc, txn)
            swept += 1
            log.warning("stranded_payment_swept", txn=txn.txn_id, rrn=txn.rrn, bank=txn.bank_id)
            svc.saf_wake(txn.sent_to)
    return swept
