"""The terminal client against a stand-in switch on real loopback TCP."""
from __future__ import annotations

import asyncio

from terminal_peer import AGENT, TID
from terminal_peer import KEY, VECTORS

from switch.wire import TI, decode, sign, verify
from switch.wire.field48 import NontaglisInfo, PostpaidInfo, PrepaidInfo
from terminal_sim.client import RC_BAD_MAC, RC_TIMEOUT, TerminalClient, receipt_from_entry

POSTPAID_INQUIRY_AMOUNT = VECTORS["postpaid_inquiry_response"]["fields"]["4"]


async def test_inquiry_then_payment_round_trip_pays_the_quoted_amount(terminal, peer):
    quote = await terminal.inquiry("PLNPST", "532110000123")
    paid = await terminal.pay("PLNPST", "532110000123")
    assert quote.approved and isinstance(quote.info, PostpaidInfo) and quote.info.total == 399_800
    assert paid.approved and paid.info.biller_ref == "0BAG210Z9Y8X7W6V5U4T3S2R1Q0P9O8N"
    payment = peer.received[-1]
    assert (payment.mti, payment[3], payment[4]) == ("0200", "500000", POSTPAID_INQUIRY_AMOUNT)
    assert paid.text == ["Informasi Hubungi Call Center 123", "Atau hubungi PLN terdekat"]
    assert "TOTAL BAYAR: Rp 399.800" in paid.receipt()


async def test_the_terminal_signs_on_by_itself_before_its_first_financial_request(terminal, peer):
    await terminal.inquiry("PLNNTL", "5321126110001")
    assert [(m.mti, m.get(70) or m.get(3)) for m in peer.received] == [("0800", "001"), ("0200", "380000")]


async def test_requests_carry_the_contract_fields_and_a_mac_the_switch_accepts(terminal, peer):
    await terminal.inquiry("PLNPST", "532110000123")
    req = peer.received[-1]
    assert verify(sign(req, KEY, TI), KEY) and req[64] == decode(sign(req, KEY, TI), TI)[64]
    assert req[41] == TID and req[42] == AGENT.ljust(15) and req[18] == "6021" and req[49] == "360"
    assert len(req[7]) == 10 and len(req[12]) == 6 and len(req[13]) == 4 and req[4] == "0" * 12
    assert req[48] == "PLNPST532110000123 "


async def test_prepaid_purchase_pays_the_denomination_plus_the_quoted_admin_fee(terminal, peer):
    result = await terminal.pay("PLNPRA", "14234567890", 50_000)
    assert peer.received[-1][4] == f"{(50_000 + 2_500) * 100:012d}"
    assert result.approved and isinstance(result.info, PrepaidInfo)
    assert result.info.sale.token == "12345678901234567890"


async def test_responses_out_of_order_are_matched_to_their_requests(terminal, peer):
    await terminal.sign_on()
    peer.hold = 3   # answer the three inquiries newest first
    results = await asyncio.gather(terminal.inquiry("PLNPST", "532110000123"),
                                   terminal.inquiry("PLNPRA", "14234567890"),
                                   terminal.inquiry("PLNNTL", "5321126110001"))
    sent = [m[11] for m in peer.received[1:]]
    assert peer.answered[1:] == sent[::-1]
    assert [type(r.info) for r in results] == [PostpaidInfo, PrepaidInfo, NontaglisInfo]
    assert [r.fields[11] for r in results] == [r.request[11] for r in results]


async def test_a_response_with_a_bad_mac_is_an_error_and_leaves_the_payment_pending(terminal, peer, journal):
    quote = await terminal.inquiry("PLNPST", "532110000123")
    peer.answer_key = bytes(16)
    result = await terminal.pay("PLNPST", "532110000123", inquiry=quote)
    assert result.rc == RC_BAD_MAC and not result.approved and result.info is None
    assert [e.stan for e in journal.pending_payments(TID)] == [result.stan]


