"""The terminal listener: frames in, frames out. It knows nothing of ISO 8583 content: each frame
goes to the gateway (flows layer) in its own task, so a terminal may have many requests in flight
and responses go back in whatever order they finish.

It also enforces the overload limits (switch.links.limits, specs/hardening.md): the Acceptor keeps
connections to the switch-wide and per-address caps (at the switch-wide cap it stops accepting, so a
reconnecting flood waits in the kernel's listen queue instead of costing the loop); a frame over the switch's or the terminal's
in-flight or rate limit gets no task — the `refuse` callback answers it (91) on the spot and the
reader yields, so one terminal's flood cannot starve the others; after `abuse_close_after` refusals
in a row, or answers left unread beyond `max_unread_bytes`, the connection is closed."""
from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import structlog

from switch.config import TerminalsSection
from switch.wire import (ConnectionClosed, FrameReader, FramingError, FrameTooLarge, IdleTimeout, MacKey,
                         StallTimeout, frame)

from .acceptor import Acceptor
from .limits import Budget, Quiet, Shed

log = structlog.get_logger("terminal_server")

LISTEN_BACKLOG = 1024
# Kernel buffers per terminal socket: plenty for requests of at most 4 KiB and their answers, and
# they keep a flood (or a terminal that stops reading) from pinning megabytes of kernel memory each.
SOCKET_BUFFER_BYTES = 65536
# Before sign-on a connection may have this many requests at once (a sign-on, an echo): reconnecting
# must not buy a terminal a fresh allowance, and a stranger has nothing to ask for before sign-on.
BEFORE_SIGN_ON = 4


@dataclass(eq=False)
class TerminalSession:
    """One terminal connection. `terminal_id` is set by a successful sign-on on this connection;
    `key` is that terminal's MAC key, kept so an answer shed under overload can still be MACed."""
    peer: str
    budget: Budget
    address: str = "?"
    terminal_id: str | None = None
    signed_on: bool = False
    key: bytes | None = field(default=None, repr=False)
    # terminal keys opened for this connection, by their sealed value (never written anywhere)
    opened: dict[str, bytes] = field(default_factory=dict, repr=False)
    refused_in_a_row: int = 0
    max_unread: int = 262144
    unread: bool = False  # closed because the terminal stopped reading its answers
    _writer: asyncio.StreamWriter | None = field(default=None, repr=False)
    _outbox: list[bytes] = field(default_factory=list, repr=False)  # framed answers not yet written
    _on_sign_on: Callable[["TerminalSession"], None] = field(default=lambda s: None, repr=False)
    _mac: MacKey | None = field(default=None, repr=False)  # the key in use, ready for CMAC

    @property
    def in_flight(self) -> int:
        return self.budget.in_flight

    def sign_on(self, terminal_id: str, key: bytes) -> None:
        self.terminal_id, self.key, self.signed_on = terminal_id, key, True
        self.opened.clear()  # after a sign-on the key is opened afresh from the database
        self._on_sign_on(self)

    def mac_key(self, key: bytes) -> MacKey:
        """`key` made ready for CMAC, once per connection (again only when the key changes)."""
        ready = self._mac
        if ready is None or (ready.key is not key and ready.key != key):
            ready = self._mac = MacKey(key)
        return ready

    def send(self, raw: bytes) -> None:
        """Queues one answer: the answers finished in one turn of the event loop (a group commit
        ends many at once) go out in one write, one system call instead of one per answer."""
        writer = self._writer
        if writer is None or writer.is_closing():
            return
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self.flush)
        self._outbox.append(frame(raw, "2B"))

    def flush(self) -> None:
        out, writer = self._outbox, self._writer
        if not out:
            return
        self._outbox = []
        if writer is None or writer.is_closing():
            return
        writer.write(b"".join(out))
        if writer.transport.get_write_buffer_size() > self.max_unread:
            self.unread = True  # it does not read: holding its answers would grow without bound
            writer.transport.abort()

    def close(self) -> None:
        """Closes the connection once the answers queued so far are written."""
        self.flush()
        if self._writer is not None:
            self._writer.close()


