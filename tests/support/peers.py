"""Peers written from the contract alone, for testing the switch as outsiders would see it:
a terminal that frames, signs and matches by (41, 11), and a bank host whose answers a test scripts."""
from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Callable

from switch.wire import HI, TI, FrameReader, Message, decode, encode, frame, sign, verify

KEY = bytes(range(16))


def now_f7() -> str:
    return time.strftime("%m%d%H%M%S", time.gmtime())


def original_data(request: Message) -> str:
    """Field 90 naming a request this terminal sent: MTI, STAN, field 7, then zeros (a terminal has
    no acquiring institution of its own)."""
    return request.mti + request[11] + request[7] + "0" * 22


class ContractTerminal:
    """A terminal: many requests in flight, responses matched by STAN, every MAC checked."""

    def __init__(self, host: str, port: int, terminal_id: str, agent_id: str, key: bytes = KEY) -> None:
        self.host, self.port = host, port
        self.terminal_id, self.agent_id, self.key = terminal_id, agent_id, key
        self._stans = itertools.count(1)
        self._waiting: dict[str, list[asyncio.Future]] = {}  # a retransmission waits beside its original
        self.raw_responses: list[bytes] = []
        self.bad_macs: list[bytes] = []
        self.requests: dict[str, Message] = {}  # by STAN: what was sent, for reversals and reprints

    async def connect(self) -> "ContractTerminal":
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self._reader_task = asyncio.create_task(self._read())
        return self

    async def close(self) -> None:
        self.writer.close()
        self._reader_task.cancel()

    async def _read(self) -> None:
        frames = FrameReader(self.reader, "2B", 4096, stall_timeout=10)
        while True:
            try:
                raw = await frames.read_frame()
            except Exception as exc:
                for futures in self._waiting.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(ConnectionError(str(exc)))
                return
            self.raw_responses.append(raw)
            msg = decode(raw, TI)
            if msg.get(39) != "58" and not verify(raw, self.key):
                self.bad_macs.append(raw)
            futures = self._waiting.get(msg.get(11)) or []
            if futures:
                future = futures.pop(0)
                if not future.done():
                    future.set_result(msg)

    def next_stan(self) -> str:
        return f"{next(self._stans):06d}"

    def base(self, proc: str, amount: int = 0, **extra: str) -> dict[int, str]:
        local = time.strftime("%H%M%S"), time.strftime("%m%d")
        fields = {3: proc, 4: f"{amount:012d}", 7: now_f7(), 11: self.next_stan(), 12: local[0],
                  13: local[1], 18: "6021", 41: self.terminal_id.ljust(8), 42: self.agent_id.ljust(15),
                  49: "360"}
        fields.update({int(k): v for k, v in extra.items()})
        return fields

    async def send(self, mti: str, fields: dict[int, str], *, key: bytes | None = None,
                   timeout: float = 30.0) -> Message:
        msg = Message(mti, dict(fields))
        self.requests[msg[11]] = msg
        return await self.send_raw(sign(msg, key or self.key, TI), msg[11], timeout)

    async def send_raw(self, raw: bytes, stan: str, timeout: float = 30.0) -> Message:
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(stan, []).append(future)
        self.writer.write(frame(raw, "2B"))
        await self.writer.drain()
        return await asyncio.wait_for(future, timeout)

    async def sign_on(self) -> Message:
        return await self.send("0800", {7: now_f7(), 11: self.next_stan(), 41: self.terminal_id.ljust(8),
                                        70: "001"})

    async def inquiry(self, product: str, customer: str) -> Message:
        return await self.send("0200", self.base("380000", 0, **{"48": product + customer.ljust(13)}))

    async def pay(self, product: str, customer: str, amount: int, **extra) -> Message:
        return await self.send("0200", self.base("500000", amount, **{"48": product + customer.ljust(13)},
                                                 **extra))

    async def balance(self) -> Message:
        return await self.send("0200", self.base("310000", 0))

    async def reverse(self, answer: Message, **extra) -> Message:
        """0400 for the payment whose answer (or request) this is, as sent by this terminal."""
        original = self.requests[answer[11]]
        fields = self.base("500000", int(original[4]), **{"48": original[48], "90": original_data(original)})
        fields.update({int(k): v for k, v in extra.items()})
        return await self.send("0400", fields)

    async def status(self, answer: Message) -> Message:
        """390000: the status / reprint of the payment whose answer (or request) this is."""
        original = self.requests[answer[11]]
        return await self.send("0200", self.base("390000", 0, **{"90": original_data(original)}))


@dataclass
class ScriptedBank:
    """A bank host: signs on, echoes, and answers 0200/0400/0220/0500 with what `answer` returns
    (None: never answers). Every request it receives is kept in `received`."""
    answer: Callable[[Message], Message | None]
    framing: str = "2B"
    received: list[Message] = field(default_factory=list)
    answers: list[Message] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    delay_s: float = 0.0
    mute: bool = False  # True: answers nothing at all, network management included (a hung host)

    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.server = await asyncio.start_server(self._serve, host, port)
        return self.server.sockets[0].getsockname()[1]

    async def connect(self, host: str, port: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        asyncio.create_task(self._serve(reader, writer))

    def drop(self) -> None:
        for writer in self.writers:
            writer.close()

    async def close(self) -> None:
        if hasattr(self, "server"):
            self.server.close()
        self.drop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        frames = FrameReader(reader, self.framing, 4096, stall_timeout=10)
        while True:
            try:
                raw = await frames.read_frame()
            except (Exception, asyncio.CancelledError):
                return
            msg = decode(raw, HI)
            if not msg.is_request:
                self.answers.append(msg)  # the switch's answers to the bank's own requests
                continue
            self.received.append(msg)
            asyncio.create_task(self._reply(writer, msg))

    async def _reply(self, writer: asyncio.StreamWriter, msg: Message) -> None:
        if self.mute:
            return
        if msg.mti == "0800":
            reply = Message("0810", {n: msg[n] for n in (7, 11, 70) if n in msg})
            reply[39] = "00"
        else:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            reply = self.answer(msg)
        if reply is not None and not writer.is_closing():
            writer.write(frame(encode(reply, HI), self.framing))


def echo_response(msg: Message, rc: str, **extra: str) -> Message:
    fields = {n: v for n, v in msg.fields.items()
              if n in (3, 4, 7, 11, 12, 13, 15, 18, 32, 37, 41, 42, 49, 90)}
    fields[39] = rc
    fields.update({int(k): v for k, v in extra.items()})
    return Message(msg.response_mti, fields)
