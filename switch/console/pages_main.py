"""Login, logout and the dashboard."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from switch.ledger import calendar, gauges, reports
from switch.ledger.audit import AuditAction
from switch.ledger.users import Role

from . import audit_hook
from .auth import LOGIN_COOKIE, SESSION_COOKIE, LoginOutcome, same_token
from .forms import Form
from .scrape import scrape
from .web import console, guarded, render, session_of

UNKNOWN_USER = "(no such user)"


def _safe_next(target: str | None) -> str:
    """Only a path of this console (never another site) to go to after logging in."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


def _login_page(request: Request, form: Form | None = None, error: str = "", status: int = 200) -> Response:
    token, cookie = console(request).gate.new_login_token()
    values = form.values if form else {"next": request.query_params.get("next", "/")}
    response = render(request, "login.html", {"login_csrf": token, "form": values,
                                              "errors": form.errors if form else {}, "error": error},
                      status=status)
    response.set_cookie(LOGIN_COOKIE, cookie, max_age=3600, path="/login", httponly=True, samesite="strict",
                        secure=console(request).config.console.secure_cookie)
    return response


async def login_form(request: Request) -> Response:
    return _login_page(request)


async def login(request: Request) -> Response:
    app = console(request)
    data = await request.form(max_files=0, max_fields=10, max_part_size=4096)
    expected = app.gate.login_token(request.cookies.get(LOGIN_COOKIE))
    if not same_token(expected, data.get("csrf")):
        return render(request, "refused.html", {"status": 403, "why": "this form has no valid CSRF token:"
                                                " reload the login page and try again"}, status=403)
    form = Form(data)
    name = form.text("name", max_len=32)
    password = str(data.get("password") or "")
    if not password:
        form.fail("password", "required")
    if not form.ok:
        return _login_page(request, form, status=400)
    result = await app.gate.login(name, password)
    if result.outcome is not LoginOutcome.OK:
        # a name that is no user's is not written down: it may be a password typed in the wrong field
        who = name if result.known_user else UNKNOWN_USER
        await app.db.unit(lambda tx: audit_hook.record(
            tx, actor=who, action=AuditAction.LOGIN_REFUSED, subject=who, before=None,
            after={"outcome": result.outcome.value, "locked_until": result.locked_until}))
        why = "wrong name or password" if result.outcome is LoginOutcome.WRONG else (
            f"too many wrong passwords: this user is locked until {result.locked_until} (UTC)")
        return _login_page(request, form, error=why, status=401 if result.outcome is LoginOutcome.WRONG else 423)
    await app.db.unit(lambda tx: audit_hook.record(tx, actor=name, action=AuditAction.LOGIN, subject=name,
                                                   before=None, after=None))
    response = RedirectResponse(_safe_next(form.values.get("next")), status_code=303)
    response.set_cookie(SESSION_COOKIE, app.gate.cookie_value(result.session_id),
                        max_age=int(app.config.console.session_max_s), path="/", httponly=True,
                        samesite="strict", secure=app.config.console.secure_cookie)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@guarded(Role.VIEWER)
async def logout(request: Request) -> Response:
    app = console(request)
    name = session_of(request).user.name
    await app.gate.logout(request.cookies.get(SESSION_COOKIE))
    await app.db.unit(lambda tx: audit_hook.record(tx, actor=name, action=AuditAction.LOGOUT, subject=name,
                                                   before=None, after=None))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@guarded(Role.VIEWER)
async def dashboard(request: Request) -> Response:
    app = console(request)

    async def read(tx):
        today = await calendar.open_date(tx)
        totals = await reports.day_totals(tx, today) if today else []
        kinds = await reports.kind_counts(tx, today) if today else {}
        queue = await reports.pending_saf(tx)
        holds = await gauges.outstanding_holds(tx)
        waiting = await reports.topups_waiting(tx)
        return today, totals, kinds, queue, holds, waiting

    today, totals, kinds, queue, holds, waiting = await app.db.read(read)
    metrics = await scrape(app.config.metrics.listen)
    banks = [b.id for b in app.config.banks]
    links = {bank: metrics.by("ppob_bank_link_up", "bank").get(bank) for bank in banks}
    connections = metrics.by("ppob_bank_links_connected", "bank")
    queue_depth: dict[tuple[str, str], int] = {}
    for item in queue:
        queue_depth[(item.bank_id, item.kind)] = queue_depth.get((item.bank_id, item.kind), 0) + 1
    requests: dict[Any, Any] = {}
    for sample in metrics.get("ppob_requests_total"):
        if sample.labels.get("interface") == "terminal":
            key = (sample.labels.get("mti", ""), sample.labels.get("product", ""), sample.labels.get("bank", ""),
                   sample.labels.get("rc", ""))
            requests[key] = requests.get(key, 0) + int(sample.value)
    return render(request, "dashboard.html", {
        "today": today, "totals": totals, "waiting": waiting, "kinds": kinds, "links": links, "connections": connections,
        "queue_depth": sorted(queue_depth.items()), "holds": holds, "metrics": metrics,
        "metric_saf": metrics.get("ppob_saf_pending"), "requests": sorted(requests.items()),
        "terminals_connected": metrics.total("ppob_terminals_connected"),
        "total_count": sum(t.requests for t in totals), "total_approved": sum(t.approved for t in totals),
        "total_amount": sum(t.approved_amount for t in totals)})
