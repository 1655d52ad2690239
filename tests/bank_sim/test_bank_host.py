"""The simulated bank over real loopback TCP, in both framings (the `framing` fixture)."""
import asyncio

import pytest

from bank_sim.book import compute_sale
from switch.wire import HI, Message, encode
from switch.wire.field48 import parse_response

ECHOED = (3, 7, 11, 12, 13, 18, 32, 37, 41, 42, 49)


async def quote(link, msgs, product, customer) -> Message:
    answer = await link.request(msgs.inquiry(product, customer))
    assert answer[39] == "00", answer.fields
    return answer


async def test_sign_on_echo_and_sign_off_are_answered_00_with_their_fields(link, msgs):
    for code in ("001", "301", "002"):
        request = msgs.network(code)
        answer = await link.request(request)
        assert answer.mti == "0810"
        assert (answer[39], answer[70], answer[7], answer[11]) == ("00", code, request[7], request[11])


async def test_postpaid_inquiry_quotes_two_bills_and_the_total_in_minor_units(link, msgs, examples, book):
    request = msgs.inquiry("PLNPST", examples["postpaid"])
    answer = await link.request(request)
    info = parse_response(answer[48])
    assert answer.mti == "0210" and answer[39] == "00"
    assert all(answer[n] == request[n] for n in ECHOED if n != 3) and answer[3] == "380000"
    assert len(info.bills) == 2 and info.outstanding == 2 and info.biller_ref is None
    assert info.admin_fee == 3000
    assert int(answer[4]) == info.total * 100
    customer = book.postpaid[examples["postpaid"]]
    assert info.total == sum(b.amount + b.penalty for b in customer.bills) + 2 * 3000


async def test_postpaid_payment_of_the_quoted_total_is_approved_with_reference_and_receipt_text(link, msgs,
                                                                                              examples):
    due = (await quote(link, msgs, "PLNPST", examples["postpaid"]))[4]
    answer = await link.request(msgs.payment("PLNPST", examples["postpaid"], int(due)))
    info = parse_response(answer[48])
    assert answer[39] == "00" and answer[4] == due
    assert len(answer[38]) == 6
    assert info.biller_ref is not None and len(info.biller_ref) == 32
    assert len(info.bills) == 2
    assert "|" in answer[62]


async def test_a_second_payment_for_the_same_bills_is_answered_88(link, msgs, examples):
    due = int((await quote(link, msgs, "PLNPST", examples["postpaid_1"]))[4])
    first = await link.request(msgs.payment("PLNPST", examples["postpaid_1"], due))
    second = await link.request(msgs.payment("PLNPST", examples["postpaid_1"], due))
    again = await link.request(msgs.inquiry("PLNPST", examples["postpaid_1"]))
    assert (first[39], second[39], again[39]) == ("00", "88", "88")


async def test_a_payment_of_a_different_amount_is_answered_13_and_pays_nothing(link, msgs, examples):
    due = int((await quote(link, msgs, "PLNPST", examples["postpaid"]))[4])
    wrong = await link.request(msgs.payment("PLNPST", examples["postpaid"], due - 100))
    right = await link.request(msgs.payment("PLNPST", examples["postpaid"], due))
    assert (wrong[39], right[39]) == ("13", "00")


async def test_a_retransmitted_payment_gets_the_same_answer_and_pays_once(link, msgs, examples, bank):
    due = int((await quote(link, msgs, "PLNPST", examples["postpaid"]))[4])
    payment = msgs.payment("PLNPST", examples["postpaid"], due)
    first = await link.request(payment)
    repeat = await link.request(payment)
    assert repeat[39] == "00"
    assert (repeat[38], repeat[48], repeat[62]) == (first[38], first[48], first[62])
    assert bank.totals(bank.business_date).paid_count == 1


@pytest.mark.parametrize("scenario, product, rc", [
    ("unknown", "PLNPST", "14"), ("blocked", "PLNPST", "77"), ("paid", "PLNPST", "88"),
    ("not_available", "PLNPST", "89")])
async def test_special_customers_get_their_response_code_on_inquiry_and_payment(link, msgs, examples,
                                                                               scenario, product, rc):
    inquiry = await link.request(msgs.inquiry(product, examples[scenario]))
    payment = await link.request(msgs.payment(product, examples[scenario], 10_000_00))
    assert (inquiry[39], payment[39]) == (rc, rc)
    assert 48 not in inquiry


async def test_an_unknown_meter_and_registration_get_14(link, msgs):
    meter = await link.request(msgs.inquiry("PLNPRA", "99999999999"))
    registration = await link.request(msgs.inquiry("PLNNTL", "9999999999999"))
    assert (meter[39], registration[39]) == ("14", "14")


async def test_six_months_in_arrears_are_paid_four_at_a_time(link, msgs, examples):
    customer = examples["postpaid_arrears"]
    first = await quote(link, msgs, "PLNPST", customer)
    info = parse_response(first[48])
    assert (len(info.bills), info.outstanding) == (4, 6)
    paid = await link.request(msgs.payment("PLNPST", customer, int(first[4])))
    assert paid[39] == "00"
    rest = parse_response((await quote(link, msgs, "PLNPST", customer))[48])
    assert (len(rest.bills), rest.outstanding) == (2, 2)
    assert rest.bills[0].period > info.bills[-1].period


