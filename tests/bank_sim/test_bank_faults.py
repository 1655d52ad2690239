"""Fault injection: declines, silence, dropped links, reconnection, the bank's own echo."""
import asyncio

import pytest

from bank_sim.faults import Fate, Faults
from bank_sim.host import BankHost
from tests.bank_sim.hi_client import HiClient

SHORT_WAIT = 0.3


async def running(book, faults: Faults, framing: str = "2B"):
    host = BankHost(book, faults, framing=framing)
    client = await HiClient.connect(await host.listen("127.0.0.1", 0), framing)
    return host, client


async def stop(host, client) -> None:
    await client.close()
    await host.stop()


async def test_decline_rate_one_answers_05_and_pays_nothing(book, msgs, examples):
    host, client = await running(book, Faults(decline_rate=1))
    try:
        inquiry = await client.request(msgs.inquiry("PLNPST", examples["postpaid"]))
        payment = await client.request(msgs.payment("PLNPST", examples["postpaid"], 100))
        host.faults.decline_rate = 0
        after = await client.request(msgs.inquiry("PLNPST", examples["postpaid"]))
        assert (inquiry[39], payment[39], after[39]) == ("05", "05", "00")
        assert host.stats.by_rc["05"] == 2
    finally:
        await stop(host, client)


async def test_never_answer_processes_the_payment_but_sends_nothing(book, msgs, examples, framing):
    host, client = await running(book, Faults(), framing)
    try:
        due = int((await client.request(msgs.inquiry("PLNPST", examples["postpaid"])))[4])
        host.faults.never_answer = True
        payment = msgs.payment("PLNPST", examples["postpaid"], due)
        with pytest.raises(TimeoutError):
            await client.request(payment, timeout=SHORT_WAIT)
        echo = await client.request(msgs.network("301"))   # the link itself is alive
        host.faults.never_answer = False
        reversal = await client.request(msgs.reversal(payment))
        assert echo[39] == "00"
        assert reversal[39] == "00"          # it had been approved at the bank
        assert host.stats.unanswered == 1
    finally:
        await stop(host, client)


async def test_timeout_rate_one_approves_at_the_bank_and_loses_the_answer(book, msgs, examples):
    host, client = await running(book, Faults(timeout_rate=1))
    try:
        payment = msgs.payment("PLNPRA", examples["prepaid"], 20_000_00 + 2_500_00)
        with pytest.raises(TimeoutError):
            await client.request(payment, timeout=SHORT_WAIT)
        assert host.totals(host.business_date).paid_count == 1
    finally:
        await stop(host, client)


async def test_mute_leaves_even_the_echo_unanswered(book, msgs):
    host, client = await running(book, Faults(mute=True))
    try:
        with pytest.raises(TimeoutError):
            await client.request(msgs.network("301"), timeout=SHORT_WAIT)
    finally:
        await stop(host, client)


async def test_drop_rate_one_closes_the_link_instead_of_answering(book, msgs, examples):
    host, client = await running(book, Faults(drop_rate=1))
    try:
        future = await client.send(msgs.inquiry("PLNPST", examples["postpaid"]))
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(future, 5)
        await asyncio.wait_for(client.closed.wait(), 5)
        assert host.stats.dropped == 1
    finally:
        await stop(host, client)


async def test_drop_links_closes_every_link_now(book, msgs):
    host, client = await running(book, Faults())
    other = await HiClient.connect(host.ports[0])
    try:
        await asyncio.wait_for(host.wait_for_links(2), 5)
        host.drop_links()
        await asyncio.wait_for(asyncio.gather(client.closed.wait(), other.closed.wait()), 5)
        assert client.closed.is_set() and other.closed.is_set()
    finally:
        await other.close()
        await stop(host, client)


async def test_latency_delays_financial_answers_but_they_still_come(book, msgs, examples):
    host, client = await running(book, Faults(latency_ms=50))
    try:
        answer = await client.request(msgs.inquiry("PLNPST", examples["postpaid"]))
        assert answer[39] == "00"
    finally:
        await stop(host, client)


class SwitchListener:
    """The switch's side in listen mode: accepts the bank's connections as HI links."""

    def __init__(self, framing: str = "2B") -> None:
        self.framing = framing
        self.links: asyncio.Queue[HiClient] = asyncio.Queue()
        self.all: list[HiClient] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accepted, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _accepted(self, reader, writer) -> None:
        client = HiClient(reader, writer, self.framing)
        self.all.append(client)
        await self.links.put(client)

    async def next_link(self) -> HiClient:
        return await asyncio.wait_for(self.links.get(), 5)

    async def close(self) -> None:
        for client in self.all:
            await client.close()
        self.server.close()


async def test_connect_mode_answers_on_its_link_and_reconnects_after_a_drop(book, msgs, framing):
    switch = SwitchListener(framing)
    port = await switch.start()
    host = BankHost(book, framing=framing, reconnect_initial_s=0.05)
    try:
        await host.connect("127.0.0.1", port)
        first = await switch.next_link()
        assert (await first.request(msgs.network("001")))[39] == "00"
        host.drop_links()
        second = await switch.next_link()
        assert (await second.request(msgs.network("001")))[39] == "00"
    finally:
        await host.stop()
        await switch.close()


async def test_connect_mode_keeps_trying_until_the_switch_listens(book, msgs):
    import socket
    with socket.socket() as probe:           # a port nobody listens on, yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = BankHost(book, reconnect_initial_s=0.05, reconnect_max_s=0.1)
    await host.connect("127.0.0.1", port)
    await asyncio.sleep(0.2)                 # a few refused attempts
    switch = SwitchListener()
    switch.server = await asyncio.start_server(switch._accepted, "127.0.0.1", port)
    try:
        link = await switch.next_link()
        assert (await link.request(msgs.network("301")))[39] == "00"
    finally:
        await host.stop()
        await switch.close()


async def test_the_bank_sends_its_own_echo_when_an_interval_is_set(book):
    switch = SwitchListener()
    port = await switch.start()
    host = BankHost(book, echo_interval_s=0.05)
    try:
        await host.connect("127.0.0.1", port)
        link = await switch.next_link()
        while not link.unsolicited:
            await asyncio.sleep(0.02)
        echo = link.unsolicited[0]
        assert (echo.mti, echo[70]) == ("0800", "301")
    finally:
        await host.stop()
        await switch.close()


def test_faults_draw_the_same_fates_for_the_same_seed():
    def fates(seed: int) -> list[Fate]:
        faults = Faults(timeout_rate=0.3, decline_rate=0.3, drop_rate=0.1, seed=seed)
        return [faults.draw(can_decline=True) for _ in range(200)]
    assert fates(5) == fates(5)
    assert fates(5) != fates(6)
    assert {Fate.ANSWER, Fate.DECLINE, Fate.TIMEOUT, Fate.DROP} <= set(fates(5))


def test_faults_never_decline_what_may_not_be_declined():
    faults = Faults(decline_rate=1)
    assert {faults.draw(can_decline=False) for _ in range(50)} == {Fate.ANSWER}


@pytest.mark.parametrize("bad", [{"timeout_rate": 1.5}, {"decline_rate": -0.1}, {"latency_ms": -1}])
def test_faults_refuse_impossible_rates(bad):
    with pytest.raises(ValueError):
        Faults(**bad)
