"""The bank's application: one HI request in, its response out (contract §4 and §8, bank side).

Synchronous on purpose: the host awaits any latency before calling it, so each check-then-update of
the book runs without an await in between, and concurrent requests need no locks.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

import structlog

from switch.wire import CodecError, Message, UnknownProduct
from switch.wire.fields import parse_original
from switch.wire.vocabulary import NetworkCode, ProcessingCode, response_mti
from switch.wire.vocabulary import ResponseCode as RC
from switch.wire.field48 import (NONTAGLIS, POSTPAID, PREPAID, NontaglisInfo, PostpaidBill, PostpaidInfo,
                                 PrepaidInfo, PrepaidSale, ProductRequest, build_response, parse_request)

from .book import (DENOMINATIONS, Book, PostpaidCustomer, PrepaidMeter, Registration, Status, compute_sale,
                   today_wib)
from .settlement import REVERSED, Calendar, Payment, Totals, signed_net, write_files

log = structlog.get_logger("bank_sim")

INQUIRY, PAYMENT = ProcessingCode.INQUIRY, ProcessingCode.PAYMENT
ECHO_FIELDS = (3, 7, 11, 12, 13, 18, 32, 37, 41, 42, 49, 70, 90)
FINANCIAL = (3, 4, 7, 11, 32, 37, 41, 42, 48, 49)
MANDATORY = {
    "0200": FINANCIAL + (12, 13, 18),
    "0220": FINANCIAL + (90,), "0221": FINANCIAL + (90,),
    "0400": FINANCIAL + (90,), "0401": FINANCIAL + (90,),
    "0500": (7, 11, 15, 32, 74, 76, 86, 88, 97),
    "0800": (7, 11, 70),
}
NETWORK_CODES = (NetworkCode.SIGN_ON, NetworkCode.SIGN_OFF, NetworkCode.ECHO)
CUTOVER = NetworkCode.CUTOVER
INFO_TEXT = {
    POSTPAID: "Terima kasih|Rincian tagihan dapat diakses di www.pln.co.id|Informasi hubungi Call Center 123",
    PREPAID: "Informasi hubungi Call Center 123|Atau hubungi PLN terdekat",
    NONTAGLIS: "Terima kasih|Simpan struk ini sebagai bukti pembayaran|Informasi hubungi Call Center 123",
}


class Decline(Exception):
    """Ends a request's processing with a response code."""

    def __init__(self, rc: str) -> None:
        super().__init__(rc)
        self.rc = rc


def digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest().upper()


