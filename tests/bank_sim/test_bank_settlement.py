"""Cutover, business dates and the bank's RCN/CTL settlement files."""
from datetime import date, timedelta

from bank_sim.settlement import CTL_HEADER, RCN_HEADER, Calendar, Totals
from tests.bank_sim.hi_client import Messages


async def pay_postpaid(link, msgs, customer) -> tuple:
    due = int((await link.request(msgs.inquiry("PLNPST", customer)))[4])
    payment = msgs.payment("PLNPST", customer, due)
    answer = await link.request(payment)
    assert answer[39] == "00"
    return payment, due


def read(path) -> list[list[str]]:
    return [line.split("|") for line in path.read_text().splitlines()]


async def test_cutover_writes_the_days_rcn_and_ctl_files_with_their_totals(link, msgs, examples, bank, tmp_path):
    reversed_payment, reversed_due = await pay_postpaid(link, msgs, examples["postpaid"])
    assert (await link.request(msgs.reversal(reversed_payment)))[39] == "00"
    kept, kept_due = await pay_postpaid(link, msgs, examples["postpaid_1"])
    prepaid = await link.request(msgs.payment("PLNPRA", examples["prepaid"], 50_000_00 + 2_500_00))
    declined = await link.request(msgs.payment("PLNPST", examples["unknown"], 100))
    assert (prepaid[39], declined[39]) == ("00", "14")

    closing = date(2026, 11, 24)
    answer = await link.request(msgs.network("201", {15: "1124"}))
    assert answer[39] == "00"

    folder = tmp_path / "settlement"
    rcn, ctl = read(folder / "BANKSIM_20261124.RCN"), read(folder / "BANKSIM_20261124.CTL")
    assert "|".join(rcn[0]) == RCN_HEADER and "|".join(ctl[0]) == CTL_HEADER
    lines = rcn[1:]
    assert [line[0] for line in lines] == sorted(line[0] for line in lines) and len(lines) == 3
    by_rrn = {line[0]: line for line in lines}
    gone, stays = by_rrn[reversed_payment[37]], by_rrn[kept[37]]
    assert (gone[10], stays[10]) == ("REVERSED", "PAID")
    assert gone[4:8] == ["PLNPST", examples["postpaid"], "202610,202611", str(reversed_due)]
    assert gone[8] == str(2 * 3000 * 100) and len(gone[9]) == 32
    assert by_rrn[prepaid[37]][6] == "" and by_rrn[prepaid[37]][8] == "250000"
    assert all(line[11].endswith("Z") and "T" in line[11] for line in lines)
    paid_amount = reversed_due + kept_due + 52_500_00
    assert ctl[1] == ["BANKSIM", closing.isoformat(), "3", str(paid_amount), "1", str(reversed_due),
                      f"C{paid_amount - reversed_due:016d}"]
    assert bank.business_date == closing + timedelta(days=1)


async def test_payments_after_a_cutover_belong_to_the_next_business_date(link, msgs, examples, bank):
    await pay_postpaid(link, msgs, examples["postpaid"])
    await link.request(msgs.network("201", {15: "1124"}))
    await pay_postpaid(link, msgs, examples["postpaid_1"])
    assert bank.totals(date(2026, 11, 24)).paid_count == 1
    assert bank.totals(date(2026, 11, 25)).paid_count == 1
    answer = await link.request(msgs.reconciliation("1124", (1, bank.totals(date(2026, 11, 24)).paid_amount),
                                                    (0, 0)))
    assert answer[39] == "00"


async def test_a_repeated_cutover_for_the_same_date_closes_nothing_more(link, msgs, examples, bank):
    await link.request(msgs.network("201", {15: "1124"}))
    await pay_postpaid(link, msgs, examples["postpaid"])
    again = await link.request(msgs.network("201", {15: "1124"}))
    assert again[39] == "00"
    assert bank.business_date == date(2026, 11, 25)
    assert bank.totals(date(2026, 11, 25)).paid_count == 1


async def test_a_reversal_after_cutover_counts_in_its_originals_date(link, msgs, examples, bank):
    payment, due = await pay_postpaid(link, msgs, examples["postpaid"])
    await link.request(msgs.network("201", {15: "1124"}))
    assert (await link.request(msgs.reversal(payment)))[39] == "00"
    assert bank.totals(date(2026, 11, 24)) == Totals(1, due, 1, due)
    assert bank.totals(date(2026, 11, 25)) == Totals()


async def test_a_cutover_without_a_valid_date_is_answered_30(link, msgs):
    assert (await link.request(msgs.network("201")))[39] == "30"
    assert (await link.request(msgs.network("201", {15: "1345"})))[39] == "30"


async def test_write_day_writes_an_empty_day_as_a_header_and_zero_totals(bank, tmp_path):
    rcn, ctl = bank.write_day(date(2026, 1, 2))
    assert rcn.name == "BANKSIM_20260102.RCN" and rcn.read_text() == RCN_HEADER + "\n"
    assert ctl.read_text().splitlines()[1] == "BANKSIM|2026-01-02|0|0|0|0|D0000000000000000"


def test_net_is_c_when_the_switch_owes_the_bank_and_d_otherwise():
    assert Totals(2, 500, 1, 200).net == "C0000000000000300"
    assert Totals(1, 200, 1, 200).net == "D0000000000000000"
    assert Totals(0, 0, 1, 200).net == "D0000000000000200"


def test_field_15_maps_to_the_nearest_date_across_the_new_year():
    calendar = Calendar(date(2027, 1, 1))
    assert calendar.closing_date("1231") == date(2026, 12, 31)
    calendar.cutover(date(2026, 12, 31))
    assert calendar.open.date == date(2027, 1, 1)
    assert calendar.resolve("1231") == date(2026, 12, 31)
    assert calendar.resolve("0101") == date(2027, 1, 1)
    assert calendar.resolve("0230") is None


def test_payments_before_the_first_cutover_take_the_date_the_switch_closes(book):
    from bank_sim.teller import Teller
    teller, m = Teller(book), Messages()
    teller.calendar = Calendar(date(2026, 11, 25))        # the bank guessed today
    customer = book.examples()["postpaid_1"]
    due = int(teller.process(m.inquiry("PLNPST", customer))[4])
    assert teller.process(m.payment("PLNPST", customer, due))[39] == "00"
    teller.process(m.network("201", {15: "1124"}))          # the switch was still on the 24th
    assert teller.totals(date(2026, 11, 24)).paid_count == 1
    assert teller.totals(date(2026, 11, 25)).paid_count == 0
