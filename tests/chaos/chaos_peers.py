"""The chaos scripts' peers (chaos_kill9, chaos_nodes): a bank host that keeps its own book of what
it approved and reversed, terminals that pay and retransmit what got no answer, the burst that runs
them, and the agents and terminals they are provisioned with."""
from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator

from switch.ledger import accounts, money
from switch.ledger.storage import Database
from switch.wire import HI, FrameReader, Message, decode, encode, frame
from switch.wire.field48 import build_response, parse_request
from tests.support.bank_answers import good_bank, prepaid
from tests.support.peers import KEY, ContractTerminal, echo_response, now_f7

AGENTS = {"AGT000000000001": 50_000_000_00, "AGT000000000002": 15_000_000_00}  # the second runs dry
REVERSE_SHARE = 0.1  # approved payments the terminal then reverses with its own 0400


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


# ---- provisioning -------------------------------------------------------------------------------

async def provision(db: Database, terminals: int) -> None:
    async def work(tx):
        for agent_id, deposit in AGENTS.items():
            await accounts.add_agent(tx, agent_id, f"WARUNG {agent_id[-1]}", None)
            await money.topup(tx, agent_id, deposit, f"chaos-{agent_id}")
        for n in range(1, terminals + 1):
            await accounts.add_terminal(tx, f"T{n:07d}", list(AGENTS)[n % len(AGENTS)], KEY.hex())
    await db.unit(work)
