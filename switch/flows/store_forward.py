"""Store and forward: reversals (0400, repeated as 0401) and advices (0220, repeated as 0221) wait in
the database until their bank answers; a worker per bank sends what is due, at once when queued,
again every `reversal_retry_s`, without limit, and as soon as the bank's link comes back.

Only the bank that had the original ever gets its reversal or advice: while that bank is down the
item waits (no failover).

Several nodes share the queue. Each attempt is claimed (compare-and-set on the attempt count) with
a lease of `reversal_retry_s`, and an attempt waits for its answer no longer than that, so an item
is in flight from one node at a time. When a node dies its leases run out and a survivor's worker
(which looks every `reversal_retry_s` / 2 at most) sends the next attempt: a dead node's items are
taken over within about 1.5 x `reversal_retry_s`."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import structlog

from switch.ledger import money, txns
from switch.ledger.states import TxnState
from switch.ledger.storage import Tx
from switch.links.bank_link import BankLink, BankTimeout, LinkDown
from switch.services import Services
from switch.wire import Message
from switch.wire.fields import transmission_time
from switch.wire.vocabulary import Mti

from .recovery import NODE_DEAD_S, iso_ago, sweep_stranded, take_over_dead_nodes

log = structlog.get_logger("store_forward")

FIRST_MTI = {"reversal": Mti.REVERSAL, "advice": Mti.ADVICE}
REPEAT_MTI = {"reversal": "0401", "advice": "0221"}
ANSWER_MTI = {"0410": "reversal", "0230": "advice"}
POLL_S = 1.0
SWEEP_S = 2.0
STRANDED_MARGIN_S = 3.0


def iso_in(seconds: float) -> str:
    moment = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StoreAndForward:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._wake: dict[str, asyncio.Event] = {}
        self._came_up: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._sending: set[int] = set()

    def start(self) -> None:
        for link in self.svc.router.links:
            self._wake[link.id] = asyncio.Event()
            link.on_up.append(self._link_up)
            link.on_late.append(self._late_answer)
            self._spawn(self._worker(link))
        self._spawn(self._sweeper())

    async def _sweeper(self) -> None:
        """Payments stranded in 'sent' by a failed flow join the queue without waiting for a restart."""
        banks = self.svc.config.banks
        older_than = max(bank.timeout_s for bank in banks) + STRANDED_MARGIN_S if banks else 60.0
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await sweep_stranded(self.svc, older_than)
                await take_over_dead_nodes(self.svc, older_than)
            except Exception:
                log.exception("saf_sweep_failed")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def wake(self, bank_id: str) -> None:
        event = self._wake.get(bank_id)
        if event:
            event.set()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _link_up(self, link: BankLink) -> None:
        self._came_up.add(link.id)
        self.wake(link.id)

    async def _worker(self, link: BankLink) -> None:
        event = self._wake[link.id]
        poll = min(POLL_S, link.cfg.reversal_retry_s / 2)  # another node's lease may end any time
        while True:
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the inner result
                # when the event is set just as the worker is cancelled, swallowing the cancel, and
                # stop() then waited for ever for this loop (seen once in the suite under load)
                async with asyncio.timeout(poll):
                    await event.wait()
            except TimeoutError:
                pass
            event.clear()
            if not link.is_up:
                continue
            try:
                for item in await self._due(link):
                    if item.saf_id not in self._sending:
                        self._sending.add(item.saf_id)
                        self._spawn(self._deliver(link, item))
            except Exception:
                log.exception("saf_read_failed", bank=link.id)

    async def _due(self, link: BankLink) -> list[txns.SafItem]:
        if link.id in self._came_up:  # back after an outage: what waited for it goes now
            self._came_up.discard(link.id)
            await self.svc.db.unit(lambda tx: txns.make_due(tx, link.id, node_id=self.svc.node_id,
                                                             alive_since=iso_ago(NODE_DEAD_S)))
        return await self.svc.db.read(lambda tx: txns.due_saf(tx, link.id, iso_in(0)))

    async def _deliver(self, link: BankLink, item: txns.SafItem) -> None:
        try:
            await self._attempt(link, item)
        except Exception:
            log.exception("saf_delivery_failed", bank=link.id, saf=item.saf_id)
        finally:
            self._sending.discard(item.saf_id)

    async def _attempt(self, link: BankLink, item: txns.SafItem) -> None:
        retry = link.cfg.reversal_retry_s
        node = self.svc.node_id
        before = await self.svc.db.unit(lambda tx: txns.claim_saf(tx, item, iso_in(retry), node))
        if before is None:
            return  # answered meanwhile, or another node took this attempt
        if before and before != node:
            # the previous attempt was another node's (nodes share the queue; a dead node's pass on)
            log.info("saf_lease_from_other_node", bank=link.id, saf=item.saf_id, kind=item.kind,
                     previous=before, attempt=item.attempts + 1)
        message = attempt_message(item)
        try:
            # wait no longer than the retry interval: the repeat is due then; an answer to this
            # attempt that comes later still counts (see _late_answer)
            answer = await link.request(message, min(link.cfg.timeout_s, retry))
        except LinkDown as down:
            if not down.sent:
                await self.svc.db.unit(lambda tx: txns.unclaim_saf(tx, item))
            log.warning("saf_link_down", bank=link.id, saf=item.saf_id, kind=item.kind, sent=down.sent)
            return
        except BankTimeout:
            log.warning("saf_unanswered", bank=link.id, saf=item.saf_id, kind=item.kind, mti=message.mti,
                        stan=message[11], retry_in_s=retry)
            self._wake_when_due(link.id, retry - min(link.cfg.timeout_s, retry))
            return
        await self.settle(item, answer)

    def _wake_when_due(self, bank_id: str, seconds: float) -> None:
        """The repeat goes out when due, not at the next poll (retry intervals may be short)."""
        asyncio.get_running_loop().call_later(max(0.0, seconds) + 0.01, self.wake, bank_id)

    def _late_answer(self, link: BankLink, msg: Message) -> None:
        """A 0410/0230 that came after its attempt stopped waiting is still the bank's answer."""
        if msg.mti in ANSWER_MTI and msg.get(11):
            self._spawn(self._apply_late(link, msg))

    async def _apply_late(self, link: BankLink, msg: Message) -> None:
        try:
            item = await self.svc.db.read(lambda tx: txns.pending_saf_by_stan(tx, link.id, msg[11]))
            if item is not None and item.kind == ANSWER_MTI[msg.mti]:
                await self.settle(item, msg)
        except Exception:
            log.exception("saf_late_answer_failed", bank=link.id, stan=msg.get(11))

    async def settle(self, item: txns.SafItem, answer: Message) -> None:
        rc = answer.get(39, "")
        apply = reversal_answered if item.kind == "reversal" else advice_answered
        if not await self.svc.db.unit(lambda tx: apply(tx, item, answer)):
            return  # an answer to another attempt was applied first
        log.info("saf_answered", bank=item.bank_id, saf=item.saf_id, kind=item.kind, rc=rc, txn=item.txn_id)
        if rc not in ("00", "25") and item.kind == "reversal":
            self.svc.metrics.ops_flag("reversal_refused")


