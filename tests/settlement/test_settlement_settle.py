"""`settle`: 0500 over the bank's real link, the 0510 deciding the state, commissions posted once,
files byte-identical on a re-run, closed dates only."""
from __future__ import annotations

import pytest

from switch.ledger import money

from switch.admin import AdminError
from switch.settlement.report import print_settlement
from switch.settlement.settle import settle_command

from settlement_bed import (AGENT, DAY, NEXT_DAY, OTHER_AGENT, Ledger, add_agents, agent_balance, close_day,
                            mark_day, postpaid_48)


async def settled_row(db, bank="BANKA", day=DAY):
    return await db.read(lambda tx: tx.fetchone(
        "SELECT * FROM settlements WHERE business_date = ? AND bank_id = ?", day, bank))


async def commission_entries(db):
    return await db.read(lambda tx: tx.fetchall(
        "SELECT e.ref, e.agent_id, p.amount FROM entries e JOIN postings p ON p.entry_id = e.entry_id"
        " WHERE e.kind = 'commission' AND p.account_id LIKE 'agent:%' ORDER BY e.entry_id"))


async def test_an_open_business_date_is_refused_with_one_line(db, bed_factory):
    await mark_day(db, DAY, "open")
    bed = await bed_factory(db)
    with pytest.raises(AdminError) as refused:
        await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert str(refused.value) == f"settle: business date {DAY} is still open"
    assert bed.received("BANKA") == []


async def test_an_unknown_business_date_and_an_unknown_bank_are_refused(db, bed_factory):
    bed = await bed_factory(db)
    with pytest.raises(AdminError, match="unknown"):
        await settle_command(bed.svc, {"date": "2020-01-01", "bank": None})
    await close_day(db)
    with pytest.raises(AdminError, match="unknown bank BANKZ"):
        await settle_command(bed.svc, {"date": DAY, "bank": "BANKZ"})
    with pytest.raises(AdminError, match="not a date"):
        await settle_command(bed.svc, {"date": "24-11-2026", "bank": None})


async def test_settling_sends_each_bank_its_own_0500_and_records_the_0510(db, bed_factory):
    ledger = Ledger(db)
    await add_agents(db, AGENT)
    await ledger.payment(amount=400_000_00, bank="BANKA")
    await ledger.payment(amount=70_00, bank="BANKA", state="reversed")
    await ledger.payment(amount=20_000_00, bank="BANKB", product="PLNPRA")
    await close_day(db)
    bed = await bed_factory(db, ("BANKA", "BANKB"))
    bed.answers["BANKA"].expected = (2, 400_070_00, 1, 70_00)
    result = await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert result["settled"] is True
    (a,), (b,) = bed.received("BANKA"), bed.received("BANKB")
    assert (a[15], a[32], a[74], a[76], a[86], a[88], a[97]) == (
        "1124", "90001", "0000000002", "0000000001", "0000000040007000", "0000000000007000",
        "C0000000040000000")
    assert (b[74], b[86], b[76], b[88]) == ("0000000001", "0000000002000000", "0000000000", "0000000000000000")
    assert len(a[11]) == 6 and len(a[7]) == 10
    row = await settled_row(db)
    assert (row["state"], row["rc"], row["credits_count"], row["credits_amount"], row["debits_count"],
            row["debits_amount"], row["net"]) == ("settled", "00", 2, 400_070_00, 1, 70_00, "C0000000040000000")
    assert (await settled_row(db, "BANKB"))["state"] == "settled"
    assert print_settlement(result) == 0


async def test_totals_the_bank_disputes_are_recorded_as_disputed_and_settle_exits_1(db, bed_factory, capsys):
    await Ledger(db).payment(amount=10_00)
    await close_day(db)
    bed = await bed_factory(db)
    bed.answers["BANKA"].expected = (2, 20_00, 0, 0)
    result = await settle_command(bed.svc, {"date": DAY, "bank": "BANKA"})
    assert [(r["rc"], r["state"]) for r in result["banks"]] == [("95", "disputed")]
    assert (await settled_row(db))["state"] == "disputed"
    assert print_settlement(result) == 1
    assert "BANKA disputed" in capsys.readouterr().err


