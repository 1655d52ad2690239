"""The composition root: builds the switch from its configuration, runs it, drains it."""
from __future__ import annotations

import asyncio
import socket
from typing import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import structlog

from switch import admin
from switch.compiled import is_compiled
from switch.config import Config
from switch.flows.gateway import TerminalGateway
from switch.flows.recovery import recover
from switch.flows.store_forward import StoreAndForward
from switch.ledger import gauges
from switch.ledger.calendar import BusinessCalendar
from switch.ledger import keyring, units
from switch.ledger.storage import Database, open_database
from switch.ledger.txns import now_iso
from switch.links.bank_link import BankLink
from switch.links.limits import Quiet, Shed
from switch.links.one_connection import OneConnection
from switch.links.router import Router
from switch.links.stan import StanAllocator
from switch.links.terminal_server import TerminalServer
from switch.ops.metrics import Metrics, NullMetrics
from switch.services import Services
from switch.settlement import cutover
from switch.wire.field48 import PRODUCTS

log = structlog.get_logger("switch")

DRAIN_S = 25.0
PARK_S = 5.0
STOP_STEP_S = 10.0  # the longest any one step of a stop is waited for (signing off, closing ...)


@dataclass
class Ports:
    terminals: int
    metrics: int | None
    banks: dict[str, int]  # listen-mode banks: bound port


def age_s(iso: str | None) -> float:
    if not iso:
        return 0.0
    then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return max(0.0, (datetime.now(timezone.utc) - then).total_seconds())


