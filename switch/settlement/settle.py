"""Settling a closed business date with each bank (contract §8.6).

Per bank, one pass over the day's payments (in RRN order, page by page so the event loop keeps
serving terminals) writes the switch's RCN/CTL files and gives the 0500 totals, so file and totals
always agree. Gross totals: 74/86 every payment the bank approved (reversed ones too), 76/88 the
reversals it answered 00; 97 = 86 - 88. Then the 0500 goes out, the 0510 decides the state
(00 settled, 95 disputed, silence unsent), the day's agent commissions and the switch's admin-fee
income are posted (each at most once) and the settlements row is stored. Running it again sends the same totals and posts nothing
twice: files are rewritten byte for byte from stored data.
"""
from __future__ import annotations

import asyncio
import json
import sys
from array import array
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date as Date
from json.decoder import scanstring
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterable, NamedTuple

import structlog

from switch.ledger import money
from switch.ledger.calendar import date_state
from switch.ledger.states import BANK_APPROVED, BANK_REVERSED, PENDING, STANDING
from switch.ledger.storage import Database, Tx
from switch.ledger.txns import now_iso
from switch.links.bank_link import BankTimeout, LinkDown, transmission_time
from switch.admin import AdminError
from switch.ops.text import rupiah_text
from switch.services import Services
from switch.wire import CodecError, Message
from switch.wire.field48 import (NONTAGLIS, NONTAGLIS_LEN, POSTPAID, POSTPAID_BILL_LEN, POSTPAID_HEAD_LEN,
                                 PREPAID, PREPAID_LEN, PREPAID_SALE_LEN, REF_LEN, NontaglisInfo, PostpaidInfo,
                                 PrepaidInfo, parse_response)

from .files import PAID, REVERSED, Control, RcnLine, RcnWriter, net_field, utc_seconds

log = structlog.get_logger("settlement")

# Payment states (txns.kind = 'payment') and what they mean for the totals.
PAGE = 1000  # rows per read: ~35 ms of work between two turns of the event loop
PROGRESS_FROM = 20_000  # payments in a day before a progress bar is worth drawing

SETTLED, DISPUTED, UNSENT, REFUSED = "settled", "disputed", "unsent", "refused"


# ---- the day's payments as settlement lines ------------------------------------------------------

class Details(NamedTuple):  # a NamedTuple: built once per payment, a million times a day
    periods: str = ""
    admin_fee: int = 0   # minor units
    bank_ref: str = ""
    bills: int = 1


def product_details(field48: str | None) -> Details:
    """Periods, admin fee, biller reference and bill count from a payment's field 48. Read straight
    from the fixed positions of §5 (a million lines a day: the full validating parse costs ~100 µs
    each); anything that does not look right goes through the validating parser instead."""
    if not field48:
        return Details()
    return _quick_details(field48) or _parsed_details(field48)


def _quick_details(s: str) -> Details | None:
    product = s[:6]
    if product == POSTPAID:
        count = s[POSTPAID_HEAD_LEN - 11:POSTPAID_HEAD_LEN - 10]
        admin = s[POSTPAID_HEAD_LEN - 8:POSTPAID_HEAD_LEN]
        if not (count in ("1", "2", "3", "4") and admin.isdigit()):
            return None
        bills = int(count)
        end = POSTPAID_HEAD_LEN + POSTPAID_BILL_LEN * bills
        if len(s) not in (end, end + REF_LEN):
            return None
        periods = ",".join([s[at:at + 6] for at in range(POSTPAID_HEAD_LEN, end, POSTPAID_BILL_LEN)])
        if not periods.replace(",", "").isdigit():
            return None
        return Details(periods, int(admin) * bills * 100, s[end:end + REF_LEN].rstrip(), bills)
    fixed = {PREPAID: PREPAID_LEN, NONTAGLIS: NONTAGLIS_LEN}.get(product)
    if fixed is None:
        return None
    admin = s[fixed - 8:fixed]
    tail = {PREPAID: PREPAID_SALE_LEN, NONTAGLIS: REF_LEN}[product]
    if not admin.isdigit() or len(s) not in (fixed, fixed + tail):
        return None
    return Details("", int(admin) * 100, s[fixed:fixed + REF_LEN].rstrip())


