"""Top-ups under four eyes: entered by one operator, approved (or rejected) by another."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from switch.ledger import topup_requests
from switch.ledger.topup_requests import TopupRefused
from switch.ledger.users import Role

from .forms import Form
from .web import console, form_of, guarded, operator, redirect, render


async def _page(request: Request, form: Form | None = None, error: str = "", status: int = 200) -> Response:
    rows = await console(request).db.read(topup_requests.recent)
    values = form.values if form else {"agent_id": request.query_params.get("agent", "")}
    return render(request, "topups.html", {"rows": rows, "form": values, "errors": form.errors if form else {},
                                           "error": error}, status=status)


@guarded(Role.VIEWER)
async def topups(request: Request) -> Response:
    return await _page(request)


@guarded(Role.OPERATOR)
async def enter(request: Request) -> Response:
    form = Form(form_of(request))
    agent_id = form.ident("agent_id", "agent", 15)
    amount = form.rupiah("amount")
    bank_ref = form.ident("bank_ref", "bank reference", 32)
    if not form.ok or amount is None:
        return await _page(request, form, status=400)
    who = operator(request)
    try:
        request_id = await console(request).db.unit(
            lambda tx: topup_requests.enter(tx, agent_id, amount, bank_ref, who))
    except TopupRefused as exc:
        form.fail(exc.field or "bank_ref", str(exc))
        return await _page(request, form, status=400)
    return redirect(request, "/topups", f"top-up #{request_id} entered: another operator must approve it")


async def _decide(request: Request, approve: bool) -> Response:
    form = Form(form_of(request))
    request_id = form.number("request_id")
    if request_id is None:
        return await _page(request, error="which top-up? (no request id)", status=400)
    who = operator(request)
    decide = topup_requests.approve if approve else topup_requests.reject
    try:
        decided = await console(request).db.unit(lambda tx: decide(tx, request_id, who))
    except TopupRefused as exc:
        return await _page(request, error=str(exc), status=409)
    verb = "approved: the deposit is credited" if approve else "rejected: nothing moved"
    return redirect(request, "/topups", f"top-up #{request_id} of agent {decided.agent_id} {verb}")


@guarded(Role.OPERATOR)
async def approve(request: Request) -> Response:
    return await _decide(request, True)


@guarded(Role.OPERATOR)
async def reject(request: Request) -> Response:
    return await _decide(request, False)
