"""Settlement (RCN) and control (CTL) files: the format both the switch and the banks write, so a
reconciliation compares like with like (specs/settlement-files.md).

`<BANK>_<YYYYMMDD>.RCN`: a header line, then one line per payment the bank approved that business
date, sorted by RRN, fields separated by `|`, amounts in minor units, STATUS `PAID` or `REVERSED`.
`<BANK>_<YYYYMMDD>.CTL`: a header line and one line of totals, gross like the 0500 (PAID_* count
every approved payment, reversed ones included; REVERSED_* the reversed ones; NET like field 97).

Streaming and plain string work throughout: a million lines are written or read in a second or two.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator, NamedTuple

RCN_HEADER = ("RRN|STAN|TERMINAL|AGENT|PRODUCT|CUSTOMER|PERIODS|AMOUNT|ADMIN_FEE|BANK_REF|STATUS"
              "|TRX_TIME|UPDATED_TIME")
CTL_HEADER = "BANK|BUSINESS_DATE|PAID_COUNT|PAID_AMOUNT|REVERSED_COUNT|REVERSED_AMOUNT|NET"
RCN_FIELDS = len(RCN_HEADER.split("|"))
PAID, REVERSED = "PAID", "REVERSED"
CHUNK = 20_000  # lines per write: few syscalls, bounded memory


class SettlementFileError(Exception):
    """A settlement or control file that cannot be read; str() is one line naming file and line."""


class RcnLine(NamedTuple):
    rrn: str
    stan: str
    terminal: str
    agent: str
    product: str
    customer: str
    periods: str        # comma-separated YYYYMM (postpaid), else empty
    amount: int         # field 4, minor units
    admin_fee: int      # minor units, all bills together
    bank_ref: str
    status: str         # PAID | REVERSED
    trx_time: str
    updated_time: str


def net_field(credits_amount: int, debits_amount: int) -> str:
    """Field 97 / NET: `C` + 16 digits when the switch owes the bank, `D` otherwise (so a zero net
    is `D`, as the contract words it and the bank simulator writes it)."""
    net = credits_amount - debits_amount
    return f"{'C' if net > 0 else 'D'}{abs(net):016d}"


def parse_net(text: str) -> int:
    if len(text) != 17 or text[0] not in "CD" or not text[1:].isdigit():
        raise ValueError(f"net {text!r} is not C/D + 16 digits")
    value = int(text[1:])
    return value if text[0] == "C" else -value


def utc_seconds(stamp: str) -> str:
    """The files' timestamp form, ISO-8601 UTC to the second: 2026-11-25T16:00:00Z."""
    head, dot, _ = stamp.partition(".")
    return head + "Z" if dot else stamp


def file_stem(bank_id: str, business_date: str) -> str:
    return f"{bank_id}_{business_date.replace('-', '')}"


def rcn_path(directory: str | Path, bank_id: str, business_date: str) -> Path:
    return Path(directory) / f"{file_stem(bank_id, business_date)}.RCN"


def ctl_path(directory: str | Path, bank_id: str, business_date: str) -> Path:
    return Path(directory) / f"{file_stem(bank_id, business_date)}.CTL"


def ctl_beside(rcn: str | Path) -> Path:
    """The control file that goes with an RCN file (same stem, .CTL in the same case style)."""
    path = Path(rcn)
    suffix = ".ctl" if path.suffix.islower() and path.suffix else ".CTL"
    return path.with_suffix(suffix)


# ---- control totals -------------------------------------------------------------------------------

@dataclass
class Control:
    bank: str
    business_date: str          # YYYY-MM-DD (so in the file too; YYYYMMDD is read as well)
    paid_count: int = 0         # every approved payment (reversed ones too): field 74
    paid_amount: int = 0        # field 86
    reversed_count: int = 0     # field 76
    reversed_amount: int = 0    # field 88

    @property
    def net(self) -> str:
        return net_field(self.paid_amount, self.reversed_amount)

    def add(self, line: RcnLine) -> None:
        self.paid_count += 1
        self.paid_amount += line.amount
        if line.status == REVERSED:
            self.reversed_count += 1
            self.reversed_amount += line.amount

    def text(self) -> str:
        values = (self.bank, self.business_date, self.paid_count, self.paid_amount,
                  self.reversed_count, self.reversed_amount, self.net)
        return f"{CTL_HEADER}\n{'|'.join(map(str, values))}\n"

    def totals(self) -> tuple[int, int, int, int]:
        return self.paid_count, self.paid_amount, self.reversed_count, self.reversed_amount


# ---- writing --------------------------------------------------------------------------------------

def _clean(text: str) -> str:
    """A value never breaks the line structure."""
    if "|" in text or "\n" in text or "\r" in text:
        return text.replace("|", " ").replace("\n", " ").replace("\r", " ")
    return text


def format_line(line: RcnLine) -> str:
    text = "|".join((line.rrn, line.stan, line.terminal, line.agent, line.product, line.customer, line.periods,
                     str(line.amount), str(line.admin_fee), line.bank_ref, line.status, line.trx_time,
                     line.updated_time))
    if text.count("|") == RCN_FIELDS - 1 and "\n" not in text and "\r" not in text:
        return text
    return "|".join((_clean(line.rrn), _clean(line.stan), _clean(line.terminal), _clean(line.agent),
                     _clean(line.product), _clean(line.customer), _clean(line.periods), str(line.amount),
                     str(line.admin_fee), _clean(line.bank_ref), line.status, _clean(line.trx_time),
                     _clean(line.updated_time)))


