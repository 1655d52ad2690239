"""Three `ppob-switch serve` nodes on one PostgreSQL database behind Debian's HAProxy (the shipped
deploy/haproxy/haproxy.cfg, TCP mode, /readyz checks): terminals connect through it and are spread
over the nodes; one deposit covers K payments and 3K concurrent ones approve exactly K; a
retransmission that lands on another node gets the original answer; a bill paid on one node is 88 on
another; every node has its own signed-on link to the bank, and the bank sees no STAN or RRN twice."""
from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from switch.ledger import money
from switch.ledger.storage import open_database
from tests.support.bank_answers import good_bank, postpaid_total_minor
from tests.support.harness import bank, wait_until
from tests.support.nodes import HAPROXY, NO_HAPROXY, Cluster, Haproxy, fresh_postgres, provision
from tests.support.peers import ScriptedBank
from tests.support.postgres import NEEDS_POSTGRES
from tests.support.processes import signed_on

pytestmark = [*NEEDS_POSTGRES, pytest.mark.skipif(HAPROXY is None, reason=NO_HAPROXY)]

K = 20                      # payments the shared deposit covers
TOKEN = 20_000_00           # a prepaid token, minor units
SHARED, OTHER = "AGT000000000001", "AGT000000000002"
TERMINALS = [f"T{n:07d}" for n in range(1, 10)]      # nine terminals of the shared-deposit agent
OTHER_TERMINALS = ["T0000091", "T0000092"]


@pytest.fixture
async def behind_haproxy(tmp_path):
    peer = ScriptedBank(good_bank)
    port = await peer.listen()
    async with fresh_postgres() as database:
        await provision(database, {SHARED: K * TOKEN, OTHER: 10_000_000_00},
                        {**{t: SHARED for t in TERMINALS}, **{t: OTHER for t in OTHER_TERMINALS}})
        cluster = Cluster(database, tmp_path, [bank("BANKA", port, timeout_s=10)], count=3)
        lb = Haproxy([], tmp_path)
        db = open_database(database)
        try:
            await cluster.start()
            lb.nodes = cluster.nodes
            await lb.start()
            await db.open()
            yield cluster, lb, peer, db
        finally:
            await lb.stop()
            await cluster.stop()
            await db.close()
            await peer.close()


async def test_concurrent_payments_through_haproxy_approve_exactly_what_the_shared_deposit_covers(behind_haproxy):
    cluster, lb, peer, db = behind_haproxy
    terminals = [await signed_on(lb.port, t, SHARED, timeout=60) for t in TERMINALS]
    payments = [terminals[i % len(terminals)].pay("PLNPRA", f"1423456{i:04d}", TOKEN)
                for i in range(3 * K)]
    codes = Counter(answer[39] for answer in await asyncio.gather(*payments))

    assert codes == {"00": K, "51": 2 * K}
    assert await db.read(lambda tx: money.balances(tx, SHARED)) == (0, 0)
    assert await db.read(money.check_books) == []
    by_node = await db.read(lambda tx: tx.fetchall(
        "SELECT node_id, COUNT(*) AS n FROM txns WHERE kind = 'payment' GROUP BY node_id"))
    assert len(by_node) == 3, f"haproxy spread the terminals over {dict((r['node_id'], r['n']) for r in by_node)}"
    payments_at_bank = [m for m in peer.received if m.mti == "0200"]
    assert len(payments_at_bank) == K  # refused payments never reach the bank
    stans = [m[11] for m in peer.received if m.mti != "0800"]
    rrns = [m[37] for m in payments_at_bank]
    assert len(stans) == len(set(stans)) and len(rrns) == len(set(rrns)) == K
    for terminal in terminals:
        await terminal.close()


async def test_each_node_signs_on_its_own_link_to_the_bank(behind_haproxy):
    cluster, lb, peer, db = behind_haproxy
    sign_ons = [m for m in peer.received if m.mti == "0800" and m.get(70) == "001"]
    assert len(peer.writers) >= 3 and len(sign_ons) >= 3
    assert all([await node.ready() for node in cluster.nodes])
    network_stans = [m[11] for m in peer.received if m.mti == "0800"]
    assert len(network_stans) == len(set(network_stans))  # unique across the nodes' links too


