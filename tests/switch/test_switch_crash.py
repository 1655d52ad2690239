"""§8.5 no message is lost: the store-and-forward queue survives restarts, a payment the switch died
holding is reversed after it comes back, and kill -9 at random moments during a burst of payments
leaves books that agree with the terminals and the bank — on SQLite and on the real PostgreSQL."""
from __future__ import annotations

import asyncio
import secrets
import signal

import asyncpg
import pytest

from switch.ledger import money, txns
from tests.chaos.chaos_kill9 import run_iteration
from tests.support.bank_answers import good_bank
from tests.support.harness import AGENT, TERMINAL, bank, wait_until
from tests.support.postgres import NEEDS_POSTGRES, postgres_answers
from tests.support.peers import ScriptedBank
from tests.support.processes import prepare, ready, serve, signed_on

CUSTOMER = "532110000123"
AMOUNT = 100_000_00
SMALL = 15_000_00  # less than a token: once the tokens have taken their share, only this fits
DEPOSIT = 10_000_000_00
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


needs_postgres = NEEDS_POSTGRES


class Desk:
    """Silent on payments; reversals and advices answered only once the test opens the desk."""

    def __init__(self) -> None:
        self.open = False

    def __call__(self, msg):
        if msg.mti == "0200" and msg[3] == "500000":
            return None
        if msg.mti in ("0400", "0401", "0220", "0221"):
            return good_bank(msg) if self.open else None
        return good_bank(msg)


def sent(peer: ScriptedBank, *mtis: str) -> list:
    return [m for m in peer.received if m.mti in mtis]


async def state_of(db, rrn: str) -> str:
    return (await db.read(lambda tx: txns.find_txn_by_rrn(tx, rrn))).state


# ---- the queue across a restart (in process) ---------------------------------------------------

async def test_queued_reversals_and_advices_survive_a_restart_and_resume_at_once(start_switch):
    desk = Desk()
    peer = ScriptedBank(desk)
    port = await peer.listen()
    banks = [bank("BANKA", port, timeout_s=1, reversal_retry_s=30)]  # a repeat would wait 30 s
    running = await start_switch(banks)
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    terminal = await running.terminal().connect()
    await terminal.sign_on()
    postpaid = await terminal.pay("PLNPST", CUSTOMER, AMOUNT)
    prepaid = await terminal.pay("PLNPRA", "14234567890", 20_000_00)
    assert postpaid[39] == prepaid[39] == "68"
    assert await wait_until(lambda: sent(peer, "0400") and sent(peer, "0220"))
    await running.app.stop()

    desk.open = True
    before = len(peer.received)
    running = await start_switch(banks)
    assert await wait_until(lambda: sent(peer, "0401") and sent(peer, "0221"), timeout=10)
    assert all(m.mti != "0400" and m.mti != "0220" for m in peer.received[before:])
    assert sent(peer, "0401")[0][11] == sent(peer, "0400")[0][11]
    assert await wait_until(lambda: _settled(running.db, postpaid[37], prepaid[37]))
    assert await running.balances() == (DEPOSIT - 20_000_00, DEPOSIT - 20_000_00)
    assert await running.books() == []


async def _settled(db, postpaid_rrn: str, prepaid_rrn: str) -> bool:
    return (await state_of(db, postpaid_rrn), await state_of(db, prepaid_rrn)) == ("reversed", "approved")


# ---- the switch as a real process, killed ------------------------------------------------------

async def test_a_payment_in_flight_when_the_switch_is_killed_is_reversed_after_restart(tmp_path):
    desk = Desk()
    peer = ScriptedBank(desk)
    files = await prepare(tmp_path, bank("BANKA", await peer.listen(), timeout_s=30, reversal_retry_s=0.5),
                          DEPOSIT, TERMINAL, AGENT)
    config, terminal_port, db = files.config, files.terminal_port, files.db
    switch = await serve(config)
    try:
        terminal = await signed_on(terminal_port, TERMINAL, AGENT)
        await ready(files)
        paying = asyncio.create_task(terminal.pay("PLNPST", CUSTOMER, AMOUNT))
        assert await wait_until(lambda: sent(peer, "0200"))  # the bank has it, the switch waits 30 s
        switch.kill()
        await switch.wait()
        with pytest.raises(ConnectionError):
            await paying
        desk.open = True
        switch = await serve(config)
        request = [m for m in terminal.requests.values() if m.mti == "0200"][0]
        terminal = await signed_on(terminal_port, TERMINAL, AGENT)
        original = sent(peer, "0200")[-1]
        assert await wait_until(lambda: sent(peer, "0400"))
        assert sent(peer, "0400")[0][90][4:20] == original[11] + original[7]
        again = await terminal.send("0200", request.fields)  # the terminal's retransmission
        assert again[39] == "68" and again[37] == original[37]  # the outcome the switch stored
        assert await wait_until(lambda: _state_is(db, original[37], "reversed"))
        assert await db.read(lambda tx: money.balances(tx, AGENT)) == (DEPOSIT, DEPOSIT)
        assert await db.read(money.check_books) == []
    finally:
        switch.send_signal(signal.SIGTERM)
        await asyncio.wait_for(switch.wait(), 30)
        await db.close()
        await peer.close()


