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

    Both waits share one timer per connection, moved lazily: a frame only notes its deadline, and
    the timer, when it fires before that deadline, sets itself again for it. A timeout scope per
    frame (two timers set and cancelled each time) was 3 % of the switch's CPU. When a deadline
    passes, the reading task is cancelled and the cancellation turned into the timeout, as
    asyncio.timeout does.
    """

    def __init__(self, reader: asyncio.StreamReader, header: str = "2B", max_bytes: int = 4096,
                 stall_timeout: float | None = 30.0) -> None:
        _check_header_kind(header)
        self.reader = reader
        self.header = header
        self.max_bytes = max_bytes
        self.stall_timeout = stall_timeout
        self._deadline: float | None = None   # of the wait under way (None: none bounded)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._task: asyncio.Task | None = None
        self._expired = False

    async def read_frame(self, idle_timeout: float | None = None) -> bytes:
        """One frame (IdleTimeout, StallTimeout, ConnectionClosed, FramingError and its kinds)."""
        loop = asyncio.get_running_loop()
        task = self._task = asyncio.current_task()
        cancelling = task.cancelling() if task is not None else 0
        waiting_for_first = True
        reader = self.reader
        try:
            self._until(loop, idle_timeout)
            try:
                first = await reader.readexactly(1)
            except (asyncio.IncompleteReadError, ConnectionError):
                raise ConnectionClosed("connection closed") from None
            waiting_for_first = False
            self._until(loop, self.stall_timeout)
            try:
                rest = await reader.readexactly(HEADER_SIZE[self.header] - 1)
                size = self._frame_size(first + rest)
                return await reader.readexactly(size)
            except (asyncio.IncompleteReadError, ConnectionError):
                raise FramingError("connection closed mid-frame") from None
        except asyncio.CancelledError:
            expired, self._expired = self._expired, False
            if expired and task is not None and task.uncancel() <= cancelling:
                self._stop_timer()
                if waiting_for_first:
                    raise IdleTimeout(f"no frame within {idle_timeout} s") from None
                raise StallTimeout(f"frame not complete within {self.stall_timeout} s") from None
            self._stop_timer()
            raise
        except BaseException:
            self._stop_timer()  # the connection ends here: no timer left holding it
            raise
        finally:
            self._deadline = None

    def _until(self, loop: asyncio.AbstractEventLoop, seconds: float | None) -> None:
        """The wait that starts now ends `seconds` from now (None: it is not bounded)."""
        if seconds is None:
            self._deadline = None
            return
        deadline = self._deadline = loop.time() + seconds
        if self._timer is None or self._timer_at > deadline:  # none, or it would fire too late
            self._stop_timer()
            self._timer, self._timer_at = loop.call_at(deadline, self._check, loop), deadline

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self._task is None:  # between frames: the next wait sets a timer
            return
        if deadline - loop.time() > 0.001:  # the deadline moved on since the timer was set
            self._timer, self._timer_at = loop.call_at(deadline, self._check, loop), deadline
            return
        self._expired = True
        self._task.cancel()

    def close(self) -> None:
        """No more reads: the timer goes now. Left set after a frame that completed, it would keep
        this reader, its buffered bytes and the reading task alive until it fires (up to
        stall_timeout), for a connection ended outside read_frame (shed as abusive, say)."""
        self._stop_timer()
        self._task = self._deadline = None

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

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
