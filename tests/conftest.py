"""Suite-wide: default places a test run must not write outside its temp directory."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def key_files_in_a_temp_state_dir(tmp_path_factory):
    """A PostgreSQL database opened without switch.master_key_file keeps its master key file under
    $XDG_STATE_HOME (else ~/.local/state)/ppob-switch/: point that at a temp dir for the whole run, so
    no test (nor any switch or command it starts, which inherit the environment) leaves key files in
    the home directory of whoever runs the suite."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
        yield


def pytest_sessionstart(session):
    """A compiled extension older than its source would run the old code (Python imports it first):
    stop before any test instead of testing something else than the source."""
    from pathlib import Path

    from switch.compiled import stale_extensions

    stale = stale_extensions(Path(__file__).resolve().parents[1])
    if stale:
        pytest.exit(f"compiled extensions older than their source ({', '.join(stale[:3])}"
                    f"{' ...' if len(stale) > 3 else ''}): rebuild them with `.venv/bin/pip install -e .`,"
                    " or delete them (`find switch -name '*.so' -delete`) to test pure Python", returncode=4)
