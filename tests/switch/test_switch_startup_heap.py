"""serve freezes what start-up built out of the garbage collector (switch/cli/main.py): the full
collections under load then scan only what came after, instead of pausing the loop 13-19 ms each."""
from __future__ import annotations

import gc

from switch.cli.main import freeze_startup_heap


def test_freezing_the_start_up_heap_takes_every_live_object_out_of_the_collections():
    gc.unfreeze()
    alive = [object() for _ in range(3)] + [[n] for n in range(1000)]
    try:
        freeze_startup_heap()
        frozen = gc.get_freeze_count()
        assert frozen >= len(alive)
        scanned = {id(o) for generation in range(3) for o in gc.get_objects(generation=generation)}
        assert not any(id(x) in scanned for x in alive[3:])
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
