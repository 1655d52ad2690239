"""Property: any sequence of top-ups, holds, debits, releases, credits back and commissions keeps the
books balanced, every available deposit non-negative, and agrees with a plain in-memory model."""
from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from switch.ledger import accounts, money
from switch.ledger.storage.sqlite import SqliteDatabase

AGENTS = ["A1", "A2"]
DATE = "2026-03-02"
LIMIT = 5_000

# few ids and round amounts, so holds collide with each other, with the deposit and with the limit
txn_ids = st.integers(min_value=1, max_value=4)
amounts = st.sampled_from([1, 1_000, 2_500, 5_000, 6_000])
OPENING_DEPOSIT = 8_000
agents = st.sampled_from(AGENTS)
refs = st.integers(min_value=1, max_value=4)


@dataclass
class Model:
    """What the ledger should say: deposits, holds by txn, daily usage."""
    balance: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AGENTS, 0))
    held: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AGENTS, 0))
    used: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AGENTS, 0))
    holds: dict[int, tuple[str, int, str]] = field(default_factory=dict)  # txn -> agent, amount, state
    refs: set[str] = field(default_factory=set)

    def credit(self, agent: str, amount: int, ref: str) -> bool:
        if ref in self.refs:
            return False
        self.refs.add(ref)
        self.balance[agent] += amount
        return True

    def hold(self, txn: int, agent: str, amount: int, limited: bool) -> str:
        if txn in self.holds:
            return "00"
        if limited and self.used[agent] + amount > LIMIT:
            return "61"
        if self.balance[agent] - self.held[agent] < amount:
            return "51"
        self.holds[txn] = (agent, amount, "held")
        self.held[agent] += amount
        self.used[agent] += amount
        return "00"

    def move(self, txn: int, from_state: str, to_state: str) -> bool:
        if txn not in self.holds or self.holds[txn][2] != from_state:
            return False
        agent, amount, _ = self.holds[txn]
        self.holds[txn] = (agent, amount, to_state)
        if from_state == "held":
            self.held[agent] -= amount
        if to_state == "debited":
            self.balance[agent] -= amount
        if to_state == "credited_back":
            self.balance[agent] += amount
        if to_state in ("released", "credited_back"):
            self.used[agent] -= amount
        return True


class Books(RuleBasedStateMachine):
    """Drives money.py on a real SQLite file through one event loop per run."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = tempfile.TemporaryDirectory()
        self.db = SqliteDatabase(str(Path(self.folder.name) / "books.db"))
        self.model = Model()
        self.run(self.db.open())
        for agent in AGENTS:
            self.unit(lambda tx, agent=agent: accounts.add_agent(tx, agent, "Toko", None))
            self.unit(lambda tx, agent=agent: money.topup(tx, agent, OPENING_DEPOSIT, f"open-{agent}"))
            self.model.credit(agent, OPENING_DEPOSIT, f"open-{agent}")

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def unit(self, work):
        return self.run(self.db.unit(work))

    @rule(agent=agents, amount=amounts, ref=refs)
    def topup(self, agent, amount, ref):
        done = self.unit(lambda tx: money.topup(tx, agent, amount, f"T{ref}"))
        assert done == self.model.credit(agent, amount, f"T{ref}")

    @rule(agent=agents, amount=amounts, ref=refs)
    def commission(self, agent, amount, ref):
        done = self.unit(lambda tx: money.post_commission(tx, agent, amount, f"C{ref}", DATE))
        assert done == self.model.credit(agent, amount, f"C{ref}")

    @rule(txn=txn_ids, agent=agents, amount=amounts, limited=st.booleans())
    def hold(self, txn, agent, amount, limited):
        async def work(tx):
            try:
                await money.place_hold(tx, txn, agent, amount, DATE, LIMIT if limited else None)
            except money.HoldRefused as refused:
                return refused.rc
            return "00"
        assert self.unit(work) == self.model.hold(txn, agent, amount, limited)

    @rule(txn=txn_ids)
    def debit(self, txn):
        assert self.unit(lambda tx: money.debit_hold(tx, txn, "BANKA")) == self.model.move(txn, "held", "debited")

    @rule(txn=txn_ids)
    def release(self, txn):
        assert self.unit(lambda tx: money.release_hold(tx, txn)) == self.model.move(txn, "held", "released")

    @rule(txn=txn_ids)
    def credit_back(self, txn):
        done = self.unit(lambda tx: money.credit_back(tx, txn, "BANKA"))
        assert done == self.model.move(txn, "debited", "credited_back")

    @invariant()
    def deposits_agree_with_the_model_and_never_go_negative(self):
        for agent in AGENTS:
            ledger, available = self.run(self.db.read(lambda tx, agent=agent: money.balances(tx, agent)))
            assert available >= 0
            assert (ledger, available) == (self.model.balance[agent],
                                           self.model.balance[agent] - self.model.held[agent])

    @invariant()
    def the_books_balance(self):
        assert self.run(self.db.read(money.check_books)) == []

    def teardown(self) -> None:
        self.run(self.db.close())
        self.loop.close()
        self.folder.cleanup()


Books.TestCase.settings = settings(max_examples=50, stateful_step_count=25, deadline=None)
test_any_sequence_of_money_movements_keeps_the_books_balanced = Books.TestCase
