"""Field 48 layouts (§5): typed parse/build, validation, round trips."""
from __future__ import annotations

from dataclasses import replace

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switch.wire import CodecError, UnknownProduct
from switch.wire.field48 import (NontaglisInfo, PostpaidBill, PostpaidInfo, PrepaidInfo, PrepaidSale,
                                 ProductRequest, build_request, build_response, parse_request, parse_response)

BILL = PostpaidBill("202609", "20260920", "20260901", 187500, 5000, 12000, 12150)
POSTPAID = PostpaidInfo("532110000123", "SITI AMINAH", "R1", 1300, 2, 3000, (BILL,))
SALE = PrepaidSale("REF", "12345678901234567890", 3364, 0, 0, 4520, 0, 45480)
PREPAID = PrepaidInfo("14234567890", "14234567890", "532110000777", "BUDI", "R1", 900, 2500)
NONTAGLIS = NontaglisInfo("5321126110001", "PASANG BARU", "RUDI", "20261120", 1515000, 3000)


def refused(text: str) -> CodecError:
    with pytest.raises(CodecError) as caught:
        parse_response(text)
    assert caught.value.field == 48
    return caught.value


def test_a_request_pads_the_customer_to_13_characters():
    assert build_request(ProductRequest("PLNPST", "532110000123")) == "PLNPST532110000123 "
    assert parse_request("PLNPRA14234567890  ") == ProductRequest("PLNPRA", "14234567890")


@pytest.mark.parametrize("product, customer", [
    ("PLNPST", "53211000012"),   # postpaid IDPEL is 12 digits
    ("PLNPRA", "1423456789"),    # prepaid is 11 or 12
    ("PLNNTL", "532112611000"),  # non-taglis registration is 13
    ("PLNPST", "53211000012A"),
])
def test_a_request_with_the_wrong_customer_for_its_product_is_refused(product, customer):
    with pytest.raises(CodecError) as caught:
        parse_request(product + customer.ljust(13))
    assert caught.value.field == 48 and "customer" in caught.value.reason


def test_an_unknown_but_well_formed_product_is_its_own_error():
    with pytest.raises(UnknownProduct) as caught:
        parse_request("PDAMXX1234567890123")
    assert caught.value.product == "PDAMXX" and caught.value.field == 48


def test_a_request_of_the_wrong_length_is_refused():
    with pytest.raises(CodecError):
        parse_request("PLNPST532110000123")


def test_an_impossible_due_date_is_named_with_its_bill():
    two = PostpaidInfo("532110000123", "SITI", "R1", 1300, 2, 3000, (BILL, BILL))
    text = build_response(two)
    second_due = 68 + 59 + 6
    broken = text[:second_due] + "20261340" + text[second_due + 8:]
    assert str(refused(broken)) == "field 48: bill 2 due date '20261340' is not a date"


def test_an_impossible_period_is_refused():
    text = build_response(POSTPAID)
    assert "period" in refused(text[:68] + "202613" + text[74:]).reason


@pytest.mark.parametrize("count", ["0", "5", "X"])
def test_a_postpaid_bill_count_outside_1_to_4_is_refused(count):
    text = build_response(POSTPAID)
    refused(text[:57] + count + text[58:])


def test_a_postpaid_layout_whose_length_does_not_match_its_bill_count_is_refused():
    text = build_response(POSTPAID)
    assert "characters" in refused(text + "X").reason


def test_the_payment_tail_is_recognised_by_length():
    paid = replace(POSTPAID, biller_ref="0BAG210Z9Y8X7W6V5U4T3S2R1Q0P9O8N")
    assert parse_response(build_response(paid)).biller_ref == "0BAG210Z9Y8X7W6V5U4T3S2R1Q0P9O8N"
    assert parse_response(build_response(POSTPAID)).biller_ref is None
    sold = replace(PREPAID, sale=SALE)
    assert parse_response(build_response(sold)).sale == SALE
    assert len(build_response(sold)) == 202 and len(build_response(PREPAID)) == 88
    assert len(build_response(NONTAGLIS)) == 97


