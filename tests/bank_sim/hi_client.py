"""A small switch-side HI peer for testing the simulated bank: frames, encodes and matches by STAN."""
from __future__ import annotations

import asyncio
import itertools

from switch.wire import HI, FrameReader, FramingError, Message, decode, encode, frame

ACQUIRER = "90001"
TERMINAL, AGENT = "T0000001", "AGT000000000001"


class HiClient:
    """The switch's end of one HI link; many requests in flight, responses matched by field 11."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, framing: str) -> None:
        self.reader, self.writer, self.framing = reader, writer, framing
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self.unsolicited: list[Message] = []   # requests from the bank (its echo)
        self.closed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, port: int, framing: str = "2B") -> "HiClient":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, framing)

    async def _read(self) -> None:
        frames = FrameReader(self.reader, self.framing, 4096, stall_timeout=10)
        try:
            while True:
                msg = decode(await frames.read_frame(), HI)
                future = self._waiting.pop(msg.get(11, ""), None)
                if msg.is_request or future is None:
                    self.unsolicited.append(msg)
                elif not future.done():
                    future.set_result(msg)
        except FramingError:
            pass
        finally:
            self.closed.set()
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("link closed"))

    async def send(self, msg: Message) -> asyncio.Future[Message]:
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[msg[11]] = future
        self.writer.write(frame(encode(msg, HI), self.framing))
        await self.writer.drain()
        return future

    async def request(self, msg: Message, timeout: float = 5) -> Message:
        return await asyncio.wait_for(await self.send(msg), timeout)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(frame(data, self.framing))
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class Messages:
    """Builds the switch's HI requests; each gets its own STAN, RRN and field 7."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)

    def _ids(self) -> tuple[str, str, str]:
        number = next(self._numbers)
        return f"{number:06d}", f"{number:012d}", f"1125{number % 240000:06d}"

    def financial(self, mti: str, code: str, product: str, customer: str, amount: int = 0,
                  extra: dict[int, str] | None = None) -> Message:
        stan, rrn, f7 = self._ids()
        fields = {3: code, 4: f"{amount:012d}", 7: f7, 11: stan, 12: "153015", 13: "1125", 18: "6021",
                  32: ACQUIRER, 37: rrn, 41: TERMINAL, 42: AGENT, 48: f"{product:<6}{customer:<13}", 49: "360"}
        fields.update(extra or {})
        return Message(mti, fields)

    def inquiry(self, product: str, customer: str) -> Message:
        return self.financial("0200", "380000", product, customer)

    def payment(self, product: str, customer: str, amount: int) -> Message:
        return self.financial("0200", "500000", product, customer, amount)

    def reversal(self, original: Message, mti: str = "0400") -> Message:
        msg = self.financial(mti, "500000", original[48][:6], original[48][6:].strip(), int(original[4]),
                             {37: original[37], 90: field90(original)})
        for n in (12, 13, 18):
            del msg.fields[n]
        return msg

    def advice(self, original: Message, mti: str = "0220") -> Message:
        return self.reversal(original, mti)

    def network(self, code: str, extra: dict[int, str] | None = None) -> Message:
        stan, _, f7 = self._ids()
        return Message("0800", {7: f7, 11: stan, 70: code, **(extra or {})})

    def reconciliation(self, mmdd: str, paid: tuple[int, int], reversed_: tuple[int, int]) -> Message:
        stan, _, f7 = self._ids()
        net = paid[1] - reversed_[1]
        return Message("0500", {7: f7, 11: stan, 15: mmdd, 32: ACQUIRER, 74: f"{paid[0]:010d}",
                                76: f"{reversed_[0]:010d}", 86: f"{paid[1]:016d}", 88: f"{reversed_[1]:016d}",
                                97: f"{'C' if net > 0 else 'D'}{abs(net):016d}"})


def field90(original: Message) -> str:
    return original.mti + original[11] + original[7] + ACQUIRER.zfill(11) + "0" * 11
