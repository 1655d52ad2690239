"""The terminal listener: frames in, frames out. It knows nothing of ISO 8583 content: each frame
goes to the gateway (flows layer) in its own task, so a terminal may have many requests in flight
and responses go back in whatever order they finish."""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import structlog

from switch.config import TerminalsSection
from switch.wire import (ConnectionClosed, FrameReader, FramingError, FrameTooLarge, IdleTimeout,
                         StallTimeout, frame)

log = structlog.get_logger("terminal_server")


@dataclass(eq=False)
class TerminalSession:
    """One terminal connection. `terminal_id` is set by a successful sign-on on this connection."""
    peer: str
    terminal_id: str | None = None
    signed_on: bool = False
    in_flight: int = 0
    _writer: asyncio.StreamWriter | None = field(default=None, repr=False)

    def send(self, raw: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(frame(raw, "2B"))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


Handler = Callable[[TerminalSession, bytes], Awaitable[bytes | None]]


class TerminalServer:
    def __init__(self, cfg: TerminalsSection, handler: Handler,
                 on_reject: Callable[[str], None] | None = None,
                 on_connections: Callable[[int], None] | None = None) -> None:
        self.cfg = cfg
        self._handler = handler
        self._on_reject = on_reject or (lambda reason: None)
        self._on_connections = on_connections or (lambda count: None)
        self._server: asyncio.base_events.Server | None = None
        self._sessions: set[TerminalSession] = set()
        self._requests: set[asyncio.Task] = set()
        self.port: int | None = None

    async def start(self) -> int:
        host, _, port = self.cfg.listen.rpartition(":")
        self._server = await asyncio.start_server(self._serve, host.strip("[]"), int(port),
                                                  ssl=self._tls())
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("terminals_listening", address=f"{host}:{self.port}")
        return self.port

    async def stop_accepting(self) -> None:
        if self._server:
            self._server.close()

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

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        session = TerminalSession(peer=f"{peer[0]}:{peer[1]}" if peer else "?", _writer=writer)
        self._sessions.add(session)
        self._on_connections(len(self._sessions))
        frames = FrameReader(reader, "2B", self.cfg.max_frame_bytes, self.cfg.stall_timeout_s)
        try:
            while True:
                raw = await frames.read_frame(idle_timeout=self.cfg.idle_timeout_s)
                task = asyncio.create_task(self._handle(session, raw))
                self._requests.add(task)
                task.add_done_callback(self._requests.discard)
        except ConnectionClosed:
            pass
        except (IdleTimeout, StallTimeout, FrameTooLarge, FramingError) as exc:
            reason = type(exc).__name__
            log.warning("terminal_connection_closed", peer=session.peer, terminal=session.terminal_id,
                        reason=reason, detail=str(exc))
            self._on_reject(reason)
        except OSError as exc:
            log.info("terminal_connection_lost", peer=session.peer, error=str(exc))
        finally:
            self._sessions.discard(session)
            self._on_connections(len(self._sessions))
            writer.close()

    async def _handle(self, session: TerminalSession, raw: bytes) -> None:
        session.in_flight += 1
        try:
            response = await self._handler(session, raw)
            if response is not None:
                session.send(response)
        except Exception:  # one bad request must never take the connection down
            log.exception("terminal_request_failed", peer=session.peer, terminal=session.terminal_id)
        finally:
            session.in_flight -= 1

    def _tls(self) -> ssl.SSLContext | None:
        if not self.cfg.tls_cert:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cfg.tls_cert, self.cfg.tls_key)
        return context
