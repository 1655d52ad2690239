"""Request matching: the mux only pairs responses with the requests that wait for them."""
from __future__ import annotations

import asyncio
from typing import Callable, Hashable

from switch.wire import Message


class Mux:
    """Futures keyed by a match key (field 11 towards banks; (41, 11) towards terminals).

    A response nobody waits for any more (it came after the timeout) goes to `on_unmatched`.
    """

    def __init__(self, key: Callable[[Message], Hashable],
                 on_unmatched: Callable[[Message], None] | None = None) -> None:
        self._key = key
        self._waiting: dict[Hashable, asyncio.Future[Message]] = {}
        self._on_unmatched = on_unmatched

    def expect(self, request: Message) -> asyncio.Future[Message]:
        key = self._key(request)
        if key in self._waiting and not self._waiting[key].done():
            raise ValueError(f"a request with match key {key!r} is already waiting")
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        return future

    def forget(self, request: Message) -> None:
        self._waiting.pop(self._key(request), None)

    def deliver(self, response: Message) -> bool:
        future = self._waiting.pop(self._key(response), None)
        if future is None or future.done():
            if self._on_unmatched:
                self._on_unmatched(response)
            return False
        future.set_result(response)
        return True

    def fail(self, key: Hashable, exc: BaseException) -> None:
        future = self._waiting.pop(key, None)
        if future is not None and not future.done():
            future.set_exception(exc)

    def fail_all(self, exc: BaseException) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(exc)

    def __len__(self) -> int:
        return len(self._waiting)
