"""The terminal gateway: every frame from a terminal comes here. It decodes, finds the terminal,
checks the MAC and the sign-on, picks the flow, runs its participants and signs the answer."""
from __future__ import annotations

import time
from typing import Any

import structlog

from switch.ledger import accounts
from switch.ledger.accounts import Agent, Terminal
from switch.ledger.vault import VaultError
from switch.links.terminal_server import TerminalSession
from switch.services import Services
from switch.wire import TI, CodecError, Message, decode, encode, sign, verify_decoded
from switch.wire.vocabulary import Mti, NetworkCode, ProcessingCode, response_mti

from . import balance, inquiry, payment, reversal, status
from .common import ECHOED, finish
from .context import TxnContext, participant, run_steps
from .malformed import MalformedLog, Outcome, answerable, kind_of
from .malfunction import fail, malfunction_response, sign_quietly

log = structlog.get_logger("gateway")

# each flow's steps as participants once, not wrapped again for every request
FLOWS: dict[tuple[str, str], tuple[str, list[Any]]] = {
    key: (name, [participant(step) for step in steps]) for key, (name, steps) in {
        (Mti.FINANCIAL, ProcessingCode.INQUIRY): ("inquiry", inquiry.STEPS),
        (Mti.FINANCIAL, ProcessingCode.PAYMENT): ("payment", payment.STEPS),
        (Mti.FINANCIAL, ProcessingCode.BALANCE): ("balance", balance.STEPS),
        (Mti.FINANCIAL, ProcessingCode.STATUS): ("status", status.STEPS),
        (Mti.REVERSAL, ProcessingCode.PAYMENT): ("reversal", reversal.STEPS),
    }.items()}
NETWORK_FIELDS = (7, 11, 41, 70)
# answers that mean the terminal or the switch is wrong, not the customer's bill: logged at warning
# with the reason, so an operator can act on them (a customer's 14 or 88 is routine)
REFUSED = frozenset({"58", "63", "30", "94", "96"})


