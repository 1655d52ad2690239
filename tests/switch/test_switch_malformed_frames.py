"""Frames whose content cannot be decoded, each on its own connection: answered 30 (only the fields
that were valid, MAC'd) when the MTI, field 41 and field 11 can be read, otherwise the connection is
closed — within a second, counted in ppob_terminal_malformed_frames_total, and no other connection
notices."""
from __future__ import annotations

import asyncio
import random
import time

from structlog.testing import capture_logs

from switch.wire import TI, ConnectionClosed, FrameReader, Message, decode, frame, sign, verify
from switch.wire.salvage import salvage
from tests.support.harness import TERMINAL, switch_with_bank
from tests.support.peers import KEY, now_f7

PER_KIND = 250
WITHIN_S = 1.0  # the requirement: an answer or a close within a second of the frame
CONCURRENT = 8


def originals() -> list[bytes]:
    """Well-formed requests of the registered terminal: a payment (LLLVAR field 48, MAC in 64) and a
    sign-on (secondary bitmap, MAC in 128)."""
    payment = Message("0200", {3: "500000", 4: "000020000000", 7: now_f7(), 11: "000123", 12: "101112",
                               13: "1201", 18: "6021", 41: TERMINAL, 42: "AGT000000000001",
                               48: "PLNPRA" + "14234567890".ljust(13), 49: "360"})
    sign_on = Message("0800", {7: now_f7(), 11: "000124", 41: TERMINAL, 70: "001"})
    return [sign(payment, KEY, TI), sign(sign_on, KEY, TI)]


def random_bytes(rng: random.Random, raw: bytes) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))


def invalid_bitmap(rng: random.Random, raw: bytes) -> bytes:
    mutated = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        mutated[rng.randrange(4, 20)] = rng.choice(b"abcdefGHXZ -%\x00\xff")
    return bytes(mutated)


def non_ascii(rng: random.Random, raw: bytes) -> bytes:
    mutated = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        mutated[rng.randrange(0, len(raw))] = rng.randrange(0x80, 0x100)
    return bytes(mutated)


def truncated(rng: random.Random, raw: bytes) -> bytes:
    return raw[:rng.randrange(1, len(raw))]


MUTATIONS = (random_bytes, invalid_bitmap, non_ascii, truncated)


async def send_one(port: int, raw: bytes) -> tuple[str, bytes | None, float]:
    """('answered', answer) or ('closed', None) and how long it took; ('hanging', None) past 5 s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        started = time.monotonic()
        writer.write(frame(raw, "2B"))
        try:
            answer = await FrameReader(reader, "2B", 4096, stall_timeout=5).read_frame(idle_timeout=5)
            return "answered", answer, time.monotonic() - started
        except (ConnectionClosed, ConnectionError):
            return "closed", None, time.monotonic() - started
        except Exception:  # noqa: BLE001 - idle/stall timeout: nothing came
            return "hanging", None, time.monotonic() - started
    finally:
        writer.close()


def check_answer(sent: bytes, answer: bytes) -> None:
    """An answer echoes only fields that were valid, and carries the MAC unless it is a 58."""
    response = decode(answer, TI)
    readable = salvage(sent, TI)
    assert readable is not None and response.mti == readable.mti[:2] + str(int(readable.mti[2]) + 1) + readable.mti[3]
    assert response[39] in ("30", "58"), response
    assert response[11] == readable[11] and response[41] == readable[41]
    for number, value in response.fields.items():
        if number not in (15, 37, 39, 64, 128):
            assert readable.get(number) == value, (number, value)
    if response[39] == "30":
        assert verify(answer, KEY)


def malformed_count(running, kind_outcome: tuple[str, str] | None = None) -> float:
    total = 0.0
    for family in running.app.metrics.registry.collect():
        if family.name == "ppob_terminal_malformed_frames":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    if kind_outcome is None or (sample.labels["kind"], sample.labels["outcome"]) == kind_outcome:
                        total += sample.value
    return total


async def test_hundreds_of_mutated_frames_are_each_answered_or_closed_within_a_second(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch)
    rng = random.Random(20261201)
    bases = originals()
    frames = [(mutate.__name__, mutate(rng, rng.choice(bases))) for mutate in MUTATIONS for _ in range(PER_KIND)]
    frames = [(kind, raw) for kind, raw in frames if _undecodable(raw)]
    gate = asyncio.Semaphore(CONCURRENT)

    async def one(raw: bytes):
        async with gate:
            return await send_one(running.ports.terminals, raw)

    async def others() -> list[str]:  # a signed-on terminal keeps working meanwhile
        codes = []
        for _ in range(20):
            codes.append((await terminal.balance())[39])
            await asyncio.sleep(0.05)
        return codes

    results, codes = await asyncio.gather(asyncio.gather(*(one(raw) for _, raw in frames)), others())

    outcomes: dict[str, dict[str, int]] = {}
    for (kind, raw), (outcome, answer, seconds) in zip(frames, results):
        outcomes.setdefault(kind, {}).setdefault(outcome, 0)
        outcomes[kind][outcome] += 1
        assert outcome != "hanging", (kind, raw)
        assert seconds < WITHIN_S, (kind, raw, seconds)
        if outcome == "answered":
            check_answer(raw, answer)
        else:
            readable = salvage(raw, TI)
            assert readable is None or 11 not in readable or 41 not in readable or readable.mti[2] not in "02468"
    for kind in ("random_bytes", "invalid_bitmap", "non_ascii", "truncated"):
        assert sum(outcomes[kind].values()) >= PER_KIND * 0.9, outcomes
    assert outcomes["truncated"].get("answered") and outcomes["truncated"].get("closed"), outcomes
    assert outcomes["non_ascii"].get("answered"), outcomes
    assert set(codes) == {"00"} and terminal.bad_macs == []
    assert malformed_count(running) == len(frames)
    assert malformed_count(running, ("mti", "closed")) > 0 and malformed_count(running, ("bitmap", "closed")) > 0
    assert malformed_count(running, ("field", "answered")) > 0
    assert await running.books() == []
    await terminal.close()


async def test_a_malformed_frame_is_logged_once_not_once_per_frame(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch)
    with capture_logs() as logs:
        for _ in range(30):
            assert (await send_one(running.ports.terminals, b"GARBAGE"))[0] == "closed"
    logged = [entry for entry in logs if entry["event"] == "terminal_frame_malformed"]
    assert len(logged) == 1 and logged[0]["kind"] == "mti" and logged[0]["outcome"] == "closed"
    assert malformed_count(running, ("mti", "closed")) == 30
    await terminal.close()


def _undecodable(raw: bytes) -> bool:
    try:
        decode(raw, TI)
    except Exception:  # noqa: BLE001
        return True
    return False
