"""Links to one partner bank: TCP connections out (connect) or in (listen), sign-on, echo, matching.

Channels only frame and decode; the mux pairs responses with requests by field 11 (the switch's STANs
towards a bank are unique across all of that bank's links in a business date).
"""
from __future__ import annotations

import asyncio
import itertools
import time
from typing import Awaitable, Callable

import structlog

from switch.config import BankConfig
from switch.wire import HI, CodecError, ConnectionClosed, FrameReader, FramingError, Message, decode

from switch.wire.fields import transmission_time
from switch.wire.vocabulary import Mti, NetworkCode

from .acceptor import Acceptor
from .bank_channel import BankChannel, log_end
from .limits import Quiet, Shed
from .mux import Mux
from .tls import client_context, server_context

log = structlog.get_logger("bank_link")

StanSource = Callable[[], Awaitable[str]]


class LinkDown(Exception):
    """No signed-on connection to the bank, or it dropped before the answer came: the request may
    not have reached the bank (callers treat an unsent request and a lost one differently)."""

    def __init__(self, bank_id: str, sent: bool) -> None:
        super().__init__(f"bank {bank_id}: link down ({'after' if sent else 'before'} sending)")
        self.sent = sent


class BankTimeout(Exception):
    """The bank did not answer within its timeout."""