class TerminalGateway:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._malformed_log = MalformedLog()

    async def handle(self, session: TerminalSession, raw: bytes) -> bytes | None:
        with self.svc.metrics.in_flight("terminal"):
            return await self._handle(session, raw)

    async def _handle(self, session: TerminalSession, raw: bytes) -> bytes | None:
        """Whatever goes wrong inside, a request that can be answered is answered (96 at worst)."""
        seen: dict[str, TxnContext] = {}
        try:
            return await self._serve(session, raw, seen)
        except Exception:  # noqa: BLE001 - a bug or a storage fault must not leave the terminal waiting
            log.exception("terminal_request_failed", peer=session.peer, terminal=session.terminal_id)
            return self._malfunction(session, raw, seen.get("ctx"))

    def _malfunction(self, session: TerminalSession, raw: bytes, ctx: TxnContext | None) -> bytes | None:
        """96 echoing the request, MAC'd with the terminal's key when it is known by now."""
        if ctx is None:
            answer = self.refuse(session, raw, "96")
        else:
            answer = sign_quietly(malfunction_response(ctx), ctx.terminal.key)
        if answer is None:
            session.close()  # nothing the sender could match: do not leave it waiting
        return answer

    async def _serve(self, session: TerminalSession, raw: bytes, seen: dict[str, TxnContext]) -> bytes | None:
        started = time.monotonic()
        try:
            request = decode(raw, TI)
            malformed: CodecError | None = None
        except CodecError as exc:
            readable = answerable(raw)
            self._malformed(session, exc, Outcome.CLOSED if readable is None else Outcome.ANSWERED)
            if readable is None:  # the sender could not match an answer: do not leave it waiting
                session.close()
                return None
            request, malformed = readable, exc
        if response_mti(request.mti) is None:
            log.info("terminal_response_ignored", peer=session.peer, mti=request.mti)
            return None
        log.debug("terminal_in", peer=session.peer, terminal=(request.get(41) or "").rstrip(), mti=request.mti,
                 proc=request.get(3), network=request.get(70), stan=request.get(11))
        try:
            terminal, agent = await self._terminal(request.get(41), session)
        except VaultError as exc:  # its key does not open: no key, no MAC; the log names why (no key)
            log.error("terminal_key_unavailable", peer=session.peer, terminal=(request.get(41) or "").rstrip(),
                      error=str(exc))
            return self._unsigned(session, request, "96", started)
        if terminal is None:
            return self._unsigned(session, request, "58", started)
        ctx = seen["ctx"] = TxnContext(session=session, request=request, terminal=terminal, agent=agent)
        if malformed is not None:
            ctx.decline("30", reason=f"malformed message: {malformed}")
        elif not verify_decoded(request, raw, session.mac_key(terminal.key)):
            self._count_mac_failure()
            ctx.decline("63", reason="the MAC does not verify with the terminal's key (a stale key after a rekey?)")
        else:
            await self._dispatch(ctx)
        return await self._answer(ctx, started)

    def refuse(self, session: TerminalSession, raw: bytes, rc: str = "91") -> bytes | None:
        """The answer to a request shed under overload, built without the database or a task: the
        request's echoed fields and `rc`, MACed when it comes from the terminal signed on here (the
        only key at hand), otherwise unsigned like a 58. None for what needs no answer."""
        try:
            request: Message | None = decode(raw, TI)
        except CodecError:
            request = answerable(raw)
        if request is None:
            return None
        mti = response_mti(request.mti)
        if mti is None:
            return None
        fields = {n: v for n, v in request.fields.items() if n in ECHOED}
        fields[39] = rc
        response = Message(mti, fields)
        own = (request.get(41) or "").rstrip() == session.terminal_id
        key = session.key if own else None
        try:
            return sign(response, session.mac_key(key), TI) if key is not None else encode(response, TI)
        except CodecError:
            return None

    async def _terminal(self, terminal_id: str | None, session: TerminalSession
                        ) -> tuple[Terminal | None, Agent | None]:
        """The terminal and its agent, read for every request (a block applies at once); its key is
        unsealed once per connection and stored value (session.opened), not on every request."""
        if not terminal_id:
            return None, None
        return await self.svc.db.read(
            lambda tx: accounts.get_terminal_and_agent(tx, terminal_id.rstrip(), session.opened))

    async def _dispatch(self, ctx: TxnContext) -> None:
        req = ctx.request
        if req.mti == Mti.NETWORK:
            return self._network(ctx)
        refusal = self._not_allowed(ctx)
        if refusal:
            ctx.decline("58", reason=refusal)
            return
        if self.svc.calendar.paused():
            ctx.decline("90")  # the operator asked for a quiet moment after the cutover
            return
        if 3 not in req:
            ctx.decline("30", 3, reason="field 3 (processing code) is missing")
            return
        flow = FLOWS.get((req.mti, req[3]))
        if flow is None:
            ctx.decline("12")
            return
        ctx.kind, steps = flow
        await run_steps(steps, ctx, self.svc)  # a fault in a step is aborted there (96 way)
        try:
            await finish(ctx, self.svc)
        except Exception:  # noqa: BLE001 - the outcome could not be stored: store the 96 way instead
            log.exception("answer_not_stored", terminal=ctx.terminal_id, stan=req.get(11), kind=ctx.kind)
            await fail(ctx, self.svc)
            await finish(ctx, self.svc)  # if this fails too, a 'sent' payment is swept (recovery)
        if ctx.wake_bank:
            self.svc.saf_wake(ctx.wake_bank)

    @staticmethod
    def _not_allowed(ctx: TxnContext) -> str:
        """Why this terminal may not transact now ('' when it may)."""
        if ctx.terminal.blocked:
            return f"terminal {ctx.terminal_id} is blocked"
        if ctx.agent is None or ctx.agent.blocked:
            return f"agent {ctx.terminal.agent_id} is blocked" if ctx.agent else "the terminal's agent is gone"
        if ctx.session.terminal_id not in (None, ctx.terminal.terminal_id):
            return f"the connection is signed on as terminal {ctx.session.terminal_id}"
        if not ctx.session.signed_on or ctx.session.terminal_id != ctx.terminal.terminal_id:
            return "the terminal has not signed on (0800/001) on this connection"
        return ""

    def _network(self, ctx: TxnContext) -> None:
        req, session = ctx.request, ctx.session
        missing = [n for n in NETWORK_FIELDS if n not in req]
        if missing:
            ctx.decline("30", *missing, reason=f"field(s) {', '.join(map(str, missing))} missing")
            return
        code = req[70]
        if code == NetworkCode.ECHO:
            ctx.rc = "00"
        elif code == NetworkCode.SIGN_ON:
            refusal = (f"terminal {ctx.terminal_id} is blocked" if ctx.terminal.blocked
                       else "" if ctx.agent is not None and not ctx.agent.blocked
                       else f"agent {ctx.terminal.agent_id} is blocked")
            if refusal:
                ctx.decline("58", reason=refusal)
                return
            session.sign_on(ctx.terminal.terminal_id, ctx.terminal.key)
            ctx.rc = "00"
        elif code == NetworkCode.SIGN_OFF:
            session.signed_on = False
            ctx.rc = "00"
        else:
            ctx.decline("12")

    async def _answer(self, ctx: TxnContext, started: float) -> bytes:
        response = await finish(ctx, self.svc)
        try:
            raw = sign(response, ctx.session.mac_key(ctx.terminal.key), TI)
        except CodecError as exc:  # something we were given cannot go back on the wire
            log.error("terminal_response_unencodable", terminal=ctx.terminal_id, error=str(exc))
            fallback = Message(response.mti, {n: v for n, v in response.fields.items()
                                              if n in (7, 11, 37, 41, 42, 70)})
            fallback[39] = "96"
            response, raw = fallback, sign(fallback, ctx.terminal.key, TI)
        self._observe(ctx, response, started)
        return raw

    def _unsigned(self, session: TerminalSession, request: Message, rc: str, started: float) -> bytes | None:
        """58 to an unknown terminal (96 to one whose key does not open): no key, so no MAC."""
        fields = {n: v for n, v in request.fields.items() if n in ECHOED}
        fields[39] = rc
        response = Message(request.response_mti, fields)  # _serve answers only requests
        log.warning("terminal_unknown", peer=session.peer, terminal=request.get(41), mti=request.mti, rc=rc,
                    reason="no terminal with this id is registered (ppob-switch terminal list)")
        try:
            return encode(response, TI)
        except CodecError:  # cannot be answered: do not leave the sender waiting
            session.close()
            return None

    def _malformed(self, session: TerminalSession, error: CodecError, outcome: Outcome) -> None:
        kind = kind_of(error)
        self.svc.metrics.terminal_malformed_frame(kind.value, outcome.value)
        self._malformed_log.frame(kind, outcome, error, peer=session.peer)

    def _count_mac_failure(self) -> None:
        self.svc.metrics.mac_failure()

    @staticmethod
    def _default_reason(ctx: TxnContext, rc: str | None) -> str:
        if rc == "30" and ctx.bad_fields:
            return f"field(s) {', '.join(map(str, sorted(ctx.bad_fields)))} missing or malformed"
        if rc == "96":
            return "the bank's answer could not be used" if ctx.bank_response is not None else "system error"
        return f"refused with {rc}"

    def _observe(self, ctx: TxnContext, response: Message, started: float) -> None:
        elapsed = time.monotonic() - started
        req, rc = ctx.request, response.get(39)
        refused = rc in REFUSED
        emit = log.warning if refused else log.info
        extra = {k: v for k, v in ctx.log.items() if k != "inquiry"}
        if refused:
            extra["reason"] = ctx.reason or self._default_reason(ctx, rc)
        emit("terminal_out", terminal=ctx.terminal_id, mti=response.mti, request_mti=req.mti, proc=req.get(3),
             network=req.get(70), stan=req.get(11), rrn=response.get(37), product=ctx.product,
             customer=ctx.customer, bank=ctx.bank.id if ctx.bank else None, bank_stan=ctx.bank_stan, rc=rc,
             amount_minor=ctx.amount, latency_ms=round(elapsed * 1000, 1), **extra)
        self.svc.metrics.observe_request("terminal", req.mti, req.get(3) or req.get(70) or "",
                                         ctx.product or "", ctx.bank.id if ctx.bank else "",
                                         response.get(39) or "", elapsed)
