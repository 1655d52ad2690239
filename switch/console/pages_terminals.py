"""Terminals: register, block/unblock, rekey. A new MAC key is shown once, in the answer to the POST
that made it (never stored by the console, never cached by the browser), and never again."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from switch.ledger import accounts, operations, reports
from switch.ledger.users import Role

from .forms import Form
from .web import console, form_of, guarded, operator, redirect, refused, render


async def _page(request: Request, form: Form | None = None, status: int = 200, **extra) -> Response:
    rows = await console(request).db.read(reports.terminal_rows)
    values = form.values if form else {"agent_id": request.query_params.get("agent", "")}
    return render(request, "terminals.html", {"rows": rows, "form": values,
                                              "errors": form.errors if form else {}, **extra}, status=status)


def _key_shown(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@guarded(Role.VIEWER)
async def terminals(request: Request) -> Response:
    return await _page(request)


@guarded(Role.OPERATOR)
async def register(request: Request) -> Response:
    form = Form(form_of(request))
    terminal_id = form.ident("terminal_id", "terminal", 8)
    agent_id = form.ident("agent_id", "agent", 15)
    key = form.hex_key("key")
    if not form.ok:
        return await _page(request, form, status=400)
    db = console(request).db
    if await db.read(lambda tx: accounts.get_agent(tx, agent_id)) is None:
        form.fail("agent_id", f"no agent {agent_id}")
    elif await db.read(lambda tx: accounts.get_terminal(tx, terminal_id)) is not None:
        form.fail("terminal_id", f"terminal {terminal_id} already exists")
    if not form.ok:
        return await _page(request, form, status=400)
    try:
        made = await operations.add_terminal(db, operator(request), terminal_id, agent_id, key)
    except ValueError as exc:   # registered by someone else in the meantime
        form.fail("terminal_id", str(exc))
        return await _page(request, form, status=400)
    return _key_shown(await _page(request, new_key={"terminal_id": terminal_id, "key": made, "why": "registered"}))


async def _one(request: Request) -> tuple[str, accounts.Terminal | None]:
    terminal_id = request.path_params["terminal_id"]
    return terminal_id, await console(request).db.read(lambda tx: accounts.get_terminal(tx, terminal_id))


@guarded(Role.OPERATOR)
async def set_blocked(request: Request) -> Response:
    terminal_id, terminal = await _one(request)
    if terminal is None:
        return refused(request, 404, f"no terminal {terminal_id}")
    form = Form(form_of(request))
    wanted = form.choice("blocked", ("yes", "no"))
    if not form.ok:
        return await _page(request, form, status=400)
    blocked = wanted == "yes"
    await operations.set_terminal_blocked(console(request).db, operator(request), terminal_id, blocked)
    return redirect(request, "/terminals", f"terminal {terminal_id} {'blocked' if blocked else 'unblocked'}")


@guarded(Role.OPERATOR)
async def rekey(request: Request) -> Response:
    terminal_id, terminal = await _one(request)
    if terminal is None:
        return refused(request, 404, f"no terminal {terminal_id}")
    made = await operations.rekey_terminal(console(request).db, operator(request), terminal_id, None)
    return _key_shown(await _page(request, new_key={"terminal_id": terminal_id, "key": made, "why": "rekeyed"}))
