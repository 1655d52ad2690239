"""Overload limits (specs/hardening.md) over real sockets: connection caps, per-terminal in-flight and
rate limits answered 91, abusive and non-reading connections closed, a slow bank shedding new work."""
from __future__ import annotations

import asyncio
import socket

from prometheus_client.parser import text_string_to_metric_families

from switch.wire import TI, FrameReader, Message, decode, frame, sign, verify
from tests.support.bank_answers import good_bank
from tests.support.harness import bank, switch_with_bank, wait_until
from tests.support.peers import KEY, ScriptedBank, now_f7


def shed(running, reason: str) -> float:
    for family in text_string_to_metric_families(running.app.metrics.render().decode()):
        for s in family.samples:
            if s.name == "ppob_overload_shed_total" and s.labels.get("reason") == reason:
                return s.value
    return 0.0


async def closed_at_once(reader: asyncio.StreamReader) -> bool:
    """The switch closed the connection without a word (read gives EOF or a reset)."""
    try:
        return await asyncio.wait_for(reader.read(100), 5) == b""
    except ConnectionResetError:
        return True


def echo(stan: int) -> bytes:
    return frame(sign(Message("0800", {7: now_f7(), 11: f"{stan:06d}", 41: "T0000001", 70: "301"}), KEY, TI), "2B")


async def answers(reader: asyncio.StreamReader, count: int) -> list[bytes]:
    frames = FrameReader(reader, "2B", 4096)
    return [await asyncio.wait_for(frames.read_frame(), 10) for _ in range(count)]


async def test_a_connection_over_the_switch_wide_cap_is_closed_at_once_and_counted(start_switch):
    running = await start_switch([bank("BANKA", 1)], terminals={"max_connections": 2})
    port = running.ports.terminals
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    assert await wait_until(lambda: running.app.terminals.connected == 2)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await closed_at_once(reader)
    assert shed(running, "connections") == 1
    held[0][1].close()
    assert await wait_until(lambda: running.app.terminals.connected == 1)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(echo(1))
    assert decode((await answers(reader, 1))[0], TI)[39] == "00"  # a freed slot is usable again
    for _, w in held[1:]:
        w.close()
    writer.close()


async def test_one_address_cannot_take_more_than_its_share_of_connections(start_switch):
    running = await start_switch([bank("BANKA", 1)], terminals={"max_connections_per_address": 2})
    port = running.ports.terminals
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await closed_at_once(reader)
    assert shed(running, "address") == 1
    # another address on the same machine still gets in
    other_reader, other_writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
    other_writer.write(echo(1))
    assert decode((await answers(other_reader, 1))[0], TI)[39] == "00"
    for _, w in held + [(other_reader, other_writer)]:
        w.close()


async def test_requests_beyond_a_terminals_in_flight_limit_get_a_quick_91_with_a_valid_mac(start_switch):
    held: list[Message] = []

    def slow_bank(msg: Message):
        held.append(msg)
        return None  # never answers: the inquiries stay in flight until the bank timeout

    running, peer, terminal = await switch_with_bank(start_switch, slow_bank, timeout_s=5,
                                                     terminals={"max_in_flight_per_terminal": 2})
    waiting = [asyncio.create_task(terminal.inquiry("PLNPST", f"53211000{i:04d}")) for i in range(2)]
    assert await wait_until(lambda: len(held) == 2)
    refused = await asyncio.gather(*(terminal.inquiry("PLNPST", "532110000123") for _ in range(3)))
    assert [a[39] for a in refused] == ["91"] * 3
    assert terminal.bad_macs == []  # the 91s are MACed with the terminal's key
    assert len(held) == 2  # the bank never saw them
    assert shed(running, "terminal_in_flight") == 3
    assert [a[39] for a in await asyncio.gather(*waiting)] == ["68", "68"]


async def test_a_terminal_over_its_rate_gets_91_and_its_budget_refills(start_switch):
    running, peer, terminal = await switch_with_bank(
        start_switch, terminals={"max_requests_per_s": 2, "max_burst": 3})
    await asyncio.sleep(1.6)  # the bucket is full again after the sign-on
    codes = [(await terminal.send("0800", {7: now_f7(), 11: terminal.next_stan(), 41: "T0000001",
                                           70: "301"}))[39] for _ in range(6)]
    assert codes[:3] == ["00"] * 3 and "91" in codes[3:]
    assert shed(running, "terminal_rate") >= 1
    await asyncio.sleep(1.0)
    assert (await terminal.inquiry("PLNPST", "532110000123"))[39] == "00"