async def test_reversal_unpays_the_bills_then_repeats_00_and_an_unknown_original_gets_25(link, msgs,
                                                                                         examples):
    customer = examples["postpaid"]
    payment = msgs.payment("PLNPST", customer, int((await quote(link, msgs, "PLNPST", customer))[4]))
    assert (await link.request(payment))[39] == "00"
    reversal = msgs.reversal(payment)
    first = await link.request(reversal)
    repeat = await link.request(Message("0401", {**reversal.fields, 7: "1125235959"}))
    unknown = await link.request(msgs.reversal(msgs.payment("PLNPST", customer, 100)))
    assert first.mti == "0410" and first[90] == reversal[90]
    assert (first[39], repeat[39], unknown[39]) == ("00", "00", "25")
    assert (await link.request(msgs.inquiry("PLNPST", customer)))[39] == "00"   # payable again


async def test_a_declined_payment_cannot_be_reversed(link, msgs, examples):
    payment = msgs.payment("PLNPST", examples["postpaid"], 1)
    assert (await link.request(payment))[39] == "13"
    assert (await link.request(msgs.reversal(payment)))[39] == "25"


async def test_a_late_original_after_its_reversal_is_not_approved(link, msgs, examples):
    customer = examples["postpaid"]
    payment = msgs.payment("PLNPST", customer, int((await quote(link, msgs, "PLNPST", customer))[4]))
    assert (await link.request(msgs.reversal(payment)))[39] == "25"
    assert (await link.request(payment))[39] == "05"
    assert (await link.request(msgs.inquiry("PLNPST", customer)))[39] == "00"


async def test_prepaid_inquiry_carries_the_admin_fee_and_no_amount(link, msgs, examples):
    answer = await quote(link, msgs, "PLNPRA", examples["prepaid"])
    info = parse_response(answer[48])
    assert answer[4] == "000000000000"
    assert info.admin_fee == 2500 and info.meter == examples["prepaid"] and info.sale is None


async def test_prepaid_purchase_returns_a_token_whose_kwh_follow_from_the_tariff(link, msgs, examples, book):
    meter = book.prepaid[examples["prepaid"]]
    answer = await link.request(msgs.payment("PLNPRA", meter.idpel, (50_000 + 2_500) * 100))
    sale = parse_response(answer[48]).sale
    expected = compute_sale(meter, 50_000, sale.biller_ref)
    assert answer[39] == "00"
    assert (sale.token, sale.kwh_x100, sale.ppj, sale.power_purchase) == (
        expected.token, expected.kwh_x100, expected.ppj, expected.power_purchase)


@pytest.mark.parametrize("rupiah", [50_000, 30_000 + 2_500, 2_000_000 + 2_500])
async def test_a_prepaid_amount_that_is_not_a_denomination_plus_admin_is_13(link, msgs, examples, rupiah):
    answer = await link.request(msgs.payment("PLNPRA", examples["prepaid"], rupiah * 100))
    assert answer[39] == "13"


async def test_a_prepaid_purchase_is_not_reversible(link, msgs, examples):
    payment = msgs.payment("PLNPRA", examples["prepaid"], 20_000_00 + 2_500_00)
    assert (await link.request(payment))[39] == "00"
    assert (await link.request(msgs.reversal(payment)))[39] == "12"


async def test_advice_for_a_purchase_never_received_completes_it_once_and_repeats_the_token(link, msgs,
                                                                                          examples, bank):
    purchase = msgs.payment("PLNPRA", examples["prepaid"], 100_000_00 + 2_500_00)   # never sent
    advice = msgs.advice(purchase)
    first = await link.request(advice)
    repeat = await link.request(Message("0221", {**advice.fields, 7: "1125235959"}))
    late_original = await link.request(purchase)
    token = parse_response(first[48]).sale.token
    assert first.mti == "0230" and first[39] == "00"
    assert parse_response(repeat[48]).sale.token == token
    assert parse_response(late_original[48]).sale.token == token
    assert bank.totals(bank.business_date).paid_count == 1


async def test_advice_after_an_approved_purchase_returns_the_same_token(link, msgs, examples):
    purchase = msgs.payment("PLNPRA", examples["prepaid"], 20_000_00 + 2_500_00)
    sold = await link.request(purchase)
    advised = await link.request(msgs.advice(purchase))
    assert advised[39] == "00"
    assert parse_response(advised[48]).sale == parse_response(sold[48]).sale


async def test_advice_for_a_postpaid_bill_is_refused_12(link, msgs, examples):
    payment = msgs.payment("PLNPST", examples["postpaid"], 100)
    assert (await link.request(msgs.advice(payment)))[39] == "12"