def _parsed_details(field48: str) -> Details:
    try:
        info = parse_response(field48)
    except CodecError:
        return Details()
    if isinstance(info, PostpaidInfo):
        periods = ",".join(bill.period for bill in info.bills)
        return Details(periods, info.admin_fee * len(info.bills) * 100, info.biller_ref or "",
                       len(info.bills))
    if isinstance(info, PrepaidInfo):
        return Details("", info.admin_fee * 100, info.sale.biller_ref if info.sale else "")
    if isinstance(info, NontaglisInfo):
        return Details("", info.admin_fee * 100, info.biller_ref or "")
    return Details()


def field48_of(answer: str | None) -> str | None:
    """Field 48 of a stored answer (the JSON of txns.fields_json) without decoding all of it: keys
    are top-level and quotes inside values are escaped, so `"48"` followed by a colon is the key."""
    if not answer:
        return None
    at = answer.find('"48"')
    if at < 0:
        return None
    colon = answer.find(":", at + 4)
    start = answer.find('"', colon + 1)
    if colon < 0 or start < 0 or answer[at + 4:colon].strip() or answer[colon + 1:start].strip():
        return json.loads(answer).get("48")
    return scanstring(answer, start + 1)[0]


class Payment(NamedTuple):
    line: RcnLine
    state: str
    agent_id: str
    product: str
    bills: int


def to_payment(row: Any) -> Payment:
    """A row of _ROWS_SQL (read by position: a million rows a day) as a settlement line."""
    _, rrn, bank_stan, terminal_id, agent_id, product, customer, amount, state, answer, created, updated = row
    details = product_details(field48_of(answer))
    agent = (agent_id or "").strip()
    line = RcnLine(rrn or "", bank_stan or "", (terminal_id or "").strip(), agent, product or "", customer or "",
                   details.periods, int(amount or 0), details.admin_fee, details.bank_ref,
                   REVERSED if state in BANK_REVERSED else PAID, utc_seconds(created or ""),
                   utc_seconds(updated or ""))
    return Payment(line, state, agent, line.product, details.bills)


_KEYS_SQL = ("SELECT txn_id, rrn FROM txns WHERE kind = 'payment' AND bank_id = ? AND business_date = ?"
             " AND state = ? AND txn_id > ? ORDER BY txn_id LIMIT ?")
# the bank's answer (its 0210, or the 0230 of an advice) holds field 48; else what the terminal got
_ROWS_SQL = ("SELECT txn_id, rrn, bank_stan, terminal_id, agent_id, product, customer, amount, state,"
             " {answer}, created_at, updated_at FROM txns WHERE txn_id IN ({marks})")
ANSWER = "COALESCE(bank_response, response)"
KEY_PAGE = 5000


async def credit_keys(db: Database, bank_id: str, business_date: str) -> array:
    """The txn ids of every payment the bank approved that date, in RRN order. Read per state in
    txn id order, which walks the (bank, date, state) index without sorting; short reads. Kept as
    an array, which the garbage collector never walks (a list of a million tuples it would, again
    and again, while the day's lines are built)."""
    keys: list[tuple[str, int]] = []
    for state in BANK_APPROVED:
        after = 0
        while True:
            rows = await db.read(lambda tx: tx.fetchall(_KEYS_SQL, bank_id, business_date, state, after,
                                                        KEY_PAGE))
            keys.extend((row[1] or "", int(row[0])) for row in rows)
            if len(rows) < KEY_PAGE:
                break
            after = rows[-1][0]
            await asyncio.sleep(0)  # a SQLite read never suspends: give terminals their turn
    keys.sort()
    return array("q", [txn_id for _, txn_id in keys])


async def day_payments(db: Database, bank_id: str, business_date: str, page: int = PAGE,
                       on_total: Callable[[int], None] | None = None,
                       lean: bool = False) -> AsyncIterator[list[Payment]]:
    """The payments the bank approved on that business date, sorted by RRN, a page at a time (each
    page is a short read by primary key: the switch keeps serving while a big day is settled).
    `lean` leaves out what only field 48 gives (periods, admin fee, biller reference, bills): a
    comparison by RRN, amount and status does not need it, and it is most of the cost."""
    keys = await credit_keys(db, bank_id, business_date)
    if on_total is not None:
        on_total(len(keys))
    for start in range(0, len(keys), page):
        ids = keys[start:start + page].tolist()
        sql = _ROWS_SQL.format(answer="NULL" if lean else ANSWER, marks=",".join("?" * len(ids)))
        rows = await db.read(lambda tx: tx.fetchall(sql, *ids))
        by_id = {int(row[0]): row for row in rows}
        # a row may have moved on since its key was read (e.g. its reversal answered 25: void)
        yield [to_payment(by_id[i]) for i in ids if i in by_id and by_id[i][8] in BANK_APPROVED]
        await asyncio.sleep(0)  # a SQLite read never suspends: give terminals their turn


