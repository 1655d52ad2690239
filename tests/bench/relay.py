"""The benchmark's baseline: a relay that does only what any switch must do to every message, and
nothing else — no database, no logging, no metrics, no money — with the plain pyiso8583 codec
(--fast-codec: the switch's own fast path).

Terminal → relay: decode (TI), check the MAC; sign-on and echo are answered at once. A 0200 goes to
the bank re-encoded (HI) with the relay's own STAN, RRN and institution id; the bank's answer is
decoded, mapped back to the terminal's STAN, re-encoded and signed. Run as its own process:

    python tests/bench/relay.py --listen PORT --bank HOST:PORT --keys terminals.json
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from switch.wire import HI, TI, FrameReader, Message, compute_mac, frame, mac_field  # noqa: E402
from switch.wire import decode as fast_decode, encode as fast_encode  # noqa: E402
from switch.wire.codec import decode_full, encode_full  # noqa: E402

decode, encode = decode_full, encode_full   # the plain relay: pyiso8583 both ways (--fast-codec: ours)


def sign(msg: Message, key: bytes, spec) -> bytes:
    signed = Message(msg.mti, {**msg.fields, mac_field(msg): "0" * 16})
    body = encode(signed, spec)[:-16]
    return body + compute_mac(key, body).encode("ascii")


def verify_decoded(msg: Message, raw: bytes, key: bytes) -> bool:
    return compute_mac(key, raw[:-16]).encode("ascii") == raw[-16:]

TO_BANK = (3, 4, 12, 13, 18, 41, 42, 48, 49)
FROM_BANK = (4, 38, 39, 48, 62)
ECHOED = (3, 4, 7, 11, 12, 13, 18, 41, 42, 49, 70)
INSTITUTION = "90001"


class Relay:
    def __init__(self, keys: dict[str, bytes], bank_host: str, bank_port: int) -> None:
        self.keys = keys
        self.bank_address = (bank_host, bank_port)
        self.stans = itertools.cycle(range(1, 1_000_000))
        self.rrns = itertools.count(1)
        self.waiting: dict[str, tuple[asyncio.StreamWriter, Message, bytes]] = {}

    async def start(self, port: int) -> None:
        reader, self.bank = await asyncio.open_connection(*self.bank_address)
        asyncio.create_task(self._from_bank(FrameReader(reader, "2B", stall_timeout=None)))
        self.server = await asyncio.start_server(self._terminal, "127.0.0.1", port)

    async def _terminal(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader(reader, "2B", stall_timeout=None)
        try:
            while True:
                raw = await frames.read_frame()
                request = decode(raw, TI)
                key = self.keys[request[41].rstrip()]
                if not verify_decoded(request, raw, key):
                    self._answer(writer, request, {39: "63"}, key)
                elif request.mti == "0800":
                    self._answer(writer, request, {39: "00"}, key)
                else:
                    self._to_bank(writer, request, key)
        except Exception:  # noqa: BLE001 - the connection ends, the benchmark goes on
            writer.close()

    def _to_bank(self, writer: asyncio.StreamWriter, request: Message, key: bytes) -> None:
        stan = f"{next(self.stans):06d}"
        fields = {n: request[n] for n in TO_BANK if n in request}
        fields.update({7: time.strftime("%m%d%H%M%S", time.gmtime()), 11: stan, 32: INSTITUTION,
                       37: f"{next(self.rrns) % 10**12:012d}"})
        self.waiting[stan] = (writer, request, key)
        self.bank.write(frame(encode(Message("0200", fields), HI), "2B"))

    async def _from_bank(self, frames: FrameReader) -> None:
        while True:
            answer = decode(await frames.read_frame(), HI)
            writer, request, key = self.waiting.pop(answer[11])
            extra = {n: answer[n] for n in FROM_BANK if n in answer}
            extra[37] = answer.get(37, "")
            self._answer(writer, request, extra, key)

    @staticmethod
    def _answer(writer: asyncio.StreamWriter, request: Message, extra: dict[int, str], key: bytes) -> None:
        fields = {n: request[n] for n in ECHOED if n in request}
        fields.update(extra)
        writer.write(frame(sign(Message(request.mti[:2] + "1" + request.mti[3], fields), key, TI), "2B"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--bank", required=True, metavar="HOST:PORT")
    parser.add_argument("--keys", required=True, help="JSON list of {tid, key} (hex)")
    parser.add_argument("--fast-codec", action="store_true", help="the switch's codec instead of plain pyiso8583")
    args = parser.parse_args()
    if args.fast_codec:
        global decode, encode
        decode, encode = fast_decode, fast_encode
    keys = {t["tid"]: bytes.fromhex(t["key"]) for t in json.loads(Path(args.keys).read_text())}
    host, _, port = args.bank.rpartition(":")
    relay = Relay(keys, host, int(port))
    await relay.start(args.listen)
    print("listening", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
