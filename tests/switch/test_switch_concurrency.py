"""Every request type, 50 at once for one customer from 50 terminals, on SQLite and on PostgreSQL:
every request is answered with the right code and the books balance (no write path may lose a
request to a race: upserts and conditional updates only)."""
from __future__ import annotations

import asyncio

import pytest

from switch.ledger import accounts, txns
from tests.support.bank_answers import good_bank
from tests.support.harness import AGENT, bank, wait_until
from tests.support.nodes import backend_database
from tests.support.peers import KEY, ScriptedBank
from tests.support.postgres import BACKENDS

N = 50
POSTPAID, PREPAID, NONTAGLIS = "532110000123", "14234567890", "5321100009876"
TOKEN = 20_000_00
@pytest.fixture(params=BACKENDS)
async def database(request):
    async with backend_database(request.param, "ppob_concurrency") as url:
        yield url


async def fifty_terminals(start_switch, database):
    peer = ScriptedBank(good_bank)
    port = await peer.listen()
    running = await start_switch([bank("BANKA", port, timeout_s=10, reversal_retry_s=0.5)],
                                 database=database, deposit=N * 2 * TOKEN + 10_000_000_00)

    async def add(tx):
        for i in range(1, N):
            await accounts.add_terminal(tx, f"T{i + 1:07d}", AGENT, KEY.hex())
    await running.db.unit(add)
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    terminals = [await running.terminal(terminal_id=f"T{i + 1:07d}").connect() for i in range(N)]
    assert {m[39] for m in await asyncio.gather(*(t.sign_on() for t in terminals))} == {"00"}
    return running, peer, terminals


async def at_once(terminals, request) -> list[str]:
    answers = await asyncio.gather(*(request(t) for t in terminals))
    return [answer[39] for answer in answers]


async def test_fifty_terminals_at_once_for_one_customer_are_all_answered_and_the_books_balance(
        database, start_switch):
    running, peer, terminals = await fifty_terminals(start_switch, database)
    start = await running.balances()

    assert await at_once(terminals, lambda t: t.inquiry("PLNPST", POSTPAID)) == ["00"] * N
    quote = await terminals[0].inquiry("PLNPST", POSTPAID)
    paid = await at_once(terminals, lambda t: t.pay("PLNPST", POSTPAID, int(quote[4])))
    assert sorted(paid) == ["00"] + ["88"] * (N - 1)  # one bill, paid once, never twice at the bank
    assert sum(1 for m in peer.received if m.mti == "0200" and m[3] == "500000") == 1

    assert await at_once(terminals, lambda t: t.inquiry("PLNNTL", NONTAGLIS)) == ["00"] * N
    quote_ntl = await terminals[1].inquiry("PLNNTL", NONTAGLIS)
    assert sorted(await at_once(terminals, lambda t: t.pay("PLNNTL", NONTAGLIS, int(quote_ntl[4])))) == \
        ["00"] + ["88"] * (N - 1)

    assert await at_once(terminals, lambda t: t.inquiry("PLNPRA", PREPAID)) == ["00"] * N
    tokens = await asyncio.gather(*(t.pay("PLNPRA", PREPAID, TOKEN) for t in terminals))
    assert [m[39] for m in tokens] == ["00"] * N  # every purchase is a token of its own

    balances = await asyncio.gather(*(t.balance() for t in terminals))
    assert {m[39] for m in balances} == {"00"} and len({m[54] for m in balances}) == 1
    assert await at_once(terminals, lambda t: t.status(tokens[terminals.index(t)])) == ["00"] * N

    postpaid_answers = {t: next(m for m in t.requests.values() if m.get(3) == "500000" and m[48].startswith("PLNPST"))
                        for t in terminals}
    assert await at_once(terminals, lambda t: t.reverse(postpaid_answers[t])) == ["00"] * N
    async def reversed_at_the_bank() -> bool:
        pending = await running.db.read(lambda tx: tx.fetchval("SELECT COUNT(*) FROM saf WHERE state = 'pending'"))
        return pending == 0
    assert await wait_until(reversed_at_the_bank, timeout=30)

    ledger, available = await running.balances()
    spent = int(quote_ntl[4]) + N * TOKEN  # the postpaid bill was credited back
    assert (start[0] - ledger, start[1] - available) == (spent, spent)
    assert await running.books() == []
    assert all(t.bad_macs == [] for t in terminals)
    inquiry = await running.db.read(lambda tx: txns.last_inquiry(tx, "PLNPST", POSTPAID))
    assert inquiry is not None and inquiry["amount"] == int(quote[4])
    for t in terminals:
        await t.close()
