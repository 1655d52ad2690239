import sys
from pathlib import Path

import pytest

# lets the terminal tests import their stand-in switch (terminal_peer.py)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from terminal_peer import AGENT, KEY, TID, TerminalPeer  # noqa: E402,F401  (AGENT, TID: the tests' names)

from terminal_sim.client import TerminalClient  # noqa: E402
from terminal_sim.journal import Journal  # noqa: E402



@pytest.fixture
async def peer():
    stand_in = await TerminalPeer().start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
def journal(tmp_path):
    with Journal(tmp_path / f"{TID}.journal") as j:
        yield j


@pytest.fixture
async def terminal(peer, journal):
    async with TerminalClient(peer.host, peer.port, TID, AGENT, KEY, journal, timeout=10) as client:
        yield client
