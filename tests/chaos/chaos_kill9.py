"""kill -9 chaos: the switch runs as a real process (`python -m switch.cli serve`) between a bank
host and several terminals in this process; it is killed with SIGKILL at random moments during a
burst of payments, restarted on the same database, left to settle (store-and-forward drained), and
then the switch's books are held against what the terminals heard and what the bank did:

* every approval a terminal saw is debited exactly once (and stands at the bank);
* every payment the bank approved is debited at the switch, or was reversed at the bank;
* nothing is debited that the bank does not have approved;
* the books balance (money.check_books), no deposit is negative, no hold is left 'held'.

Run: python -m tests.chaos.chaos_kill9 --iterations 20 [--kills 3] [--seed N]
     [--database postgresql://postgres@127.0.0.1:5432/postgres]  (a fresh database per iteration)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

from switch.ledger import accounts, money
from switch.ledger.storage import Database, open_database
from switch.config import sample_config
from switch.wire import HI, FrameReader, Message, decode, encode, frame
from switch.wire.field48 import build_response, parse_request
from tests.support.bank_answers import good_bank, prepaid
from tests.support.peers import KEY, ContractTerminal, echo_response, now_f7
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
AGENTS = {"AGT000000000001": 50_000_000_00, "AGT000000000002": 15_000_000_00}  # the second runs dry
REVERSE_SHARE = 0.1  # approved payments the terminal then reverses with its own 0400
OPEN_STATES = ("received", "sent", "reversing", "advising", "reversal_pending")


# ---- the bank: keeps its own book of what it approved and reversed -----------------------------

@dataclass
class Sale:
    rrn: str
    amount: int
    state: str          # approved | declined | reversed
    answer: Message


@dataclass
class ChaosBank:
    """A bank host that decides at receipt (its book changes even if the answer never reaches the
    switch), answers after a random delay, sometimes not at all, and declines some payments."""
    rng: random.Random
    silence: float = 0.06          # payments and advices never answered
    declines: float = 0.1
    reversal_silence: float = 0.2  # reversal attempts lost (so 0401 repeats happen)
    max_delay_s: float = 0.25
    book: dict[tuple[str, str], Sale] = field(default_factory=dict)
    reversed_unseen: set[tuple[str, str]] = field(default_factory=set)
    counts: Counter = field(default_factory=Counter)

    async def listen(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader(reader, "2B", 4096, stall_timeout=10)
        while True:
            try:
                msg = decode(await frames.read_frame(), HI)
            except (Exception, asyncio.CancelledError):
                writer.close()
                return
            if msg.is_request:
                answer = self.decide(msg)
                if answer is not None:
                    asyncio.create_task(self._send_later(writer, answer, msg.mti == "0800"))

    async def _send_later(self, writer: asyncio.StreamWriter, answer: Message, at_once: bool) -> None:
        if not at_once:
            await asyncio.sleep(self.rng.uniform(0, self.max_delay_s))
        if not writer.is_closing():
            writer.write(frame(encode(answer, HI), "2B"))

    def decide(self, msg: Message) -> Message | None:
        self.counts[msg.mti] += 1
        if msg.mti == "0800":
            return Message("0810", {**{n: msg[n] for n in (7, 11, 70) if n in msg}, 39: "00"})
        if msg.mti == "0200":
            return self._payment(msg)
        if msg.mti in ("0400", "0401"):
            return self._reversal(msg)
        if msg.mti in ("0220", "0221"):
            return self._advice(msg)
        return echo_response(msg, "12")

    def _payment(self, msg: Message) -> Message | None:
        key = (msg[11], msg[7])
        if key in self.book:  # a repeat of what was decided: the same answer
            return self.book[key].answer
        if key in self.reversed_unseen:  # its reversal came first: never approve it now
            return self._record(key, msg, "declined", echo_response(msg, "05"))
        if self.rng.random() < self.declines:
            sale = self._record(key, msg, "declined", echo_response(msg, "05"))
        else:
            sale = self._record(key, msg, "approved", good_bank(msg))
        return None if self.rng.random() < self.silence else sale

    def _record(self, key: tuple[str, str], msg: Message, state: str, answer: Message) -> Message:
        self.book[key] = Sale(msg[37], int(msg[4]), state, answer)
        return answer

    def _reversal(self, msg: Message) -> Message | None:
        if self.rng.random() < self.reversal_silence:
            return None
        key = (msg[90][4:10], msg[90][10:20])
        sale = self.book.get(key)
        if sale is None:
            self.reversed_unseen.add(key)
            return echo_response(msg, "25")
        if sale.state == "approved":
            sale.state = "reversed"
        return echo_response(msg, "00" if sale.state == "reversed" else "25")

    def _advice(self, msg: Message) -> Message | None:
        if self.rng.random() < self.silence:
            return None
        key = (msg[90][4:10], msg[90][10:20])
        sale = self.book.get(key)
        if sale is None:  # the purchase never arrived: the advice completes it
            sale = self.book[key] = Sale(msg[37], int(msg[4]), "approved", good_bank(Message("0200", {
                **msg.fields, 11: key[0], 7: key[1]})))
        if sale.state != "approved":
            return echo_response(msg, sale.answer.get(39, "05"))
        token = build_response(prepaid(parse_request(msg[48]).customer, sale=True))
        return echo_response(msg, "00", **{"48": token, "38": "D4E5F6"})


# ---- terminals: pay, and retransmit what got no answer until it does ---------------------------

@asynccontextmanager
async def sending_burst(terminals: list[ChaosTerminal], per_terminal: int,
                        seconds: float) -> AsyncIterator[tuple[asyncio.Event, float]]:
    """Workers paying from every terminal while the body runs (and until it clears `sending`); on a
    normal end their last answers are awaited, on any end the workers stop and the terminals close."""
    sending = asyncio.Event()
    sending.set()
    deadline = time.monotonic() + seconds
    workers = [asyncio.create_task(t.worker(sending, deadline)) for t in terminals for _ in range(per_terminal)]
    try:
        yield sending, deadline
        sending.clear()
        await asyncio.gather(*workers)
    finally:
        sending.clear()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for terminal in terminals:
            await terminal.close()


@dataclass
class ChaosTerminal:
    terminal_id: str
    agent_id: str
    port: int
    rng: random.Random
    answers: dict[str, Message] = field(default_factory=dict)    # STAN -> the answer heard
    requests: dict[str, dict] = field(default_factory=dict)      # STAN -> fields sent
    reversed: dict[str, Message] = field(default_factory=dict)   # RRN -> the 0410 to the terminal's 0400
    retransmissions: int = 0
    _stan: int = 0
    _conn: ContractTerminal | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def new_payment(self) -> dict[int, str]:
        self._stan += 1
        product = self.rng.choice(("PLNPST", "PLNPST", "PLNNTL", "PLNPRA"))
        if product == "PLNPRA":
            customer, amount = f"{self.rng.randrange(10**10, 10**11)}", self.rng.choice((20_000, 50_000)) + 2_500
        elif product == "PLNNTL":
            customer, amount = f"{self.rng.randrange(10**12, 10**13)}", self.rng.randrange(100_000, 900_000)
        else:
            customer, amount = f"{self.rng.randrange(10**11, 10**12)}", self.rng.randrange(20_000, 600_000)
        local = time.strftime("%H%M%S"), time.strftime("%m%d")
        return {3: "500000", 4: f"{amount * 100:012d}", 7: now_f7(), 11: f"{self._stan:06d}", 12: local[0],
                13: local[1], 18: "6021", 41: self.terminal_id.ljust(8), 42: self.agent_id.ljust(15),
                48: product + customer.ljust(13), 49: "360"}

    async def connection(self, deadline: float) -> ContractTerminal:
        async with self._lock:
            while self._conn is None or self._conn._reader_task.done():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.terminal_id}: switch not reachable")
                try:
                    conn = await ContractTerminal("127.0.0.1", self.port, self.terminal_id, self.agent_id,
                                                  KEY).connect()
                    if (await conn.sign_on())[39] == "00":
                        self._conn = conn
                        continue
                    await conn.close()
                except (OSError, ConnectionError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.1)
            return self._conn

    async def deliver(self, fields: dict[int, str], deadline: float, mti: str = "0200") -> Message:
        """Sends a request and, after each lost connection, the very same message again."""
        stan = fields[11]
        self.requests[stan] = fields
        while stan not in self.answers:
            conn = await self.connection(deadline)
            try:
                self.answers[stan] = await conn.send(mti, dict(fields), timeout=15)
            except (ConnectionError, OSError, asyncio.TimeoutError):
                self.retransmissions += 1
                await asyncio.sleep(0.05)
        return self.answers[stan]

    async def worker(self, sending: asyncio.Event, deadline: float) -> None:
        while sending.is_set():
            payment = self.new_payment()
            answer = await self.deliver(payment, deadline)
            if answer.get(39) == "51":  # a real agent stops to top up: keep the burst about payments
                await asyncio.sleep(0.2)
            if answer.get(39) == "00" and payment[48][:6] != "PLNPRA" and self.rng.random() < REVERSE_SHARE:
                reversal = await self.deliver(self.reversal_of(payment), deadline, mti="0400")
                self.reversed[answer[37]] = reversal

    def reversal_of(self, payment: dict[int, str]) -> dict[int, str]:
        """The terminal changes its mind: a 0400 naming the payment in field 90."""
        fields = self.new_payment()
        fields.update({4: payment[4], 48: payment[48], 90: "0200" + payment[11] + payment[7] + "0" * 22})
        return fields

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


# ---- one iteration -----------------------------------------------------------------------------

@dataclass
class Iteration:
    database: str
    workdir: Path
    rng: random.Random
    kills: int = 2
    terminals: int = 4
    workers: int = 3
    log: Path | None = None

    async def start_switch(self) -> asyncio.subprocess.Process:
        out = open(self.log, "ab") if self.log else asyncio.subprocess.DEVNULL
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "switch.cli", "serve", "--config", str(self.config),
            stdout=out, stderr=out, env={**os.environ, "PYTHONPATH": str(ROOT)})

    def write_config(self, bank_port: int) -> int:
        terminal_port = free_port()
        self.config = self.workdir / "switch.toml"
        self.config.write_text(sample_config(
            database=self.database, terminal_listen=f"127.0.0.1:{terminal_port}",
            metrics_listen=f"127.0.0.1:{free_port()}",
            switch={"settlement_dir": str(self.workdir / "settlement"), "node_id": "chaos-node"},
            banks=[{"id": "BANKA", "mode": "connect", "address": f"127.0.0.1:{bank_port}",
                    "products": ["PLNPST", "PLNPRA", "PLNNTL"], "timeout_s": 1, "reversal_retry_s": 0.3,
                    "reconnect_max_s": 1}]))
        return terminal_port

    async def run(self) -> dict:
        bank = ChaosBank(self.rng)
        terminal_port = self.write_config(await bank.listen())
        db = open_database(self.database)
        await db.open()
        try:
            await provision(db, self.terminals)
            terminals = [ChaosTerminal(f"T{n:07d}", list(AGENTS)[n % len(AGENTS)], terminal_port, self.rng)
                         for n in range(1, self.terminals + 1)]
            kills = await self.burst(terminals)
            await settle(db)
            problems = await check(db, bank, terminals)
            return summary(bank, terminals, kills, problems)
        finally:
            await db.close()
            await bank.close()

    async def burst(self, terminals: list[ChaosTerminal]) -> int:
        switch = await self.start_switch()
        try:
            async with sending_burst(terminals, self.workers, 120) as (sending, deadline):
                for n in range(self.kills):
                    await serving(terminals[0].port, deadline)  # a random moment of work, not of start-up
                    await asyncio.sleep(self.rng.uniform(0.2, 2.0))
                    if n == self.kills - 1:
                        sending.clear()  # the last kill may fall in the tail: answers, reversals in flight
                        await asyncio.sleep(self.rng.uniform(0, 0.5))
                    switch.kill()  # SIGKILL: no drain, no sign-off, no last commit
                    await switch.wait()
                    switch = await self.start_switch()
        finally:
            self.switch = switch
        return self.kills

    async def stop_switch(self) -> None:
        self.switch.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.switch.wait(), 30)
        except asyncio.TimeoutError:
            self.switch.kill()
            await self.switch.wait()


async def serving(port: int, deadline: float) -> None:
    """Returns once the switch accepts terminals (it recovers before it listens)."""
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise TimeoutError("the switch did not start")


async def provision(db: Database, terminals: int) -> None:
    async def work(tx):
        for agent_id, deposit in AGENTS.items():
            await accounts.add_agent(tx, agent_id, f"WARUNG {agent_id[-1]}", None)
            await money.topup(tx, agent_id, deposit, f"chaos-{agent_id}")
        for n in range(1, terminals + 1):
            await accounts.add_terminal(tx, f"T{n:07d}", list(AGENTS)[n % len(AGENTS)], KEY.hex())
    await db.unit(work)


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


# ---- the checks --------------------------------------------------------------------------------

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


def summary(bank: ChaosBank, terminals: list[ChaosTerminal], kills: int, problems: list[str]) -> dict:
    codes = Counter(a.get(39) for t in terminals for a in t.answers.values() if a.mti == "0210")
    return {"payments": sum(1 for t in terminals for f in t.requests.values() if 90 not in f), "codes": dict(sorted(codes.items())),
            "terminal_reversals": sum(len(t.reversed) for t in terminals),
            "retransmissions": sum(t.retransmissions for t in terminals), "kills": kills,
            "bank": {state: sum(1 for s in bank.book.values() if s.state == state)
                     for state in ("approved", "declined", "reversed")},
            "reversals_received": bank.counts["0400"] + bank.counts["0401"],
            "advices_received": bank.counts["0220"] + bank.counts["0221"], "problems": problems}


# ---- databases ---------------------------------------------------------------------------------

class FreshDatabase:
    """A throw-away database: a SQLite file in the iteration's folder, or a PostgreSQL database
    created on the server of `postgres_url` and dropped afterwards."""

    def __init__(self, workdir: Path, postgres_url: str | None) -> None:
        self.workdir, self.postgres_url = workdir, postgres_url
        self.name = f"ppob_chaos_{secrets.token_hex(5)}"

    async def __aenter__(self) -> str:
        if not self.postgres_url:
            return f"sqlite:///{self.workdir}/switch.db"
        import asyncpg
        admin = await asyncpg.connect(self.postgres_url)
        await admin.execute(f"CREATE DATABASE {self.name}")
        await admin.close()
        return self.postgres_url.rsplit("/", 1)[0] + "/" + self.name

    async def __aexit__(self, *exc) -> None:
        if self.postgres_url:
            import asyncpg
            admin = await asyncpg.connect(self.postgres_url)
            await admin.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
            await admin.close()


async def run_iteration(seed: int, *, kills: int = 2, postgres_url: str | None = None,
                        workdir: Path | None = None, keep_log: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="chaos-", dir=workdir) as folder:
        folder = Path(folder)
        async with FreshDatabase(folder, postgres_url) as database:
            iteration = Iteration(database, folder, random.Random(seed), kills=kills,
                                  log=folder / "switch.log" if keep_log else None)
            try:
                result = await iteration.run()
            finally:
                if getattr(iteration, "switch", None) is not None:
                    await iteration.stop_switch()
            if keep_log:
                result["log"] = (folder / "switch.log").read_text()[-20000:]
            return {"seed": seed, **result}


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs per iteration")
    parser.add_argument("--seed", type=int, help="first iteration's seed (default: random)")
    parser.add_argument("--database", help="postgresql://... server URL (default: a SQLite file)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(10**9)
    totals, failed, started = Counter(), 0, time.monotonic()
    for n in range(args.iterations):
        result = await run_iteration(seed + n, kills=args.kills, postgres_url=args.database)
        failed += bool(result["problems"])
        totals.update(result["codes"])
        totals.update(payments=result["payments"], kills=result["kills"],
                      retransmissions=result["retransmissions"], reversals=result["reversals_received"],
                      advices=result["advices_received"])
        print(f"iteration {n + 1}/{args.iterations} seed {result['seed']}: {result['payments']} payments,"
              f" codes {result['codes']}, {result['terminal_reversals']} reversed by terminals,"
              f" bank {result['bank']}, {result['kills']} kills,"
              f" {'OK' if not result['problems'] else 'PROBLEMS'}", flush=True)
        for problem in result["problems"][:20]:
            print("   ", problem)
    codes = {k: v for k, v in totals.items() if len(k) == 2}
    print(f"summary: {args.iterations} iterations, {failed} with problems, {totals['payments']} payments,"
          f" {totals['kills']} kills, {totals['retransmissions']} retransmissions, {totals['reversals']}"
          f" reversal messages, {totals['advices']} advice messages, codes {dict(sorted(codes.items()))},"
          f" {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