async def test_a_payment_that_gets_no_answer_stays_pending_and_status_settles_it(peer, journal):
    peer.silent_products = {"PLNPRA"}
    async with TerminalClient(peer.host, peer.port, TID, AGENT, KEY, journal, timeout=0.3) as terminal:
        lost = await terminal.pay("PLNPRA", "14234567890", 20_000)
        assert lost.rc == RC_TIMEOUT and journal.find(TID, lost.stan).status == "pending"
        status = await terminal.status(lost.stan)
    assert status.approved and status.request[90] == "0200" + lost.stan + lost.request[7] + "0" * 22
    entry = journal.find(TID, lost.stan)
    assert entry.status == "answered" and journal.pending_payments(TID) == []
    lines = receipt_from_entry(entry)
    assert "CETAK ULANG" in [s.strip() for s in lines] and "1234 5678 9012 3456 7890" in [s.strip() for s in lines]


async def test_a_late_answer_settles_the_journal_entry_of_a_timed_out_payment(peer, journal):
    async with TerminalClient(peer.host, peer.port, TID, AGENT, KEY, journal, timeout=0.3) as terminal:
        quote = await terminal.inquiry("PLNNTL", "5321126110001")
        peer.hold = 2   # the payment's answer waits for the next request
        lost = await terminal.pay("PLNNTL", "5321126110001", inquiry=quote)
        assert lost.rc == RC_TIMEOUT
        terminal.timeout = 10
        assert (await terminal.balance_inquiry()).approved
        for _ in range(100):
            if journal.find(TID, lost.stan).status == "answered":
                break
            await asyncio.sleep(0.05)
    entry = journal.find(TID, lost.stan)
    assert entry.status == "answered" and entry.rc == "00" and entry.note == "late"


async def test_reversal_names_the_original_and_repeats_its_amount_and_product_data(terminal, peer):
    paid = await terminal.pay("PLNPST", "532110000123")
    reversal = await terminal.reverse(paid.stan)
    req = peer.received[-1]
    assert reversal.mti == "0410" and reversal.approved
    assert req.mti == "0400" and req[90] == "0200" + paid.stan + paid.request[7] + "0" * 22
    assert (req[3], req[4], req[48]) == (paid.request[3], paid.request[4], paid.request[48])
    assert 128 in req and 64 not in req   # field 90 needs the secondary bitmap: MAC in 128


async def test_balance_reads_ledger_and_available_from_field_54(terminal):
    assert await terminal.balance() == (1_500_000, 1_450_000)


async def test_an_unsigned_58_is_reported_as_a_refusal_not_a_mac_error(peer, journal):
    peer.unregistered = True
    async with TerminalClient(peer.host, peer.port, TID, AGENT, KEY, journal, timeout=10) as terminal:
        result = await terminal.inquiry("PLNPST", "532110000123")
    assert result.rc == "58" and not result.approved and result.error is None


async def test_echo_needs_no_sign_on(terminal, peer):
    assert (await terminal.echo()).approved
    assert [(m.mti, m[70]) for m in peer.received] == [("0800", "301")]


async def test_a_dropped_connection_is_reopened_and_signed_on_again(terminal, peer):
    assert (await terminal.inquiry("PLNPST", "532110000123")).approved
    peer.drop_connections()
    for _ in range(100):          # wait until the terminal has noticed the close
        if not terminal.connected:
            break
        await asyncio.sleep(0.02)
    assert (await terminal.inquiry("PLNPST", "532110000123")).approved
    assert [m.get(70) for m in peer.received if m.mti == "0800"] == ["001", "001"]


async def test_stans_are_unique_across_many_requests_in_flight(terminal, peer):
    results = await asyncio.gather(*(terminal.inquiry("PLNPST", "532110000123") for _ in range(200)))
    assert all(r.approved for r in results)
    assert len({r.stan for r in results}) == 200


async def test_a_declined_inquiry_is_not_paid(terminal, peer):
    result = await terminal.pay("PLNPST", "999999999999")
    assert result.rc == "14" and "unknown customer" in result.rc_meaning
    assert [m[3] for m in peer.received if m.mti == "0200"] == ["380000"]
