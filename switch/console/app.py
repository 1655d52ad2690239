"""The back-office console as an ASGI application (Starlette), and its process (`ppob-switch console`).

It opens the switch's database itself and never talks to the running switch except by reading its
/metrics and by the rows both share, so the switch's latency is untouched by anything done here.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import AsyncIterator

import structlog
from itsdangerous import TimestampSigner
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switch.ledger import keyring, users
from switch.ledger.storage import StorageError, open_database
from switch.ledger.vault import VaultError
from switch.config import Config, mask_credentials, split_address

from . import pages_agents, pages_main, pages_ops, pages_terminals, pages_topups, pages_txns
from .auth import Gate
from .web import Console, render

log = structlog.get_logger("console")

# No script at all, no framing, nothing from elsewhere: the pages are plain HTML forms.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
                                 b" frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name for name, _ in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def routes() -> list:
    r = Route
    return [
        r("/login", pages_main.login_form, methods=["GET"]),
        r("/login", pages_main.login, methods=["POST"]),
        r("/logout", pages_main.logout, methods=["POST"]),
        r("/", pages_main.dashboard, methods=["GET"]),
        r("/txns", pages_txns.search, methods=["GET"]),
        r("/txns/{txn_id}", pages_txns.detail, methods=["GET"]),
        r("/agents", pages_agents.agents, methods=["GET"]),
        r("/agents/{agent_id}", pages_agents.agent, methods=["GET"]),
        r("/agents/{agent_id}/blocked", pages_agents.set_blocked, methods=["POST"]),
        r("/topups", pages_topups.topups, methods=["GET"]),
        r("/topups", pages_topups.enter, methods=["POST"]),
        r("/topups/approve", pages_topups.approve, methods=["POST"]),
        r("/topups/reject", pages_topups.reject, methods=["POST"]),
        r("/terminals", pages_terminals.terminals, methods=["GET"]),
        r("/terminals", pages_terminals.register, methods=["POST"]),
        r("/terminals/{terminal_id}/blocked", pages_terminals.set_blocked, methods=["POST"]),
        r("/terminals/{terminal_id}/rekey", pages_terminals.rekey, methods=["POST"]),
        r("/queue", pages_ops.queue, methods=["GET"]),
        r("/queue/retry", pages_ops.retry, methods=["POST"]),
        r("/settlement", pages_ops.settlement, methods=["GET"]),
        r("/settlement/file", pages_ops.settlement_file, methods=["GET"]),
        r("/settlement/recon", pages_ops.reconcile, methods=["POST"]),
        r("/audit", pages_ops.audit, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(Path(__file__).with_name("static"))), name="static"),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    why = {404: "no such page", 405: "that is not allowed here"}.get(status, "something went wrong")
    return render(request, "refused.html", {"status": status, "why": why}, status=status)


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("console_error", path=request.url.path)
    return render(request, "refused.html", {"status": 500, "why": "something went wrong; the console's log"
                                            " has the details"}, status=500)


def build_app(config: Config) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = await _open(config)
        try:
            session_secret = await db.unit(lambda tx: users.secret(tx, "console_session"))
            flash_secret = await db.unit(lambda tx: users.secret(tx, "console_flash"))
            app.state.console = Console(config, db, Gate(db, config.console, session_secret),
                                        TimestampSigner(flash_secret, salt="ppob-console-flash"))
            yield
        finally:
            await db.close()

    return Starlette(routes=routes(), lifespan=lifespan, middleware=[Middleware(SecurityHeaders)],
                     exception_handlers={HTTPException: _http_error, Exception: _crash})


async def _open(config: Config):
    """The switch's database with its key ring (terminal keys are sealed under the master key)."""
    db = open_database(config.switch.database)
    await db.open()
    try:
        keyring.configure(db, config.switch.master_key_file)
        await keyring.start(db)   # a missing or wrong master key file: VaultError, one line
    except BaseException:
        await db.close()
        raise
    return db


async def _can_open(config: Config) -> str:
    """'' when the database opens (and has its schema) and its master key fits, else the one line
    saying why not."""
    try:
        db = await _open(config)
    except (StorageError, OSError) as exc:
        return mask_credentials(f"database {config.switch.database}: {exc}")
    except VaultError as exc:
        return str(exc)
    await db.close()
    return ""


def run_console(config: Config) -> int:
    """`ppob-switch console`: serves until SIGTERM/SIGINT."""
    import asyncio
    import uvicorn
    from switch.ops.logging import configure_logging
    configure_logging()
    problem = asyncio.run(_can_open(config))
    if problem:
        print(f"ppob-switch: console cannot start: {problem}", file=sys.stderr)
        return 1
    host, port = split_address(config.console.listen)
    settings = config.console
    server = uvicorn.Server(uvicorn.Config(
        build_app(config), host=host, port=port, log_level="warning", access_log=False, server_header=False,
        ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key, lifespan="on", proxy_headers=False))
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind; it has logged the reason
        print(f"ppob-switch: console cannot listen on {config.console.listen}", file=sys.stderr)
        return 1
    except (OSError, StorageError) as exc:
        print(f"ppob-switch: console cannot start: {exc}", file=sys.stderr)
        return 1
    if not server.started:
        print(f"ppob-switch: console cannot start on {config.console.listen}", file=sys.stderr)
        return 1
    print("console stopped", file=sys.stderr)
    return 0
