"""Hostile terminal input through the wire layer alone (framing, codec, salvage, field 48): every
kind of tests/support/hostile.py ends in a frame or a wire error, never in any other exception."""
from __future__ import annotations

import asyncio

from hypothesis import given, settings

from switch.flows.malformed import answerable
from switch.wire import TI, CodecError, ConnectionClosed, FrameReader, WireError, decode
from switch.wire.field48 import parse_request
from tests.support.hostile import Expect, hostile


async def frames_of(wire: bytes) -> tuple[list[bytes], WireError | None]:
    reader = asyncio.StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    frames, out = FrameReader(reader, "2B", 4096, stall_timeout=1), []
    while True:
        try:
            out.append(await frames.read_frame(idle_timeout=1))
        except ConnectionClosed:
            return out, None
        except WireError as exc:
            return out, exc


@settings(max_examples=300, deadline=None)
@given(hostile())
def test_every_hostile_frame_is_a_frame_or_a_wire_error_and_decodes_or_is_a_codec_error(case):
    out, error = asyncio.run(frames_of(case.wire))
    if case.expect is Expect.CLOSED:
        assert out == [] and error is not None, case.kind  # broken framing never yields a frame
        return
    assert len(out) == 1 and error is None, case.kind
    try:
        msg = decode(out[0], TI)
    except CodecError:
        assert case.expect is Expect.ANSWER_OR_CLOSED, case.kind  # codec-valid kinds must decode
        readable = answerable(out[0])  # what an answer could echo; it never raises
        assert readable is None or readable.mti[2] in "02468"
        return
    if 48 in msg:
        try:
            parse_request(msg[48])
        except CodecError as exc:
            assert exc.field == 48