async def unfinished(db: Database, bank_id: str, business_date: str) -> dict[str, int]:
    """Payments of the date whose outcome is not final yet, by state (one short count per state)."""
    counts = {}
    for state in PENDING:
        n = await db.read(lambda tx: tx.fetchval(
            "SELECT COUNT(*) FROM txns WHERE kind = 'payment' AND bank_id = ? AND business_date = ? AND state = ?",
            bank_id, business_date, state))
        if n:
            counts[state] = int(n)
    return counts


# ---- totals, files and commissions in one pass ---------------------------------------------------

@dataclass
class Day:
    bank_id: str
    business_date: str
    control: Control
    commissions: dict[str, int] = field(default_factory=dict)   # agent -> minor units
    commission_counts: dict[str, int] = field(default_factory=dict)
    fee_income: int = 0   # admin fees of the payments that stand, minor units
    files: list[str] = field(default_factory=list)


def commission_of(payment: Payment, shares: dict[str, int]) -> int:
    """The agent's share: per bill for postpaid, per purchase otherwise."""
    share = shares.get(payment.product, 0)
    return share * max(payment.bills, 1) if payment.product == POSTPAID else share


def add_commissions(day: Day, payments: Iterable[Payment], shares: dict[str, int]) -> None:
    for payment in payments:
        if payment.state != STANDING:
            continue
        day.fee_income += payment.line.admin_fee
        amount = commission_of(payment, shares)
        if amount > 0:
            day.commissions[payment.agent_id] = day.commissions.get(payment.agent_id, 0) + amount
            day.commission_counts[payment.agent_id] = day.commission_counts.get(payment.agent_id, 0) + 1


async def build_day(db: Database, bank_id: str, business_date: str, directory: str | Path,
                    shares: dict[str, int], progress: "ProgressBar | None" = None, page: int = PAGE,
                    lean: bool = False) -> Day:
    """Writes the bank's RCN/CTL for the date and returns the 0500 totals and the commissions due
    (`lean`: lines without the field-48 details, for a comparison only)."""
    writer = RcnWriter(directory, bank_id, business_date).open()
    day = Day(bank_id, business_date, writer.control)
    try:
        grow = progress.grow if progress is not None else None
        async for payments in day_payments(db, bank_id, business_date, page, grow, lean):
            writer.write(p.line for p in payments)
            add_commissions(day, payments, shares)
            if progress is not None:
                progress.advance(len(payments))
    except BaseException:
        writer.abort()
        raise
    await asyncio.to_thread(writer.finish)  # the fsync of a big file need not stall the switch
    day.files = [str(writer.path), str(writer.ctl)]
    return day


def shares_of(config: Any) -> dict[str, int]:
    return {product.code: product.agent_share for product in config.products}


# ---- the 0500 -------------------------------------------------------------------------------------

def totals_message(control: Control, stan: str, institution_id: str, f7: str) -> Message:
    day = control.business_date
    return Message("0500", {
        7: f7, 11: stan, 15: day[5:7] + day[8:10], 32: institution_id,
        74: f"{control.paid_count:010d}", 76: f"{control.reversed_count:010d}",
        86: f"{control.paid_amount:016d}", 88: f"{control.reversed_amount:016d}",
        97: net_field(control.paid_amount, control.reversed_amount)})


def outcome_of(rc: str | None) -> str:
    if rc is None:
        return UNSENT
    return {"00": SETTLED, "95": DISPUTED}.get(rc, REFUSED)


async def send_totals(svc: Services, bank_id: str, control: Control) -> str | None:
    """Sends the 0500; the 0510's field 39, or None when it could not be sent or was not answered."""
    link = svc.router.bank(bank_id)
    if link is None or not link.is_up:
        return None
    stan = await svc.stans.next(bank_id)
    message = totals_message(control, stan, svc.config.switch.institution_id, transmission_time())
    try:
        answer = await link.request(message, link.cfg.timeout_s)
    except (LinkDown, BankTimeout) as exc:
        log.warning("settlement_unanswered", bank=bank_id, date=control.business_date, error=str(exc))
        return None
    return answer.get(39, "")


