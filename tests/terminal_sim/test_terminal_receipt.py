"""Receipts: golden struk per product, compared exactly, and never wider than 32 columns."""
from __future__ import annotations

from dataclasses import replace

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switch.wire.field48 import NontaglisInfo, PostpaidBill, PostpaidInfo, PrepaidInfo, PrepaidSale
from switch.wire.receipt import (WIDTH, ReceiptMeta, kwh, period, render_balance, render_bill,
                                  render_receipt, rupiah, token_groups)

GOLDEN = Path(__file__).resolve().parent / "golden"
WHEN = datetime(2026, 11, 25, 15, 30, 20)

BILLS = (PostpaidBill("202609", "20260920", "20260901", 187_500, 5_000, 12_000, 12_150),
         PostpaidBill("202610", "20261020", "20261001", 201_300, 0, 12_150, 12_311))
POSTPAID = PostpaidInfo("532110000123", "SITI AMINAH", "R1", 1300, 4, 3_000, BILLS,
                        "0BAG210Z9Y8X7W6V5U4T3S2R1Q0P9O8N")
PREPAID = PrepaidInfo("14234567890", "14234567890", "532110000777", "BUDI SANTOSO", "R1", 900, 2_500,
                      PrepaidSale("0BAG210Z1A2B3C4D5E6F7G8H9I0J1K2L", "12345678901234567890", 3364,
                                  0, 0, 4_520, 0, 45_480))
NONTAGLIS = NontaglisInfo("5321126110001", "PASANG BARU", "RUDI HARTONO", "20261120", 1_515_000, 3_000,
                          "0BAG210Z5N4M3L2K1J0I9H8G7F6E5D4C")
CALL_CENTER = ("Informasi Hubungi Call Center 123", "Atau hubungi PLN terdekat")


def meta(stan: str, rrn: str, amount_minor: int, text: tuple[str, ...] = ()) -> ReceiptMeta:
    return ReceiptMeta("T0000001", "AGT000000000001", rrn, stan, WHEN, amount_minor, "00", text)


CASES = {
    "postpaid_two_bills_arrears": lambda: render_receipt(POSTPAID, meta("000003", "000000000102", 39_980_000,
                                                                        CALL_CENTER)),
    "postpaid_reprint": lambda: render_receipt(POSTPAID, meta("000003", "000000000102", 39_980_000,
                                                              CALL_CENTER), reprint=True),
    "prepaid_token": lambda: render_receipt(PREPAID, meta("000004", "000000000103", 5_250_000)),
    "nontaglis": lambda: render_receipt(NONTAGLIS, meta("000005", "000000000104", 151_800_000)),
    "balance": lambda: render_balance(1_500_000, 1_450_000, meta("000006", "", 0)),
    "bill_postpaid": lambda: render_bill(POSTPAID),
    "bill_prepaid": lambda: render_bill(PREPAID),
    "bill_nontaglis": lambda: render_bill(NONTAGLIS),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_receipt_matches_its_golden_file_exactly(name):
    lines = CASES[name]()
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text("\n".join(lines) + "\n", encoding="ascii")
    assert lines == path.read_text(encoding="ascii").splitlines()


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_receipt_fits_32_columns_without_trailing_spaces(name):
    for line in CASES[name]():
        assert len(line) <= WIDTH and line == line.rstrip()


def test_postpaid_receipt_says_how_many_months_remain_in_arrears():
    lines = CASES["postpaid_two_bills_arrears"]()
    assert "ANDA MASIH MEMILIKI SISA TUNGGAKAN 2 BULAN" in " ".join(s.strip() for s in lines)


def test_postpaid_receipt_without_arrears_has_no_arrears_line():
    settled = replace(POSTPAID, outstanding=2)
    assert not any("TUNGGAKAN" in s for s in render_receipt(settled, meta("000003", "1", 39_980_000)))


def test_only_the_reprint_is_marked_cetak_ulang():
    assert "CETAK ULANG" in [s.strip() for s in CASES["postpaid_reprint"]()]
    assert not any("CETAK ULANG" in s for s in CASES["postpaid_two_bills_arrears"]())


def test_declined_slip_cannot_pass_for_proof_of_payment():
    declined = ReceiptMeta("T0000001", "AGT000000000001", "", "000009", WHEN, 0, "51")
    assert any("TIDAK BERHASIL (RC 51)" in s for s in render_receipt(NONTAGLIS, declined))


def test_time_zone_aware_timestamps_print_in_jakarta_time():
    utc = datetime(2026, 11, 25, 8, 30, 20, tzinfo=timezone.utc)
    lines = render_receipt(NONTAGLIS, ReceiptMeta("T0000001", "A", "1", "000001", utc, 1, "00"))
    assert "WAKTU   : 25-11-2026 15:30:20" in lines


@pytest.mark.parametrize("value, text", [(0, "Rp 0"), (999, "Rp 999"), (1_000, "Rp 1.000"),
                                         (1_234_567, "Rp 1.234.567"), (-2_500, "-Rp 2.500")])
def test_rupiah_uses_dots_as_thousand_separators(value, text):
    assert rupiah(value) == text


def test_kwh_has_a_decimal_comma_and_token_comes_in_groups_of_four():
    assert kwh(3364) == "33,64" and kwh(123_456_05) == "123.456,05" and kwh(5) == "0,05"
    assert token_groups("12345678901234567890") == "1234 5678 9012 3456 7890"


@pytest.mark.parametrize("yyyymm, text", [("202601", "JAN26"), ("202602", "PEB26"), ("202608", "AGU26"),
                                          ("202611", "NOP26"), ("202612", "DES26")])
def test_periods_use_pln_month_abbreviations(yyyymm, text):
    assert period(yyyymm) == text


# ---- any valid info renders within 32 columns

ANS = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=25).map(str.strip)
DIGITS = lambda n: st.text("0123456789", min_size=n, max_size=n)  # noqa: E731
AMOUNT = st.integers(0, 999_999_999_999)
DATE = st.dates().map(lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}").filter(lambda s: len(s) == 8)
REF = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=32)
BILL = st.builds(PostpaidBill, DATE.map(lambda s: s[:6]), DATE, DATE, AMOUNT, st.integers(0, 999_999_999),
                 st.integers(0, 99_999_999), st.integers(0, 99_999_999))