async def test_any_other_0510_code_is_recorded_as_refused(db, bed_factory):
    await Ledger(db).payment(amount=10_00)
    await close_day(db)
    bed = await bed_factory(db)
    bed.answers["BANKA"].rc = "30"
    result = await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert (result["banks"][0]["rc"], result["banks"][0]["state"]) == ("30", "refused")
    assert (await settled_row(db))["state"] == "refused" and print_settlement(result) == 1


async def test_a_bank_that_does_not_answer_leaves_the_date_unsent_and_settle_can_run_again(db, bed_factory):
    await Ledger(db).payment(amount=10_00)
    await close_day(db)
    bed = await bed_factory(db)
    bed.answers["BANKA"].silent = True
    first = await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert first["banks"][0]["state"] == "unsent" and first["banks"][0]["rc"] is None
    assert (await settled_row(db))["state"] == "unsent"
    bed.answers["BANKA"].silent = False
    again = await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert again["banks"][0]["state"] == "settled"
    assert (await settled_row(db))["state"] == "settled"


async def test_with_the_link_down_nothing_is_sent_and_the_date_is_unsent(db, bed_factory):
    await Ledger(db).payment(amount=10_00)
    await close_day(db)
    bed = await bed_factory(db, up=False)
    result = await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert result["banks"][0]["state"] == "unsent" and bed.received("BANKA") == []
    assert result["banks"][0]["files"], "the switch's files are written even when the bank is away"


async def test_an_unanswered_rerun_does_not_undo_an_agreement_on_the_same_totals(db, bed_factory):
    await Ledger(db).payment(amount=10_00)
    await close_day(db)
    bed = await bed_factory(db)
    await settle_command(bed.svc, {"date": DAY, "bank": None})
    bed.answers["BANKA"].silent = True
    again = await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert again["banks"][0]["state"] == "unsent" and again["banks"][0]["recorded"] == "settled"
    assert (await settled_row(db))["state"] == "settled"


async def test_settling_twice_is_settling_once(any_db, bed_factory):
    db = any_db
    ledger = Ledger(db)
    await add_agents(db, AGENT, OTHER_AGENT)
    await ledger.payment(amount=400_000_00)                       # 2 bills
    await ledger.payment(amount=20_000_00, product="PLNPRA", agent=OTHER_AGENT)
    await ledger.payment(amount=15_180_00, product="PLNNTL", state="reversed")
    await close_day(db)
    bed = await bed_factory(db)
    first = await settle_command(bed.svc, {"date": DAY, "bank": None})
    rcn, ctl = first["banks"][0]["files"]
    files = open(rcn, "rb").read(), open(ctl, "rb").read()
    balances = await agent_balance(db, AGENT), await agent_balance(db, OTHER_AGENT)
    second = await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert (open(rcn, "rb").read(), open(ctl, "rb").read()) == files
    assert (await agent_balance(db, AGENT), await agent_balance(db, OTHER_AGENT)) == balances
    sent = bed.received("BANKA")
    assert len(sent) == 2
    assert [{n: m[n] for n in (15, 74, 76, 86, 88, 97)} for m in sent][0] == \
           [{n: m[n] for n in (15, 74, 76, 86, 88, 97)} for m in sent][1]
    assert second["banks"][0]["commissions"]["posted_now"] == 0
    assert len(await commission_entries(db)) == 2


async def test_commissions_are_per_bill_for_postpaid_and_per_purchase_otherwise(any_db, bed_factory):
    db = any_db
    ledger = Ledger(db)
    await add_agents(db, AGENT, OTHER_AGENT)
    customer = "532110000555"
    await ledger.payment(amount=1_00, field48=postpaid_48(customer, ("202607", "202608", "202609")),
                         customer=customer)                                   # 3 bills x 1500
    await ledger.payment(amount=1_00)                                         # 2 bills x 1500
    await ledger.payment(amount=1_00, product="PLNPRA")                       # 1000
    await ledger.payment(amount=1_00, product="PLNNTL", agent=OTHER_AGENT)    # 2000
    await ledger.payment(amount=1_00, state="reversed")                       # does not stand
    await ledger.payment(amount=1_00, state="reversal_pending")               # not yet standing
    await ledger.payment(amount=1_00, state="declined")
    await ledger.payment(amount=1_00, day=NEXT_DAY)                           # another date
    await close_day(db)
    bed = await bed_factory(db)
    result = await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert await agent_balance(db, AGENT) == (5 * 1500 + 1000) * 100
    assert await agent_balance(db, OTHER_AGENT) == 2000 * 100
    entries = await commission_entries(db)
    assert [(e["ref"], e["amount"]) for e in entries] == [
        (f"{DAY}:BANKA:{AGENT}", 8500_00), (f"{DAY}:BANKA:{OTHER_AGENT}", 2000_00)]
    assert result["banks"][0]["commissions"]["posted_now"] == 10500_00
    assert await db.read(money.check_books) == []