@pytest.mark.parametrize("scenario, name", [("nontaglis", "PASANG BARU"), ("nontaglis_upgrade", "PERUBAHAN DAYA")])
async def test_nontaglis_is_quoted_paid_once_and_then_88(link, msgs, examples, scenario, name):
    answer = await quote(link, msgs, "PLNNTL", examples[scenario])
    info = parse_response(answer[48])
    assert info.transaction_name == name and int(answer[4]) == (info.amount + 3000) * 100
    paid = await link.request(msgs.payment("PLNNTL", examples[scenario], int(answer[4])))
    again = await link.request(msgs.payment("PLNNTL", examples[scenario], int(answer[4])))
    assert (paid[39], again[39]) == ("00", "88")
    assert len(parse_response(paid[48]).biller_ref) == 32


async def test_reconciliation_agrees_with_gross_totals_and_disagrees_otherwise(link, msgs, examples, bank):
    customer = examples["postpaid"]
    due = int((await quote(link, msgs, "PLNPST", customer))[4])
    payment = msgs.payment("PLNPST", customer, due)
    await link.request(payment)
    await link.request(msgs.reversal(payment))
    await link.request(msgs.payment("PLNPRA", examples["prepaid"], 20_000_00 + 2_500_00))
    mmdd = bank.business_date.strftime("%m%d")
    agree = await link.request(msgs.reconciliation(mmdd, (2, due + 22_500_00), (1, due)))
    differ = await link.request(msgs.reconciliation(mmdd, (2, due + 22_500_00), (0, 0)))
    assert agree.mti == "0510" and agree[39] == "00"
    assert differ[39] == "95"
    assert (differ[74], differ[76], differ[97]) == ("0000000002", "0000000001", f"C{22_500_00:016d}")


@pytest.mark.parametrize("change, rc", [
    ({3: "310000"}, "12"), ({48: "PLNXXX532110000123 "}, "12"), ({48: "PLNPST53211"}, "30"),
    ({49: "840"}, "30")])
async def test_bad_requests_are_answered_12_or_30(link, msgs, examples, change, rc):
    request = msgs.inquiry("PLNPST", examples["postpaid"])
    request.fields.update(change)
    assert (await link.request(request))[39] == rc


async def test_a_request_missing_a_mandatory_field_is_answered_30_echoing_what_it_had(link, msgs, examples):
    request = msgs.inquiry("PLNPST", examples["postpaid"])
    del request.fields[37]
    answer = await link.request(request)
    assert answer[39] == "30" and 37 not in answer and answer[41] == request[41]


async def test_an_unknown_message_type_is_answered_12(link, msgs):
    request = msgs.network("301")
    answer = await link.request(Message("0100", request.fields))
    assert (answer.mti, answer[39]) == ("0110", "12")


async def test_a_frame_that_does_not_decode_is_ignored_and_the_link_keeps_working(link, msgs, bank):
    await link.send_raw(b"0200ZZZZ not iso 8583")
    answer = await link.request(msgs.network("301"))
    assert answer[39] == "00"
    assert bank.stats.undecodable == 1


async def test_responses_may_overtake_slower_ones(link, msgs, examples, bank):
    bank.answer_delay_s = 0.3             # financial requests only; echo is answered at once
    slow = await link.send(msgs.inquiry("PLNPST", examples["postpaid"]))
    echo = await link.request(msgs.network("301"))
    assert echo[39] == "00" and not slow.done()
    assert (await asyncio.wait_for(slow, 5))[39] == "00"


async def test_many_requests_in_flight_on_one_link_are_each_answered_by_stan(link, msgs, book):
    customers = list(book.postpaid)[:60]
    sent = [msgs.inquiry("PLNPST", c) for c in customers]
    futures = [await link.send(m) for m in sent]
    answers = await asyncio.wait_for(asyncio.gather(*futures), 10)
    assert [a[11] for a in answers] == [m[11] for m in sent]
    assert all(a[48][6:18] == c for a, c in zip(answers, customers) if a[39] == "00")


async def test_two_links_at_once_share_one_book(bank, msgs, examples, framing):
    from tests.bank_sim.hi_client import HiClient
    one, two = await HiClient.connect(bank.ports[0], framing), await HiClient.connect(bank.ports[0], framing)
    try:
        due = int((await quote(one, msgs, "PLNPST", examples["postpaid_1"]))[4])
        assert (await one.request(msgs.payment("PLNPST", examples["postpaid_1"], due)))[39] == "00"
        assert (await two.request(msgs.payment("PLNPST", examples["postpaid_1"], due)))[39] == "88"
        assert bank.links == 2
    finally:
        await one.close()
        await two.close()


def test_every_response_the_bank_builds_encodes_by_the_hi_spec(book):
    from bank_sim.teller import Teller
    from tests.bank_sim.hi_client import Messages
    teller, m = Teller(book), Messages()
    for scenario, customer in book.examples().items():
        product = {"prepaid": "PLNPRA", "nontaglis": "PLNNTL",
                   "nontaglis_upgrade": "PLNNTL"}.get(scenario, "PLNPST")
        for request in (m.inquiry(product, customer), m.payment(product, customer, 0)):
            assert encode(teller.process(request), HI)
