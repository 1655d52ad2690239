"""Transaction search and one transaction's trail and receipt."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from switch.ledger import reports
from switch.ledger.users import Role
from switch.ops.logging import mask_customer

from .forms import Form
from .trail import receipt_lines, trail_views
from .web import console, guarded, refused, render

SEARCH_FIELDS = ("rrn", "stan", "terminal_id", "customer", "agent_id", "date_from", "date_to", "rc")


def search_criteria(form: Form) -> reports.TxnSearch:
    criteria = reports.TxnSearch(
        rrn=form.text("rrn", required=False, max_len=12),
        stan=form.digits("stan", (6,)),
        terminal_id=form.ident("terminal_id", "terminal", 8, required=False),
        customer=form.digits("customer", (11, 12, 13)),
        agent_id=form.ident("agent_id", "agent", 15, required=False),
        date_from=form.day("date_from"),
        date_to=form.day("date_to"),
        rc=form.text("rc", required=False, max_len=2))
    if criteria.rc and (len(criteria.rc) != 2 or not criteria.rc.isalnum()):
        form.fail("rc", "two characters, e.g. 00 or 51")
    if criteria.stan and not criteria.terminal_id:
        form.fail("terminal_id", "a STAN is only unique with its terminal: give the terminal too")
    if criteria.date_from and criteria.date_to and criteria.date_from > criteria.date_to:
        form.fail("date_to", "must not be before the first date")
    return criteria


@guarded(Role.VIEWER)
async def search(request: Request) -> Response:
    form = Form({k: v for k, v in request.query_params.items() if k in SEARCH_FIELDS})
    criteria = search_criteria(form)
    rows, searched = [], bool(form.values) and any(form.values.values())
    if form.ok and searched:
        rows = await console(request).db.read(lambda tx: reports.search_txns(tx, criteria))
    return render(request, "txns.html", {
        "form": form.values, "errors": form.errors, "rows": rows, "searched": searched and form.ok,
        "limit": reports.SEARCH_LIMIT, "mask": mask_customer}, status=200 if form.ok else 400)


@guarded(Role.VIEWER)
async def detail(request: Request) -> Response:
    raw = request.path_params["txn_id"]
    if not raw.isdigit() or len(raw) > 18:
        return refused(request, 404, "no such transaction")
    trail = await console(request).db.read(lambda tx: reports.trail(tx, int(raw)))
    if trail is None:
        return refused(request, 404, f"no transaction {raw}")
    return render(request, "txn.html", {"txn": trail.txn, "trail": trail, "views": trail_views(trail),
                                        "receipt": receipt_lines(trail.txn), "mask": mask_customer})