POSTPAID_INFO = st.builds(PostpaidInfo, DIGITS(12), ANS, ANS.map(lambda s: s[:4]), st.integers(0, 999_999_999),
                          st.integers(0, 99), st.integers(0, 99_999_999), st.lists(BILL, min_size=1, max_size=4).map(tuple), REF)
SALE = st.builds(PrepaidSale, REF, DIGITS(20), st.integers(0, 9_999_999_999), *[st.integers(0, 9_999_999_999)] * 4,
                 AMOUNT)
PREPAID_INFO = st.builds(PrepaidInfo, DIGITS(11), DIGITS(11), DIGITS(12), ANS, ANS.map(lambda s: s[:4]),
                         st.integers(0, 999_999_999), st.integers(0, 99_999_999), st.none() | SALE)
NONTAGLIS_INFO = st.builds(NontaglisInfo, DIGITS(13), ANS, ANS, DATE, AMOUNT, st.integers(0, 99_999_999), REF)
META = st.builds(ReceiptMeta, ANS.map(lambda s: s[:8]), ANS.map(lambda s: s[:15]), ANS.map(lambda s: s[:12]),
                 DIGITS(6), st.datetimes(), st.integers(0, 999_999_999_999), DIGITS(2),
                 st.lists(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120),
                          max_size=4).map(tuple))


@settings(max_examples=300, deadline=None)
@given(info=st.one_of(POSTPAID_INFO, PREPAID_INFO, NONTAGLIS_INFO), meta_=META, reprint=st.booleans())
def test_any_valid_info_renders_within_32_columns(info, meta_, reprint):
    for lines in (render_receipt(info, meta_, reprint), render_bill(info)):
        assert lines and all(len(line) <= WIDTH for line in lines), lines


@settings(max_examples=100, deadline=None)
@given(ledger=st.integers(-10**13, 10**13), available=st.integers(-10**13, 10**13), meta_=META)
def test_any_balance_slip_renders_within_32_columns(ledger, available, meta_):
    assert all(len(line) <= WIDTH for line in render_balance(ledger, available, meta_))