def test_building_refuses_values_that_do_not_fit_their_positions():
    too_long_name = replace(POSTPAID, name="N" * 26)
    no_bills = replace(POSTPAID, bills=())
    five_bills = replace(POSTPAID, bills=(BILL,) * 5)
    huge_fee = replace(NONTAGLIS, admin_fee=10 ** 8)
    short_token = replace(PREPAID, sale=replace(SALE, token="123"))
    for info in (too_long_name, no_bills, five_bills, huge_fee, short_token):
        with pytest.raises(CodecError):
            build_response(info)


def test_totals_are_whole_rupiah_with_the_admin_fee_per_bill():
    two = PostpaidInfo("532110000123", "SITI", "R1", 1300, 2, 3000, (BILL, BILL))
    assert two.total == 2 * (187500 + 5000 + 3000)
    assert isinstance(two.bills, tuple)
    assert NONTAGLIS.total == 1518000


def test_non_ascii_field_48_is_refused():
    refused("PLNNTL5321126110001PASANG BARU              RUDI Ä")


# ---- round trips --------------------------------------------------------------------------------

def text(size: int) -> st.SearchStrategy[str]:
    """Printable ASCII without trailing spaces (they are padding on the wire)."""
    chars = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
    return st.text(chars, max_size=size).map(str.rstrip)


def digits(size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=48, max_codepoint=57), min_size=size, max_size=size)


def number(width: int) -> st.SearchStrategy[int]:
    return st.integers(0, 10 ** width - 1)


DATES = st.dates(datetime.date(1900, 1, 1), datetime.date(2999, 12, 31))
REF = st.none() | text(32)

BILLS = st.builds(PostpaidBill, DATES.map(lambda d: d.strftime("%Y%m")), DATES.map(lambda d: d.strftime("%Y%m%d")),
                  DATES.map(lambda d: d.strftime("%Y%m%d")), number(12), number(9), number(8), number(8))
POSTPAIDS = st.builds(PostpaidInfo, digits(12), text(25), text(4), number(9), number(2), number(8),
                      st.lists(BILLS, min_size=1, max_size=4).map(tuple), REF)
SALES = st.builds(PrepaidSale, text(32), digits(20), number(10), number(10), number(10), number(10), number(10),
                  number(12))
PREPAIDS = st.builds(PrepaidInfo, digits(11) | digits(12), digits(11), digits(12), text(25), text(4), number(9),
                     number(8), st.none() | SALES)
NONTAGLISES = st.builds(NontaglisInfo, digits(13), text(25), text(25), DATES.map(lambda d: d.strftime("%Y%m%d")),
                        number(12), number(8), REF)
REQUESTS = st.one_of(st.builds(ProductRequest, st.just("PLNPST"), digits(12)),
                     st.builds(ProductRequest, st.just("PLNPRA"), digits(11) | digits(12)),
                     st.builds(ProductRequest, st.just("PLNNTL"), digits(13)))


@settings(max_examples=300)
@given(st.one_of(POSTPAIDS, PREPAIDS, NONTAGLISES))
def test_any_valid_response_builds_and_parses_back_to_itself(info):
    built = build_response(info)
    assert parse_response(built) == info
    assert build_response(parse_response(built)) == built


@settings(max_examples=200)
@given(REQUESTS)
def test_any_valid_request_builds_and_parses_back_to_itself(product_request):
    assert parse_request(build_request(product_request)) == product_request


@settings(max_examples=500)
@given(st.text(max_size=400))
def test_any_text_parses_or_is_a_field_48_codec_error(s):
    for parse in (parse_request, parse_response):
        try:
            parse(s)
        except CodecError as err:
            assert err.field == 48


@settings(max_examples=500)
@given(st.one_of(POSTPAIDS, PREPAIDS, NONTAGLISES), st.data())
def test_any_mutation_of_a_valid_response_parses_or_is_a_field_48_codec_error(info, data):
    built = build_response(info)
    where = data.draw(st.integers(0, len(built)))
    s = built[:where] + data.draw(st.text(max_size=3)) + built[where + data.draw(st.integers(0, 3)):]
    try:
        parse_response(s)
    except CodecError as err:
        assert err.field == 48