# ---- commissions ----------------------------------------------------------------------------------

def commission_ref(business_date: str, bank_id: str, agent_id: str) -> str:
    return f"{business_date}:{bank_id}:{agent_id}"


async def posted_commission(tx: Tx, business_date: str, bank_id: str, agent_id: str) -> tuple[int, int]:
    """(amount already posted to the agent for this date and bank, number of entries)."""
    base = commission_ref(business_date, bank_id, agent_id)
    rows = await tx.fetchall(
        "SELECT e.ref, p.amount FROM entries e JOIN postings p ON p.entry_id = e.entry_id"
        " WHERE e.kind = 'commission' AND e.agent_id = ? AND e.business_date = ? AND p.account_id = ?",
        agent_id, business_date, money.agent_account(agent_id))
    ours = [int(row["amount"]) for row in rows if row["ref"] == base or row["ref"].startswith(base + "#")]
    return sum(ours), len(ours)


async def post_agent_commission(tx: Tx, business_date: str, bank_id: str, agent_id: str, due: int) -> int:
    """Posts what is due and not yet posted; a payment that came to stand after an earlier run adds
    an entry `<ref>#<n>`. Returns the amount posted now (negative: more was posted than is due now,
    which money cannot take back here; it is reported)."""
    posted, entries = await posted_commission(tx, business_date, bank_id, agent_id)
    missing = due - posted
    if missing <= 0:
        return missing
    base = commission_ref(business_date, bank_id, agent_id)
    ref = base if entries == 0 else f"{base}#{entries + 1}"
    if not await money.post_commission(tx, agent_id, missing, ref, business_date):
        return 0  # another node posted this very step first
    return missing


async def post_day_fee_income(tx: Tx, day: Day) -> int:
    """The switch's admin-fee income of the day and bank, posted once in total: a payment that came
    to stand after an earlier run adds an entry `<ref>#<n>`. Returns the amount posted now."""
    base = f"{day.business_date}:{day.bank_id}"
    rows = await tx.fetchall(
        "SELECT e.ref, p.amount FROM entries e JOIN postings p ON p.entry_id = e.entry_id"
        " WHERE e.kind = 'fee_income' AND e.business_date = ? AND p.account_id = ?",
        day.business_date, money.FEE_INCOME)
    ours = [int(row["amount"]) for row in rows if row["ref"] == base or row["ref"].startswith(base + "#")]
    missing = day.fee_income - sum(ours)
    if missing <= 0:
        return 0
    ref = base if not ours else f"{base}#{len(ours) + 1}"
    return missing if await money.post_fee_income(tx, day.bank_id, missing, ref, day.business_date) else 0


async def paid_agents(db: Database, business_date: str, bank_id: str) -> set[str]:
    prefix = commission_ref(business_date, bank_id, "")
    rows = await db.read(lambda tx: tx.fetchall(
        "SELECT agent_id, ref FROM entries WHERE business_date = ? AND kind = 'commission'", business_date))
    return {row["agent_id"] for row in rows if row["ref"].startswith(prefix)}


COMMISSION_BATCH = 100  # agents per unit: one commit serves many


async def post_commissions(db: Database, day: Day) -> dict[str, Any]:
    """Posts each agent's commission for the day and bank, at most once in total (agents paid on an
    earlier run are looked at too: what they got may now be more than is due)."""
    agents = sorted(set(day.commissions) | await paid_agents(db, day.business_date, day.bank_id))
    posted, over, unknown = 0, {}, []

    async def batch(tx: Tx, chunk: list[str]) -> list[tuple[str, int | None]]:
        done = []
        for agent_id in chunk:
            if await tx.fetchval("SELECT 1 FROM agents WHERE agent_id = ?", agent_id) is None:
                done.append((agent_id, None))
                continue
            due = day.commissions.get(agent_id, 0)
            done.append((agent_id, await post_agent_commission(tx, day.business_date, day.bank_id, agent_id, due)))
        return done

    for start in range(0, len(agents), COMMISSION_BATCH):
        chunk = agents[start:start + COMMISSION_BATCH]
        for agent_id, now in await db.unit(lambda tx: batch(tx, chunk)):
            if now is None:
                unknown.append(agent_id)
            elif now > 0:
                posted += now
            elif now < 0:
                over[agent_id] = -now
    if unknown:
        log.error("commission_for_unknown_agents", agents=unknown[:20], date=day.business_date)
    if over:
        log.warning("commission_over_paid", bank=day.bank_id, date=day.business_date, agents=over)
    return {"due": sum(day.commissions.values()), "posted_now": posted, "agents": len(day.commissions),
            "over_paid": over}


