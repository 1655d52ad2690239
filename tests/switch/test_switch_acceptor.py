"""The Acceptor (switch/links/acceptor.py) over real loopback sockets: at its cap it stops accepting,
the connection waiting longest gets the first freed slot, connections left waiting are closed and
counted (at most ACCEPT_BATCH each time it looks), and a failed TLS handshake gives its slot back."""
from __future__ import annotations

import asyncio
import ssl

from switch.links.acceptor import ACCEPT_BATCH, Acceptor
from switch.links.limits import Shed
from tests.support.certs import make_certs
from tests.support.harness import wait_until


class Echoes:
    """A `serve` that echoes one line per connection and holds the connection until released."""

    def __init__(self) -> None:
        self.served = 0
        self.release = asyncio.Event()
        self.refused: list[Shed] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.served += 1
        writer.write(await reader.readline())
        await self.release.wait()
        writer.close()

    def acceptor(self, **options) -> Acceptor:
        return Acceptor(self.serve, on_refused=lambda shed, address: self.refused.append(shed), **options)


async def echoed(port: int, line: bytes = b"hello\n", timeout: float = 5) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(line)
    try:
        return await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()


async def test_at_the_cap_a_newcomer_waits_and_gets_the_first_slot_freed():
    echoes = Echoes()
    acceptor = echoes.acceptor(max_open=1, refuse_queued_s=30)
    port = acceptor.listen("127.0.0.1", 0)
    first = asyncio.create_task(echoed(port))
    assert await wait_until(lambda: echoes.served == 1) and acceptor.paused
    waiting = asyncio.create_task(echoed(port, b"second\n", timeout=10))
    await asyncio.sleep(0.3)
    assert echoes.served == 1 and not waiting.done()  # held in the listen queue, not accepted
    echoes.release.set()  # the first connection ends: its slot goes to the one waiting
    assert await first == b"hello\n"
    assert await waiting == b"second\n"
    assert echoes.refused == [] and acceptor.open == 0 and not acceptor.paused
    acceptor.close()


async def test_connections_left_waiting_at_the_cap_are_closed_and_counted():
    echoes = Echoes()
    acceptor = echoes.acceptor(max_open=1, refuse_queued_s=1.0)
    port = acceptor.listen("127.0.0.1", 0)
    held_reader, held_writer = await asyncio.open_connection("127.0.0.1", port)
    assert await wait_until(lambda: echoes.served == 1)
    waiting = ACCEPT_BATCH + 6  # more than one batch: the rest wait for the next look
    queued = [await asyncio.open_connection("127.0.0.1", port) for _ in range(waiting)]
    assert await wait_until(lambda: len(echoes.refused) >= ACCEPT_BATCH, interval=0.01)
    assert len(echoes.refused) == ACCEPT_BATCH
    for reader, _ in queued:  # closed without a word, the oldest first
        assert await asyncio.wait_for(reader.read(10), 5) == b""
    assert echoes.refused == [Shed.CONNECTIONS] * waiting and echoes.served == 1
    held_writer.write(b"still here\n")  # the connection holding the slot is untouched
    assert await asyncio.wait_for(held_reader.readline(), 5) == b"still here\n"
    echoes.release.set()
    assert await echoed(port) == b"hello\n"  # and accepting resumes once it ends
    for _, writer in queued:
        writer.close()
    held_writer.close()
    acceptor.close()


async def test_a_failed_tls_handshake_gives_its_slot_back(tmp_path):
    certs = make_certs(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs["cert"], certs["key"])
    echoes = Echoes()
    echoes.release.set()
    acceptor = echoes.acceptor(max_open=1, tls=context, handshake_timeout_s=5, refuse_queued_s=30)
    port = acceptor.listen("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x16\x03\x01\x00\x05hello")  # a ClientHello that is not one
    assert await wait_until(lambda: acceptor.open == 0) and echoes.served == 0
    writer.close()
    client = ssl.create_default_context(cafile=certs["ca"])
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
    writer.write(b"over tls\n")
    assert await asyncio.wait_for(reader.readline(), 5) == b"over tls\n"
    writer.close()
    acceptor.close()
