"""A program built on the switch's storage must be able to end: asyncio.run cancels whatever tasks are
left when its main coroutine returns (an error path, a command that gives up), and then waits for them."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

ENDS_DURING_A_UNIT = textwrap.dedent("""
    import asyncio, sys
    from switch.ledger.storage.sqlite import SqliteDatabase

    async def main(path):
        db = SqliteDatabase(path)
        await db.open()
        started = asyncio.Event()

        async def slow(tx):
            started.set()
            await asyncio.sleep(3600)
        asyncio.create_task(db.unit(slow))
        await started.wait()   # main returns while the unit runs, without closing the database

    asyncio.run(main(sys.argv[1]))
    print("ended")
""")


def test_a_program_that_ends_while_a_sqlite_unit_runs_exits_instead_of_hanging(tmp_path):
    try:
        done = subprocess.run([sys.executable, "-c", ENDS_DURING_A_UNIT, str(tmp_path / "switch.db")],
                              capture_output=True, text=True, timeout=8)
    except subprocess.TimeoutExpired:
        pytest.fail("the program never ended: the SQLite writer task did not finish when cancelled")
    assert done.returncode == 0 and done.stdout.strip() == "ended", done.stderr
