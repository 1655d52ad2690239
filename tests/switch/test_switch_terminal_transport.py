"""§2 transport on the terminal side: an oversize header or a stalled frame closes that connection
only; a terminal that stays silent past idle_timeout_s is closed."""
from __future__ import annotations

import asyncio

from tests.support.harness import switch_with_bank


async def closed(reader: asyncio.StreamReader, within: float = 5.0) -> bool:
    try:
        return await asyncio.wait_for(reader.read(100), within) == b""
    except (ConnectionError, asyncio.TimeoutError):
        return False


async def test_a_header_announcing_more_than_4096_bytes_closes_that_connection_only(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch)
    reader, writer = await asyncio.open_connection("127.0.0.1", running.ports.terminals)
    writer.write((5000).to_bytes(2, "big") + b"0200")
    assert await closed(reader)
    assert (await terminal.balance())[39] == "00"  # the other terminal is unaffected


async def test_a_frame_that_stalls_midway_is_closed_after_stall_timeout(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch, terminals={"stall_timeout_s": 0.5})
    reader, writer = await asyncio.open_connection("127.0.0.1", running.ports.terminals)
    writer.write((100).to_bytes(2, "big") + b"0800")  # 96 bytes never come
    assert await closed(reader, within=5.0)
    assert (await terminal.balance())[39] == "00"


async def test_a_silent_terminal_is_closed_after_idle_timeout(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch, terminals={"idle_timeout_s": 0.5})
    reader, writer = await asyncio.open_connection("127.0.0.1", running.ports.terminals)
    assert await closed(reader, within=5.0)
