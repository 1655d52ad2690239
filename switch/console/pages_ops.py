"""The store-and-forward queue (with "retry now"), settlement per bank and date (files, recon), audit."""
from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from switch.ledger import reports
from switch.ledger.audit import AuditAction
from switch.ledger.calendar import date_state
from switch.ledger.users import Role
from switch.settlement.files import SettlementFileError, ctl_path, read_ctl, rcn_path
from switch.settlement.recon import KINDS, SHOWN, control_problems, reconcile_files, switch_side

from . import audit_hook
from .forms import Form
from .web import actor, console, form_of, guarded, redirect, refused, render

MAX_UPLOAD = 256 * 1024 * 1024


def _age_s(stamp: str) -> int:
    then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return max(0, int((datetime.now(timezone.utc) - then).total_seconds()))


@guarded(Role.VIEWER)
async def queue(request: Request) -> Response:
    items = await console(request).db.read(reports.pending_saf)
    rows = [{"item": item, "age_s": _age_s(item.created_at), "stan": item.message.get(11, ""),
             "rrn": item.message.get(37, "")} for item in items]
    return render(request, "queue.html", {"rows": rows})


@guarded(Role.OPERATOR)
async def retry(request: Request) -> Response:
    form = Form(form_of(request))
    saf_id = form.number("saf_id")
    if saf_id is None:
        return refused(request, 400, "which queued message? (no id)")
    name = actor(request)

    async def work(tx) -> reports.SafItem | None:
        item = await reports.saf_item(tx, saf_id)
        if item is None or not await reports.retry_now(tx, saf_id):
            return None
        await audit_hook.record(tx, actor=name, action=AuditAction.SAF_RETRY, subject=str(item.txn_id),
                                before={"next_at": item.next_at, "attempts": item.attempts},
                                after={"next_at": "now"})
        return item

    item = await console(request).db.unit(work)
    if item is None:
        return redirect(request, "/queue", f"#{saf_id} is no longer pending: the bank has answered it")
    return redirect(request, "/queue", f"{item.kind} of txn {item.txn_id} to {item.bank_id}: due now, the"
                                       " switch sends it within a second while the link is up")


def _bank_date(request: Request, form: Form) -> tuple[str, str]:
    banks = tuple(b.id for b in console(request).config.banks)
    bank = form.choice("bank", banks) if form.values.get("bank") else ""
    return bank, form.day("date")


def _files(request: Request, bank: str, day: str) -> list[dict]:
    directory = console(request).config.switch.settlement_dir
    found = []
    for kind, path in (("rcn", rcn_path(directory, bank, day)), ("ctl", ctl_path(directory, bank, day))):
        if path.is_file():
            found.append({"kind": kind, "name": path.name, "size": path.stat().st_size})
    return found


async def _settlement_page(request: Request, form: Form, recon: dict | None = None, status: int = 200) -> Response:
    bank, day = _bank_date(request, form)
    app = console(request)
    rows = await app.db.read(lambda tx: reports.settlement_rows(tx, bank, day)) if form.ok else []
    dates = await app.db.read(reports.business_dates)
    for row in rows:
        row["files"] = _files(request, row["bank_id"], row["business_date"])
    return render(request, "settlement.html", {
        "rows": rows, "dates": dates, "banks": [b.id for b in app.config.banks], "form": form.values,
        "errors": form.errors, "recon": recon, "kinds": KINDS, "shown": SHOWN}, status=status)


@guarded(Role.VIEWER)
async def settlement(request: Request) -> Response:
    form = Form(dict(request.query_params))
    return await _settlement_page(request, form, status=200 if not form.errors else 400)


@guarded(Role.VIEWER)
async def settlement_file(request: Request) -> Response:
    form = Form(dict(request.query_params))
    bank, day = _bank_date(request, form)
    kind = form.choice("kind", ("rcn", "ctl"))
    if not form.ok or not bank or not day:
        return refused(request, 400, "give a configured bank, a date and kind rcn or ctl")
    directory = console(request).config.switch.settlement_dir
    path = (rcn_path if kind == "rcn" else ctl_path)(directory, bank, day)
    if not path.is_file():
        return refused(request, 404, f"no {path.name} in the settlement directory")
    return FileResponse(path, filename=path.name, media_type="text/plain")


@guarded(Role.OPERATOR, max_part_size=MAX_UPLOAD)
async def reconcile(request: Request) -> Response:
    data = form_of(request)
    form = Form(data)
    bank, day = _bank_date(request, form)
    if not bank:
        form.fail("bank", "required")
    if not day:
        form.fail("date", "required")
    upload: Any = data.get("rcn")
    control: Any = data.get("ctl")
    if not hasattr(upload, "read") or not getattr(upload, "filename", ""):
        form.fail("rcn", "choose the bank's RCN file")
    if not form.ok:
        return await _settlement_page(request, form, status=400)
    app = console(request)
    with tempfile.TemporaryDirectory(prefix="ppob-console-recon-") as scratch:
        bank_file = Path(scratch) / "bank.RCN"
        bank_file.write_bytes(await upload.read())
        stated = None
        try:
            if hasattr(control, "read") and getattr(control, "filename", None):
                ctl_file = Path(scratch) / "bank.CTL"
                ctl_file.write_bytes(await control.read())
                stated = read_ctl(ctl_file)
            ours = Path(scratch) / "switch"
            ours.mkdir()
            switch_file = await switch_side(app.db, bank, day, ours)
            result, counted = await asyncio.to_thread(reconcile_files, switch_file, bank_file, bank, day)
        except SettlementFileError as exc:
            form.fail("rcn", str(exc))
            return await _settlement_page(request, form, status=400)
    problems = control_problems(stated, counted, bank, day) if stated is not None else []
    state = await app.db.read(lambda tx: date_state(tx, day))
    name = actor(request)
    await app.db.unit(lambda tx: audit_hook.record(
        tx, actor=name, action=AuditAction.RECON, subject=f"{bank} {day}", before=None,
        after={"file": upload.filename, "clean": result.clean and not problems,
               "differences": len(result.differences)}))
    recon = {"bank": bank, "date": day, "file": upload.filename, "result": result, "problems": problems,
             "had_ctl": stated is not None, "closed": state == "closed"}
    return await _settlement_page(request, form, recon=recon)


@guarded(Role.VIEWER)
async def audit(request: Request) -> Response:
    form = Form(dict(request.query_params))
    date_from, date_to = form.day("from"), form.day("to")
    records = []
    if form.ok:
        records = await audit_hook.between(console(request).db, date_from, date_to)
    return render(request, "audit.html", {"records": records, "form": form.values, "errors": form.errors},
                  status=200 if form.ok else 400)
