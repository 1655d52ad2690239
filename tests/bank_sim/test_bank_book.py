from datetime import date

from bank_sim.book import (DENOMINATIONS, TARIFFS, Book, PrepaidMeter, Status, Tariff, compute_sale, token_for)

TODAY = date(2026, 11, 25)
R1_900 = next(t for t in TARIFFS if t.code == "R1" and t.power_va == 900)
R1_450 = next(t for t in TARIFFS if t.code == "R1" and t.power_va == 450)
B1_2200 = next(t for t in TARIFFS if t.code == "B1" and t.power_va == 2200)


def test_the_same_seed_gives_the_same_book():
    assert Book.generate(42, 300, TODAY) == Book.generate(42, 300, TODAY)


def test_another_seed_gives_another_book():
    one, other = Book.generate(42, 300, TODAY), Book.generate(43, 300, TODAY)
    assert set(one.postpaid) != set(other.postpaid)
    assert set(one.prepaid) != set(other.prepaid)


def test_every_example_scenario_names_a_customer_in_that_state(book):
    ex = book.examples()
    assert set(ex) == {"postpaid", "postpaid_1", "postpaid_arrears", "prepaid", "nontaglis",
                       "nontaglis_upgrade", "unknown", "blocked", "paid", "not_available"}
    assert len(book.postpaid[ex["postpaid"]].unpaid) == 2
    assert len(book.postpaid[ex["postpaid_1"]].unpaid) == 1
    assert book.postpaid[ex["blocked"]].status == Status.BLOCKED
    assert book.postpaid[ex["paid"]].unpaid == []
    assert book.postpaid[ex["not_available"]].status == Status.NOT_AVAILABLE
    assert ex["prepaid"] in book.prepaid
    assert book.registrations[ex["nontaglis"]].transaction_name == "PASANG BARU"
    assert book.registrations[ex["nontaglis_upgrade"]].transaction_name == "PERUBAHAN DAYA"
    assert ex["unknown"] not in book.postpaid and book.prepaid_by_customer(ex["unknown"]) is None


def test_customer_numbers_have_the_contract_lengths(book):
    assert all(len(i) == 12 and i.isdigit() for i in book.postpaid)
    assert all(len(m.meter) == 11 and len(m.idpel) == 12 for m in book.prepaid.values())
    assert all(len(r) == 13 and r.isdigit() for r in book.registrations)
    assert not set(book.postpaid) & {m.idpel for m in book.prepaid.values()}


def test_six_months_in_arrears_offers_the_oldest_four(book):
    customer = book.postpaid[book.examples()["postpaid_arrears"]]
    assert len(customer.unpaid) == 6
    assert [b.period for b in customer.offered] == ["202606", "202607", "202608", "202609"]


def test_meter_readings_increase_month_to_month_and_periods_are_consecutive(book):
    for customer in book.postpaid.values():
        for earlier, later in zip(customer.bills, customer.bills[1:]):
            assert earlier.meter_after == later.meter_before
            assert later.meter_after > later.meter_before
            assert int(later.period) - int(earlier.period) in (1, 89)   # 202612 -> 202701 is 89


def test_penalties_fall_only_on_bills_past_their_due_date(book):
    for customer in book.postpaid.values():
        for bill in customer.bills:
            assert (bill.penalty > 0) == (bill.due_date < TODAY)
            if bill.penalty:
                assert bill.penalty == customer.tariff.penalty


def test_the_latest_bill_is_this_month_unless_the_meter_is_not_yet_read(book):
    for customer in book.postpaid.values():
        latest = customer.bills[-1].period
        expected = "202610" if customer.status == Status.NOT_AVAILABLE else "202611"
        assert latest == expected


def test_a_50000_token_at_900_va_and_10_percent_ppj_buys_33_28_kwh():
    meter = PrepaidMeter("14234567890", "532110000777", "BUDI SANTOSO", R1_900, ppj_bp=1000)
    sale = compute_sale(meter, 50_000, "REF1")
    assert (sale.ppj, sale.vat, sale.stamp_duty, sale.power_purchase) == (5_000, 0, 0, 45_000)
    assert sale.kwh_x100 == 3328        # 45.000 / 1.352 = 33.284 kWh


def test_a_450_va_household_pays_415_per_kwh_after_2_4_percent_ppj():
    meter = PrepaidMeter("14234567891", "532110000778", "SITI", R1_450, ppj_bp=240)
    sale = compute_sale(meter, 20_000, "REF1")
    assert (sale.ppj, sale.power_purchase) == (480, 19_520)
    assert sale.kwh_x100 == 4704        # 19.520 / 415 = 47.036 kWh


def test_business_tariffs_pay_vat_and_households_do_not():
    business = PrepaidMeter("14234567892", "532110000779", "TOKO", B1_2200, ppj_bp=500)
    sale = compute_sale(business, 100_000, "REF1")
    assert sale.vat == 11_000
    assert sale.power_purchase == 100_000 - 11_000 - 5_000


def test_kwh_rounds_half_up_on_an_integer_price():
    tariff = Tariff("R1", 900, 100_000, 3_000, (1, 2))    # Rp 1.000,00 per kWh
    meter = PrepaidMeter("14234567893", "532110000780", "X", tariff, ppj_bp=0)
    assert compute_sale(meter, 20_000, "R").kwh_x100 == 2000


def test_every_denomination_splits_into_parts_that_add_up(book):
    for meter in list(book.prepaid.values())[:50]:
        for denomination in DENOMINATIONS:
            s = compute_sale(meter, denomination, "REF")
            assert s.power_purchase + s.ppj + s.vat + s.stamp_duty + s.installment == denomination
            assert s.kwh_x100 > 0


def test_the_token_is_20_digits_fixed_by_meter_and_reference():
    token = token_for("14234567890", "REF1")
    assert len(token) == 20 and token.isdigit()
    assert token_for("14234567890", "REF1") == token
    assert token_for("14234567890", "REF2") != token
    assert token_for("14234567891", "REF1") != token


def test_prepaid_customers_are_found_by_meter_or_idpel(book):
    meter = next(iter(book.prepaid.values()))
    assert book.prepaid_by_customer(meter.meter) is meter
    assert book.prepaid_by_customer(meter.idpel) is meter
