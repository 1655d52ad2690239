"""Accepting connections under a cap, without letting a flood of them cost the event loop.

`asyncio.start_server` accepts whatever arrives: at its connection cap a server can only accept each
newcomer and close it again, and a flood that reconnects at once keeps the loop busy doing that (a
profile of tests/chaos/chaos_flood.py showed ~2,000 accept-and-close cycles a second, each building a
transport, a stream pair and a task). The Acceptor owns its listening socket instead:

* below the cap it accepts (in batches) and hands each connection to `serve` as a stream pair;
* at the cap it stops accepting: newcomers wait in the kernel's listen queue, which costs the switch
  nothing, and the first connection to end resumes accepting, so the one waiting longest gets the slot;
* while it is stopped, every `refuse_queued_s` it closes up to ACCEPT_BATCH of the connections
  waiting longest (a bare accept and close, no transport), each counted by `on_refused` like any
  connection over a cap; once the queue is full the kernel drops further attempts (the client's SYN
  goes unanswered and is retried), so a flood at the cap costs the loop at most that many a second;
* a connection from an address that already holds `per_address` is closed at once.

A connection counts against the cap from its accept, TLS handshake included, until `serve` returns."""
from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
from typing import Awaitable, Callable

import structlog

from .limits import AddressBook, Shed

log = structlog.get_logger("acceptor")

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Refused = Callable[[Shed, str], None]

ACCEPT_BATCH = 64          # connections accepted per wakeup, so accepting never holds the loop long
REFUSE_QUEUED_S = 1.0      # at the cap, this often the ACCEPT_BATCH waiting longest are closed
ACCEPT_RETRY_S = 1.0       # out of file descriptors: try again after this long (as asyncio does)
_PASSING = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR, errno.ECONNABORTED, errno.EPROTO}


class Acceptor:
    def __init__(self, serve: Serve, *, max_open: int, per_address: int | None = None,
                 on_refused: Refused | None = None, tls: ssl.SSLContext | None = None,
                 handshake_timeout_s: float | None = None, backlog: int = 1024,
                 refuse_queued_s: float = REFUSE_QUEUED_S) -> None:
        self._serve = serve
        self.max_open = max_open
        self._addresses = AddressBook(per_address) if per_address else None
        self._on_refused = on_refused or (lambda shed, address: None)
        self._tls = tls
        self._handshake_timeout = handshake_timeout_s if tls else None
        self._backlog = backlog
        self._refuse_queued_s = refuse_queued_s
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accepting = False
        self._timer: asyncio.Handle | None = None
        self._adopting: set[asyncio.Task] = set()
        self.open = 0  # connections accepted and not yet ended

    @property
    def paused(self) -> bool:
        return self._sock is not None and not self._accepting

    def listen(self, host: str, port: int) -> int:
        """Binds and starts accepting; returns the port (the one the kernel chose for port 0)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._sock = socket.create_server((host, port), family=family, backlog=self._backlog)
        except OSError as exc:  # in the words of asyncio's servers, the line operators already know
            why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise OSError(exc.errno, f"error while attempting to bind on address {(host, port)!r}: {why}") from None
        self._sock.setblocking(False)
        self._loop = asyncio.get_running_loop()
        self._resume()
        return self._sock.getsockname()[1]

    def close(self) -> None:
        """Stops accepting for good; connections already served are left to their owner."""
        self._pause()
        if self._sock is not None:
            self._sock.close()
        for task in list(self._adopting):
            task.cancel()

    # ---- accepting ---------------------------------------------------------------------------
    def _resume(self) -> None:
        self._cancel_timer()
        if not self._accepting and self._sock is not None and self._loop is not None:
            self._loop.add_reader(self._sock.fileno(), self._on_ready)
            self._accepting = True

    def _pause(self) -> None:
        self._cancel_timer()
        if self._accepting and self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._accepting = False

    def _at_cap(self) -> None:
        self._pause()
        assert self._loop is not None
        self._timer = self._loop.call_later(self._refuse_queued_s, self._refuse_queued)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_ready(self) -> None:
        for _ in range(ACCEPT_BATCH):
            if self.open >= self.max_open:
                self._at_cap()
                return
            accepted = self._accept_one()
            if accepted is None:
                return
            conn, address = accepted
            if self._addresses is not None and self._addresses.full(address):
                self._refuse(conn, Shed.ADDRESS, address)
            else:
                self._adopt(conn, address)
        if self.open >= self.max_open:
            self._at_cap()

    def _accept_one(self) -> tuple[socket.socket, str] | None:
        assert self._sock is not None
        try:
            conn, peer = self._sock.accept()
        except OSError as exc:
            if exc.errno not in _PASSING:  # EMFILE, ENFILE, ENOBUFS: back off instead of spinning
                log.warning("accept_failed", error=str(exc), retry_in_s=ACCEPT_RETRY_S)
                self._pause()
                assert self._loop is not None
                self._timer = self._loop.call_later(ACCEPT_RETRY_S, self._resume)
            return None
        return conn, str(peer[0]) if peer else "?"

    def _refuse_queued(self) -> None:
        """At the cap: closes up to ACCEPT_BATCH of the connections waiting longest, then looks again
        `refuse_queued_s` later. Bounded, not the whole queue: closing a thousand at once held the
        loop, and a flood told all at once reconnects all at once, in waves that stalled every process
        on the machine; a full queue makes the kernel drop further attempts (the client retries)."""
        assert self._loop is not None
        self._timer = None
        for _ in range(ACCEPT_BATCH):
            accepted = self._accept_one()
            if accepted is None:
                break
            conn, address = accepted
            full = self._addresses is not None and self._addresses.full(address)
            self._refuse(conn, Shed.ADDRESS if full else Shed.CONNECTIONS, address)
        if not self._accepting and self._timer is None:
            self._timer = self._loop.call_later(self._refuse_queued_s, self._refuse_queued)

    def _refuse(self, conn: socket.socket, shed: Shed, address: str) -> None:
        # a plain close (FIN), not a reset: a reset can overtake the peer's own connect on loopback,
        # and a refused peer should see its connection accepted and closed without a word
        conn.close()
        self._on_refused(shed, address)

    # ---- serving -----------------------------------------------------------------------------
    def _adopt(self, conn: socket.socket, address: str) -> None:
        self.open += 1
        if self._addresses is not None:
            self._addresses.add(address)
        ended = False

        def end() -> None:  # once, whichever comes first: a failed handshake or `serve` returning
            nonlocal ended
            if not ended:
                ended = True
                self._ended(address)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await self._serve(reader, writer)
            finally:
                end()

        conn.setblocking(False)
        task = asyncio.create_task(self._handshake(conn, serve, end))
        self._adopting.add(task)
        task.add_done_callback(self._adopting.discard)

    async def _handshake(self, conn: socket.socket, serve: Serve, end: Callable[[], None]) -> None:
        """Makes the accepted socket a stream pair (after the TLS handshake, with TLS); `serve` runs
        in the task the stream protocol starts for it."""
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader(), serve),
                conn, ssl=self._tls, ssl_handshake_timeout=self._handshake_timeout)
        except OSError:  # gone already, or a failed or timed-out handshake (ssl.SSLError is one)
            conn.close()
            end()
        except asyncio.CancelledError:  # closing down
            end()
            raise

    def _ended(self, address: str) -> None:
        self.open -= 1
        if self._addresses is not None:
            self._addresses.remove(address)
        if not self._accepting and self._sock is not None and self._sock.fileno() >= 0 \
                and self.open < self.max_open:
            self._resume()
