"""Fuzzing the live terminal socket (hypothesis, bounded in time): every kind of hostile input of
tests/support/hostile.py against one running switch, each answered as the contract says (or the
connection closed where it says so), the switch still serving on that connection afterwards; then no
request task left behind, no connection leaked, the books intact, and each kind counted in metrics."""
from __future__ import annotations

import asyncio
import socket
import threading
import tomllib
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from prometheus_client.parser import text_string_to_metric_families

from switch.app import SwitchApp
from switch.config import parse_config, sample_config
from switch.ledger import money
from switch.ops.metrics import Metrics
from switch.wire import TI, CodecError, Message, decode, frame, sign, verify
from tests.support.bank_answers import good_bank
from tests.support.harness import Running, bank, provision
from tests.support.hostile import CONTRACT_CODES, KINDS, TERMINAL, Expect, hostile
from tests.support.peers import KEY, ScriptedBank, now_f7
from tests.support.processes import ROOMY

STALL_S = 0.5
SEEN: Counter = Counter()


class Background:
    """A switch and a bank on an event loop of their own thread, so hypothesis can drive plain sockets."""

    def __init__(self, folder) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.running: Running = self.call(self._start(folder))

    def call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self, folder) -> Running:
        self.bank = ScriptedBank(good_bank)
        port = await self.bank.listen()
        text = sample_config(database=f"sqlite:///{folder}/switch.db", terminal_listen="127.0.0.1:0",
                             metrics_listen="127.0.0.1:0", banks=[bank("BANKA", port, timeout_s=2)],
                             switch={"settlement_dir": str(folder)},
                             terminals={**ROOMY, "stall_timeout_s": STALL_S, "idle_timeout_s": 30})
        app = SwitchApp(parse_config(tomllib.loads(text), env={}), metrics=Metrics())
        running = Running(app, await app.start())
        await provision(running, 1_000_000_00, None)
        while not app.svc.router.candidates("PLNPST"):
            await asyncio.sleep(0.05)
        return running

    def stop(self) -> None:
        self.call(self.running.app.stop())
        self.call(self.bank.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def switch(tmp_path_factory):
    background = Background(tmp_path_factory.mktemp("hostile"))
    yield background
    background.stop()


def read_frame(sock: socket.socket, timeout: float) -> bytes | None:
    """One 2B frame, or None when the switch closed the connection (EOF or reset)."""
    sock.settimeout(timeout)
    try:
        header = _exactly(sock, 2)
        return None if header is None else _exactly(sock, int.from_bytes(header, "big"))
    except (ConnectionResetError, BrokenPipeError):
        return None


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def network(sock: socket.socket, code: str, stan: str) -> Message:
    sock.sendall(frame(sign(Message("0800", {7: now_f7(), 11: stan, 41: TERMINAL, 70: code}), KEY, TI), "2B"))
    while True:  # an answer to the hostile frame may still come first
        raw = read_frame(sock, 10)
        assert raw is not None, "the switch closed a connection it had to keep"
        msg = decode(raw, TI)
        if msg.get(11) == stan:
            return msg


def check_answer(raw: bytes, case) -> None:
    try:
        answer = decode(raw, TI)
    except CodecError as exc:
        raise AssertionError(f"{case.kind}: the switch's answer does not decode: {exc}") from None
    assert answer.get(39) in CONTRACT_CODES, (case.kind, answer.get(39))
    if answer[39] != "58":
        assert verify(raw, KEY), f"{case.kind}: answer {answer[39]} without a valid MAC"
    if case.valid_mac:
        assert answer[39] != "63", case.kind
    if case.expect is Expect.ANSWER_OR_CLOSED:
        assert answer[39] in ("30", "58"), (case.kind, answer[39])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(case=hostile())
def test_every_kind_of_hostile_input_gets_the_contracts_answer_and_the_switch_keeps_serving(switch, case):
    SEEN[case.kind] += 1
    port = switch.running.ports.terminals
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert network(sock, "001", "999001")[39] == "00"
        sock.sendall(case.wire)
        raw = read_frame(sock, STALL_S + 5)
        if case.expect is Expect.CLOSED:
            assert raw is None, f"{case.kind}: answered a broken frame"
            return
        if raw is None:
            assert case.expect is Expect.ANSWER_OR_CLOSED, f"{case.kind}: closed instead of answered"
            return
        check_answer(raw, case)
        assert network(sock, "301", "999002")[39] == "00"  # the connection still works


def shed_and_rejects(metrics: Metrics) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name in ("ppob_frames_rejected_total", "ppob_terminal_malformed_frames_total",
                          "ppob_mac_failures_total"):
                key = s.name + "".join(f"{{{v}}}" for k, v in sorted(s.labels.items()) if k != "interface")
                values[key] = values.get(key, 0) + s.value
    return values


def test_after_the_fuzzing_nothing_is_left_running_and_every_kind_was_counted(switch):
    assert set(SEEN) == set(KINDS), SEEN  # every kind was tried
    app = switch.running.app

    async def settled() -> tuple[int, int, int]:
        for _ in range(200):
            if app.terminals.in_flight == 0 and app.terminals.connected == 0:
                break
            await asyncio.sleep(0.05)
        return app.terminals.in_flight, app.terminals.connected, len(asyncio.all_tasks())
    in_flight, connected, tasks = switch.call(settled())
    assert (in_flight, connected) == (0, 0)
    assert tasks < 20  # the switch's own background tasks, not one per hostile frame
    counted = shed_and_rejects(app.metrics)
    assert counted.get("ppob_frames_rejected_total{FrameTooLarge}", 0) > 0      # lengths over the maximum
    assert counted.get("ppob_frames_rejected_total{BadHeader}", 0) > 0          # zero length
    assert counted.get("ppob_frames_rejected_total{StallTimeout}", 0) > 0       # truncated frames
    assert sum(v for k, v in counted.items() if k.startswith("ppob_terminal_malformed")) > 0
    assert counted.get("ppob_mac_failures_total", 0) > 0                        # nonsense with a wrong MAC
    assert switch.call(switch.running.db.read(money.check_books)) == []
