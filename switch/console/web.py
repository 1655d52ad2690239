"""What every page shares: the console's state, the guard (session, CSRF, role), rendering, flashes.

A page handler is wrapped by `guarded(role)`: no session → the login page; a POST whose CSRF token is
missing or wrong → 403 before anything else is looked at; a role below `role` → 403. Nothing a
handler raises reaches the browser as a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from itsdangerous import BadSignature, TimestampSigner
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from switch.ledger.audit import AuditSource
from switch.ledger.operations import Operator
from switch.ledger.storage import Database
from switch.ledger.users import Role, Session
from switch.config import Config
from switch.ops.text import rupiah_text

from .auth import SESSION_COOKIE, Gate, allowed, same_token

Handler = Callable[[Request], Awaitable[Response]]
FLASH_COOKIE = "ppob_flash"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
TEMPLATES.env.filters["rupiah"] = lambda minor: "" if minor is None else rupiah_text(int(minor))
TEMPLATES.env.globals["Role"] = Role


@dataclass
class Console:
    config: Config
    db: Database
    gate: Gate
    flash_signer: TimestampSigner


def console(request: Request) -> Console:
    return request.app.state.console


def session_of(request: Request) -> Session:
    return request.state.session


def form_of(request: Request) -> FormData:
    return request.state.form


def actor(request: Request) -> str:
    return session_of(request).user.name


def operator(request: Request) -> Operator:
    """The signed-in user as the ledger's operations and the audit trail name them."""
    return Operator(actor(request), AuditSource.CONSOLE)


def render(request: Request, template: str, context: dict[str, Any] | None = None,
           status: int = 200) -> Response:
    session = getattr(request.state, "session", None)
    values = {"session": session, "csrf": session.csrf_token if session else "",
              "flash": getattr(request.state, "flash", None), "path": request.url.path}
    values.update(context or {})
    response = TEMPLATES.TemplateResponse(request, template, values, status_code=status)
    if getattr(request.state, "flash", None) is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def refused(request: Request, status: int, why: str) -> Response:
    return render(request, "refused.html", {"why": why, "status": status}, status=status)


def redirect(request: Request, url: str, flash: str | None = None) -> Response:
    """See-other after a POST that changed something (so a reload does not repeat it)."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        value = console(request).flash_signer.sign(flash.encode()).decode()
        response.set_cookie(FLASH_COOKIE, value, max_age=60, path="/", httponly=True, samesite="strict",
                            secure=console(request).config.console.secure_cookie)
    return response


def _read_flash(request: Request) -> str | None:
    value = request.cookies.get(FLASH_COOKIE)
    if not value:
        return None
    try:
        return console(request).flash_signer.unsign(value, max_age=60).decode()
    except (BadSignature, UnicodeDecodeError):
        return None


def guarded(role: Role, *, max_part_size: int = 64 * 1024) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            session = await console(request).gate.session(request.cookies.get(SESSION_COOKIE))
            if session is None:
                if request.method == "GET":
                    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
                return refused(request, 401, "your session has ended: log in again")
            request.state.session = session
            if request.method == "POST":
                form = await request.form(max_files=2, max_fields=50, max_part_size=max_part_size)
                if not same_token(session.csrf_token, form.get("csrf")):
                    return refused(request, 403, "this form has no valid CSRF token: reload the page and try again")
                request.state.form = form
            if not allowed(session, role):
                return refused(request, 403, f"this needs the {role.label} role; you are {session.user.role.label}")
            request.state.flash = _read_flash(request)
            return await handler(request)
        return endpoint
    return wrap
