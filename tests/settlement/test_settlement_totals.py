"""0500 totals and the switch's settlement files: gross, per bank, per business date (contract §8.6)."""
from __future__ import annotations

from switch.settlement.files import (CTL_HEADER, RCN_HEADER, net_field, read_ctl, read_rcn)
from switch.settlement.day import build_day
from switch.settlement.totals import totals_message

from settlement_bed import DAY, NEXT_DAY, Ledger, postpaid_48


async def day_of(db, tmp_path, bank="BANKA", day=DAY):
    return await build_day(db, bank, day, tmp_path / "out", {})


async def test_totals_are_the_sum_of_the_days_approved_payments_and_answered_reversals(any_db, tmp_path):
    ledger = Ledger(any_db)
    for amount in (100_00, 250_00, 400_000_00):
        await ledger.payment(amount=amount)
    await ledger.payment(amount=77_00, state="reversed")
    await ledger.payment(amount=55_00, state="reversed", product="PLNNTL")
    day = await day_of(any_db, tmp_path)
    c = day.control
    assert (c.paid_count, c.paid_amount) == (5, 100_00 + 250_00 + 400_000_00 + 77_00 + 55_00)
    assert (c.reversed_count, c.reversed_amount) == (2, 77_00 + 55_00)
    assert c.net == "C" + f"{100_00 + 250_00 + 400_000_00:016d}"


async def test_declined_void_and_unfinished_payments_count_in_neither_total(any_db, tmp_path):
    ledger = Ledger(any_db)
    await ledger.payment(amount=10_00)
    for state in ("declined", "void", "sent", "reversing", "advising", "received"):
        await ledger.payment(amount=999_00, state=state)
    c = (await day_of(any_db, tmp_path)).control
    assert c.totals() == (1, 10_00, 0, 0)


async def test_a_payment_whose_reversal_is_still_pending_counts_as_approved_only(any_db, tmp_path):
    ledger = Ledger(any_db)
    await ledger.payment(amount=10_00, state="reversal_pending")
    c = (await day_of(any_db, tmp_path)).control
    assert c.totals() == (1, 10_00, 0, 0)


async def test_each_bank_and_each_business_date_is_totalled_on_its_own(any_db, tmp_path):
    ledger = Ledger(any_db)
    await ledger.payment(amount=1_00, bank="BANKA")
    await ledger.payment(amount=2_00, bank="BANKB")
    await ledger.payment(amount=4_00, bank="BANKA", day=NEXT_DAY)
    assert (await day_of(any_db, tmp_path, "BANKA")).control.totals() == (1, 1_00, 0, 0)
    assert (await day_of(any_db, tmp_path, "BANKB")).control.totals() == (1, 2_00, 0, 0)
    assert (await day_of(any_db, tmp_path, "BANKA", NEXT_DAY)).control.totals() == (1, 4_00, 0, 0)


async def test_a_reversal_answered_after_cutover_belongs_to_its_originals_date(ledger, db, tmp_path):
    rrn = await ledger.payment(amount=300_00)
    await ledger.payment(amount=5_00, day=NEXT_DAY)
    await ledger.set_state(rrn, "reversed")  # the 0410 00 came the next business day
    assert (await day_of(db, tmp_path, day=DAY)).control.totals() == (1, 300_00, 1, 300_00)
    assert (await day_of(db, tmp_path, day=NEXT_DAY)).control.totals() == (1, 5_00, 0, 0)


async def test_net_is_c_when_the_switch_owes_the_bank_and_d_otherwise():
    assert net_field(500, 200) == "C0000000000000300"
    assert net_field(200, 200) == "D0000000000000000"
    assert net_field(200, 500) == "D0000000000000300"


async def test_the_0500_carries_the_totals_in_the_contracts_widths(ledger, db, tmp_path):
    await ledger.payment(amount=123_45)
    await ledger.payment(amount=10_00, state="reversed")
    control = (await day_of(db, tmp_path)).control
    msg = totals_message(control, "000042", "90001", "1125083005")
    assert msg.mti == "0500"
    assert msg.fields == {7: "1125083005", 11: "000042", 15: "1124", 32: "90001", 74: "0000000002",
                          76: "0000000001", 86: "0000000000013345", 88: "0000000000001000",
                          97: "C0000000000012345"}


async def test_the_settlement_file_has_one_line_per_approved_payment_sorted_by_rrn(ledger, db, tmp_path):
    customer = "532110000999"
    rrns = [await ledger.payment(amount=a, customer=customer, field48=postpaid_48(customer, ("202608", "202609",
                                                                                              "202610")))
            for a in (3_00, 1_00)]
    reversed_rrn = await ledger.payment(amount=2_00, state="reversed", product="PLNPRA")
    await ledger.payment(amount=9_00, state="declined")
    day = await day_of(db, tmp_path)
    rcn, ctl = day.files
    assert rcn.endswith("BANKA_20261124.RCN") and ctl.endswith("BANKA_20261124.CTL")
    text = open(rcn).read().splitlines()
    assert text[0] == RCN_HEADER and len(text) == 4
    lines = list(read_rcn(rcn))
    assert [line.rrn for line in lines] == sorted(rrns + [reversed_rrn])
    first = lines[0]
    assert (first.amount, first.status, first.periods, first.admin_fee) == (3_00, "PAID", "202608,202609,202610",
                                                                          3 * 3000_00)
    assert first.bank_ref == "REF-PST" and first.terminal == "T0000001" and first.agent == "AGT000000000001"
    assert first.trx_time.endswith("Z") and "." not in first.trx_time
    prepaid = lines[2]
    assert (prepaid.status, prepaid.admin_fee, prepaid.bank_ref, prepaid.periods) == ("REVERSED", 2500_00,
                                                                                      "REF-PRA", "")
    control = read_ctl(ctl)
    assert open(ctl).read().splitlines()[0] == CTL_HEADER
    assert (control.bank, control.business_date) == ("BANKA", DAY)
    assert control.totals() == (3, 6_00, 1, 2_00) and control.net == "C0000000000000400"


async def test_a_day_without_payments_gives_zero_totals_and_a_file_with_only_its_header(db, tmp_path):
    day = await day_of(db, tmp_path)
    assert day.control.totals() == (0, 0, 0, 0) and day.control.net == "D" + "0" * 16
    assert open(day.files[0]).read() == RCN_HEADER + "\n"


async def test_pages_of_the_day_join_up_without_losing_or_repeating_a_payment(ledger, db, tmp_path):
    for i in range(23):
        await ledger.payment(amount=(i + 1) * 100)
    day = await build_day(db, "BANKA", DAY, tmp_path / "out", {}, page=5)
    assert day.control.totals() == (23, sum((i + 1) * 100 for i in range(23)), 0, 0)
    assert len({line.rrn for line in read_rcn(day.files[0])}) == 23
