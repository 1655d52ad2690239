"""One TCP connection to a bank, and how its end is logged: in order (info) or lost (warning)."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import structlog

from switch.wire import HI, Message, encode, frame

log = structlog.get_logger("bank_link")


@dataclass(eq=False)
class BankChannel:
    """One TCP connection to a bank."""
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    header: str
    signed_on: bool = False
    was_signed_on: bool = False
    last_received: float = field(default_factory=time.monotonic)
    waiting: set[str] = field(default_factory=set)  # STANs sent on this channel, not yet answered
    closing: str = ""        # why we or the bank ended the link in order ('' = it was lost)
    lost: str = ""           # why we closed it ourselves because it stopped working
    outbox: list[bytes] = field(default_factory=list, repr=False)  # framed, not yet written

    @property
    def peer(self) -> str:
        peer = self.writer.get_extra_info("peername")
        return f"{peer[0]}:{peer[1]}" if peer else "?"

    def send(self, msg: Message) -> None:
        """Encodes now (a CodecError is the caller's); the requests of one event-loop turn (a group
        commit releases a batch of payments at once) go out in one write, not one system call each."""
        data = frame(encode(msg, HI), self.header)
        if not self.outbox:
            asyncio.get_running_loop().call_soon(self.flush)
        self.outbox.append(data)

    def flush(self) -> None:
        out, self.outbox = self.outbox, []
        if out and not self.writer.is_closing():
            self.writer.write(b"".join(out))

    def close(self) -> None:
        self.flush()  # what was sent goes out before the connection ends
        self.writer.close()


def log_end(bank_id: str, channel: BankChannel, stopping: bool) -> None:
    """An orderly end (the switch stops, or either side signed off first) is info; a lost link is a
    warning, with what was in flight on it."""
    if stopping or channel.closing:
        log.info("bank_disconnected", bank=bank_id, peer=channel.peer,
                 reason=channel.closing or "the switch is stopping")
    else:
        log.warning("bank_link_lost", bank=bank_id, peer=channel.peer,
                    reason=channel.lost or "the bank closed the connection without signing off",
                    in_flight=len(channel.waiting))