async def test_the_switch_books_the_admin_fees_of_standing_payments_as_income_once(any_db, bed_factory):
    db = any_db
    ledger = Ledger(db)
    await add_agents(db, AGENT)
    await ledger.payment(amount=1_00)                                         # 2 bills x Rp 3.000
    await ledger.payment(amount=1_00, product="PLNPRA")                       # Rp 2.500
    await ledger.payment(amount=1_00, state="reversed")                       # does not stand
    await close_day(db)
    bed = await bed_factory(db)
    first = await settle_command(bed.svc, {"date": DAY, "bank": None})
    await settle_command(bed.svc, {"date": DAY, "bank": None})

    async def income(tx):
        return await tx.fetchval("SELECT balance FROM accounts WHERE account_id = ?", money.FEE_INCOME)
    assert first["banks"][0]["commissions"]["fee_income_posted_now"] == 8500_00
    assert await db.read(income) == 8500_00
    assert await db.read(money.check_books) == []


async def test_a_payment_that_comes_to_stand_after_settlement_earns_its_commission_on_the_next_run(
        any_db, bed_factory):
    db = any_db
    ledger = Ledger(db)
    await add_agents(db, AGENT)
    await ledger.payment(amount=1_00, product="PLNPRA")
    pending = await ledger.payment(amount=1_00, product="PLNNTL", state="reversal_pending")
    await close_day(db)
    bed = await bed_factory(db)
    await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert await agent_balance(db, AGENT) == 1000_00
    await ledger.set_state(pending, "approved")   # the bank refused the reversal: it stands
    result = await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert result["banks"][0]["commissions"]["posted_now"] == 2000_00
    assert await agent_balance(db, AGENT) == 3000_00
    refs = [e["ref"] for e in await commission_entries(db)]
    assert refs == [f"{DAY}:BANKA:{AGENT}", f"{DAY}:BANKA:{AGENT}#2"]
    await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert await agent_balance(db, AGENT) == 3000_00


async def test_a_payment_reversed_after_its_commission_was_paid_is_reported_not_posted_again(
        db, bed_factory, capsys):
    ledger = Ledger(db)
    await add_agents(db, AGENT)
    rrn = await ledger.payment(amount=1_00, product="PLNNTL")
    await close_day(db)
    bed = await bed_factory(db)
    await settle_command(bed.svc, {"date": DAY, "bank": None})
    await ledger.set_state(rrn, "reversed")   # a terminal's reversal came after the settlement
    result = await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert result["banks"][0]["commissions"]["over_paid"] == {AGENT: 2000_00}
    assert await agent_balance(db, AGENT) == 2000_00
    print_settlement(result)
    assert "more commission than is due now" in capsys.readouterr().out


async def test_unfinished_payments_are_reported_so_the_operator_settles_again_later(db, bed_factory, capsys):
    ledger = Ledger(db)
    await ledger.payment(amount=1_00)
    await ledger.payment(amount=1_00, state="reversing")
    await close_day(db)
    bed = await bed_factory(db)
    result = await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert result["banks"][0]["pending"] == {"reversing": 1}
    print_settlement(result)
    assert "not final yet: 1 reversing" in capsys.readouterr().out


async def test_settle_results_survive_the_trip_through_the_admin_table_as_json(db, bed_factory):
    import json
    await Ledger(db).payment(amount=1_00)
    await close_day(db)
    bed = await bed_factory(db)
    result = await settle_command(bed.svc, {"date": DAY, "bank": None})
    assert json.loads(json.dumps(result)) == result