async def test_a_retransmission_that_lands_on_another_node_gets_the_original_answer(behind_haproxy):
    cluster, lb, peer, db = behind_haproxy
    first = await signed_on(lb.port, OTHER_TERMINALS[0], OTHER, timeout=60)
    answer = await first.pay("PLNPRA", "14234567890", TOKEN)
    assert answer[39] == "00"
    owner = await db.read(lambda tx: tx.fetchval("SELECT node_id FROM txns WHERE rrn = ?", answer[37]))
    other = next(node for node in cluster.nodes if node.name != owner)
    await first.close()

    again = await signed_on(other.terminal_port, OTHER_TERMINALS[0], OTHER, timeout=60)
    request = [m for m in first.requests.values() if m.mti == "0200"][0]
    repeat = await again.send("0200", request.fields)

    assert {n: repeat.get(n) for n in (11, 37, 38, 39, 48)} == {n: answer.get(n) for n in (11, 37, 38, 39, 48)}
    assert len([m for m in peer.received if m.mti == "0200" and m[3] == "500000"]) == 1  # paid once
    assert await db.read(money.check_books) == []
    await again.close()


async def test_a_bill_paid_through_one_node_is_already_paid_88_on_another(behind_haproxy):
    cluster, lb, peer, db = behind_haproxy
    customer, amount = "532110000123", postpaid_total_minor()
    one = await signed_on(cluster.nodes[0].terminal_port, OTHER_TERMINALS[0], OTHER, timeout=60)
    two = await signed_on(cluster.nodes[1].terminal_port, OTHER_TERMINALS[1], OTHER, timeout=60)
    assert (await one.inquiry("PLNPST", customer))[39] == "00"
    assert (await one.pay("PLNPST", customer, amount))[39] == "00"

    assert (await two.inquiry("PLNPST", customer))[39] == "00"  # the bank still quotes the same bills
    assert (await two.pay("PLNPST", customer, amount))[39] == "88"
    assert len([m for m in peer.received if m.mti == "0200" and m[3] == "500000"]) == 1
    for terminal in (one, two):
        await terminal.close()


async def test_haproxy_sends_no_terminal_to_a_node_whose_readyz_says_not_ready(tmp_path):
    peer = ScriptedBank(good_bank)
    port = await peer.listen()
    async with fresh_postgres() as database:
        await provision(database, {SHARED: 10_000_000_00}, {t: SHARED for t in TERMINALS[:6]})
        cluster = Cluster(database, tmp_path, [bank("BANKA", port)], count=3)
        cluster.write()
        unready = cluster.nodes[2]  # its only bank is nowhere: /readyz answers 503 "no bank link up"
        unready.config.write_text(unready.config.read_text().replace(f"127.0.0.1:{port}", "127.0.0.1:9"))
        lb = Haproxy(cluster.nodes, tmp_path)
        db = open_database(database)
        try:
            for node in cluster.nodes:
                await node.start()
            await cluster.wait_ready(cluster.nodes[:2])
            await lb.start()
            assert await wait_until(lambda: _is_down(lb, "node3"), timeout=60)
            assert not await unready.ready() and unready.alive
            terminals = [await signed_on(lb.port, t, SHARED, timeout=60) for t in TERMINALS[:6]]
            codes = [(await t.pay("PLNPRA", f"1523456{i:04d}", TOKEN))[39] for i, t in enumerate(terminals)]
            await db.open()
            nodes = await db.read(lambda tx: tx.fetchall("SELECT DISTINCT node_id FROM txns WHERE kind = 'payment'"))
            assert codes == ["00"] * 6
            assert {row["node_id"] for row in nodes} == {"node1", "node2"}
            for terminal in terminals:
                await terminal.close()
        finally:
            await lb.stop()
            await cluster.stop()
            await db.close()
            await peer.close()


async def _is_down(lb: Haproxy, server: str) -> bool:
    return (await lb.server_states()).get(server, "").startswith("DOWN")
