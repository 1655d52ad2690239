"""Length-header framing (§2): "2B" = 2-byte big-endian length, "4A" = 4 ASCII decimal digits."""
from __future__ import annotations

import asyncio

from .errors import BadHeader, ConnectionClosed, FrameTooLarge, FramingError, IdleTimeout, StallTimeout

HEADER_SIZE = {"2B": 2, "4A": 4}
HEADER_LIMIT = {"2B": 65535, "4A": 9999}


def _check_header_kind(header: str) -> None:
    if header not in HEADER_SIZE:
        raise ValueError(f"unknown length header {header!r}; expected '2B' or '4A'")


def frame(data: bytes, header: str) -> bytes:
    """Prefix data with its length header."""
    _check_header_kind(header)
    size = len(data)
    if size > HEADER_LIMIT[header]:
        raise FrameTooLarge(f"{size} bytes do not fit a {header} header")
    prefix = size.to_bytes(2, "big") if header == "2B" else b"%04d" % size
    return prefix + bytes(data)


async def write_frame(writer: asyncio.StreamWriter, data: bytes, header: str) -> None:
    """Write one framed message and wait until the transport has taken it."""
    writer.write(frame(data, header))
    await writer.drain()


class FrameReader:
    """Reads whole frames from one connection.

    idle_timeout bounds the wait for a frame to start; once its first byte is in, the rest must
    arrive within stall_timeout, so a peer cannot hold a half-sent frame open forever.
    """

    def __init__(self, reader: asyncio.StreamReader, header: str = "2B", max_bytes: int = 4096,
                 stall_timeout: float | None = 30.0) -> None:
        _check_header_kind(header)
        self.reader = reader
        self.header = header
        self.max_bytes = max_bytes
        self.stall_timeout = stall_timeout

    async def read_frame(self, idle_timeout: float | None = None) -> bytes:
        """One frame. A single timeout serves both waits (rescheduled once the first byte is in):
        two timeout scopes per frame were 2 % of the switch's CPU."""
        waiting_for_first = True
        try:
            async with asyncio.timeout(idle_timeout) as scope:
                try:
                    first = await self.reader.readexactly(1)
                except (asyncio.IncompleteReadError, ConnectionError):
                    raise ConnectionClosed("connection closed") from None
                waiting_for_first = False
                stall = self.stall_timeout
                scope.reschedule(None if stall is None else asyncio.get_running_loop().time() + stall)
                try:
                    rest = await self.reader.readexactly(HEADER_SIZE[self.header] - 1)
                    size = self._frame_size(first + rest)
                    return await self.reader.readexactly(size)
                except (asyncio.IncompleteReadError, ConnectionError):
                    raise FramingError("connection closed mid-frame") from None
        except TimeoutError:
            if waiting_for_first:
                raise IdleTimeout(f"no frame within {idle_timeout} s") from None
            raise StallTimeout(f"frame not complete within {self.stall_timeout} s") from None

    def _frame_size(self, prefix: bytes) -> int:
        if self.header == "2B":
            size = int.from_bytes(prefix, "big")
        elif prefix.isdigit():
            size = int(prefix)
        else:
            raise BadHeader(f"4A header {prefix!r} is not 4 digits")
        if size == 0:
            raise BadHeader("zero-length frame")
        if size > self.max_bytes:
            raise FrameTooLarge(f"header announces {size} bytes, more than {self.max_bytes}")
        return size