def attempt_message(item: txns.SafItem) -> Message:
    """The first attempt is a 0400/0220, every later one a 0401/0221 with the same content (STAN
    included) but its own transmission time."""
    mti = FIRST_MTI[item.kind] if item.attempts == 0 else REPEAT_MTI[item.kind]
    message = Message(mti, dict(item.message))
    message[7] = transmission_time()
    return message


async def reversal_answered(tx: Tx, item: txns.SafItem, answer: Message) -> bool:
    """0410 00/25: the money comes back (a hold is released, a debit credited back). Any other code:
    the payment stands at the bank, so it stands here too, and operations are told."""
    rc = answer.get(39, "")
    if not await txns.finish_saf(tx, item.saf_id, rc, answer.fields):
        return False
    original = await txns.get_known_txn(tx, item.txn_id)
    if rc in ("00", "25"):
        await give_back(tx, original)
        # 00: the bank had it and reversed it (counts in both settlement totals); 25: it never had it
        await txns.set_state_if(tx, original.txn_id, (TxnState.REVERSING, TxnState.REVERSAL_PENDING),
                                state=TxnState.REVERSED if rc == "00" else TxnState.VOID)
        return True
    if original.state == TxnState.REVERSING:
        await mark_quoted_bills_paid(tx, original)
        await money.debit_hold(tx, original.txn_id, original.sent_to)
    await txns.set_state_if(tx, original.txn_id, (TxnState.REVERSING, TxnState.REVERSAL_PENDING), state=TxnState.APPROVED,
                            flagged=f"reversal refused {rc}")
    await txns.flag(tx, original.txn_id, "reversal_refused",
                    f"bank {item.bank_id} answered 0410 {rc}: the payment stands")
    return True


async def mark_quoted_bills_paid(tx: Tx, original: txns.Txn) -> None:
    """A payment that stands after a 68 had no 0210 to name the bills it paid: they are those of the
    inquiry it followed, so paying them again is refused 88."""
    product, customer = original.product, original.customer
    if product is None or customer is None:  # no bill named: no inquiry to follow
        return
    inquiry = await txns.last_inquiry(tx, product, customer)
    if inquiry is not None and inquiry["txn_id"] < original.txn_id:
        await txns.mark_paid(tx, product, customer, inquiry["periods"], original.txn_id)


async def give_back(tx: Tx, original: txns.Txn) -> None:
    if original.state == TxnState.REVERSING:  # never debited: the hold goes
        await money.release_hold(tx, original.txn_id)
    elif original.state == TxnState.REVERSAL_PENDING:  # debited: credited back
        await money.credit_back(tx, original.txn_id, original.sent_to)
    await txns.unmark_paid(tx, original.txn_id)


async def advice_answered(tx: Tx, item: txns.SafItem, answer: Message) -> bool:
    """0230 00 completes the prepaid purchase (debit, token kept for the status request); any other
    code releases the hold."""
    rc = answer.get(39, "")
    if not await txns.finish_saf(tx, item.saf_id, rc, answer.fields):
        return False
    original = await txns.get_known_txn(tx, item.txn_id)
    if original.state != TxnState.ADVISING:
        return True
    if rc == "00":  # the stored 68 stays what a retransmission gets; status requests read the token
        await money.debit_hold(tx, original.txn_id, original.sent_to)
        await txns.set_state_if(tx, original.txn_id, (TxnState.ADVISING,), state=TxnState.APPROVED,
                                bank_response=answer.fields)
    else:
        await money.release_hold(tx, original.txn_id)
        await txns.set_state_if(tx, original.txn_id, (TxnState.ADVISING,), state=TxnState.DECLINED, rc=rc,
                                bank_response=answer.fields)
    return True
