"""The agent terminal's side of the TI link (contract §2–§6): one TCP connection, many requests in
flight on it, responses matched to requests by (field 41, field 11), every response's MAC checked.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from switch.wire import (CodecError, ConnectionClosed, FrameReader, FramingError, Message, TI, an, decode,
                         mac_field, sign, verify, write_frame)
from switch.wire.field48 import (PREPAID, NontaglisInfo, PostpaidInfo, PrepaidInfo, ProductRequest,
                                 build_request, parse_response)

from switch.wire.fields import original_data, transmission_time
from switch.wire.receipt import ReceiptMeta, render_receipt
from switch.wire.vocabulary import Mti, NetworkCode, ProcessingCode

from .journal import Entry, Journal
from .results import (RC_BAD_MAC, RC_CONNECTION_LOST, RC_MEANINGS, RC_TIMEOUT, Declined, ProductInfo,
                      Result, parse_balance, rc_meaning)

log = logging.getLogger("terminal_sim")
WIB = ZoneInfo("Asia/Jakarta")

INQUIRY, PAYMENT, BALANCE, STATUS = (ProcessingCode.INQUIRY, ProcessingCode.PAYMENT, ProcessingCode.BALANCE,
                                     ProcessingCode.STATUS)
SIGN_ON, SIGN_OFF, ECHO = NetworkCode.SIGN_ON, NetworkCode.SIGN_OFF, NetworkCode.ECHO
ZERO_AMOUNT = "0" * 12

@dataclass
class _Waiter:
    future: asyncio.Future
    mti: str


class TerminalClient:
    """async with TerminalClient(host, port, "T0000001", "AGT000000000001", key) as t:
           r = await t.inquiry("PLNPST", "532110000123")

    Requests sign on by themselves on a new connection, and a dropped connection is reopened on
    the next request (an agent's shell may sit idle past the switch's idle timeout)."""

    def __init__(self, host: str, port: int, terminal_id: str, agent_id: str, key: bytes,
                 journal: Journal | None = None, channel: str = "6021", tls: ssl.SSLContext | None = None,
                 timeout: float = 60.0) -> None:
        if len(key) != 16:
            raise ValueError(f"a terminal MAC key is 16 bytes, got {len(key)}")
        self.host, self.port, self.tls = host, port, tls
        self.terminal_id, self.agent_id, self.key = terminal_id, agent_id, key
        self.f41, self.f42 = an(terminal_id, 8, 41), an(agent_id, 15, 42)
        self.channel, self.timeout = channel, timeout
        self.journal = journal if journal is not None else Journal(None)
        self._waiters: dict[tuple[str, str], _Waiter] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self._write_lock = asyncio.Lock()
        self._ready_lock = asyncio.Lock()
        self.signed_on = False

    # ---------------------------------------------------------------- connection

    async def connect(self) -> None:
        """Open the TCP (or TLS) connection. OSError (e.g. ConnectionRefusedError) when it cannot."""
        reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.tls)
        self._writer, self.signed_on = writer, False
        self._reader_task = asyncio.create_task(self._read_loop(FrameReader(reader, "2B")),
                                                name=f"terminal-{self.terminal_id}-reader")

    async def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
            self._reader_task = None
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass
            self._writer = None
        self._fail_waiters("connection closed by the terminal")
        self.signed_on = False

    async def __aenter__(self) -> "TerminalClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._writer is not None and self._reader_task is not None and not self._reader_task.done()

    async def _ensure_connected(self) -> None:
        if not self.connected:
            await self.close()
            await self.connect()

    async def _ready(self) -> Result | None:
        """Connected and signed on; returns the failed sign-on when the switch refused it."""
        async with self._ready_lock:
            await self._ensure_connected()
            if self.signed_on:
                return None
            result = await self.sign_on()
            return None if result.approved else result

    # ---------------------------------------------------------------- network management (0800)

    async def sign_on(self) -> Result:
        await self._ensure_connected()
        result = await self._network(SIGN_ON)
        self.signed_on = result.approved
        return result

    async def sign_off(self) -> Result:
        result = await self._network(SIGN_OFF)
        self.signed_on = False
        return result

    async def echo(self) -> Result:
        """0800/301; needs no sign-on (§4: answered whatever the state)."""
        async with self._ready_lock:   # concurrent callers after a drop open one connection, not several
            await self._ensure_connected()
        return await self._network(ECHO)

    async def _network(self, code: str) -> Result:
        now = datetime.now(timezone.utc)
        fields = {7: transmission_time(now), 11: self.journal.next_stan(self.terminal_id),
                  41: self.f41, 70: code}
        return await self._exchange(Message(Mti.NETWORK, fields), now)

    # ---------------------------------------------------------------- financial (0200 / 0400)

    async def inquiry(self, product: str, customer: str) -> Result:
        return await self._financial(Mti.FINANCIAL, INQUIRY, ZERO_AMOUNT, _f48(product, customer))

    async def pay(self, product: str, customer: str, amount_rupiah: int | None = None,
                  inquiry: Result | None = None) -> Result:
        """Inquiry first (unless one is given), then the payment of what it quoted. amount_rupiah:
        prepaid — the denomination (required; the quoted admin fee is added); others — the total to
        pay instead of the quote (the switch answers 13 when it differs from the bill)."""
        if product == PREPAID and amount_rupiah is None:
            raise ValueError("a prepaid purchase needs a denomination in rupiah")
        if amount_rupiah is not None and amount_rupiah <= 0:
            raise ValueError(f"amount must be positive rupiah, got {amount_rupiah}")
        quote = inquiry if inquiry is not None else await self.inquiry(product, customer)
        if not quote.approved:
            return quote
        if product == PREPAID:
            assert amount_rupiah is not None  # refused above: a prepaid purchase names its denomination
            admin = quote.info.admin_fee if isinstance(quote.info, PrepaidInfo) else 0
            amount_minor = (amount_rupiah + admin) * 100
        else:
            amount_minor = amount_rupiah * 100 if amount_rupiah is not None else quote.amount_minor
        return await self._financial(Mti.FINANCIAL, PAYMENT, f"{amount_minor:012d}", _f48(product, customer))

    async def balance_inquiry(self) -> Result:
        return await self._financial(Mti.FINANCIAL, BALANCE, ZERO_AMOUNT, None)

    async def balance(self) -> tuple[int, int]:
        """(ledger, available) of the agent's deposit in whole rupiah; Declined when refused."""
        result = await self.balance_inquiry()
        if not result.approved or result.balance is None:
            raise Declined(result)
        return result.balance

    async def status(self, original_stan: str) -> Result:
        """Ask the switch how a journaled payment ended (390000, field 90). A final answer settles the
        payment's journal entry, so a later offline reprint has the token / reference."""
        original = self._original(original_stan)
        result = await self._financial(Mti.FINANCIAL, STATUS, ZERO_AMOUNT, None, _f90(original))
        if result.error is None and result.rc != "68":
            self.journal.record_response(self.terminal_id, original.stan, original.f7, result.fields,
                                         result.rc, note="status")
        return result

    async def reverse(self, original_stan: str) -> Result:
        """0400 for a journaled payment: same 3, 4 and 48 as the original, field 90 naming it."""
        original = self._original(original_stan)
        req = original.request
        return await self._financial(Mti.REVERSAL, req[3], req[4], req.get(48), _f90(original))

    def _original(self, stan: str) -> Entry:
        entry = self.journal.find(self.terminal_id, stan)
        if entry is None:
            raise LookupError(f"no payment with STAN {stan} in this terminal's journal")
        return entry

    async def _financial(self, mti: str, proc: str, amount: str, f48: str | None,
                         f90: str | None = None) -> Result:
        refused = await self._ready()
        if refused is not None:
            return refused
        now = datetime.now(timezone.utc)
        local = now.astimezone(WIB)
        fields = {3: proc, 4: amount, 7: transmission_time(now),
                  11: self.journal.next_stan(self.terminal_id), 12: local.strftime("%H%M%S"),
                  13: local.strftime("%m%d"), 18: self.channel, 41: self.f41, 42: self.f42, 49: "360"}
        if f48 is not None:
            fields[48] = f48
        if f90 is not None:
            fields[90] = f90
        return await self._exchange(Message(mti, fields), now)

    # ---------------------------------------------------------------- exchange and matching

    async def _exchange(self, msg: Message, sent_at: datetime) -> Result:
        raw = sign(msg, self.key, TI)
        sent = {**msg.fields, mac_field(msg): raw[-16:].decode("ascii")}   # as on the wire
        key = (msg[41], msg[11])
        waiter = _Waiter(asyncio.get_running_loop().create_future(), msg.mti)
        self._waiters[key] = waiter
        self.journal.record_request(self.terminal_id, msg.mti, sent)
        started = time.perf_counter()
        try:
            async with self._write_lock:
                if self._writer is None:
                    raise ConnectionError("not connected")
                await write_frame(self._writer, raw, "2B")
            outcome = await asyncio.wait_for(waiter.future, self.timeout)
        except (TimeoutError, asyncio.TimeoutError):
            outcome = _Outcome(None, RC_TIMEOUT, f"no response within {self.timeout:g} s")
        except (ConnectionError, OSError) as exc:
            outcome = _Outcome(None, RC_CONNECTION_LOST, f"connection lost: {exc}")
        finally:
            self._waiters.pop(key, None)
        result = self._result(outcome, sent, sent_at, time.perf_counter() - started)
        if outcome.message is None:   # nothing trusted came: the entry stays pending for status/reprint
            self.journal.record_response(self.terminal_id, msg[11], msg[7], None, None, note=outcome.rc,
                                         settled=False)
        else:
            self.journal.record_response(self.terminal_id, msg[11], msg[7], result.fields, result.rc)
        return result

    def _result(self, outcome: "_Outcome", request: dict[int, str], sent_at: datetime,
                elapsed: float) -> Result:
        resp = outcome.message
        if resp is None:
            return Result("", outcome.rc, {}, None, [], elapsed, rc_meaning(outcome.rc), request, sent_at,
                          outcome.error)
        rc = resp.get(39, "")
        return Result(resp.mti, rc, dict(resp.fields), _parse_info(resp), _text(resp), elapsed,
                      rc_meaning(rc), request, sent_at, None)

    async def _read_loop(self, frames: FrameReader) -> None:
        reason = "connection closed by the switch"
        try:
            while True:
                self._on_frame(await frames.read_frame())
        except ConnectionClosed:
            pass
        except (FramingError, OSError, ssl.SSLError) as exc:
            reason = f"connection lost: {exc}"
            log.warning("terminal %s: %s", self.terminal_id, reason)
        finally:
            self._fail_waiters(reason)
            self.signed_on = False

    def _on_frame(self, raw: bytes) -> None:
        try:
            msg = decode(raw, TI)
        except CodecError as exc:   # cannot even be matched; its request will time out
            log.warning("terminal %s: undecodable response dropped: %s", self.terminal_id, exc)
            return
        trusted = _mac_ok(raw, msg, self.key)
        key = (msg.get(41, ""), msg.get(11, ""))
        waiter = self._waiters.get(key)
        if not trusted:
            log.warning("terminal %s: response STAN %s has a wrong MAC (rc %s), not trusted",
                        self.terminal_id, key[1], msg.get(39))
        if waiter is not None and not waiter.future.done():
            waiter.future.set_result(_Outcome(msg, "", None) if trusted else
                                     _Outcome(None, RC_BAD_MAC, _untrusted(msg)))
        elif trusted:   # a late answer to a request that timed out: settle its journal entry
            log.info("terminal %s: late response for STAN %s (rc %s)", self.terminal_id, key[1], msg.get(39))
            self.journal.record_response(self.terminal_id, key[1], msg.get(7), dict(msg.fields),
                                         msg.get(39), note="late")

    def _fail_waiters(self, reason: str) -> None:
        for waiter in list(self._waiters.values()):
            if not waiter.future.done():
                waiter.future.set_exception(ConnectionError(reason))


