"""The simulated terminal's library against the real switch and the simulated bank, in one process over
loopback: each product paid, the bank's refusals, reprints online and offline, a reversal."""
from __future__ import annotations

import re

import pytest

from terminal_sim.client import TerminalClient
from switch.wire.receipt import REPRINT_MARK, WIDTH, period, rupiah, token_groups
from terminal_sim.shell import Shell

from tests.e2e.conftest import Shop, wait_until

TOKEN_LINE = re.compile(r"^\d{4}( \d{4}){4}$")


def flat(lines: list[str]) -> str:
    """A receipt as one line of words (centered text wraps; this undoes it)."""
    return " ".join(line.strip() for line in lines if line.strip())


def value(lines: list[str], label: str) -> str:
    """The value printed after 'LABEL :' (on the same line, or right-aligned on the next)."""
    for i, line in enumerate(lines):
        if line.startswith(label) and ":" in line:
            inline = line.split(":", 1)[1].strip()
            return inline or lines[i + 1].strip()
    raise AssertionError(f"no {label} on the receipt:\n" + "\n".join(lines))


def token_line(lines: list[str]) -> str:
    found = [line.strip() for line in lines if TOKEN_LINE.match(line.strip())]
    assert len(found) == 1, "\n".join(lines)
    return found[0]


async def run_shell(terminal: TerminalClient, *keys: str) -> str:
    """The loket menu driven by what an agent types; returns everything it printed."""
    typed, printed = list(keys), []

    def read(prompt: str) -> str:
        if not typed:
            raise EOFError
        return typed.pop(0)
    assert await Shell(terminal, read=read, write=printed.append).run() == 0
    return "\n".join(printed)


