"""A small stand-in for the switch's terminal side, on real loopback TCP, for the terminal's tests.

It decodes each request, checks its MAC (63 when wrong, as §6 says) and answers with the response
fields of the contract vectors, re-signed with the request's own echo fields. Knobs let a test hold
answers back and release them in reverse order, sign with a wrong key, or stay silent.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

from switch.wire import (ConnectionClosed, FrameReader, FramingError, Message, TI, decode, encode, sign, verify,
                         write_frame)
from switch.wire.field48 import PREPAID_LEN, parse_request

VECTORS = {v["name"]: v for v in json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "vectors.json").read_text())}
KEY = bytes.fromhex(VECTORS["signon_request"]["mac_key_hex"])
TID, AGENT = "T0000001", "AGT000000000001"  # the vectors' terminal and agent
ECHOED = (3, 7, 11, 12, 13, 18, 41, 42, 49, 70, 90)
CUSTOMERS = {"532110000123", "14234567890", "5321126110001"}   # the vectors' customers


def vector_fields(name: str) -> dict[int, str]:
    return {int(k): v for k, v in VECTORS[name]["fields"].items() if k not in ("t", "64", "128")}


def _prepaid_inquiry() -> dict[int, str]:
    fields = vector_fields("prepaid_payment_response")
    fields[48] = fields[48][:PREPAID_LEN]
    fields.pop(38)
    return fields


def _nontaglis_payment() -> dict[int, str]:
    fields = vector_fields("nontaglis_inquiry_response")
    fields[48] += "0BAG210Z5N4M3L2K1J0I9H8G7F6E5D4C"
    return {**fields, 3: "500000", 37: "000000000105", 38: "G7H8I9"}


# (processing code, product) -> the vector response fields that answer it
ANSWERS = {
    ("380000", "PLNPST"): vector_fields("postpaid_inquiry_response"),
    ("500000", "PLNPST"): vector_fields("postpaid_payment_response"),
    ("380000", "PLNPRA"): _prepaid_inquiry(),
    ("500000", "PLNPRA"): vector_fields("prepaid_payment_response"),
    ("380000", "PLNNTL"): vector_fields("nontaglis_inquiry_response"),
    ("500000", "PLNNTL"): _nontaglis_payment(),
    ("310000", None): vector_fields("balance_response"),
}


@dataclass
class TerminalPeer:
    key: bytes = KEY
    answer_key: bytes | None = None        # sign answers with this key instead (a bad MAC)
    hold: int = 0                          # collect this many requests, then answer them newest first
    silent_products: set[str] = field(default_factory=set)   # payments of these get no answer (but
                                                              # are approved: a status request finds them)
    unregistered: bool = False             # answer everything 58 without a MAC, as for an unknown terminal
    received: list[Message] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)         # STANs in the order answered
    payments: dict[str, dict[int, str]] = field(default_factory=dict)  # STAN -> the 0210 sent
    host: str = "127.0.0.1"
    port: int = 0

    async def start(self) -> "TerminalPeer":
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._held: list[tuple[asyncio.StreamWriter, Message]] = []
        self._writers: set[asyncio.StreamWriter] = set()
        return self

    def drop_connections(self) -> None:
        """Close every terminal connection, as a switch restart or an idle timeout would."""
        for writer in self._writers:
            writer.close()

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader(reader, "2B")
        self._writers.add(writer)
        try:
            while True:
                raw = await frames.read_frame()
                req = decode(raw, TI)
                self.received.append(req)
                answer = self._answer(req, mac_ok=verify(raw, self.key))
                if answer is not None:
                    await self._send_or_hold(writer, answer)
        except (ConnectionClosed, FramingError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _send_or_hold(self, writer: asyncio.StreamWriter, answer: Message) -> None:
        if answer.mti == "0810" or self.hold <= 0:
            await self._send(writer, answer)
            return
        self._held.append((writer, answer))
        if len(self._held) >= self.hold:
            held, self._held = self._held[::-1], []
            for w, a in held:
                await self._send(w, a)

    async def _send(self, writer: asyncio.StreamWriter, answer: Message) -> None:
        self.answered.append(answer.get(11, ""))
        if self.unregistered:
            await write_frame(writer, encode(answer, TI), "2B")
        else:
            await write_frame(writer, sign(answer, self.answer_key or self.key, TI), "2B")

    def _answer(self, req: Message, mac_ok: bool) -> Message | None:
        echo = {f: v for f, v in req.fields.items() if f in ECHOED}
        mti = req.response_mti
        if self.unregistered:
            return Message(mti, {**echo, 39: "58"})
        if not mac_ok:
            return Message(mti, {**echo, 39: "63"})
        if req.mti == "0800":
            return Message(mti, {**echo, 39: "00"})
        if req.mti == "0400":
            return Message(mti, {**echo, 4: req[4], 39: "00"})
        proc = req[3]
        if proc == "390000":
            original = self.payments.get(req[90][4:10])
            if original is None:
                return Message(mti, {**echo, 39: "25"})
            return Message(mti, {**echo, **{f: original[f] for f in (4, 37, 38, 48, 62) if f in original},
                                 39: "00"})
        wanted = parse_request(req[48]) if 48 in req else None
        product = wanted.product if wanted else None
        base = ANSWERS.get((proc, product))
        if base is None:
            return Message(mti, {**echo, 39: "12"})
        if wanted and wanted.customer not in CUSTOMERS:
            return Message(mti, {**echo, 37: "000000000999", 39: "14"})
        answer = Message(mti, {**base, **echo})
        if proc == "500000":
            answer[4] = req[4]
            self.payments[req[11]] = dict(answer.fields)
            if product in self.silent_products:
                return None
        return answer
