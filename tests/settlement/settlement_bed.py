"""Settlement test bed: a real database (temp SQLite file, or a fresh PostgreSQL schema), payment rows
written through the storage as the flows leave them, and the switch's own bank links to a scripted
bank on loopback, so settle_command runs against the real thing without a whole switch."""
from __future__ import annotations

import asyncio
import itertools
import secrets
import tomllib
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable

import asyncpg
import pytest

from tests.support.postgres import postgres_answers

from switch.services import Services
from switch.ledger import accounts, money, txns
from switch.ledger.calendar import BusinessCalendar
from switch.ledger.storage import Database
from switch.ledger.storage.postgres import PostgresDatabase
from switch.ledger.storage.sqlite import SqliteDatabase
from switch.links.bank_link import BankLink
from switch.links.router import Router
from switch.links.stan import StanAllocator
from switch.config import Config, parse_config, sample_config
from switch.wire import Message
from switch.wire.field48 import (NontaglisInfo, PostpaidBill, PostpaidInfo, PrepaidInfo, PrepaidSale,
                                 build_response)
from tests.support.peers import ScriptedBank, echo_response

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DAY = "2026-11-24"
NEXT_DAY = "2026-11-25"
AGENT, OTHER_AGENT, TERMINAL = "AGT000000000001", "AGT000000000002", "T0000001"
SHARES = {"PLNPST": 1500, "PLNPRA": 1000, "PLNNTL": 2000}  # rupiah per bill / purchase


BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgresql", id="postgresql", marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not postgres_answers(), reason="PostgreSQL does not answer")])]


async def open_backend(backend: str, tmp_path) -> AsyncIterator[Database]:
    schema = f"ppob_settle_{secrets.token_hex(6)}"
    if backend == "sqlite":
        db: Database = SqliteDatabase(str(tmp_path / "switch.db"))
    else:
        admin = await asyncpg.connect(PG_URL)
        await admin.execute(f"CREATE SCHEMA {schema}")
        await admin.close()
        db = PostgresDatabase(f"{PG_URL}?search_path={schema}")
    await db.open()
    try:
        yield db
    finally:
        await db.close()
        if backend == "postgresql":
            admin = await asyncpg.connect(PG_URL)
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")
            await admin.close()


@pytest.fixture
async def db(tmp_path) -> AsyncIterator[Database]:
    async for opened in open_backend("sqlite", tmp_path):
        yield opened


@pytest.fixture(params=BACKENDS)
async def any_db(request, tmp_path) -> AsyncIterator[Database]:
    async for opened in open_backend(request.param, tmp_path):
        yield opened


# ---- rows as the flows leave them -----------------------------------------------------------------

def postpaid_48(customer: str, periods: tuple[str, ...] = ("202609", "202610"), admin: int = 3000,
                ref: str = "REF-PST") -> str:
    bills = tuple(PostpaidBill(p, f"{p}20", f"{p}01", 100000, 0, 1000, 1100) for p in periods)
    return build_response(PostpaidInfo(customer, "SITI AMINAH", "R1", 1300, len(bills), admin, bills, ref))


def prepaid_48(customer: str, admin: int = 2500, ref: str = "REF-PRA") -> str:
    sale = PrepaidSale(ref, "12345678901234567890", 3364, 0, 0, 4520, 0, 45480)
    return build_response(PrepaidInfo(customer, customer[:11], "532110000777", "BUDI SANTOSO", "R1", 900,
                                      admin, sale))


def nontaglis_48(customer: str, admin: int = 3000, ref: str = "REF-NTL") -> str:
    return build_response(NontaglisInfo(customer, "PASANG BARU", "RUDI HARTONO", "20261120", 1515000, admin,
                                        ref))


CUSTOMERS = {"PLNPST": "532110000123", "PLNPRA": "12345678901", "PLNNTL": "5321100001234"}


@dataclass
class Ledger:
    """Writes payments into the txns table the way the flows do (insert, then outcome)."""
    db: Database
    stans: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def payment(self, *, state: str = "approved", amount: int = 400_000_00, bank: str = "BANKA",
                      day: str = DAY, product: str = "PLNPST", agent: str = AGENT,
                      field48: str | None = "default", customer: str | None = None,
                      bank_response: bool = True) -> str:
        """Adds one payment; returns its RRN."""
        customer = customer or CUSTOMERS[product]
        if field48 == "default":
            field48 = {"PLNPST": postpaid_48, "PLNPRA": prepaid_48, "PLNNTL": nontaglis_48}[product](customer)
        stan = f"{next(self.stans):06d}"
        request = {3: "500000", 4: f"{amount:012d}", 11: stan, 41: TERMINAL, 42: agent.ljust(15),
                   48: product + customer.ljust(13)}
        answer = {39: "00" if state in ("approved", "reversed", "reversal_pending") else "05"}
        if field48 and answer[39] == "00":
            answer[48] = field48

        async def work(tx):
            txn_id = await txns.insert_txn(
                tx, kind="payment", terminal_id=TERMINAL, agent_id=agent, mti="0200", stan=stan,
                f7="1124101010", proc_code="500000", product=product, customer=customer, amount=amount,
                request_hash=stan, request=request, business_date=day)
            rrn = f"{txn_id:012d}"
            await txns.update_txn(tx, txn_id, rrn=rrn, state=state, rc=answer[39], bank_id=bank,
                                  bank_stan=f"{txn_id % 999999:06d}", response={**answer, 37: rrn},
                                  bank_response=answer if bank_response else None)
            return rrn
        return await self.db.unit(work)

    async def set_state(self, rrn: str, state: str) -> None:
        await self.db.unit(lambda tx: tx.execute("UPDATE txns SET state = ? WHERE rrn = ?", state, rrn))