class BankLink:
    """Every connection to one bank, in either mode, and the requests in flight on them."""

    def __init__(self, cfg: BankConfig, *, next_stan: StanSource, max_frame_bytes: int = 4096,
                 business_date: Callable[[], str] | None = None) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self._next_stan = next_stan
        self._max_frame = max_frame_bytes
        self._business_date = business_date
        self._channels: list[BankChannel] = []
        self._round_robin = itertools.count()
        self._mux = Mux(lambda m: m.get(11), self._unmatched)
        self._tasks: set[asyncio.Task] = set()
        self._acceptor: Acceptor | None = None
        self._quiet = Quiet()
        self._stopping = False
        self.on_up: list[Callable[["BankLink"], None]] = []
        self.on_state: list[Callable[["BankLink", bool], None]] = []
        self.on_late: list[Callable[["BankLink", Message], None]] = []
        self.on_refused: list[Callable[["BankLink"], None]] = []  # a connection over max_connections
        # every request the switch sent and how it ended: (link, request, answer or None, seconds)
        self.on_exchange: list[Callable[["BankLink", Message, Message | None, float], None]] = []
        self.last_echo_ok: float = 0.0
        self.listen_port: int | None = None
        self.may_connect: Callable[[], Awaitable[bool]] | None = None  # one_connection: the node's turn

    # ---- state -------------------------------------------------------------------------------
    @property
    def is_up(self) -> bool:
        for channel in self._channels:  # asked for every new request: a plain loop, no generator
            if channel.signed_on:
                return True
        return False

    @property
    def busy(self) -> bool:
        """As many requests waiting for this bank's answers as it may have (banks[].max_in_flight)."""
        return len(self._mux) >= self.cfg.max_in_flight

    @property
    def connections(self) -> int:
        return len(self._channels)

    def serves(self, product: str) -> bool:
        return product in self.cfg.products

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self.cfg.mode == "listen":
            host, port = _split(self.cfg.address)
            # capped like the terminal port: a bank (or whoever reaches its port) opening connection
            # after connection gets max_connections, the rest wait and are closed (specs/hardening.md)
            self._acceptor = Acceptor(self._accepted, max_open=self.cfg.max_connections,
                                      on_refused=self._refused, tls=server_context(self.cfg))
            self.listen_port = self._acceptor.listen(host, port)
            log.info("bank_listening", bank=self.id, address=f"{host}:{self.listen_port}")
        else:
            self._spawn(self._connect_loop())

    async def stop(self, sign_off: bool = True) -> None:
        self._stopping = True
        if self._acceptor:
            self._acceptor.close()
        if sign_off:
            await asyncio.gather(*(self._sign_off(c) for c in list(self._channels)),
                                 return_exceptions=True)
        for channel in list(self._channels):
            channel.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._mux.fail_all(LinkDown(self.id, sent=True))

    def abandon(self) -> int:
        """Stops waiting for every answer in flight (shutdown): each waiter gets LinkDown(sent=True),
        so a payment is parked as unanswered (reversal or advice queued, 68) instead of being cut
        off mid-flow. Returns how many were waiting."""
        waiting = len(self._mux)
        self._mux.fail_all(LinkDown(self.id, sent=True))
        return waiting

    def drop(self) -> None:
        """Closes every connection now (operators and tests); connect mode reconnects."""
        for channel in list(self._channels):
            channel.close()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _connect_loop(self) -> None:
        host, port = _split(self.cfg.address)
        backoff = 1.0
        while not self._stopping:
            try:
                if self.may_connect is not None and not await self.may_connect():
                    raise OSError("another node holds this bank's one connection")
                reader, writer = await asyncio.open_connection(host, port, ssl=client_context(self.cfg))
            except OSError as exc:
                log.warning("bank_connect_failed", bank=self.id, address=self.cfg.address,
                            error=str(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.cfg.reconnect_max_s)
                continue
            channel = BankChannel(reader, writer, self.cfg.framing)
            await self._serve_channel(channel)
            if channel.was_signed_on:  # a working link dropped: try again at once
                backoff = 1.0
                continue
            # connected but never signed on (closed on us, or hung): no tight reconnect loop
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.cfg.reconnect_max_s)

    def _refused(self, shed: Shed, address: str) -> None:
        if self._quiet.allow("refused"):
            log.warning("bank_connection_refused", bank=self.id, peer=address,
                        max_connections=self.cfg.max_connections, suppressed=self._quiet.suppressed.pop("refused", 0))
        for callback in self.on_refused:
            callback(self)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._stopping:
            writer.close()
            return
        try:
            await self._serve_channel(BankChannel(reader, writer, self.cfg.framing))
        except asyncio.CancelledError:
            # stop() cancels the channel's tasks; asyncio's server would log this handler's
            # cancellation as an error, but the link ending here is the intended outcome
            writer.close()

    async def _serve_channel(self, channel: BankChannel) -> None:
        self._channels.append(channel)
        log.info("bank_connected", bank=self.id, peer=channel.peer, mode=self.cfg.mode)
        reader_task = self._spawn(self._read_loop(channel))
        echo_task = self._spawn(self._echo_loop(channel))
        sign_on = self._spawn(self._sign_on(channel))
        try:
            await reader_task
        finally:
            for task in (echo_task, sign_on):
                task.cancel()
            was_up = self.is_up
            self._channels.remove(channel)
            channel.close()
            for stan in list(channel.waiting):
                self._mux.fail(stan, LinkDown(self.id, sent=True))
            channel.waiting.clear()
            log_end(self.id, channel, self._stopping)
            if was_up and not self.is_up:
                self._state_changed(False, orderly=bool(self._stopping or channel.closing))

    async def _read_loop(self, channel: BankChannel) -> None:
        frames = FrameReader(channel.reader, channel.header, self._max_frame, stall_timeout=30.0)
        try:
            await self._read_frames(channel, frames)
        finally:
            frames.close()

    async def _read_frames(self, channel: BankChannel, frames: FrameReader) -> None:
        while True:
            try:
                raw = await frames.read_frame()
            except ConnectionClosed:
                return
            except (FramingError, OSError) as exc:
                log.error("bank_frame_rejected", bank=self.id, error=str(exc))
                return
            channel.last_received = time.monotonic()
            try:
                msg = decode(raw, HI)
            except CodecError as exc:
                log.error("bank_message_undecodable", bank=self.id, error=str(exc))
                continue
            if msg.is_request:
                self._answer_bank_request(channel, msg)
            else:
                stan = msg.get(11)
                if stan is not None:
                    channel.waiting.discard(stan)
                self._mux.deliver(msg)

    def _answer_bank_request(self, channel: BankChannel, msg: Message) -> None:
        """The bank's own network management: echo, sign-on, sign-off. Anything else is refused (12)."""
        response = Message(msg.response_mti,
                           {n: v for n, v in msg.fields.items() if n in (3, 4, 7, 11, 15, 32, 37, 41, 42, 70, 90)})
        if msg.mti == Mti.NETWORK and msg.get(70) in tuple(NetworkCode):
            response[39] = "00"
            if msg.get(70) == NetworkCode.SIGN_OFF and channel.signed_on:
                channel.signed_on, channel.closing = False, "the bank signed off"
                if not self.is_up:
                    self._state_changed(False)
        else:
            response[39] = "12"
        log.info("bank_request_answered", bank=self.id, mti=msg.mti, code=msg.get(70), rc=response[39])
        try:
            channel.send(response)
        except (CodecError, OSError) as exc:
            log.error("bank_answer_failed", bank=self.id, error=str(exc))

    def _unmatched(self, msg: Message) -> None:
        log.warning("bank_late_response", bank=self.id, mti=msg.mti, stan=msg.get(11), rc=msg.get(39))
        for callback in self.on_late:
            callback(self, msg)

    def _state_changed(self, up: bool, orderly: bool = True) -> None:
        (log.info if up or orderly else log.warning)("bank_link_state", bank=self.id, up=up)
        for callback in self.on_state:
            callback(self, up)
        if up:
            for came_up in self.on_up:
                came_up(self)

    # ---- network management ------------------------------------------------------------------
    async def _network(self, channel: BankChannel, code: str, extra: dict[int, str] | None = None,
                       timeout: float | None = None) -> Message:
        msg = Message(Mti.NETWORK, {7: transmission_time(), 11: await self._next_stan(), 70: code,
                               **(extra or {})})
        return await self._send_on(channel, msg, timeout or self.cfg.timeout_s)

    async def _sign_on(self, channel: BankChannel) -> None:
        while not channel.signed_on and not self._stopping:
            try:
                reply = await self._network(channel, NetworkCode.SIGN_ON)
            except (BankTimeout, LinkDown):
                continue
            if reply.get(39) == "00":
                was_up = self.is_up
                channel.signed_on = channel.was_signed_on = True
                self.last_echo_ok = time.time()
                log.info("bank_signed_on", bank=self.id, peer=channel.peer)
                if not was_up:
                    self._state_changed(True)
                return
            log.warning("bank_sign_on_refused", bank=self.id, rc=reply.get(39))
            await asyncio.sleep(min(5.0, self.cfg.echo_interval_s))

    async def _sign_off(self, channel: BankChannel) -> None:
        if channel.signed_on:
            try:
                await self._network(channel, NetworkCode.SIGN_OFF, timeout=2.0)
            except (BankTimeout, LinkDown, OSError):
                pass

    async def _echo_loop(self, channel: BankChannel) -> None:
        """Echo when the link has been quiet; `echo_misses` unanswered in a row close it."""
        misses = 0
        interval = self.cfg.echo_interval_s
        while True:
            await asyncio.sleep(interval)
            if not channel.signed_on or time.monotonic() - channel.last_received < interval:
                continue
            try:
                await self._network(channel, NetworkCode.ECHO, timeout=min(self.cfg.timeout_s, interval))
                misses = 0
                self.last_echo_ok = time.time()
            except BankTimeout:
                misses += 1
                log.warning("bank_echo_unanswered", bank=self.id, misses=misses)
                if misses >= self.cfg.echo_misses:
                    channel.signed_on = False
                    channel.lost = f"{misses} echo tests unanswered"
                    if not self.is_up:
                        self._state_changed(False, orderly=False)
                    channel.close()
                    return
            except LinkDown:
                return

    async def cutover(self, closed_date_mmdd: str) -> dict[str, str]:
        """0800/201 on every signed-on connection; returns {peer: rc}."""
        results: dict[str, str] = {}
        for channel in [c for c in self._channels if c.signed_on]:
            try:
                reply = await self._network(channel, NetworkCode.CUTOVER, {15: closed_date_mmdd})
                results[channel.peer] = reply.get(39, "")
            except (BankTimeout, LinkDown) as exc:
                results[channel.peer] = type(exc).__name__
        return results

    # ---- requests ----------------------------------------------------------------------------
    async def request(self, msg: Message, timeout: float | None = None) -> Message:
        """Sends `msg` (field 11 already set) on a signed-on connection and waits for its answer."""
        channels = [c for c in self._channels if c.signed_on]
        if not channels:
            raise LinkDown(self.id, sent=False)
        channel = channels[next(self._round_robin) % len(channels)]
        return await self._send_on(channel, msg, timeout or self.cfg.timeout_s)

    async def _send_on(self, channel: BankChannel, msg: Message, timeout: float) -> Message:
        if channel.writer.is_closing():  # a write now would vanish silently: say it never left
            raise LinkDown(self.id, sent=False)
        future = self._mux.expect(msg)
        stan = msg[11]
        try:
            channel.send(msg)
        except OSError:
            self._mux.forget(msg)
            raise LinkDown(self.id, sent=False)
        except BaseException:
            self._mux.forget(msg)
            raise
        channel.waiting.add(stan)
        log.debug("bank_out", bank=self.id, peer=channel.peer, mti=msg.mti, proc=msg.get(3), network=msg.get(70),
                 stan=stan, rrn=msg.get(37))
        started, answer = time.monotonic(), None
        # a timer that fails the future itself, not wait_for (a second future and callbacks per request)
        expiry = asyncio.get_running_loop().call_later(timeout, self._expire, future, msg.mti, stan, timeout)
        try:
            answer = await future
            return answer
        finally:
            expiry.cancel()
            channel.waiting.discard(stan)
            self._mux.forget(msg)
            self._exchanged(msg, answer, time.monotonic() - started)

    def _expire(self, future: asyncio.Future[Message], mti: str, stan: str, timeout: float) -> None:
        if not future.done():
            future.set_exception(BankTimeout(f"bank {self.id}: no answer to {mti} STAN {stan} in {timeout:g} s"))

    def _exchanged(self, request: Message, answer: Message | None, seconds: float) -> None:
        (log.debug if answer is not None else log.info)(
            "bank_in" if answer is not None else "bank_no_answer", bank=self.id,
                 mti=answer.mti if answer is not None else None, stan=request.get(11), rrn=request.get(37),
                 rc=answer.get(39) if answer is not None else None, latency_ms=round(seconds * 1000, 1))
        for callback in self.on_exchange:
            callback(self, request, answer, seconds)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)
