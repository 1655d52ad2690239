"""A native profile of the switch under load, summed up by the project's layers.

py-spy sees Python frames only, and the switch's hot path is compiled (mypyc, switch/compiled.py):
its functions push no Python frame, so py-spy puts their time on whichever pure-Python frame called
them (mostly the storage driver and `main`). perf sees the compiled functions by name
(`CPyDef_<module>___<function>`), SQLite, the interpreter and the kernel; with DWARF call graphs it
can tell whose work each sample was. Each sample of the event-loop thread goes to the innermost
frame that names a part of the project (or SQLite, or the event loop); samples in the kernel go to
the kernel (sockets, log writes, wake-ups), since the loop pays for its system calls itself. Pure
Python (structlog, asyncio streams) has no name of its own in perf (Python 3.11): it counts in the
compiled function that called it (the one log event per transaction in gateway's _observe), or in
the event loop.

    perf record -F 499 --call-graph dwarf,8192 -p PID -o F -- sleep S
    perf script -i F -F tid,ip,sym,dso  ->  summarize(text, loop_tid=PID)
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field

from switch.compiled import COMPILED_MODULES

SQLITE = "SQLite (statements, on the loop thread)"
ASYNCPG = "asyncpg (PostgreSQL's protocol)"
KERNEL = "kernel (sockets, log writes, wake-ups)"
EVENT_LOOP = "event loop (uvloop, asyncio, and the pure Python it runs: the storage driver)"
OTHER = "other (the interpreter alone)"

# `CPyDef_sqlite_tx___SqliteTx____first`: the module's last name, three underscores, the function
_COMPILED = re.compile(r"^CPyDef_([a-z0-9_]+?)___(\w+)$")
# every compiled module's last name -> its layer ("switch.wire.codec" -> "wire"); "switch.flows" is flows
LAYER_OF = {module.split(".")[-1]: module.split(".")[1] for module in COMPILED_MODULES}


@dataclass(frozen=True)
class Frame:
    symbol: str
    dso: str

    @property
    def in_kernel(self) -> bool:
        return self.dso.startswith("[kernel")


@dataclass
class Summary:
    """Samples per thread, and the loop thread's samples by layer and by compiled function."""
    samples: int = 0
    by_thread: Counter = field(default_factory=Counter)     # tid -> samples
    by_layer: Counter = field(default_factory=Counter)      # the loop thread's, exclusive
    by_function: Counter = field(default_factory=Counter)   # the loop thread's, inclusive
    by_innermost: Counter = field(default_factory=Counter)  # ... by the innermost compiled function

    def lines(self, loop_tid: int, top: int = 12) -> list[str]:
        loop = self.by_thread[loop_tid]
        if not loop:
            return ["  (no samples of the event-loop thread)"]
        threads = ", ".join(f"{'event loop' if tid == loop_tid else f'thread {tid}'} {n / self.samples:.0%}"
                            for tid, n in self.by_thread.most_common(4))
        out = [f"  threads: {threads} of {self.samples:,} samples",
               "  event-loop thread by layer (the innermost frame of ours in each sample):"]
        out += [f"    {n / loop:6.1%}  {layer}" for layer, n in self.by_layer.most_common()]
        out.append(f"  event-loop thread by the innermost compiled function (what it runs below it: SQLite, the "
                   f"interpreter, system calls), top {top}:")
        out += [f"    {n / loop:6.1%}  {name}" for name, n in self.by_innermost.most_common(top)]
        out.append(f"  event-loop thread, compiled functions (inclusive), top {top}:")
        out += [f"    {n / loop:6.1%}  {name}" for name, n in self.by_function.most_common(top)]
        return out


def compiled_function(symbol: str) -> tuple[str, str] | None:
    """("wire", "codec.encode") for a compiled function's symbol; None for anything else."""
    match = _COMPILED.match(symbol)
    if not match or match.group(1) not in LAYER_OF:
        return None
    module, name = match.groups()
    return LAYER_OF[module], f"{module}.{_readable(name)}"


def _readable(name: str) -> str:
    """mypyc's C name of a function as Python spells it: `Class.method`, `function (inner)`."""
    name = name.replace("_____mypyc_generator_helper__", "")
    if re.search(r"_gen___\d+_\d+$", name):  # a nested function's coroutine
        return re.sub(r"_gen___\d+_\d+$", "", name).replace("___", ".") + " (inner)"
    coroutine = name.endswith("_gen")
    name = name.removesuffix("_gen")
    dunder = re.match(r"^(__\w+?__)_\d+_([A-Z]\w*)$", name)  # Debit.__call__'s coroutine
    if dunder:
        return f"{dunder.group(2)}.{dunder.group(1)}"
    method = re.match(r"^(\w+?)_([A-Z][A-Za-z0-9]*)$", name) if coroutine else None
    if method:  # a method's coroutine: <method>_<Class>
        return f"{method.group(2)}.{method.group(1)}"
    return name.replace("___", ".")


def layer_of(stack: list[Frame]) -> str:
    """The layer a sample belongs to, its stack given leaf first."""
    if stack and stack[0].in_kernel:
        return KERNEL
    for frame in stack:
        if frame.symbol.startswith("sqlite3") or "libsqlite3" in frame.dso:
            return SQLITE
        if "/asyncpg/" in frame.dso:
            return ASYNCPG
        named = compiled_function(frame.symbol)
        if named:
            return named[0]
        if "uvloop" in frame.symbol or "/uvloop/" in frame.dso:
            return EVENT_LOOP
    return OTHER


def samples(text: str) -> list[tuple[int, list[Frame]]]:
    """`perf script -F tid,ip,sym,dso` output as (tid, frames leaf first) per sample."""
    out = []
    for block in text.split("\n\n"):
        lines = block.strip("\n").splitlines()
        if not lines or not lines[0].strip().isdigit():
            continue
        frames = []
        for line in lines[1:]:
            parts = line.strip().split(" ", 1)  # "<ip> <symbol> (<dso>)"
            if len(parts) < 2:
                continue
            symbol, _, dso = parts[1].rpartition(" (")
            frames.append(Frame(re.sub(r"\+0x[0-9a-f]+$", "", symbol), dso.rstrip(")")))
        out.append((int(lines[0].strip()), frames))
    return out


def summarize(text: str, loop_tid: int) -> Summary:
    summary = Summary()
    for tid, stack in samples(text):
        summary.samples += 1
        summary.by_thread[tid] += 1
        if tid != loop_tid:
            continue
        summary.by_layer[layer_of(stack)] += 1
        names = [named[1] for frame in stack if (named := compiled_function(frame.symbol))]
        summary.by_function.update(set(names))
        summary.by_innermost[names[0] if names else "(none: the loop, the interpreter, pure Python)"] += 1
    return summary


@functools.cache
def perf_usable() -> bool:
    """Whether perf can record here (installed, and perf_event_paranoid lets it); asked once."""
    perf = shutil.which("perf")
    if perf is None:
        return False
    probe = subprocess.run([perf, "record", "-q", "-o", "/dev/null", "--", "true"],
                           capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


def record_command(pid: int, seconds: float, out: str) -> list[str]:
    return ["perf", "record", "-q", "-F", "499", "--call-graph", "dwarf,8192", "-p", str(pid), "-o", out,
            "--", "sleep", f"{seconds:g}"]


def script_text(data: str) -> str:
    return subprocess.run(["perf", "script", "-i", data, "-F", "tid,ip,sym,dso"], capture_output=True,
                          text=True, check=True).stdout