@pytest.fixture
def ledger(db) -> Ledger:
    return Ledger(db)


async def mark_day(db: Database, day: str, state: str) -> None:
    """Puts a business date in a state directly (calendar rules are tested on their own)."""
    await db.unit(lambda tx: tx.execute(
        "INSERT INTO business_days (business_date, state, opened_at) VALUES (?, ?, '2026-01-01T00:00:00.000Z')"
        " ON CONFLICT (business_date) DO UPDATE SET state = excluded.state", day, state))


async def close_day(db: Database, day: str = DAY) -> None:
    await mark_day(db, day, "closed")


async def add_agents(db: Database, *agent_ids: str) -> None:
    async def work(tx):
        for agent_id in agent_ids:
            if await accounts.get_agent(tx, agent_id) is None:
                await accounts.add_agent(tx, agent_id, f"Toko {agent_id}", None)
    await db.unit(work)


async def agent_balance(db: Database, agent_id: str = AGENT) -> int:
    return (await db.read(lambda tx: money.balances(tx, agent_id)))[0]


# ---- a switch's services with real bank links to scripted banks ----------------------------------

def config_for(tmp_path, ports: dict[str, int], database: str = "sqlite:///unused.db") -> Config:
    banks = [{"id": bank_id, "mode": "connect", "address": f"127.0.0.1:{port}", "products": ["PLNPST", "PLNPRA",
              "PLNNTL"], "timeout_s": 1, "reconnect_max_s": 1, "priority": i + 1}
             for i, (bank_id, port) in enumerate(ports.items())]
    products = [{"code": code, "agent_share": share} for code, share in SHARES.items()]
    text = sample_config(database=database, terminal_listen="127.0.0.1:0", banks=banks, products=products,
                         switch={"settlement_dir": str(tmp_path / "settlement")})
    return parse_config(tomllib.loads(text), env={})


class Totals0500:
    """A bank that answers 0500 by comparing with totals a test sets (None: agree with anything)."""

    def __init__(self) -> None:
        self.expected: tuple[int, int, int, int] | None = None
        self.rc: str | None = None   # force this code
        self.silent = False

    def __call__(self, msg: Message) -> Message | None:
        if msg.mti != "0500":
            return echo_response(msg, "12")
        if self.silent:
            return None
        theirs = (int(msg[74]), int(msg[86]), int(msg[76]), int(msg[88]))
        rc = self.rc or ("00" if self.expected in (None, theirs) else "95")
        return echo_response(msg, rc, **{str(n): msg[n] for n in (74, 76, 86, 88, 97)})


@dataclass
class Bed:
    svc: Services
    banks: dict[str, ScriptedBank]
    answers: dict[str, Totals0500]
    links: list[BankLink]

    def received(self, bank_id: str, mti: str = "0500") -> list[Message]:
        return [m for m in self.banks[bank_id].received if m.mti == mti]


@pytest.fixture
async def bed_factory(tmp_path):
    made: list[Bed] = []

    async def make(db: Database, bank_ids=("BANKA",), *, up: bool = True) -> Bed:
        answers = {bank_id: Totals0500() for bank_id in bank_ids}
        banks = {bank_id: ScriptedBank(answers[bank_id]) for bank_id in bank_ids}
        ports = {bank_id: await peer.listen() for bank_id, peer in banks.items()}
        config = config_for(tmp_path, ports)
        calendar = BusinessCalendar(db, config.switch.timezone, config.switch.cutover)
        await calendar.load()
        stans = StanAllocator(db)
        links = [BankLink(b, next_stan=stans.source(b.id)) for b in config.banks]
        svc = Services(config=config, db=db, router=Router(links), calendar=calendar, stans=stans)
        bed = Bed(svc, banks, answers, links)
        made.append(bed)
        if up:
            for link in links:
                await link.start()
            for link in links:
                await wait_for(lambda: link.is_up)
        return bed

    yield make
    for bed in made:
        for link in bed.links:
            await link.stop(sign_off=False)
        for peer in bed.banks.values():
            await peer.close()


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
