"""The operations HTTP endpoint: GET /metrics, /healthz, /readyz on plain asyncio.

One request per connection (Connection: close): Prometheus and probes need nothing more, and it
keeps the server small enough to read at a glance. Anything malformed gets a 400, never a crash.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import CONTENT_TYPE_LATEST

from switch.ops.metrics import Metrics

ReadyCheck = Callable[[], Awaitable[tuple[bool, str]]]

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 503: "Service Unavailable"}
_TEXT = "text/plain; charset=utf-8"
_HEAD_TIMEOUT_S = 10.0     # a client that does not finish its request head in this time is dropped
_READY_TIMEOUT_S = 5.0     # a readiness check slower than this counts as not ready
_MAX_HEADERS = 100
_LINE_LIMIT = 8192

log = structlog.get_logger(__name__)


class _BadRequest(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


class OpsHttpServer:
    """Serves metrics and health on its own listener, apart from the terminal and bank ports."""

    def __init__(self, metrics: Metrics, ready_check: ReadyCheck) -> None:
        self._metrics = metrics
        self._ready_check = ready_check
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        """The bound port (useful after start(host, 0))."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("OpsHttpServer is not started")
        return self._server.sockets[0].getsockname()[1]

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listens on host:port (0: a free port); returns the bound port."""
        self._server = await asyncio.start_server(self._serve, host, port, limit=_LINE_LIMIT)
        log.info("ops_http_listening", host=host, port=self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._clients):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            try:
                method, path = await asyncio.wait_for(_read_head(reader), _HEAD_TIMEOUT_S)
                status, ctype, body = await self._route(method, path)
            except _BadRequest as e:
                status, ctype, body, method = e.status, _TEXT, f"{e}\n".encode(), "GET"
            except asyncio.TimeoutError:
                status, ctype, body, method = 408, _TEXT, b"request head not received in time\n", "GET"
            await _respond(writer, status, ctype, body, head_only=method == "HEAD")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        finally:
            self._clients.discard(writer)
            writer.close()

    async def _route(self, method: str, path: str) -> tuple[int, str, bytes]:
        if method not in ("GET", "HEAD"):
            return 405, _TEXT, b"only GET and HEAD\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, self._metrics.render()
        if path == "/healthz":
            return 200, _TEXT, b"ok\n"
        if path == "/readyz":
            ready, reason = await self._ready()
            return (200 if ready else 503), _TEXT, f"{reason or ('ready' if ready else 'not ready')}\n".encode()
        return 404, _TEXT, b"not found\n"

    async def _ready(self) -> tuple[bool, str]:
        try:
            return await asyncio.wait_for(self._ready_check(), _READY_TIMEOUT_S)
        except asyncio.TimeoutError:
            return False, "readiness check timed out"
        except Exception as e:  # a failing check means not ready, and the probe must still get an answer
            log.warning("ready_check_failed", error=repr(e))
            return False, f"readiness check failed: {type(e).__name__}"


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str]:
    """Reads the request line and headers; returns (method, path without query)."""
    parts = (await _read_line(reader)).split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        raise _BadRequest(400, "bad request line")
    for _ in range(_MAX_HEADERS):
        if not await _read_line(reader):
            return parts[0], parts[1].split("?", 1)[0]
    raise _BadRequest(400, "too many header lines")


async def _read_line(reader: asyncio.StreamReader) -> str:
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise _BadRequest(400, "header line too long") from None
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            raise  # closed before saying anything: nobody to answer
        raise _BadRequest(400, "incomplete request head") from None
    try:
        return raw.decode("ascii").rstrip("\r\n")
    except UnicodeDecodeError:
        raise _BadRequest(400, "request head is not ASCII") from None


async def _respond(writer: asyncio.StreamWriter, status: int, ctype: str, body: bytes, head_only: bool) -> None:
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    writer.write(head.encode("ascii") + (b"" if head_only else body))
    await writer.drain()