async def test_a_two_month_postpaid_bill_is_paid_and_the_struk_shows_what_was_quoted(shop: Shop):
    before = await shop.deposit()
    quote = await shop.terminal.inquiry("PLNPST", shop.customers["postpaid"])
    assert quote.approved and len(quote.info.bills) == 2
    paid = await shop.terminal.pay("PLNPST", shop.customers["postpaid"], inquiry=quote)
    assert paid.approved and paid.amount_minor == quote.amount_minor
    lines = paid.receipt()
    assert lines[0].strip() == "STRUK PEMBAYARAN TAGIHAN LISTRIK" and all(len(line) <= WIDTH for line in lines)
    assert value(lines, "IDPEL") == shop.customers["postpaid"]
    assert value(lines, "TOTAL BAYAR") == rupiah(quote.amount_minor // 100)
    assert value(lines, "NO REF") == paid.info.biller_ref and len(paid.info.biller_ref) == 32
    assert "SISA TUNGGAKAN" not in flat(lines)
    assert await shop.deposit() == (before[0] - quote.amount_minor // 100,) * 2


async def test_six_months_in_arrears_pays_the_oldest_four_and_the_struk_says_two_remain(shop: Shop):
    paid = await shop.terminal.pay("PLNPST", shop.customers["postpaid_arrears"])
    assert paid.approved
    assert (len(paid.info.bills), paid.info.outstanding) == (4, 6)
    lines = paid.receipt()
    assert "BL/TH : " + ", ".join(period(b.period) for b in paid.info.bills) in " ".join(flat(lines).split())
    assert "ANDA MASIH MEMILIKI SISA TUNGGAKAN 2 BULAN" in flat(lines)
    assert value(lines, "ADMIN BANK") == rupiah(4 * paid.info.admin_fee)
    again = await shop.terminal.inquiry("PLNPST", shop.customers["postpaid_arrears"])
    assert again.approved and (len(again.info.bills), again.info.outstanding) == (2, 2)


async def test_a_50000_token_costs_the_denomination_plus_admin_and_prints_in_five_groups_of_four(shop: Shop):
    before = await shop.deposit()
    quote = await shop.terminal.inquiry("PLNPRA", shop.customers["prepaid"])
    paid = await shop.terminal.pay("PLNPRA", shop.customers["prepaid"], 50_000, inquiry=quote)
    assert paid.approved and paid.amount_minor == (50_000 + quote.info.admin_fee) * 100
    lines = paid.receipt()
    assert lines[0].strip() == "STRUK PEMBELIAN LISTRIK PRABAYAR" and all(len(line) <= WIDTH for line in lines)
    token = paid.info.sale.token
    assert len(token) == 20 and token_line(lines) == token_groups(token)
    assert value(lines, "RP BAYAR") == rupiah(50_000 + quote.info.admin_fee)
    assert (await shop.deposit())[0] == before[0] - 50_000 - quote.info.admin_fee


async def test_a_non_taglis_new_connection_is_paid_and_the_struk_names_the_registration(shop: Shop):
    paid = await shop.terminal.pay("PLNNTL", shop.customers["nontaglis"])
    assert paid.approved
    lines = paid.receipt()
    assert lines[0].strip() == "STRUK NON TAGIHAN LISTRIK"
    assert value(lines, "TRANSAKSI") == "PASANG BARU"
    assert value(lines, "NO REGISTRASI") == shop.customers["nontaglis"]
    assert value(lines, "TOTAL BAYAR") == rupiah(paid.amount_minor // 100)
    assert (await shop.terminal.pay("PLNNTL", shop.customers["nontaglis"])).rc == "88"


async def test_the_balance_the_terminal_prints_is_the_ledger_after_a_round_of_every_product(shop: Shop):
    start = await shop.deposit()
    spent = 0
    for product, customer, denomination in (("PLNPST", "postpaid_1", None), ("PLNPRA", "prepaid", 20_000),
                                            ("PLNNTL", "nontaglis_upgrade", None)):
        paid = await shop.terminal.pay(product, shop.customers[customer], denomination)
        assert paid.approved, (product, paid.rc)
        spent += paid.amount_minor // 100
    assert await shop.terminal.balance() == await shop.deposit() == (start[0] - spent,) * 2
    assert await shop.running.books() == []


@pytest.mark.parametrize("scenario, rc", [("unknown", "14"), ("blocked", "77"), ("paid", "88"),
                                          ("not_available", "89")])
async def test_the_banks_refusal_reaches_the_terminal_and_moves_no_money(shop: Shop, scenario, rc):
    before = await shop.deposit()
    customer = shop.customers[scenario]
    assert (await shop.terminal.inquiry("PLNPST", customer)).rc == rc
    refused = await shop.terminal.pay("PLNPST", customer, 100_000)
    assert refused.rc == rc and not refused.approved and refused.receipt() is None
    assert await shop.deposit() == before


async def test_a_bank_declining_every_payment_gives_the_terminal_05_and_releases_the_hold(shop: Shop):
    before = await shop.deposit()
    quote = await shop.terminal.inquiry("PLNPST", shop.customers["postpaid"])
    shop.bank.faults.decline_rate = 1.0
    declined = await shop.terminal.pay("PLNPST", shop.customers["postpaid"], inquiry=quote)
    assert declined.rc == "05"
    assert await shop.deposit() == before
    assert (await shop.terminal.status(declined.stan)).rc == "05"


async def test_an_online_reprint_asks_the_switch_and_prints_cetak_ulang_with_the_same_reference_and_token(
        shop: Shop):
    paid = await shop.terminal.pay("PLNPRA", shop.customers["prepaid"], 50_000)
    original = paid.receipt()
    printed = await run_shell(shop.terminal, "5", paid.stan, "0")
    reprint = printed.splitlines()
    assert REPRINT_MARK in flat(reprint) and "tidak terhubung" not in printed
    assert token_line(reprint) == token_line(original)
    assert value(reprint, "NO REF") == value(original, "NO REF")
    assert value(reprint, "STAN") == paid.stan and value(reprint, "RRN") == paid.rrn
    asked = [e for e in shop.journal.entries(shop.terminal.terminal_id) if e.proc == "390000"]
    assert [e.rc for e in asked] == ["00"]


async def test_an_offline_reprint_comes_from_the_journal_when_the_switch_is_down(shop: Shop):
    paid = await shop.terminal.pay("PLNPST", shop.customers["postpaid"])
    assert paid.approved
    await shop.running.app.stop()
    printed = await run_shell(shop.terminal, "5", paid.stan, "0")
    reprint = printed.splitlines()
    assert "Switch tidak terhubung: cetak dari jurnal." in printed
    assert REPRINT_MARK in flat(reprint)
    assert value(reprint, "NO REF") == paid.info.biller_ref
    assert value(reprint, "TOTAL BAYAR") == rupiah(paid.amount_minor // 100)


async def test_a_reversed_postpaid_payment_is_acknowledged_00_and_the_deposit_is_credited_back(shop: Shop):
    before = await shop.deposit()
    customer = shop.customers["postpaid"]
    paid = await shop.terminal.pay("PLNPST", customer)
    assert paid.approved and (await shop.deposit())[0] == before[0] - paid.amount_minor // 100
    reversal = await shop.terminal.reverse(paid.stan)
    assert (reversal.mti, reversal.rc) == ("0410", "00")

    async def credited_back() -> bool:
        return await shop.deposit() == before
    assert await wait_until(credited_back, timeout=15)
    assert (await shop.terminal.status(paid.stan)).rc == "05"
    assert (await shop.terminal.reverse(paid.stan)).rc == "00" and await shop.deposit() == before
    quote = await shop.terminal.inquiry("PLNPST", customer)   # the bank holds the bills unpaid again
    assert quote.approved and [b.period for b in quote.info.bills] == [b.period for b in paid.info.bills]
    assert await shop.running.books() == []


async def test_a_token_whose_answer_is_lost_is_completed_by_advice_and_reaches_the_terminal_by_status(shop: Shop):
    before = await shop.deposit()
    quote = await shop.terminal.inquiry("PLNPRA", shop.customers["prepaid"])
    shop.bank.faults.never_answer = True    # the bank sells the token; its answer never comes
    lost = await shop.terminal.pay("PLNPRA", shop.customers["prepaid"], 20_000, inquiry=quote)
    assert lost.rc == "68" and (await shop.terminal.status(lost.stan)).rc == "68"
    assert await shop.deposit() == (before[0], before[1] - 20_000 - quote.info.admin_fee)   # held
    shop.bank.faults.never_answer = False

    async def settled() -> bool:
        return (await shop.terminal.status(lost.stan)).rc != "68"
    assert await wait_until(settled, timeout=15)
    status = await shop.terminal.status(lost.stan)
    assert status.rc == "00" and len(status.info.sale.token) == 20
    assert await shop.deposit() == (before[0] - 20_000 - quote.info.admin_fee,) * 2
    printed = await run_shell(shop.terminal, "5", lost.stan, "0")
    assert token_line(printed.splitlines()) == token_groups(status.info.sale.token)


async def test_a_bill_payment_whose_answer_is_lost_is_reversed_at_the_bank_and_the_hold_released(shop: Shop):
    before = await shop.deposit()
    customer = shop.customers["postpaid"]
    quote = await shop.terminal.inquiry("PLNPST", customer)
    shop.bank.faults.never_answer = True    # the bank pays the bills; its answer never comes
    lost = await shop.terminal.pay("PLNPST", customer, inquiry=quote)
    assert lost.rc == "68"
    shop.bank.faults.never_answer = False

    async def released() -> bool:
        return await shop.deposit() == before
    assert await wait_until(released, timeout=15)
    assert (await shop.terminal.status(lost.stan)).rc == "05"
    again = await shop.terminal.inquiry("PLNPST", customer)   # the bank took the payment back
    assert again.approved and again.amount_minor == quote.amount_minor
    assert (await shop.terminal.pay("PLNPST", customer, inquiry=again)).approved
    assert await shop.running.books() == []