class SwitchApp:
    def __init__(self, config: Config, *, metrics: Metrics | None = None,
                 key_notice: Callable[[str], None] | None = None) -> None:
        self.config = config
        # what to do with "created master key file ..." and the like (default: a warning in the log)
        self.key_notice = key_notice or (lambda line: log.warning("master_key", detail=line))
        self.node_id = config.switch.node_id or f"{socket.gethostname()}:{config.terminals.listen}"
        self.metrics: Metrics = metrics if metrics is not None else NullMetrics()
        self.db: Database | None = None
        self.svc: Services | None = None
        self._background: list[asyncio.Task] = []
        self._stopped = asyncio.Event()
        self.stop_step_s = STOP_STEP_S
        self._quiet = Quiet()  # one bank_busy line per bank per second, however many are shed

    @property
    def running(self) -> Services:
        """The services of the started switch (its database, router, calendar ...)."""
        if self.svc is None:
            raise RuntimeError("the switch is not started")
        return self.svc

    # ---- start -------------------------------------------------------------------------------
    async def start(self) -> Ports:
        cfg = self.config
        self.db = db = units.attach(open_database(cfg.switch.database))
        await db.open()  # creates the ledger's functions a PostgreSQL database lacks
        self.metrics.watch_units(db.unit_latency)
        keyring.configure(db, cfg.switch.master_key_file, notify=self.key_notice)
        await keyring.start(db)  # a missing or wrong master key file stops the start here
        calendar = BusinessCalendar(db, cfg.switch.timezone, cfg.switch.cutover)
        await calendar.load()
        stans = StanAllocator(db)
        links = [BankLink(bank, next_stan=stans.source(bank.id), max_frame_bytes=cfg.terminals.max_frame_bytes)
                 for bank in cfg.banks]
        self.one_connection = OneConnection(db, self.node_id, links)
        router = Router(links, on_busy=self._bank_busy)
        self.svc = svc = Services(config=cfg, db=db, router=router, calendar=calendar,
                                  stans=stans, metrics=self.metrics, node_id=self.node_id)
        self.saf = StoreAndForward(svc)
        svc.saf_wake = self.saf.wake
        await recover(svc)
        self._watch_links(links)
        for link in links:
            await link.start()
        self.saf.start()
        self.gateway = TerminalGateway(svc)
        self.terminals = TerminalServer(cfg.terminals, self.gateway.handle, on_reject=self._frame_rejected,
                                        on_connections=self._connections, refuse=self.gateway.refuse,
                                        on_shed=self._shed)
        terminal_port = await self.terminals.start()
        metrics_port = await self._start_http()
        self._started_at = now_iso()
        await admin.beat(db, self.node_id, self._started_at)
        self.admin = admin.AdminPoller(db, self.node_id, self._admin_handlers())
        self._background = [asyncio.create_task(self._every(1.0, self._housekeeping)),
                            asyncio.create_task(self._every(0.5, self.admin.poll_once)),
                            asyncio.create_task(self._every(5.0, self._refresh_gauges))]
        log.info("switch_started", node=self.node_id, business_date=calendar.current, compiled=is_compiled(),
                 terminal_port=terminal_port, metrics_port=metrics_port, banks=[b.id for b in cfg.banks],
                 bank_listen_ports={link.id: link.listen_port for link in links if link.listen_port})
        return Ports(terminal_port, metrics_port,
                     {link.id: link.listen_port for link in links if link.listen_port})

    def _admin_handlers(self) -> dict:
        async def settle(args: dict) -> dict:
            from switch.settlement.settle import settle_command
            return await settle_command(self.running, args)
        return {"cutover": lambda args: cutover.forced_cutover(self.running), "settle": settle}

    async def _start_http(self) -> int | None:
        if not self.metrics.exported:
            return None
        from switch.ops.http import OpsHttpServer
        self.http = OpsHttpServer(self.metrics, self.ready)
        host, _, port = self.config.metrics.listen.rpartition(":")
        return await self.http.start(host.strip("[]"), int(port))

    async def ready(self) -> tuple[bool, str]:
        try:
            await self.running.db.read(gauges.ping)
        except Exception as exc:
            return False, f"database unreachable: {exc}"
        products = {p for bank in self.config.banks for p in bank.products}
        down = sorted(p for p in products if not self.running.router.candidates(p))
        if down:
            return False, "no bank link up for " + ", ".join(down)
        return True, "ready"

    # ---- background --------------------------------------------------------------------------
    async def _every(self, seconds: float, job) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background_job_failed", job=getattr(job, "__name__", str(job)))

    async def _housekeeping(self) -> None:
        await admin.beat(self.running.db, self.node_id, self._started_at)
        await self.one_connection.renew()
        await cutover.scheduled_cutover(self.running)

    async def _refresh_gauges(self) -> None:
        if not self.metrics.exported:
            return
        svc = self.running
        waiting = await svc.db.read(gauges.pending_saf)
        pending = {key: (n, age_s(oldest)) for key, (n, oldest) in waiting.items()}
        for link in svc.router.links:
            for kind in ("reversal", "advice"):
                count, age = pending.get((link.id, kind), (0, 0.0))
                self.metrics.set_saf(link.id, kind, count, age)
            self.metrics.set_bank_link_up(link.id, link.is_up)
            self.metrics.set_bank_links_connected(link.id, link.connections)
            if link.last_echo_ok:
                self.metrics.bank_echo_answered(link.id, link.last_echo_ok)
        self.metrics.set_holds(*await svc.db.read(gauges.outstanding_holds))
        self.metrics.set_business_date(svc.calendar.current)

    def _watch_links(self, links: list[BankLink]) -> None:
        for link in links:
            link.on_late.append(self._late_answer)
            link.on_state.append(lambda lnk, up: self.metrics.set_bank_link_up(lnk.id, up))
            link.on_exchange.append(self._observe_bank)
            link.on_refused.append(lambda lnk: self._shed(Shed.BANK_CONNECTIONS))

    @staticmethod
    def _late_answer(link: BankLink, msg) -> None:
        """A late 0210 changes nothing: the payment it answers already has its outcome (a 68 and a
        reversal or advice on the way). Late 0410/0230 are applied by store-and-forward."""
        if msg.mti not in ("0410", "0230"):
            log.warning("late_bank_answer_ignored", bank=link.id, mti=msg.mti, stan=msg.get(11),
                        rc=msg.get(39), rrn=msg.get(37))

    def _observe_bank(self, link: BankLink, request, answer, seconds: float) -> None:
        """One bank-side exchange; an unanswered one is counted under rc "none"."""
        product = request.get(48, "")[:6] if request.mti != "0800" else ""
        self.metrics.observe_request("bank", request.mti, request.get(3) or request.get(70) or "",
                                     product if product in PRODUCTS else "", link.id,
                                     answer.get(39, "") if answer is not None else "none", seconds)

    def _frame_rejected(self, reason: str) -> None:
        self.metrics.frame_rejected("terminal", reason)

    def _shed(self, reason: Shed) -> None:
        self.metrics.overload_shed(reason.value)

    def _bank_busy(self, link: BankLink) -> None:
        if self._quiet.allow(link.id):
            log.warning("bank_busy_shed", bank=link.id, max_in_flight=link.cfg.max_in_flight,
                        suppressed=self._quiet.suppressed.pop(link.id, 0))
        self._shed(Shed.BANK_BUSY)

    def _connections(self, count: int) -> None:
        self.metrics.set_terminals_connected(count)

    # ---- stop --------------------------------------------------------------------------------
    async def stop(self) -> None:
        """Stops taking requests, lets those in flight finish (a payment left without its bank's
        answer is parked as unanswered by recovery on the next start), signs off, closes."""
        svc = self.running
        log.info("switch_draining", in_flight=len(getattr(self.terminals, "_requests", ())))
        await self.terminals.stop_accepting()
        left = await self.terminals.drain(self._drain_s())
        if left:
            left = await self._park()
        for task in self._background:
            task.cancel()
        await self._bounded("background", asyncio.gather(*self._background, return_exceptions=True))
        await self._bounded("store_and_forward", self.saf.stop())
        await self._bounded("terminals", self.terminals.close_all())
        for link in svc.router.links:
            if not await self._bounded(f"bank {link.id}", link.stop(sign_off=True)):
                link.drop()
                link.abandon()
        await self._bounded("bank_leases", self.one_connection.release())
        if hasattr(self, "http"):
            await self._bounded("http", self.http.stop())
        await self._bounded("heartbeat", admin.stop_beating(svc.db, self.node_id))
        # the units already queued are committed first; past the bound the writer is left to finish
        # (or not) as at a kill -9: nothing committed is lost, nothing answered was uncommitted
        await self._bounded("database", svc.db.close(), bound_s=3 * self.stop_step_s, cancel=False)
        log.info("switch_stopped", unfinished=left)
        self._stopped.set()

    async def _bounded(self, step: str, work: Awaitable[object], bound_s: float | None = None,
                       cancel: bool = True) -> bool:
        """One step of the stop, waited for at most its bound: past it the step is named in one
        line, cancelled (unless `cancel` is False: it is left to end on its own) and no longer
        waited for, and the stop goes on — a shutdown never hangs. True if it ended in time."""
        bound = bound_s if bound_s is not None else self.stop_step_s
        task = asyncio.ensure_future(work)
        # asyncio.wait, not a timeout around the await: a cancelled wait still waits for what it
        # cancelled, and a task that ignores its cancellation would hold the stop for ever
        try:
            done, _ = await asyncio.wait({task}, timeout=bound)
        except asyncio.CancelledError:  # the stop itself is cancelled: so is its step
            task.cancel()
            raise
        if done:
            task.result()  # a step that failed fails the stop, as before
            return True
        log.error("switch_stop_step_overran", step=step, bound_s=bound)
        if cancel:
            task.cancel()
        return False

    def _drain_s(self) -> float:
        """Long enough for a payment sent just before the stop to get its bank's answer."""
        return min(DRAIN_S, max(bank.timeout_s for bank in self.config.banks) + 1.0)

    async def _park(self) -> int:
        """Requests still waiting on a bank at the end of the drain stop waiting: each payment takes
        the unanswered path (reversal or advice queued, 68 stored and sent) rather than being cut
        off; what still runs after PARK_S is cancelled and left to recovery on the next start."""
        parked = sum(link.abandon() for link in self.running.router.links)
        left = await self.terminals.drain(PARK_S)
        log.warning("switch_parked", waiting_on_banks=parked, unfinished=left)
        return left


async def serve(config: Config, metrics: Metrics | None = None,
                stop_event: asyncio.Event | None = None) -> None:
    app = SwitchApp(config, metrics=metrics)
    await app.start()
    await (stop_event or asyncio.Event()).wait()
    await app.stop()