@dataclass
class _Outcome:
    message: Message | None
    rc: str
    error: str | None


def _mac_ok(raw: bytes, msg: Message, key: bytes) -> bool:
    if 64 not in msg and 128 not in msg:
        # §6: an unregistered terminal gets 58 without a MAC; a refusal cannot be forged into money
        return msg.get(39) == "58"
    try:
        return verify(raw, key)
    except CodecError:
        return False


def _untrusted(msg: Message) -> str:
    said = f"response MAC does not verify; it says rc {msg.get(39)}"
    if msg.get(39) == "63":   # the switch could not verify ours either: the two keys differ
        said += " (MAC error): is the key this terminal's registered key?"
    return said


def _f48(product: str, customer: str) -> str:
    return build_request(ProductRequest(product, customer))


def _f90(original: Entry) -> str:
    return original_data(Mti.FINANCIAL, original.stan, original.f7)


def _parse_info(msg: Message) -> ProductInfo | None:
    f48 = msg.get(48)
    if not f48:
        return None
    try:
        return parse_response(f48)
    except CodecError as exc:
        log.warning("field 48 of response STAN %s does not parse: %s", msg.get(11), exc)
        return None


def _text(msg: Message) -> list[str]:
    f62 = msg.get(62)
    return [line for line in f62.split("|")] if f62 else []


def receipt_from_entry(entry: Entry, reprint: bool = True) -> list[str] | None:
    """The receipt of a journaled payment from its stored answer (a reprint that needs no switch):
    None unless that answer was an approval with product data."""
    resp = entry.response
    if entry.status != "answered" or resp is None or resp.get(39) != "00" or not resp.get(48):
        return None
    try:
        info = parse_response(resp[48])
    except CodecError:
        return None
    tid, agent = entry.request.get(41, ""), entry.request.get(42, "")
    amount = resp.get(4) or entry.request.get(4, "0")
    text = tuple(resp[62].split("|")) if resp.get(62) else ()
    meta = ReceiptMeta(tid.strip(), agent.strip(), resp.get(37, "").strip(), entry.stan, entry.sent_at,
                       int(amount), "00", text)
    return render_receipt(info, meta, reprint=reprint)