# ---- the settlements row --------------------------------------------------------------------------

async def store_settlement(tx: Tx, day: Day, rc: str | None, state: str) -> str:
    """Stores the outcome; an unanswered re-run does not undo an agreement on the same totals.
    Returns the state recorded."""
    c = day.control
    previous = await tx.fetchone("SELECT * FROM settlements WHERE business_date = ? AND bank_id = ?",
                                 day.business_date, day.bank_id)
    same = previous is not None and (previous["credits_count"], previous["credits_amount"],
                                     previous["debits_count"], previous["debits_amount"]) == c.totals()
    if state == UNSENT and same and previous["state"] in (SETTLED, DISPUTED):
        return previous["state"]
    now = now_iso()
    await tx.execute(
        "INSERT INTO settlements (business_date, bank_id, credits_count, credits_amount, debits_count,"
        " debits_amount, net, rc, state, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (business_date, bank_id) DO UPDATE SET credits_count = excluded.credits_count,"
        " credits_amount = excluded.credits_amount, debits_count = excluded.debits_count,"
        " debits_amount = excluded.debits_amount, net = excluded.net, rc = excluded.rc,"
        " state = excluded.state, updated_at = excluded.updated_at",
        day.business_date, day.bank_id, c.paid_count, c.paid_amount, c.reversed_count, c.reversed_amount,
        c.net, rc, state, now, now)
    return state


# ---- the command ----------------------------------------------------------------------------------

def _valid_date(text: Any) -> str:
    try:
        return Date.fromisoformat(str(text)).isoformat()
    except ValueError:
        raise AdminError(f"settle: {text!r} is not a date YYYY-MM-DD") from None


async def check_closed(db: Database, business_date: str) -> None:
    state = await db.read(lambda tx: date_state(tx, business_date))
    if state is None:
        raise AdminError(f"settle: business date {business_date} is unknown (the switch never opened it)")
    if state != "closed":
        raise AdminError(f"settle: business date {business_date} is still open")


def banks_to_settle(svc: Services, bank: str | None) -> list[str]:
    configured = [b.id for b in svc.config.banks]
    if bank is None:
        return configured
    if bank not in configured:
        raise AdminError(f"settle: unknown bank {bank} (configured: {', '.join(configured)})")
    return [bank]


async def settle_bank(svc: Services, bank_id: str, business_date: str,
                      progress: "ProgressBar | None" = None) -> dict[str, Any]:
    day = await build_day(svc.db, bank_id, business_date, svc.config.switch.settlement_dir,
                          shares_of(svc.config), progress)
    rc = await send_totals(svc, bank_id, day.control)
    state = outcome_of(rc)
    commissions = await post_commissions(svc.db, day)
    commissions["fee_income_posted_now"] = await svc.db.unit(lambda tx: post_day_fee_income(tx, day))
    recorded = await svc.db.unit(lambda tx: store_settlement(tx, day, rc, state))
    svc.metrics.set_settlement_state(bank_id, recorded)
    c = day.control
    pending = await unfinished(svc.db, bank_id, business_date)
    log.info("settlement", bank=bank_id, date=business_date, credits=c.paid_count,
             credits_amount_minor=c.paid_amount, debits=c.reversed_count, debits_amount_minor=c.reversed_amount,
             net=c.net, rc=rc, state=state,
             recorded=recorded, pending=pending, commissions=commissions["posted_now"])
    return {"bank": bank_id, "date": business_date, "credits_count": c.paid_count,
            "credits_amount": c.paid_amount, "debits_count": c.reversed_count,
            "debits_amount": c.reversed_amount, "net": c.net, "rc": rc, "state": state, "recorded": recorded,
            "pending": pending, "commissions": commissions, "files": day.files}


