"""ppob-bank-sim: options, the customers table, and a real process answering over loopback."""
import asyncio
import gc
import signal
import sys
import weakref

import pytest

from bank_sim.book import Book
from bank_sim.cli import keep_collections_short, main
from tests.bank_sim.hi_client import HiClient, Messages
from tests.support.processes import free_port


@pytest.mark.parametrize("argv", [
    ["--listen", "nowhere"], ["--listen", "127.0.0.1:1", "--timeout-rate", "2"],
    ["--listen", "127.0.0.1:1", "--connect", "127.0.0.1:2"], ["--framing", "3C", "--listen", "127.0.0.1:1"],
    [], ["--latency-ms", "-5", "--listen", "127.0.0.1:1"]])
def test_a_bad_command_line_exits_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "error" in err


def test_list_customers_prints_every_example_and_exits_0(capsys):
    assert main(["--list-customers", "--seed", "11", "--size", "50"]) == 0
    out = capsys.readouterr().out
    for scenario, customer in Book.generate(11, 50).examples().items():
        assert scenario in out and customer in out


async def connect_with_retry(port: int, framing: str) -> HiClient:
    for _ in range(200):
        try:
            return await HiClient.connect(port, framing)
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("ppob-bank-sim never listened")


@pytest.mark.slow
async def test_the_command_serves_its_book_until_sigterm_then_exits_0():
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bank_sim.cli", "--listen", f"127.0.0.1:{port}", "--framing", "4A",
        "--seed", "3", "--size", "50", "--json-logs",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        client = await connect_with_retry(port, "4A")
        msgs = Messages()
        customer = Book.generate(3, 50).examples()["postpaid"]
        answer = await client.request(msgs.inquiry("PLNPST", customer), timeout=10)
        await client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 20)
    assert answer[39] == "00"
    assert process.returncode == 0
    assert b'"event": "stopped"' in err


@pytest.fixture
def bank_collector():
    """The bank's collector settings for one test, then the interpreter's back as they were."""
    before = list(gc.callbacks)
    keep_collections_short()
    yield
    gc.callbacks[:] = before
    gc.unfreeze()


def kept_records_and_a_dropped_cycle() -> tuple[list[list[int]], weakref.ref]:
    """Records the bank keeps, and a weak reference to a reference cycle nobody holds any more."""
    kept = [[n] for n in range(1000)]
    cycle = Record()
    cycle.me = cycle
    return kept, weakref.ref(cycle)


def test_what_a_full_collection_leaves_alive_is_frozen_so_the_next_one_walks_only_newer_objects(bank_collector):
    """The bank keeps every payment it answered: without this each full collection walked them all
    (140 ms over a benchmark's run). Cyclic garbage is still collected first."""
    kept, gone = kept_records_and_a_dropped_cycle()
    gc.collect()
    assert gone() is None  # the cyclic garbage was collected, not frozen
    assert gc.get_freeze_count() >= len(kept)
    assert not [o for o in gc.get_objects() if o is kept]  # frozen: no longer walked


def test_what_survives_a_middle_generation_collection_is_frozen_so_full_collections_find_little_to_walk(
        bank_collector):
    """Frozen after a full collection only, the ~40,000 objects kept between two full collections
    were still walked by the next one (15-48 ms on a loaded machine)."""
    kept, gone = kept_records_and_a_dropped_cycle()
    gc.collect(1)
    assert gone() is None  # a young cycle is collected by the middle generation's collection
    assert not [o for o in gc.get_objects() if o is kept]  # frozen without a full collection
    assert gc.get_freeze_count() >= len(kept)


class Record:
    me: object = None
