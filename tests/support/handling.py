"""Which tasks are in the terminal server's handler (the gateway's) right now: the calls a terminal
request makes are told from the switch's own housekeeping by their task. Not by the call stack or a
function's __qualname__: compiled with mypyc, the switch leaves no Python frames and no qualnames."""
from __future__ import annotations

import asyncio
from typing import Any


class Handling:
    """Wraps `server._handler`; `now()` is whether the current task is handling a terminal request."""

    def __init__(self, server: Any) -> None:
        self.tasks: set[asyncio.Task] = set()
        handler = server._handler

        async def handle(session: Any, raw: bytes) -> Any:
            task = asyncio.current_task()
            assert task is not None
            self.tasks.add(task)
            try:
                return await handler(session, raw)
            finally:
                self.tasks.discard(task)
        server._handler = handle

    def now(self) -> bool:
        return asyncio.current_task() in self.tasks
