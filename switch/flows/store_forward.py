"""Store and forward: reversals (0400, repeated as 0401) and advices (0220, repeated as 0221) wait in
the database until their bank answers; a worker per bank sends what is due, at once when queued,
again every `reversal_retry_s`, without limit, and as soon as the bank's link comes back."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import structlog

from switch.ledger import money, txns
from switch.ledger.storage import Tx
from switch.links.bank_link import BankLink, BankTimeout, LinkDown, transmission_time
from switch.wire import Message

from .context import Services

log = structlog.get_logger("store_forward")

FIRST_MTI = {"reversal": "0400", "advice": "0220"}
REPEAT_MTI = {"reversal": "0401", "advice": "0221"}
POLL_S = 1.0


def iso_in(seconds: float) -> str:
    moment = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StoreAndForward:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task] = []
        self._sending: set[int] = set()

    def start(self) -> None:
        for link in self.svc.router.links:
            self._wake[link.id] = asyncio.Event()
            link.on_up.append(lambda up_link: self.wake(up_link.id))
            self._tasks.append(asyncio.create_task(self._worker(link)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def wake(self, bank_id: str) -> None:
        event = self._wake.get(bank_id)
        if event:
            event.set()

    async def _worker(self, link: BankLink) -> None:
        event = self._wake[link.id]
        while True:
            try:
                await asyncio.wait_for(event.wait(), POLL_S)
            except asyncio.TimeoutError:
                pass
            event.clear()
            if not link.is_up:
                continue
            try:
                due = await self.svc.db.read(lambda tx: txns.due_saf(tx, link.id, iso_in(0)))
            except Exception:
                log.exception("saf_read_failed", bank=link.id)
                continue
            for item in due:
                if item.saf_id not in self._sending:
                    self._sending.add(item.saf_id)
                    asyncio.create_task(self._deliver(link, item))

    async def _deliver(self, link: BankLink, item: txns.SafItem) -> None:
        try:
            retry = link.cfg.reversal_retry_s
            if not await self.svc.db.unit(lambda tx: txns.claim_saf(tx, item, iso_in(retry))):
                return  # another node took this attempt
            mti = FIRST_MTI[item.kind] if item.attempts == 0 else REPEAT_MTI[item.kind]
            message = Message(mti, dict(item.message))
            message[7] = transmission_time()  # a repeat keeps everything of the first but field 7
            try:
                answer = await link.request(message, link.cfg.timeout_s)
            except LinkDown as down:
                if not down.sent:  # never left: the next try is still the first
                    await self.svc.db.unit(lambda tx: tx.execute(
                        "UPDATE saf SET attempts = ? WHERE saf_id = ?", item.attempts, item.saf_id))
                log.warning("saf_link_down", bank=link.id, saf=item.saf_id, kind=item.kind)
                return
            except BankTimeout:
                log.warning("saf_unanswered", bank=link.id, saf=item.saf_id, kind=item.kind, mti=mti,
                            retry_in_s=retry)
                return
            await self._settle(item, answer)
        except Exception:
            log.exception("saf_delivery_failed", bank=link.id, saf=item.saf_id)
        finally:
            self._sending.discard(item.saf_id)

    async def _settle(self, item: txns.SafItem, answer: Message) -> None:
        rc = answer.get(39, "")
        apply = reversal_answered if item.kind == "reversal" else advice_answered
        await self.svc.db.unit(lambda tx: apply(tx, item, answer))
        log.info("saf_answered", bank=item.bank_id, saf=item.saf_id, kind=item.kind, rc=rc,
                 txn=item.txn_id)
        if self.svc.metrics is not None and rc not in ("00", "25") and item.kind == "reversal":
            self.svc.metrics.ops_flag("reversal_refused")


async def reversal_answered(tx: Tx, item: txns.SafItem, answer: Message) -> None:
    """0410 00/25: the money comes back (a hold is released, a debit credited back). Any other code:
    the payment stands at the bank, so it stands here too, and operations are told."""
    rc = answer.get(39, "")
    original = await txns.get_txn(tx, item.txn_id)
    await txns.finish_saf(tx, item.saf_id, rc)
    if rc in ("00", "25"):
        if original.state == "reversing":
            await money.release_hold(tx, original.txn_id)
        elif original.state == "reversal_pending":
            await money.credit_back(tx, original.txn_id, original.bank_id)
        await txns.unmark_paid(tx, original.txn_id)
        # 00: the bank had it and reversed it (counts in both settlement totals); 25: it never had it
        await txns.set_state_if(tx, original.txn_id, ("reversing", "reversal_pending"),
                                state="reversed" if rc == "00" else "void")
        return
    if original.state == "reversing":
        await money.debit_hold(tx, original.txn_id, original.bank_id)
    await txns.set_state_if(tx, original.txn_id, ("reversing", "reversal_pending"), state="approved",
                            flagged=f"reversal refused {rc}")
    await txns.flag(tx, original.txn_id, "reversal_refused",
                    f"bank {item.bank_id} answered 0410 {rc}: the payment stands")


async def advice_answered(tx: Tx, item: txns.SafItem, answer: Message) -> None:
    """0230 00 completes the prepaid purchase (debit, token kept for the status request); any other
    code releases the hold."""
    rc = answer.get(39, "")
    original = await txns.get_txn(tx, item.txn_id)
    await txns.finish_saf(tx, item.saf_id, rc)
    if original.state != "advising":
        return
    if rc == "00":  # the stored 68 stays what a retransmission gets; status requests read the token
        await money.debit_hold(tx, original.txn_id, original.bank_id)
        await txns.set_state_if(tx, original.txn_id, ("advising",), state="approved",
                                bank_response=answer.fields)
    else:
        await money.release_hold(tx, original.txn_id)
        await txns.set_state_if(tx, original.txn_id, ("advising",), state="declined", rc=rc,
                                bank_response=answer.fields)