@dataclass
class Teller:
    book: Book
    bank_id: str = "BANKSIM"
    settlement_dir: str | Path | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    calendar: Calendar = field(default_factory=lambda: Calendar(today_wib()))
    payments: list[Payment] = field(default_factory=list)
    _by_rrn: dict[tuple[str, str], Payment] = field(default_factory=dict)       # (STAN, RRN)
    _by_original: dict[tuple[str, str], Payment] = field(default_factory=dict)  # (STAN, field 7)
    _reversed_unseen: set[tuple[str, str]] = field(default_factory=set)  # reversed before it arrived

    # --- entry point -----------------------------------------------------------------------------

    def process(self, msg: Message, *, decline: bool = False) -> Message | None:
        """The response to a request, or None when msg is itself a response (nothing to answer)."""
        answer_mti = response_mti(msg.mti)
        if answer_mti is None:
            return None
        handler = self._handlers().get(msg.mti)
        if handler is None:
            return self._reply(msg, answer_mti, RC.INVALID_TRANSACTION)
        missing = [n for n in MANDATORY[msg.mti.replace("0221", "0220").replace("0401", "0400")]
                   if n not in msg]
        if missing:
            log.warning("missing mandatory fields", mti=msg.mti, missing=missing)
            return self._reply(msg, answer_mti, RC.FORMAT_ERROR)
        try:
            return handler(msg, answer_mti, decline)
        except Decline as d:
            return self._reply(msg, answer_mti, d.rc)

    def _handlers(self) -> dict[str, Callable[[Message, str, bool], Message]]:
        return {"0800": self._network, "0200": self._financial, "0220": self._advice, "0221": self._advice,
                "0400": self._reversal, "0401": self._reversal, "0500": self._reconciliation}

    def _reply(self, req: Message, mti: str, rc: str, result: dict[int, str] | None = None) -> Message:
        fields = {n: req[n] for n in ECHO_FIELDS if n in req}
        if 4 in req:
            fields[4] = req[4]
        fields[39] = rc
        fields.update(result or {})
        return Message(mti, fields)

    # --- network management ----------------------------------------------------------------------

    def _network(self, msg: Message, mti: str, decline: bool) -> Message:
        code = msg[70]
        if code in NETWORK_CODES:
            return self._reply(msg, mti, RC.APPROVED)
        if code != CUTOVER:
            return self._reply(msg, mti, RC.INVALID_TRANSACTION)
        closing = self.calendar.closing_date(msg.get(15) or "")
        if closing is None:
            return self._reply(msg, mti, RC.FORMAT_ERROR)
        self.cutover(closing)
        return self._reply(msg, mti, RC.APPROVED, {15: msg[15]})

    def cutover(self, closing: date) -> None:
        """Closes the open business date as `closing` and writes its settlement files."""
        day = self.calendar.cutover(closing)
        if day is None:
            log.info("cutover repeated", business_date=closing.isoformat())
            return
        log.info("cutover", business_date=closing.isoformat())
        if self.settlement_dir is not None:
            self.write_day(closing)

    def write_day(self, business_date: date) -> tuple[Path, Path]:
        if self.settlement_dir is None:
            raise ValueError("no settlement_dir to write into")
        paths = write_files(self.settlement_dir, self.bank_id, business_date, self.day_payments(business_date))
        log.info("settlement files written", rcn=str(paths[0]), ctl=str(paths[1]))
        return paths

    def day_payments(self, business_date: date) -> list[Payment]:
        return [p for p in self.payments if p.day.date == business_date]

    def totals(self, business_date: date) -> Totals:
        return Totals.of(self.day_payments(business_date))

    # --- 0200 ------------------------------------------------------------------------------------

    def _financial(self, msg: Message, mti: str, decline: bool) -> Message:
        if msg[49] != "360":
            raise Decline(RC.FORMAT_ERROR)
        if msg[3] == INQUIRY:
            return self._inquiry(msg, mti, decline)
        if msg[3] == PAYMENT:
            return self._payment(msg, mti, decline)
        raise Decline(RC.INVALID_TRANSACTION)

    def _inquiry(self, msg: Message, mti: str, decline: bool) -> Message:
        request = product_request(msg[48])
        if decline:
            raise Decline(RC.DO_NOT_HONOUR)
        info = self._inquire(request)
        due = info.total if not isinstance(info, PrepaidInfo) else 0
        return self._reply(msg, mti, RC.APPROVED, {4: f"{due * 100:012d}", 48: build_response(info)})

    def _inquire(self, request: ProductRequest) -> PostpaidInfo | PrepaidInfo | NontaglisInfo:
        if request.product == POSTPAID:
            return self._postpaid_info(self._postpaid(request.customer))
        if request.product == PREPAID:
            return self._prepaid_info(request.customer, self._meter(request.customer))
        return self._nontaglis_info(self._registration(request.customer))

    def _payment(self, msg: Message, mti: str, decline: bool) -> Message:
        key = (msg[11], msg[37])
        earlier = self._by_rrn.get(key) or self._by_original.get((msg[11], msg[7]))
        if earlier is not None:   # a retransmission, or the advice got here first: same answer
            return self._reply(msg, mti, earlier.result[39], earlier.result)
        request = product_request(msg[48])
        if decline or (msg[11], msg[7]) in self._reversed_unseen:
            return self._record_decline(msg, mti, request, RC.DO_NOT_HONOUR)
        try:
            payment = self._pay(msg, request)
        except Decline as d:
            return self._record_decline(msg, mti, request, d.rc)
        return self._reply(msg, mti, RC.APPROVED, payment.result)

    def _record_decline(self, msg: Message, mti: str, request: ProductRequest, rc: str) -> Message:
        self._remember(self._new_payment(msg, request, {39: rc}))
        return self._reply(msg, mti, rc)

    def _pay(self, msg: Message, request: ProductRequest, original: tuple[str, str] | None = None) -> Payment:
        amount = int(msg[4])
        if request.product == POSTPAID:
            return self._pay_postpaid(msg, request, amount)
        if request.product == PREPAID:
            return self._pay_prepaid(msg, request, amount, original)
        return self._pay_nontaglis(msg, request, amount)

    def _pay_postpaid(self, msg: Message, request: ProductRequest, amount: int) -> Payment:
        customer = self._postpaid(request.customer)
        bills = customer.offered
        if amount != self._postpaid_info(customer).total * 100:
            raise Decline(RC.INVALID_AMOUNT)
        payment = self._new_payment(msg, request, {})
        info = self._postpaid_info(customer, payment.biller_ref)
        customer.paid_periods.update(b.period for b in bills)
        payment.periods = tuple(b.period for b in bills)
        payment.admin_fee = self.book.admin_fees.postpaid * len(bills) * 100
        return self._approve(payment, build_response(info))

    def _pay_prepaid(self, msg: Message, request: ProductRequest, amount: int,
                     original: tuple[str, str] | None) -> Payment:
        meter = self._meter(request.customer)
        admin = self.book.admin_fees.prepaid
        denomination, cents = divmod(amount, 100)
        denomination -= admin
        if cents or denomination not in DENOMINATIONS:
            raise Decline(RC.INVALID_AMOUNT)
        payment = self._new_payment(msg, request, {}, original)
        sale = compute_sale(meter, denomination, payment.biller_ref)
        info = self._prepaid_info(request.customer, meter, PrepaidSale(
            payment.biller_ref, sale.token, sale.kwh_x100, sale.stamp_duty, sale.vat, sale.ppj,
            sale.installment, sale.power_purchase))
        payment.admin_fee = admin * 100
        return self._approve(payment, build_response(info))

    def _pay_nontaglis(self, msg: Message, request: ProductRequest, amount: int) -> Payment:
        registration = self._registration(request.customer)
        if amount != self._nontaglis_info(registration).total * 100:
            raise Decline(RC.INVALID_AMOUNT)
        payment = self._new_payment(msg, request, {})
        registration.paid = True
        payment.admin_fee = self.book.admin_fees.nontaglis * 100
        return self._approve(payment, build_response(self._nontaglis_info(registration, payment.biller_ref)))

    def _new_payment(self, msg: Message, request: ProductRequest, result: dict[int, str],
                     original: tuple[str, str] | None = None) -> Payment:
        stan, transmitted = original or (msg[11], msg[7])
        return Payment(stan=stan, transmitted=transmitted, rrn=msg[37].strip(), terminal=msg[41].strip(),
                       agent=msg[42].strip(), product=request.product, customer=request.customer,
                       amount=int(msg[4]), admin_fee=0, day=self.calendar.open, result=result,
                       biller_ref=digest(self.bank_id, stan, msg[37], request.customer)[:32],
                       at=self.clock())

    def _approve(self, payment: Payment, field48: str) -> Payment:
        approval = digest("approval", payment.biller_ref)[:6]
        payment.result = {39: RC.APPROVED, 38: approval, 48: field48, 62: INFO_TEXT[payment.product]}
        self._remember(payment)
        return payment

    def _remember(self, payment: Payment) -> None:
        self.payments.append(payment)
        self._by_rrn[(payment.stan, payment.rrn)] = payment
        self._by_original[(payment.stan, payment.transmitted)] = payment

    # --- book lookups: each raises the customer's decline code -----------------------------------

    def _postpaid(self, idpel: str) -> PostpaidCustomer:
        customer = self.book.postpaid.get(idpel)
        if customer is None:
            raise Decline(RC.UNKNOWN_CUSTOMER)
        if customer.status == Status.BLOCKED:
            raise Decline(RC.CUSTOMER_BLOCKED)
        if customer.status == Status.NOT_AVAILABLE:
            raise Decline(RC.BILL_NOT_AVAILABLE)
        if not customer.unpaid:
            raise Decline(RC.ALREADY_PAID)
        return customer

    def _meter(self, customer: str) -> PrepaidMeter:
        meter = self.book.prepaid_by_customer(customer)
        if meter is None:
            raise Decline(RC.UNKNOWN_CUSTOMER)
        return meter

    def _registration(self, number: str) -> Registration:
        registration = self.book.registrations.get(number)
        if registration is None:
            raise Decline(RC.UNKNOWN_CUSTOMER)
        if registration.paid:
            raise Decline(RC.ALREADY_PAID)
        return registration

    # --- field 48 layouts ------------------------------------------------------------------------

    def _postpaid_info(self, c: PostpaidCustomer, ref: str | None = None) -> PostpaidInfo:
        bills = tuple(PostpaidBill(b.period, f"{b.due_date:%Y%m%d}", f"{b.read_date:%Y%m%d}", b.amount,
                                   b.penalty, b.meter_before, b.meter_after) for b in c.offered)
        return PostpaidInfo(c.idpel, c.name, c.tariff.code, c.tariff.power_va, len(c.unpaid),
                            self.book.admin_fees.postpaid, bills, ref)

    def _prepaid_info(self, customer: str, m: PrepaidMeter, sale: PrepaidSale | None = None) -> PrepaidInfo:
        return PrepaidInfo(customer, m.meter, m.idpel, m.name, m.tariff.code, m.tariff.power_va,
                           self.book.admin_fees.prepaid, sale)

    def _nontaglis_info(self, r: Registration, ref: str | None = None) -> NontaglisInfo:
        return NontaglisInfo(r.number, r.transaction_name, r.name, f"{r.registration_date:%Y%m%d}",
                             r.amount, self.book.admin_fees.nontaglis, ref)

    # --- 0400 / 0401 reversal --------------------------------------------------------------------

    def _reversal(self, msg: Message, mti: str, decline: bool) -> Message:
        if msg[3] != PAYMENT:
            raise Decline(RC.INVALID_TRANSACTION)
        original_key = original_of(msg[90])
        payment = self._by_original.get(original_key)
        if payment is None:   # never arrived: remember, so a late original is not approved after all
            self._reversed_unseen.add(original_key)
            raise Decline(RC.ORIGINAL_NOT_FOUND)
        if payment.product == PREPAID:
            raise Decline(RC.INVALID_TRANSACTION)
        if not payment.approved:
            raise Decline(RC.ORIGINAL_NOT_FOUND)
        if payment.status != REVERSED:
            self._unpay(payment)
        return self._reply(msg, mti, RC.APPROVED)

    def _unpay(self, payment: Payment) -> None:
        if payment.product == POSTPAID:
            self.book.postpaid[payment.customer].paid_periods.difference_update(payment.periods)
        else:
            self.book.registrations[payment.customer].paid = False
        payment.status, payment.updated_at = REVERSED, self.clock()
        log.info("payment reversed", stan=payment.stan, rrn=payment.rrn, customer=payment.customer)

    # --- 0220 / 0221 advice ----------------------------------------------------------------------

    def _advice(self, msg: Message, mti: str, decline: bool) -> Message:
        if msg[3] != PAYMENT:
            raise Decline(RC.INVALID_TRANSACTION)
        request = product_request(msg[48])
        if request.product != PREPAID:
            raise Decline(RC.INVALID_TRANSACTION)
        original_key = original_of(msg[90])
        payment = self._by_original.get(original_key) or self._by_rrn.get((original_key[0], msg[37]))
        if payment is None:   # the purchase never reached us: complete it now, as the original
            payment = self._pay(msg, request, original_key)
        return self._reply(msg, mti, payment.result[39], payment.result)

    # --- 0500 reconciliation ---------------------------------------------------------------------

    def _reconciliation(self, msg: Message, mti: str, decline: bool) -> Message:
        business_date = self.calendar.resolve(msg[15])
        theirs_net = signed_net(msg[97])
        if business_date is None or theirs_net is None:
            raise Decline(RC.FORMAT_ERROR)
        ours = self.totals(business_date)
        theirs = (int(msg[74]), int(msg[76]), int(msg[86]), int(msg[88]), theirs_net)
        mine = (ours.paid_count, ours.reversed_count, ours.paid_amount, ours.reversed_amount,
                ours.paid_amount - ours.reversed_amount)
        rc = RC.APPROVED if theirs == mine else RC.RECONCILIATION_DIFFERS
        log.info("reconciliation", business_date=business_date.isoformat(), rc=rc, ours=mine, theirs=theirs)
        return self._reply(msg, mti, rc, {
            15: msg[15], 74: f"{ours.paid_count:010d}", 76: f"{ours.reversed_count:010d}",
            86: f"{ours.paid_amount:016d}", 88: f"{ours.reversed_amount:016d}", 97: ours.net})


def product_request(field48: str) -> ProductRequest:
    try:
        return parse_request(field48)
    except UnknownProduct:
        raise Decline(RC.INVALID_TRANSACTION) from None
    except CodecError:
        raise Decline(RC.FORMAT_ERROR) from None


def original_of(field90: str) -> tuple[str, str]:
    """(STAN, field 7) of the original named in field 90."""
    original = parse_original(field90)
    return original.stan, original.f7
