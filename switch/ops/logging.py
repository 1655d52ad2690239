"""Structured logging: structlog to stderr, JSON lines for machines, a console view for people.

Loggers come from structlog.get_logger(); configure_logging() is called once by the entry point.
Secrets (MAC keys, MACs, passwords) never reach a log line and customer numbers are masked.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import orjson
import structlog

from switch.config import mask_credentials

# Keys whose values are secrets (field 64/128 are MACs; "key"/"mac_key" terminal keys).
SECRET_KEYS = frozenset({"key", "mac_key", "mac", "64", "128", "password", "master_key"})
CUSTOMER_KEYS = frozenset({"customer"})
REDACTED = "[redacted]"

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}


def mask_customer(s: str) -> str:
    """Keeps the first 4 and last 2 characters of a customer number: 532100000023 -> 5321******23.
    Numbers too short to hide anything that way are masked whole."""
    s = str(s).strip()
    if len(s) <= 6:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 6) + s[-2:]


_PLAIN = (int, float, bool, type(None))  # values with nothing to clean (no Mapping check: it is slow)
_KEPT, _SECRET, _CUSTOMER = 0, 1, 2


class Redactor:
    """structlog processor: secrets replaced by [redacted], customer numbers masked, also one
    level down in dict values (e.g. a message's fields logged as fields={64: "..."}). What each key
    of an event is (a secret, a customer, anything else) is worked out once per key name, not once
    per event (half the cost), and only the values that change are written back. Its key names come from the code's log calls;
    at most `MAX_KEYS` are remembered (a key past those is worked out each time)."""

    MAX_KEYS = 512

    def __init__(self) -> None:
        self._kinds: dict[str, int] = {}

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
                 ) -> MutableMapping[str, Any]:
        kinds = self._kinds
        changed: list[tuple[str, Any]] = []
        for key, value in event_dict.items():
            kind = kinds.get(key)
            if kind is None:
                kind = self._kind(key)
            if kind == _SECRET:
                changed.append((key, REDACTED))
            elif type(value) is str:
                if kind == _CUSTOMER:
                    changed.append((key, mask_customer(value)))
                elif "://" in value or "assword" in value:
                    changed.append((key, mask_credentials(value)))
            elif type(value) not in _PLAIN:
                cleaned = _clean(key, value, nested=True)
                if cleaned is not value:
                    changed.append((key, cleaned))
        for key, value in changed:
            event_dict[key] = value
        return event_dict

    def _kind(self, key: Any) -> int:
        name = key.lower() if type(key) is str else str(key).lower()
        kind = _SECRET if name in SECRET_KEYS else _CUSTOMER if name in CUSTOMER_KEYS else _KEPT
        if type(key) is str and len(self._kinds) < self.MAX_KEYS:
            self._kinds[key] = kind
        return kind


def _clean(key: Any, value: Any, nested: bool) -> Any:
    name = key.lower() if type(key) is str else str(key).lower()
    if name in SECRET_KEYS:
        return REDACTED
    if isinstance(value, str):
        if name in CUSTOMER_KEYS:
            return mask_customer(value)
        if "://" in value or "assword" in value:
            return mask_credentials(value)   # a database URL in an error text
        return value
    if type(value) in _PLAIN:
        return value
    if nested and isinstance(value, Mapping):
        return {k: _clean(k, v, nested=False) for k, v in value.items()}
    return value


def _orjson(event: Any, **_: Any) -> str:
    """JSON of one event, several times faster than the standard library's; field numbers as keys
    and anything orjson does not know (Decimal, Path, exceptions) are written as strings."""
    return orjson.dumps(event, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class LineBatcher:
    """The serve process's log output: the lines of one turn of the event loop go out in one write
    and flush, at the end of that turn (beside the answers of the turn, which go out the same way),
    instead of a write and a flush each, a system call per line (2 % of the switch's CPU under
    load). A line logged where no loop runs (start-up, a thread) is written at once, after any
    still waiting, so the order stays; what waits is written at exit too."""

    def __init__(self, file: TextIO) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._lines: list[str] = []

    def msg(self, message: str) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            if loop is None:
                self._lines.append(message)
                self._write()
                return
            if not self._lines:
                loop.call_soon(self.flush)
            self._lines.append(message)

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg

    def flush(self) -> None:
        with self._lock:
            self._write()

    def _write(self) -> None:
        lines, self._lines = self._lines, []
        if lines:
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()


def configure_logging(json: bool | None = None, level: str = "info", *, stream: TextIO | None = None,
                      final: bool = False) -> None:
    """JSON lines when json=True or stderr is not a terminal; a coloured console view otherwise.
    Timestamps are ISO 8601 UTC. stream defaults to sys.stderr (tests pass their own).

    final=True (a program configuring once, before its first event): each logger is built once, on
    first use, instead of on every event (that rebuilding was 3 % of the switch's CPU under load);
    tests that configure again and again leave it False. final=True also batches the lines of one
    turn of the event loop into one write (LineBatcher)."""
    if level.lower() not in _LEVELS:
        raise ValueError(f"log level must be one of {', '.join(_LEVELS)}, got {level!r}")
    out = stream if stream is not None else sys.stderr
    as_json = (not out.isatty()) if json is None else json
    renderer: Any = (structlog.processors.JSONRenderer(serializer=_orjson) if as_json
                     else structlog.dev.ConsoleRenderer(colors=out.isatty()))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            Redactor(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info if as_json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level.lower()]),
        logger_factory=_batched(out) if final else structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=final,
    )


class _BatchedFactory:
    """structlog's logger factory for final=True: every logger writes through one LineBatcher."""

    def __init__(self, out: TextIO) -> None:
        self.batcher = LineBatcher(out)
        atexit.register(self.batcher.flush)

    def __call__(self, *args: Any) -> LineBatcher:
        return self.batcher


def _batched(out: TextIO) -> Any:
    return _BatchedFactory(out)


def flush_logs() -> None:
    """Writes the log lines still waiting for the end of this loop turn: before a program prints
    its own last line ("cannot start: ..."), so that line comes after the events that explain it."""
    factory = structlog.get_config().get("logger_factory")
    if isinstance(factory, _BatchedFactory):
        factory.batcher.flush()
