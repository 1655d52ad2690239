"""Progress of a long settlement or reconciliation, drawn on stderr only when someone watches."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Iterator

PROGRESS_FROM = 20_000  # payments in a day before a progress bar is worth drawing


class ProgressBar:
    """A rich progress bar on stderr, drawn only when someone watches a long run (or when forced);
    the total may grow as the work is discovered (bank after bank)."""

    def __init__(self, description: str, *, force: bool = False, threshold: int = PROGRESS_FROM) -> None:
        self.description, self.force, self.threshold = description, force, threshold
        self.total = self.done = 0
        self._bar: Any = None

    def grow(self, count: int) -> None:
        self.total += count
        if self._bar is None and (self.force or (self.total >= self.threshold and sys.stderr.isatty())):
            self._start()
        if self._bar is not None:
            self._bar.update(self._task, total=self.total)

    def advance(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                             transient=not self.force)
        self._task = self._bar.add_task(self.description, total=self.total, completed=self.done)
        self._bar.start()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def progress_bar(description: str, total: int | None = None, *, force: bool = False) -> Iterator[ProgressBar]:
    bar = ProgressBar(description, force=force)
    if total:
        bar.grow(total)
    try:
        yield bar
    finally:
        bar.close()