class RcnWriter:
    """Writes an RCN file (and its CTL) atomically: a reader never sees half a file, and a re-run
    that writes the same lines leaves byte-identical files. Lines must come sorted by RRN.

    `with RcnWriter(...) as w: w.write(lines)`, or open() / write() ... / finish() (which an async
    caller runs in a thread: it ends with an fsync) / abort()."""

    def __init__(self, directory: str | Path, bank_id: str, business_date: str) -> None:
        self.path = rcn_path(directory, bank_id, business_date)
        self.ctl = ctl_path(directory, bank_id, business_date)
        self.control = Control(bank_id, business_date)
        self._tmp: Path | None = None
        self._file: IO[str] | None = None
        self._buffer: list[str] = []
        self._last_rrn = ""

    def open(self) -> "RcnWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # a name of its own: two runs for the same bank and date (two nodes) never share a file
        handle, name = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".part", dir=self.path.parent)
        self._tmp = Path(name)
        self._file = open(handle, "w", encoding="utf-8", newline="\n")
        self._file.write(RCN_HEADER + "\n")
        return self

    def write(self, lines: Iterable[RcnLine]) -> None:
        add, buffer = self.control.add, self._buffer
        for line in lines:
            if line.rrn < self._last_rrn:
                raise ValueError(f"RCN lines must be sorted by RRN: {line.rrn} after {self._last_rrn}")
            self._last_rrn = line.rrn
            add(line)
            buffer.append(format_line(line))
            if len(buffer) >= CHUNK:
                self._flush()

    def _opened(self) -> tuple[IO[str], Path]:
        """The part file being written (and its name); open() comes first."""
        if self._file is None or self._tmp is None:
            raise ValueError(f"{self.path.name}: the writer is not open (open() comes first)")
        return self._file, self._tmp

    def _flush(self) -> None:
        if self._buffer:
            self._opened()[0].write("\n".join(self._buffer) + "\n")
            self._buffer.clear()

    def finish(self) -> None:
        """Everything on disk, then renamed into place (the CTL last: it vouches for the RCN)."""
        file, tmp = self._opened()
        try:
            self._flush()
            file.flush()
            os.fsync(file.fileno())
        except BaseException:
            self.abort()
            raise
        file.close()
        os.chmod(tmp, 0o644)  # mkstemp makes it private; settlement files are for operators
        os.replace(tmp, self.path)
        write_text_atomic(self.ctl, self.control.text())

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "RcnWriter":
        return self.open()

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.finish()
        else:
            self.abort()


def write_text_atomic(path: Path, text: str) -> None:
    handle, name = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    with open(handle, "w", encoding="utf-8", newline="\n") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.chmod(name, 0o644)
    os.replace(name, path)


def write_rcn(directory: str | Path, bank_id: str, business_date: str, lines: Iterable[RcnLine]) -> Control:
    """Writes `<BANK>_<YYYYMMDD>.RCN` and `.CTL` under `directory`; returns the control totals."""
    with RcnWriter(directory, bank_id, business_date) as writer:
        writer.write(lines)
    return writer.control


# ---- reading --------------------------------------------------------------------------------------

def parse_line(text: str) -> RcnLine:
    parts = text.split("|")
    if len(parts) != RCN_FIELDS:
        raise SettlementFileError(f"{len(parts)} fields, expected {RCN_FIELDS}")
    rrn, stan, terminal, agent, product, customer, periods, amount, admin_fee, ref, status, at, updated = parts
    if status != PAID and status != REVERSED:
        raise SettlementFileError(f"STATUS {status!r} is not PAID or REVERSED")
    try:
        return RcnLine(rrn, stan, terminal, agent, product, customer, periods, int(amount), int(admin_fee), ref,
                       status, at, updated)
    except ValueError:
        raise SettlementFileError("AMOUNT/ADMIN_FEE must be whole minor units") from None


def read_rcn(path: str | Path) -> Iterator[RcnLine]:
    """The lines of an RCN file, streamed; SettlementFileError (one line naming file and line) for
    what cannot be read."""
    try:
        file = open(path, "r", encoding="utf-8", newline=None)
    except OSError as exc:
        raise SettlementFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    number = 1
    with file:
        try:
            header = file.readline().rstrip("\n")
            if header.lstrip("\ufeff") != RCN_HEADER:
                raise SettlementFileError(f"{path}:1: not a settlement file (header {header[:40]!r})")
            for number, text in enumerate(file, start=2):
                if text != "\n":
                    yield parse_line(text[:-1] if text[-1:] == "\n" else text)
        except SettlementFileError as exc:
            if str(exc).startswith(f"{path}:"):
                raise
            raise SettlementFileError(f"{path}:{number}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise SettlementFileError(f"{path}: not UTF-8 text ({exc.reason})") from None


def read_ctl(path: str | Path) -> Control:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettlementFileError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    rows = [line for line in text.splitlines() if line.strip()]
    if len(rows) != 2 or rows[0].lstrip("\ufeff") != CTL_HEADER:
        raise SettlementFileError(f"{path}: not a control file (header and one line expected)")
    parts = rows[1].split("|")
    try:
        bank, day, paid_count, paid_amount, reversed_count, reversed_amount, net = parts
        control = Control(bank, _iso_date(day), int(paid_count), int(paid_amount), int(reversed_count),
                          int(reversed_amount))
        stated_net = parse_net(net)
    except ValueError as exc:
        raise SettlementFileError(f"{path}:2: bad control line ({exc})") from None
    if stated_net != control.paid_amount - control.reversed_amount:
        raise SettlementFileError(f"{path}:2: NET {net} is not PAID_AMOUNT - REVERSED_AMOUNT")
    return control


def _iso_date(text: str) -> str:
    digits = text.replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        raise ValueError(f"BUSINESS_DATE {text!r} is not YYYYMMDD")
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