async def settle_command(svc: Services, args: dict) -> dict:
    """`ppob-switch settle --date D [--bank B]`, run inside the switch. AdminError (one line) for an
    open or unknown date or an unknown bank."""
    business_date = _valid_date(args.get("date"))
    await check_closed(svc.db, business_date)
    banks = banks_to_settle(svc, args.get("bank"))
    results = []
    with progress_bar(f"settling {business_date}") as bar:
        for bank_id in banks:
            results.append(await settle_bank(svc, bank_id, business_date, bar))
    return {"date": business_date, "banks": results,
            "settled": all(r["state"] == SETTLED for r in results)}


class ProgressBar:
    """A rich progress bar on stderr, drawn only when someone watches a long run (or when forced);
    the total may grow as the work is discovered (bank after bank)."""

    def __init__(self, description: str, *, force: bool = False, threshold: int = PROGRESS_FROM) -> None:
        self.description, self.force, self.threshold = description, force, threshold
        self.total = self.done = 0
        self._bar = None

    def grow(self, count: int) -> None:
        self.total += count
        if self._bar is None and (self.force or (self.total >= self.threshold and sys.stderr.isatty())):
            self._start()
        if self._bar is not None:
            self._bar.update(self._task, total=self.total)

    def advance(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                             transient=not self.force)
        self._task = self._bar.add_task(self.description, total=self.total, completed=self.done)
        self._bar.start()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def progress_bar(description: str, total: int | None = None, *, force: bool = False):
    bar = ProgressBar(description, force=force)
    if total:
        bar.grow(total)
    try:
        yield bar
    finally:
        bar.close()


# ---- printing (the CLI) ---------------------------------------------------------------------------

def wide_console(stderr: bool = False):
    """A rich console; when output goes to a file or pipe, wide enough that RRNs never wrap."""
    from rich.console import Console
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr) if stream.isatty() else Console(stderr=stderr, width=160)


def print_settlement(result: dict) -> int:
    """Prints the outcome of `settle` as a table; 0 when every bank settled, 1 otherwise."""
    from rich.table import Table
    table = Table(title=f"Settlement {result['date']}")
    for name, justify in (("bank", "left"), ("credits", "right"), ("credits amount", "right"),
                          ("debits", "right"), ("debits amount", "right"), ("net", "right"),
                          ("rc", "center"), ("state", "left"), ("files", "left")):
        table.add_column(name, justify=justify)
    for r in result["banks"]:
        net = int(r["net"][1:]) * (1 if r["net"][0] == "C" else -1)
        state = r["state"] if r["state"] == r.get("recorded", r["state"]) else f"{r['state']} ({r['recorded']})"
        table.add_row(r["bank"], str(r["credits_count"]), rupiah_text(r["credits_amount"]),
                      str(r["debits_count"]), rupiah_text(r["debits_amount"]),
                      f"{r['net'][0]} {rupiah_text(abs(net))}", r["rc"] or "-", state,
                      "\n".join(Path(f).name for f in r["files"]))
    console = wide_console()
    console.print(table)
    for r in result["banks"]:
        if r["pending"]:
            pending = ", ".join(f"{n} {s}" for s, n in sorted(r["pending"].items()))
            console.print(f"{r['bank']}: not final yet: {pending} (settle again once they are)")
        commissions = r["commissions"]
        if commissions["posted_now"]:
            console.print(f"{r['bank']}: commissions posted {rupiah_text(commissions['posted_now'])}"
                          f" to {commissions['agents']} agent(s)")
        if commissions.get("fee_income_posted_now"):
            console.print(f"{r['bank']}: admin-fee income booked {rupiah_text(commissions['fee_income_posted_now'])}")
        if commissions["over_paid"]:
            over = sum(commissions["over_paid"].values())
            console.print(f"{r['bank']}: {len(commissions['over_paid'])} agent(s) were paid {rupiah_text(over)}"
                          " more commission than is due now (payments reversed after settlement):"
                          " adjust by hand")
    unsettled = [f"{r['bank']} {r['state']}" for r in result["banks"] if r["state"] != SETTLED]
    if unsettled:
        print(f"ppob-switch: settlement {result['date']} not agreed by every bank: {', '.join(unsettled)}",
              file=sys.stderr)
        return 1
    return 0
