"""A stop always ends: a wake that comes with the stop cannot keep store-and-forward running, and a
step of the stop that does not end within its bound is logged as one line and the stop goes on."""
from __future__ import annotations

import asyncio
import time

from structlog.testing import capture_logs

from tests.support.harness import switch_with_bank


async def test_a_store_and_forward_wake_that_comes_with_the_stop_does_not_keep_it_waiting(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch)
    saf = running.app.saf
    try:
        for _ in range(20):  # the worker's event set, then the worker cancelled, in one step
            await asyncio.sleep(0.01)
            saf.wake("BANKA")
            async with asyncio.timeout(5):  # on Python 3.11 wait_for swallowed this cancellation
                await saf.stop()
            saf.start()
    finally:
        await terminal.close()
        await peer.close()


async def test_a_step_of_the_stop_that_does_not_end_is_logged_once_and_the_stop_goes_on(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch)
    app = running.app
    app.stop_step_s = 0.5

    released = asyncio.Event()

    async def deaf_to_cancel() -> None:  # a task that will not end when cancelled (until released)
        while True:
            try:
                await released.wait()
                return
            except asyncio.CancelledError:
                continue

    stuck = asyncio.create_task(deaf_to_cancel())
    app.saf._tasks.add(stuck)
    try:
        started = time.monotonic()
        with capture_logs() as logs:
            await app.stop()
        assert time.monotonic() - started < 5
        overran = [e for e in logs if e["event"] == "switch_stop_step_overran"]
        assert [e["step"] for e in overran] == ["store_and_forward"]
        assert overran[0]["bound_s"] == 0.5
        assert [e for e in logs if e["event"] == "switch_stopped"]
        assert app._stopped.is_set()
    finally:
        released.set()  # the loop's end would otherwise find it pending
        await asyncio.wait_for(stuck, 5)
        await terminal.close()
        await peer.close()
