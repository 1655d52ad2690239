"""The chaos scripts' checks (chaos_kill9, chaos_nodes): wait until everything has settled, then hold
the books against what the terminals heard and what the bank did (chaos_kill9's docstring lists them)."""
from __future__ import annotations

import asyncio
import time

from switch.ledger import money
from switch.ledger.storage import Database

from tests.chaos.chaos_peers import AGENTS, ChaosBank, ChaosTerminal

OPEN_STATES = ("received", "sent", "reversing", "advising", "reversal_pending")


async def settle(db: Database, timeout: float = 60.0) -> None:
    """Waits until nothing is left open: no reversal or advice queued, no hold held, no payment
    between states."""
    deadline = time.monotonic() + timeout
    marks = ",".join("?" * len(OPEN_STATES))
    while True:
        left = await db.read(lambda tx: tx.fetchone(
            "SELECT (SELECT COUNT(*) FROM saf WHERE state = 'pending') AS saf,"
            " (SELECT COUNT(*) FROM holds WHERE state = 'held') AS held,"
            f" (SELECT COUNT(*) FROM txns WHERE kind = 'payment' AND state IN ({marks})) AS open",
            *OPEN_STATES))
        if (left["saf"], left["held"], left["open"]) == (0, 0, 0):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"did not settle in {timeout:g} s: {dict(left)}")
        await asyncio.sleep(0.2)


async def check(db: Database, bank: ChaosBank, terminals: list[ChaosTerminal]) -> list[str]:
    rows = await db.read(lambda tx: tx.fetchall(
        "SELECT t.txn_id, t.rrn, t.state, t.amount, h.state AS hold, h.amount AS held_amount,"
        " (SELECT COUNT(*) FROM entries e WHERE e.txn_id = t.txn_id AND e.kind = 'debit') AS debits,"
        " (SELECT COUNT(*) FROM entries e WHERE e.txn_id = t.txn_id AND e.kind = 'credit_back') AS credits"
        " FROM txns t LEFT JOIN holds h ON h.txn_id = t.txn_id WHERE t.kind = 'payment'"))
    by_rrn = {row["rrn"]: dict(row) for row in rows}
    problems = await db.read(money.check_books)
    problems += terminal_approvals_debited_once(terminals, by_rrn, bank)
    problems += bank_and_switch_agree(by_rrn, bank)
    problems += await deposits_match(db)
    return problems


def debited_once(row: dict | None) -> bool:
    return row is not None and row["hold"] == "debited" and row["debits"] == 1 and row["credits"] == 0


def credited_back_once(row: dict | None) -> bool:
    return row is not None and row["hold"] == "credited_back" and row["debits"] == 1 and row["credits"] == 1


def terminal_approvals_debited_once(terminals, by_rrn: dict, bank: ChaosBank) -> list[str]:
    """Approvals the terminal kept are debited once and stand at the bank; those it reversed (0410
    00 heard) are credited back once and reversed at the bank."""
    sales = {sale.rrn: sale for sale in bank.book.values()}
    problems = []
    for terminal in terminals:
        for stan, answer in terminal.answers.items():
            if answer.mti != "0210" or answer.get(39) != "00":
                continue
            rrn = answer.get(37)
            kept = rrn not in terminal.reversed
            if not (debited_once if kept else credited_back_once)(by_rrn.get(rrn)):
                problems.append(f"{terminal.terminal_id} STAN {stan}: approved (RRN {rrn}),"
                                f" {'kept' if kept else 'reversed'}, but {by_rrn.get(rrn)}")
            expected = "approved" if kept else "reversed"
            if rrn not in sales or sales[rrn].state != expected:
                problems.append(f"{terminal.terminal_id} STAN {stan}: {expected} but the bank has "
                                f"{sales[rrn].state if rrn in sales else 'nothing'}")
        problems += [f"{terminal.terminal_id}: 0400 for RRN {rrn} answered {r.get(39)}"
                     for rrn, r in terminal.reversed.items() if r.get(39) != "00"]
    return problems


def bank_and_switch_agree(by_rrn: dict, bank: ChaosBank) -> list[str]:
    problems = []
    for sale in bank.book.values():
        row = by_rrn.get(sale.rrn)
        if sale.state == "approved" and not debited_once(row):
            problems.append(f"RRN {sale.rrn}: approved at the bank, at the switch {row}")
        if sale.state in ("reversed", "declined") and row is not None and row["hold"] == "debited":
            problems.append(f"RRN {sale.rrn}: {sale.state} at the bank but debited at the switch")
    approved = {sale.rrn for sale in bank.book.values() if sale.state == "approved"}
    for rrn, row in by_rrn.items():
        if row["hold"] == "debited" and rrn not in approved:
            problems.append(f"RRN {rrn}: debited at the switch, the bank does not have it approved")
        if row["hold"] == "held" or row["state"] in OPEN_STATES:
            problems.append(f"RRN {rrn}: still open ({row['state']}, hold {row['hold']})")
    return problems


async def deposits_match(db: Database) -> list[str]:
    problems = []
    for agent_id, deposit in AGENTS.items():
        ledger, available = await db.read(lambda tx: money.balances(tx, agent_id))
        debited = await db.read(lambda tx: tx.fetchval(
            "SELECT COALESCE(SUM(amount), 0) FROM holds WHERE agent_id = ? AND state = 'debited'", agent_id))
        if ledger != deposit - debited or available != ledger or available < 0:
            problems.append(f"agent {agent_id}: ledger {ledger}, available {available},"
                            f" deposit {deposit} less debits {debited}")
    return problems