Handler = Callable[[TerminalSession, bytes], Awaitable[bytes | None]]
Refuse = Callable[[TerminalSession, bytes], bytes | None]


class Abusive(Exception):
    """Too many refused requests in a row: the connection is closed."""


class TerminalServer:
    def __init__(self, cfg: TerminalsSection, handler: Handler,
                 on_reject: Callable[[str], None] | None = None,
                 on_connections: Callable[[int], None] | None = None,
                 refuse: Refuse | None = None,
                 on_shed: Callable[[Shed], None] | None = None) -> None:
        self.cfg = cfg
        self._handler = handler
        self._on_reject = on_reject or (lambda reason: None)
        self._on_connections = on_connections or (lambda count: None)
        self._refuse = refuse or (lambda session, raw: None)
        self._on_shed = on_shed or (lambda reason: None)
        self._acceptor: Acceptor | None = None
        self._sessions: set[TerminalSession] = set()
        self._requests: set[asyncio.Task] = set()
        self._budgets: dict[str, Budget] = {}  # per signed-on terminal id (bounded by registered ones)
        self._quiet = Quiet()
        self.port: int | None = None

    async def start(self) -> int:
        host, _, port = self.cfg.listen.rpartition(":")
        self._acceptor = Acceptor(
            self._serve, max_open=self.cfg.max_connections, per_address=self.cfg.max_connections_per_address,
            on_refused=lambda shed, address: self._shed_counted(shed, address=address), tls=self._tls(),
            handshake_timeout_s=self.cfg.stall_timeout_s, backlog=LISTEN_BACKLOG)
        self.port = self._acceptor.listen(host.strip("[]"), int(port))
        log.info("terminals_listening", address=f"{host}:{self.port}")
        return self.port

    async def stop_accepting(self) -> None:
        if self._acceptor:
            self._acceptor.close()

    async def drain(self, timeout: float) -> int:
        """Waits for requests in flight; returns how many were still running at the timeout."""
        if self._requests:
            await asyncio.wait(set(self._requests), timeout=timeout)
        return sum(1 for task in self._requests if not task.done())

    async def close_all(self) -> None:
        for session in list(self._sessions):
            session.close()
        for task in list(self._requests):
            task.cancel()
        await asyncio.gather(*self._requests, return_exceptions=True)

    @property
    def connected(self) -> int:
        return len(self._sessions)

    @property
    def in_flight(self) -> int:
        return len(self._requests)

    # ---- connections (admitted by the Acceptor under the caps) -------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = peer[0] if peer else "?"
        _bound_buffers(writer)
        session = TerminalSession(peer=f"{peer[0]}:{peer[1]}" if peer else "?", address=address,
                                  budget=self._connection_budget(), max_unread=self.cfg.max_unread_bytes,
                                  _writer=writer, _on_sign_on=self._signed_on)
        self._sessions.add(session)
        self._on_connections(len(self._sessions))
        try:
            await self._read_frames(session, reader)
        finally:
            session.flush()  # what was answered so far (e.g. the 91s before an abuse close) goes first
            self._sessions.discard(session)
            self._on_connections(len(self._sessions))
            if session.unread:
                self._shed_counted(Shed.UNREAD, address=address, terminal=session.terminal_id)
            writer.close()

    async def _read_frames(self, session: TerminalSession, reader: asyncio.StreamReader) -> None:
        frames = FrameReader(reader, "2B", self.cfg.max_frame_bytes, self.cfg.stall_timeout_s)
        try:
            while True:
                raw = await frames.read_frame(idle_timeout=self.cfg.idle_timeout_s)
                shed = self._admit(session)
                if shed is None:
                    session.refused_in_a_row = 0
                    self._start(session, raw)
                else:
                    self._shed_request(session, raw, shed)
                    await asyncio.sleep(0)  # the next frame may already be buffered: let others run
        except ConnectionClosed:
            pass
        except (IdleTimeout, StallTimeout, FrameTooLarge, FramingError) as exc:
            if session.unread:  # we cut it off ourselves mid-frame: counted as unread, not as its fault
                return
            reason = type(exc).__name__
            log.warning("terminal_connection_closed", peer=session.peer, terminal=session.terminal_id,
                        reason=reason, detail=str(exc))
            self._on_reject(reason)
        except Abusive:
            self._shed_counted(Shed.ABUSE, address=session.address, terminal=session.terminal_id,
                               refused_in_a_row=session.refused_in_a_row)
        except OSError as exc:
            log.info("terminal_connection_lost", peer=session.peer, error=str(exc))
        finally:
            frames.close()

    # ---- requests ----------------------------------------------------------------------------
    def _admit(self, session: TerminalSession) -> Shed | None:
        if len(self._requests) >= self.cfg.max_in_flight:
            return Shed.SWITCH_IN_FLIGHT
        return session.budget.admit(time.monotonic())

    def _start(self, session: TerminalSession, raw: bytes) -> None:
        budget = session.budget  # counted here, before the next frame is admitted
        budget.in_flight += 1
        task = asyncio.create_task(self._handle(session, budget, raw))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    def _shed_request(self, session: TerminalSession, raw: bytes, shed: Shed) -> None:
        self._shed_counted(shed, address=session.address, terminal=session.terminal_id)
        try:
            answer = self._refuse(session, raw)
        except Exception:  # a refusal must never take the reader down
            log.exception("terminal_refusal_failed", peer=session.peer)
            answer = None
        if answer is not None:
            session.send(answer)
        session.refused_in_a_row += 1
        if session.refused_in_a_row >= self.cfg.abuse_close_after:
            raise Abusive()

    async def _handle(self, session: TerminalSession, budget: Budget, raw: bytes) -> None:
        try:
            response = await self._handler(session, raw)
            if response is not None:
                session.send(response)
        except Exception:  # one bad request must never take the connection down
            log.exception("terminal_request_failed", peer=session.peer, terminal=session.terminal_id)
        finally:
            budget.in_flight -= 1

    # ---- budgets -----------------------------------------------------------------------------
    def _connection_budget(self) -> Budget:
        cfg = self.cfg
        return Budget(rate=cfg.max_requests_per_s, burst=min(BEFORE_SIGN_ON, cfg.max_burst),
                      max_in_flight=min(BEFORE_SIGN_ON, cfg.max_in_flight_per_terminal))

    def _terminal_budget(self) -> Budget:
        cfg = self.cfg
        return Budget(rate=cfg.max_requests_per_s, burst=cfg.max_burst,
                      max_in_flight=cfg.max_in_flight_per_terminal)

    def _signed_on(self, session: TerminalSession) -> None:
        """From now on the connection spends its terminal's budget, shared by all its connections."""
        terminal_id = session.terminal_id or ""
        budget = self._budgets.get(terminal_id)
        if budget is None:
            budget = self._budgets[terminal_id] = self._terminal_budget()
        session.budget = budget

    def _shed_counted(self, shed: Shed, **context) -> None:
        self._on_shed(shed)
        if self._quiet.allow(shed.value):
            log.warning("terminal_overload_shed", reason=shed.value,
                        suppressed=self._quiet.suppressed.pop(shed.value, 0), **context)

    def _tls(self) -> ssl.SSLContext | None:
        if not self.cfg.tls_cert:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cfg.tls_cert, self.cfg.tls_key)
        return context


def _bound_buffers(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER_BYTES)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER_BYTES)
    except OSError:  # not a TCP socket (tests may hand in others): nothing to bound
        pass