async def test_a_second_connection_of_the_same_terminal_shares_its_budget(start_switch):
    running, peer, terminal = await switch_with_bank(
        start_switch, terminals={"max_requests_per_s": 0.1, "max_burst": 2})
    second = await running.terminal().connect()
    assert (await second.sign_on())[39] == "00"  # before sign-on a connection has a budget of its own
    assert (await second.balance())[39] == "00"    # the terminal's bucket holds two tokens ...
    assert (await terminal.balance())[39] == "00"  # ... spent from either connection ...
    assert (await second.balance())[39] == "91"    # ... so none is left on the second one either


async def test_a_flood_of_refused_requests_closes_the_connection(start_switch):
    running = await start_switch([bank("BANKA", 1)], terminals={
        "max_requests_per_s": 0.1, "max_burst": 1, "abuse_close_after": 20})
    reader, writer = await asyncio.open_connection("127.0.0.1", running.ports.terminals)
    writer.write(b"".join(echo(i) for i in range(1, 200)))
    frames = FrameReader(reader, "2B", 4096)
    codes = []
    try:
        while True:
            codes.append(decode(await asyncio.wait_for(frames.read_frame(), 10), TI)[39])
    except (ConnectionError, Exception):
        pass
    assert codes.count("91") == 20 and set(codes) <= {"00", "91"}  # the first (00) may lose the race
    assert shed(running, "abuse") == 1 and shed(running, "terminal_rate") == 20
    writer.close()


async def test_a_terminal_that_never_reads_its_answers_is_closed(start_switch):
    running = await start_switch([bank("BANKA", 1)], terminals={
        "max_unread_bytes": 4096, "max_requests_per_s": 0.1, "max_burst": 1,
        "abuse_close_after": 10_000_000})  # its answers are quick 91s, so they pile up fast
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", running.ports.terminals))
    reader, writer = await asyncio.open_connection(sock=sock)
    batch = b"".join(echo(i % 999999 + 1) for i in range(500))
    try:
        for i in range(400):  # up to ~12 MB of echoes; their answers pile up at the switch
            writer.write(batch)
            await asyncio.wait_for(writer.drain(), 10)
            if i % 20 == 0 and shed(running, "unread"):
                break
    except (ConnectionError, asyncio.TimeoutError):
        pass
    assert await wait_until(lambda: shed(running, "unread") == 1)
    assert await wait_until(lambda: running.app.terminals.connected == 0)
    writer.close()


async def test_a_slow_bank_sheds_new_payments_with_91_instead_of_piling_them_up(start_switch):
    held: list[Message] = []

    def stuck_bank(msg: Message):
        if msg.mti == "0200" and msg[3] == "500000":
            held.append(msg)
            return None
        return good_bank(msg)

    peer = ScriptedBank(stuck_bank)
    port = await peer.listen()
    running = await start_switch([bank("BANKA", port, timeout_s=5, max_in_flight=2)])
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPRA"))
    terminal = await running.terminal().connect()
    await terminal.sign_on()
    before = await running.balances()
    waiting = [asyncio.create_task(terminal.pay("PLNPRA", f"1423456{i:04d}", 20_000_00)) for i in range(2)]
    assert await wait_until(lambda: len(held) == 2)
    refused = await asyncio.wait_for(terminal.pay("PLNPRA", "14234560099", 20_000_00), 2)
    assert refused[39] == "91"
    assert len(held) == 2 and shed(running, "bank_busy") >= 1
    ledger, available = await running.balances()
    assert ledger == before[0] and available == before[1] - 2 * 20_000_00  # only the two waiting hold
    await asyncio.gather(*waiting)


async def test_a_listen_mode_bank_port_takes_at_most_its_max_connections(start_switch):
    running = await start_switch([bank("BANKA", 0, mode="listen", max_connections=2)])
    port, link = running.ports.banks["BANKA"], running.app.svc.router.bank("BANKA")
    held = [ScriptedBank(good_bank) for _ in range(2)]
    for peer in held:
        await peer.connect("127.0.0.1", port)
    assert await wait_until(lambda: link.connections == 2 and link.is_up)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await closed_at_once(reader)  # never signed on to: it waited, then was closed
    assert shed(running, "bank_connections") == 1 and link.connections == 2
    held[0].drop()
    assert await wait_until(lambda: link.connections == 1)
    again = ScriptedBank(good_bank)  # a freed slot is usable again
    await again.connect("127.0.0.1", port)
    assert await wait_until(lambda: link.connections == 2 and len(again.received) >= 1)
    assert again.received[0].mti == "0800"
    writer.close()
    await again.close()
    await held[1].close()
