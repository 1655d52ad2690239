"""Agents: their deposits, holds and statements; blocking and unblocking."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from switch.ledger import accounts, money, operations, reports
from switch.ledger.users import Role
from switch.ops.logging import mask_customer
from switch.settlement.statement import build_statement

from .forms import Form
from .web import console, form_of, guarded, operator, redirect, refused, render


@guarded(Role.VIEWER)
async def agents(request: Request) -> Response:
    rows = await console(request).db.read(reports.agent_rows)
    return render(request, "agents.html", {"rows": rows})


async def _agent_page(request: Request, agent_id: str, form: Form | None = None, status: int = 200) -> Response:
    app = console(request)

    async def read(tx):
        agent = await accounts.get_agent(tx, agent_id)
        if agent is None:
            return None
        return (agent, await money.balances(tx, agent_id), await reports.holds_of(tx, agent_id),
                await accounts.list_terminals(tx, agent_id))

    found = await app.db.read(read)
    if found is None:
        return refused(request, 404, f"no agent {agent_id}")
    agent, (ledger, available), holds, terminals = found
    query = Form(dict(request.query_params))
    last_week, today = default_days(app.config.switch.timezone, datetime.now(timezone.utc))
    date_from = query.day("from") or last_week
    date_to = query.day("to") or today
    if query.ok and date_from > date_to:
        query.fail("to", "must not be before the first date")
    statement = None
    if query.ok:
        statement = await build_statement(app.db, agent_id, date_from, date_to, app.config.switch.timezone)
    return render(request, "agent.html", {
        "agent": agent, "ledger": ledger, "available": available, "holds": holds, "terminals": terminals,
        "statement": statement, "query": {"from": date_from, "to": date_to, **query.values},
        "query_errors": query.errors, "mask": mask_customer,
        "form": form.values if form else {}, "errors": form.errors if form else {}}, status=status)


def default_days(zone: str, now: datetime) -> tuple[str, str]:
    """The statement's default period: the last 7 days to today, in the switch's own days (the
    statement's bounds are local days too: after midnight in Jakarta a UTC 'today' would leave out
    every posting of the new local day)."""
    today = now.astimezone(ZoneInfo(zone)).date()
    return (today - timedelta(days=7)).isoformat(), today.isoformat()


@guarded(Role.VIEWER)
async def agent(request: Request) -> Response:
    return await _agent_page(request, request.path_params["agent_id"])


@guarded(Role.OPERATOR)
async def set_blocked(request: Request) -> Response:
    app = console(request)
    agent_id = request.path_params["agent_id"]
    form = Form(form_of(request))
    wanted = form.choice("blocked", ("yes", "no"))
    if not form.ok:
        return await _agent_page(request, agent_id, form, status=400)
    blocked = wanted == "yes"
    try:
        await operations.set_agent_blocked(app.db, operator(request), agent_id, blocked)
    except ValueError:
        return refused(request, 404, f"no agent {agent_id}")
    return redirect(request, f"/agents/{agent_id}", f"agent {agent_id} {'blocked' if blocked else 'unblocked'}")