async def _state_is(db, rrn: str, state: str) -> bool:
    return await state_of(db, rrn) == state


async def test_kill_9_at_random_moments_during_a_burst_loses_nothing_and_keeps_the_books(tmp_path):
    seed = secrets.randbelow(10**9)
    for n in range(2):
        result = await run_iteration(seed + n, kills=2, workdir=tmp_path)
        assert result["problems"] == [], f"seed {result['seed']}: {result['problems'][:10]}"
        assert result["codes"].get("00") and result["kills"] == 2


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=needs_postgres)])
async def test_kill_9_during_a_burst_on_postgresql_loses_nothing(tmp_path, backend):
    result = await run_iteration(secrets.randbelow(10**9), kills=2, postgres_url=PG_SERVER, workdir=tmp_path)
    assert result["problems"] == [], f"seed {result['seed']}: {result['problems'][:10]}"
    assert result["codes"].get("00")


# ---- the approval path and its concurrency on the real PostgreSQL ------------------------------

@pytest.fixture
async def postgres_database():
    name = f"ppob_switch_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(PG_SERVER)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    yield PG_SERVER.rsplit("/", 1)[0] + "/" + name
    admin = await asyncpg.connect(PG_SERVER)
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.close()


@pytest.mark.postgres
@pytest.mark.skipif(not postgres_answers(), reason="PostgreSQL does not answer on 127.0.0.1:5432")
async def test_on_postgresql_concurrent_payments_never_overdraw_and_a_timeout_is_reversed(
        postgres_database, start_switch):  # in this order: the switch stops before its database goes
    def bank_answer(msg):
        if msg.mti == "0200" and msg[3] == "500000" and msg[48].startswith("PLNPST"):
            return None  # the one postpaid payment goes unanswered
        return good_bank(msg)
    peer = ScriptedBank(bank_answer)
    port = await peer.listen()
    running = await start_switch([bank("BANKA", port, timeout_s=1)], database=postgres_database,
                                 deposit=50 * 20_000_00 + SMALL)
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPRA"))
    terminal = await running.terminal().connect()
    await terminal.sign_on()

    answers = await asyncio.gather(*(terminal.pay("PLNPRA", f"1423456{i:04d}", 20_000_00) for i in range(100)))
    codes = [a[39] for a in answers]
    assert codes.count("00") == 50 and codes.count("51") == 50
    unanswered = await terminal.pay("PLNPST", CUSTOMER, SMALL)  # exactly what is left
    assert unanswered[39] == "68"
    assert await wait_until(lambda: _state_is(running.db, unanswered[37], "reversed"))
    assert await running.balances() == (SMALL, SMALL)
    assert await running.books() == []
    assert sent(peer, "0400")[0][37] == unanswered[37]


# ---- a flow that died without recording its outcome --------------------------------------------

async def test_a_payment_stranded_in_sent_by_a_failed_flow_is_reversed_without_a_restart(start_switch):
    peer = ScriptedBank(good_bank)
    running = await start_switch([bank("BANKA", await peer.listen(), timeout_s=1)])
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    business_date = running.app.svc.calendar.current
    request = {3: "500000", 4: f"{AMOUNT:012d}", 7: "1125101010", 11: "000777", 12: "171010", 13: "1125",
               18: "6021", 41: TERMINAL, 42: AGENT, 48: "PLNPST" + CUSTOMER.ljust(13), 49: "360"}

    async def as_a_dead_flow_leaves_it(tx) -> str:  # hold placed and the 0200 sent, then nothing
        txn_id = await txns.insert_txn(
            tx, kind="payment", terminal_id=TERMINAL, agent_id=AGENT, mti="0200", stan="000777",
            f7=request[7], proc_code="500000", product="PLNPST", customer=CUSTOMER, amount=AMOUNT,
            request_hash="-", request=request, business_date=business_date, node_id=running.app.node_id)
        rrn = f"{txn_id:012d}"
        await money.place_hold(tx, txn_id, AGENT, AMOUNT, business_date, None)
        to_bank = {**request, 7: "1125101011", 11: "000901", 32: "90001", 37: rrn}
        await txns.update_txn(tx, txn_id, rrn=rrn, state="sent", bank_id="BANKA", bank_stan="000901",
                              bank_request=to_bank)
        return rrn
    rrn = await running.db.unit(as_a_dead_flow_leaves_it)
    assert await running.balances() == (DEPOSIT, DEPOSIT - AMOUNT)
    assert await wait_until(lambda: _state_is(running.db, rrn, "reversed"), timeout=20)
    assert sent(peer, "0400")[0][90][4:20] == "000901" + "1125101011"
    assert await running.balances() == (DEPOSIT, DEPOSIT)
    assert await running.books() == []
