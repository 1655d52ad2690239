"""Length-header framing over a real loopback TCP connection."""
from __future__ import annotations

import asyncio
import gc
import socket
from dataclasses import dataclass

import pytest

from switch.wire import (BadHeader, ConnectionClosed, FrameReader, FrameTooLarge, FramingError, IdleTimeout,
                         StallTimeout, decode, frame, sign, verify, write_frame)
from switch.wire.message import Message

SHORT = 0.2  # seconds: timeouts under test


@dataclass
class Link:
    """Both ends of one loopback connection: the client writes, the server side reads frames."""
    client: asyncio.StreamWriter
    server_reader: asyncio.StreamReader
    server_writer: asyncio.StreamWriter

    def frames(self, header: str = "2B", max_bytes: int = 4096, stall: float | None = SHORT) -> FrameReader:
        return FrameReader(self.server_reader, header, max_bytes, stall)


@pytest.fixture
async def link():
    accepted: asyncio.Queue = asyncio.Queue()
    server = await asyncio.start_server(lambda r, w: accepted.put_nowait((r, w)), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, client = await asyncio.open_connection("127.0.0.1", port)
    client.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server_reader, server_writer = await accepted.get()
    yield Link(client, server_reader, server_writer)
    for writer in (client, server_writer):
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_frame_sent_one_byte_at_a_time_arrives_whole(link):
    data = b"0800" + b"X" * 60
    for byte in frame(data, "2B"):
        link.client.write(bytes([byte]))
        await link.client.drain()
        await asyncio.sleep(0.001)
    assert await link.frames(stall=5.0).read_frame() == data


async def test_several_frames_in_one_write_are_read_one_by_one(link):
    frames = [b"first", b"second" * 100, b"third"]
    link.client.write(b"".join(frame(f, "2B") for f in frames))
    await link.client.drain()
    reader = link.frames()
    assert [await reader.read_frame() for _ in frames] == frames


async def test_a_frame_of_exactly_the_largest_size_is_accepted(link):
    await write_frame(link.client, b"A" * 4096, "2B")
    assert len(await link.frames().read_frame()) == 4096


async def test_a_header_announcing_more_than_the_largest_message_is_refused(link):
    link.client.write((4097).to_bytes(2, "big"))
    await link.client.drain()
    with pytest.raises(FrameTooLarge):
        await link.frames().read_frame()


async def test_a_zero_length_frame_is_a_bad_header(link):
    link.client.write(b"\x00\x00")
    await link.client.drain()
    with pytest.raises(BadHeader):
        await link.frames().read_frame()


async def test_a_frame_that_stalls_midway_times_out(link):
    link.client.write(frame(b"0800" * 10, "2B")[:12])
    await link.client.drain()
    with pytest.raises(StallTimeout):
        await link.frames(stall=SHORT).read_frame(idle_timeout=5.0)


async def test_a_header_that_stalls_midway_times_out(link):
    link.client.write(b"00")  # half of a 4A header
    await link.client.drain()
    with pytest.raises(StallTimeout):
        await link.frames("4A", stall=SHORT).read_frame(idle_timeout=5.0)


async def test_a_silent_connection_reaches_its_idle_timeout(link):
    with pytest.raises(IdleTimeout):
        await link.frames().read_frame(idle_timeout=SHORT)


async def test_a_clean_close_between_frames_is_connection_closed(link):
    await write_frame(link.client, b"last", "2B")
    link.client.close()
    reader = link.frames()
    assert await reader.read_frame() == b"last"
    with pytest.raises(ConnectionClosed):
        await reader.read_frame(idle_timeout=5.0)


async def test_a_close_mid_frame_is_a_framing_error_not_a_clean_close(link):
    link.client.write(frame(b"0800" * 10, "2B")[:10])
    link.client.close()
    with pytest.raises(FramingError) as caught:
        await link.frames(stall=5.0).read_frame(idle_timeout=5.0)
    assert not isinstance(caught.value, ConnectionClosed)
    assert "mid-frame" in str(caught.value)


async def test_4a_frames_carry_four_ascii_digits(link):
    assert frame(b"x" * 55, "4A")[:4] == b"0055"
    await write_frame(link.client, b"x" * 55, "4A")
    await write_frame(link.client, b"y" * 1234, "4A")
    reader = link.frames("4A")
    assert await reader.read_frame() == b"x" * 55
    assert await reader.read_frame() == b"y" * 1234


async def test_a_4a_header_that_is_not_digits_is_a_bad_header(link):
    link.client.write(b"00A5" + b"z" * 165)
    await link.client.drain()
    with pytest.raises(BadHeader):
        await link.frames("4A").read_frame()


async def test_a_signed_message_survives_the_trip_and_still_verifies(link):
    key = bytes(range(16))
    raw = sign(Message("0800", {7: "1125083000", 11: "000001", 41: "T0000001", 70: "001"}), key)
    await write_frame(link.client, raw, "2B")
    received = await link.frames().read_frame()
    assert verify(received, key) and decode(received)[70] == "001"


def test_frame_refuses_data_its_header_cannot_count():
    with pytest.raises(FrameTooLarge):
        frame(b"x" * 10000, "4A")
    with pytest.raises(FrameTooLarge):
        frame(b"x" * 65536, "2B")
    assert len(frame(b"x" * 9999, "4A")) == 10003


def test_an_unknown_header_kind_is_refused():
    with pytest.raises(ValueError):
        frame(b"x", "3B")


async def test_an_idle_timeout_after_many_frames_still_comes_on_time(link):
    reader = link.frames(stall=SHORT)
    for n in range(20):  # each frame moves the deadline on; the one timer follows it
        await write_frame(link.client, b"frame %d" % n, "2B")
        assert await reader.read_frame(idle_timeout=SHORT) == b"frame %d" % n
        await asyncio.sleep(SHORT / 10)
    started = asyncio.get_running_loop().time()
    with pytest.raises(IdleTimeout):
        await reader.read_frame(idle_timeout=SHORT)
    assert SHORT * 0.9 <= asyncio.get_running_loop().time() - started < SHORT * 5


async def test_a_reader_cancelled_from_outside_is_cancelled_not_timed_out(link):
    reader = link.frames(stall=SHORT)
    task = asyncio.create_task(reader.read_frame(idle_timeout=SHORT))
    await asyncio.sleep(SHORT / 4)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await write_frame(link.client, b"after", "2B")  # the reader still works afterwards
    assert await reader.read_frame(idle_timeout=SHORT) == b"after"


async def test_a_reader_closed_after_a_complete_frame_holds_no_timer_that_keeps_it_alive(link):
    # a connection ended outside read_frame (shed as abusive) must not stay in memory, with its
    # buffered bytes, until a stall timer set for its last frame fires
    reader = FrameReader(link.server_reader, "2B", 4096, stall_timeout=300)
    await write_frame(link.client, b"one", "2B")
    assert await reader.read_frame(idle_timeout=300) == b"one"
    # by identity, not weakref: compiled with mypyc, a FrameReader takes no weak reference
    ident = id(reader)
    reader.close()
    del reader
    gc.collect()
    assert not [o for o in gc.get_objects() if id(o) == ident and type(o) is FrameReader]
