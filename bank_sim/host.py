"""The simulated partner bank host: HI links (listen and/or connect), multiplexed answers, faults.

Each received frame is answered in its own task, so responses may leave out of order, as the
contract allows. Links only frame and decode; the Teller decides every answer.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Coroutine

import structlog

from switch.wire import HI, CodecError, FrameReader, FramingError, Message, decode, encode, frame
from switch.wire.fields import transmission_time
from switch.wire.vocabulary import Mti, NetworkCode

from .book import Book, today_wib
from .faults import Fate, Faults
from .settlement import Calendar, Totals
from .teller import Teller

log = structlog.get_logger("bank_sim")

FINANCIAL_MTIS = (Mti.FINANCIAL, Mti.ADVICE, Mti.ADVICE_REPEAT, Mti.REVERSAL, Mti.REVERSAL_REPEAT, Mti.RECONCILIATION)


@dataclass
class Stats:
    """Counters for tests and the CLI summary."""
    received: Counter[str] = field(default_factory=Counter)   # by MTI, requests and responses
    by_rc: Counter[str] = field(default_factory=Counter)      # responses sent, by field 39
    undecodable: int = 0     # frames that did not decode (logged, ignored)
    unanswered: int = 0      # processed but not answered (timeout fault, never_answer, mute)
    dropped: int = 0         # links closed by the drop fault instead of answering
    links_opened: int = 0
    echoes_sent: int = 0

    @property
    def answered(self) -> int:
        return sum(self.by_rc.values())


@dataclass(eq=False)
class Link:
    """One HI connection, in either direction."""
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    frames: FrameReader
    header: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def peer(self) -> str:
        peer = self.writer.get_extra_info("peername")
        return f"{peer[0]}:{peer[1]}" if peer else "?"

    async def send(self, msg: Message) -> None:
        data = frame(encode(msg, HI), self.header)
        async with self.lock:
            self.writer.write(data)
            await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


class BankHost:
    def __init__(self, book: Book, faults: Faults | None = None, framing: str = "2B", bank_id: str = "BANKSIM",
                 settlement_dir: str | Path | None = None, *, echo_interval_s: float | None = None,
                 max_frame_bytes: int = 4096, stall_timeout_s: float = 30, reconnect_initial_s: float = 0.5,
                 reconnect_max_s: float = 5.0, clock: Callable[[], datetime] | None = None,
                 business_date: date | None = None) -> None:
        if framing not in ("2B", "4A"):
            raise ValueError(f"framing must be '2B' or '4A', got {framing!r}")
        self.book = book
        self.faults = faults or Faults()
        self.framing = framing
        self.bank_id = bank_id
        self.teller = Teller(book, bank_id, settlement_dir, calendar=Calendar(business_date or today_wib()))
        if clock:
            self.teller.clock = clock
        self.stats = Stats()
        self.answer_delay_s: float | None = None   # overrides the latency fault for financial requests
        self.echo_interval_s = echo_interval_s
        self.max_frame_bytes = max_frame_bytes
        self.stall_timeout_s = stall_timeout_s
        self.reconnect_initial_s = reconnect_initial_s
        self.reconnect_max_s = reconnect_max_s
        self._links: set[Link] = set()
        self._link_change = asyncio.Event()
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task] = set()         # answers, echo loops, connect loops
        self._accepted_links: set[asyncio.Task] = set()  # server callbacks: ended by closing, not cancelling
        self._stan = itertools.count(1)
        self._stopping = False

    # --- lifecycle -------------------------------------------------------------------------------

    async def listen(self, host: str, port: int) -> int:
        """Accepts the switch's connections; returns the bound port (pass 0 for a free one)."""
        server = await asyncio.start_server(self._accepted, host, port)
        self._servers.append(server)
        bound = server.sockets[0].getsockname()[1]
        log.info("listening", address=f"{host}:{bound}", framing=self.framing, bank=self.bank_id)
        return bound

    async def connect(self, host: str, port: int) -> None:
        """Keeps one link to the switch up, reconnecting with backoff until stop(); returns at once
        (wait_for_links() waits for the link)."""
        self._spawn(self._keep_connected(host, port))

    async def wait_for_links(self, count: int = 1) -> None:
        while len(self._links) < count:
            self._link_change.clear()
            await self._link_change.wait()

    @property
    def ports(self) -> list[int]:
        """The ports listen() bound, in order."""
        return [server.sockets[0].getsockname()[1] for server in self._servers if server.sockets]

    @property
    def links(self) -> int:
        return len(self._links)

    def drop_links(self) -> None:
        """Closes every link now (connect mode reconnects after its backoff)."""
        for link in list(self._links):
            link.close()

    async def stop(self) -> None:
        self._stopping = True
        for server in self._servers:
            server.close()
        self.drop_links()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # accepted links end on their own once closed; cancelling them makes asyncio log noise
        await asyncio.gather(*self._accepted_links, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()

    # --- what tests and the CLI read -------------------------------------------------------------

    def write_day(self, business_date: date) -> tuple[Path, Path]:
        """Writes <BANK>_<YYYYMMDD>.RCN and .CTL for that business date into settlement_dir."""
        return self.teller.write_day(business_date)

    def totals(self, business_date: date) -> Totals:
        return self.teller.totals(business_date)

    @property
    def business_date(self) -> date:
        """The open business date as the bank believes it (exact after the first cutover)."""
        return self.teller.calendar.open.date

    # --- links -----------------------------------------------------------------------------------

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._stopping:
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._accepted_links.add(task)
            task.add_done_callback(self._accepted_links.discard)
        await self._serve(reader, writer)

    async def _keep_connected(self, host: str, port: int) -> None:
        delay = self.reconnect_initial_s
        while not self._stopping:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as exc:
                log.info("connect failed", address=f"{host}:{port}", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            delay = self.reconnect_initial_s
            await self._serve(reader, writer)
            if not self._stopping:
                await asyncio.sleep(delay)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader(reader, self.framing, self.max_frame_bytes, self.stall_timeout_s)
        link = Link(reader, writer, frames, self.framing)
        self._add(link)
        echo = self._spawn(self._echo(link)) if self.echo_interval_s else None
        try:
            while True:
                raw = await frames.read_frame()
                self._spawn(self._answer(link, raw))
        except FramingError as exc:
            log.info("link closed", peer=link.peer, reason=str(exc) or type(exc).__name__)
        finally:
            if echo is not None:
                echo.cancel()
            self._remove(link)
            link.close()

    def _add(self, link: Link) -> None:
        self._links.add(link)
        self.stats.links_opened += 1
        self._link_change.set()
        log.info("link up", peer=link.peer, framing=link.header)

    def _remove(self, link: Link) -> None:
        self._links.discard(link)
        self._link_change.set()

    # --- answering -------------------------------------------------------------------------------

    async def _answer(self, link: Link, raw: bytes) -> None:
        try:
            msg = decode(raw, HI)
        except CodecError as exc:
            self.stats.undecodable += 1
            log.warning("undecodable frame ignored", peer=link.peer, error=str(exc), size=len(raw))
            return
        self.stats.received[msg.mti] += 1
        log.info("received", peer=link.peer, mti=msg.mti, stan=msg.get(11), code=msg.get(70) or msg.get(3),
                 rrn=msg.get(37), rc=msg.get(39))
        financial = msg.mti in FINANCIAL_MTIS
        fate = self.faults.draw(can_decline=msg.mti == "0200") if financial else Fate.ANSWER
        if financial:
            await self._delay()
        response = self.teller.process(msg, decline=fate is Fate.DECLINE)
        if response is not None:
            await self._deliver(link, response, fate, financial)

    async def _delay(self) -> None:
        delay = self.answer_delay_s if self.answer_delay_s is not None else self.faults.latency_ms / 1000
        if delay > 0:
            await asyncio.sleep(delay)

    async def _deliver(self, link: Link, response: Message, fate: Fate, financial: bool) -> None:
        rc = response.get(39)
        if self.faults.mute or (financial and (self.faults.never_answer or fate is Fate.TIMEOUT)):
            self.stats.unanswered += 1
            log.info("not answered (fault)", mti=response.mti, stan=response.get(11), rc=rc)
            return
        if fate is Fate.DROP:
            self.stats.dropped += 1
            log.info("link dropped instead of answering (fault)", peer=link.peer, stan=response.get(11))
            link.close()
            return
        try:
            await link.send(response)
        except (ConnectionError, RuntimeError) as exc:
            log.info("answer lost, link gone", stan=response.get(11), error=str(exc))
            return
        self.stats.by_rc[rc or ""] += 1
        log.info("answered", peer=link.peer, mti=response.mti, stan=response.get(11), rc=rc)

    async def _echo(self, link: Link) -> None:
        """The bank's own echo test every echo_interval_s; the switch's 0810 is counted, not matched."""
        while True:
            await asyncio.sleep(self.echo_interval_s or 0)
            stan = f"{next(self._stan) % 1_000_000:06d}"
            echo = Message(Mti.NETWORK, {7: transmission_time(), 11: stan, 70: NetworkCode.ECHO})
            try:
                await link.send(echo)
            except (ConnectionError, RuntimeError):
                return
            self.stats.echoes_sent += 1

    # --- tasks -----------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine) -> asyncio.Task:
        return self._track(asyncio.create_task(coro))

    def _track(self, task: asyncio.Task) -> asyncio.Task:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
