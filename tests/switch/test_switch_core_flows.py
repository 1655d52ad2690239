"""The core path over real loopback sockets: terminal → switch → bank → switch → terminal."""
from __future__ import annotations

import asyncio

from switch.wire import TI, Message, sign
from switch.wire.field48 import parse_response
from tests.support.bank_answers import good_bank, postpaid_total_minor
from tests.support.harness import AGENT, bank, switch_with_bank, wait_until
from tests.support.peers import KEY, echo_response

CUSTOMER = "532110000123"


up_with = switch_with_bank


async def test_a_postpaid_inquiry_then_payment_debits_the_deposit_exactly_once(start_switch):
    running, peer, terminal = await up_with(start_switch)
    quote = await terminal.inquiry("PLNPST", CUSTOMER)
    assert quote[39] == "00" and int(quote[4]) == postpaid_total_minor()
    assert len(quote[37]) == 12 and parse_response(quote[48]).customer == CUSTOMER
    before = await running.balances()
    paid = await terminal.pay("PLNPST", CUSTOMER, int(quote[4]))
    assert paid[39] == "00" and paid[38] == "A1B2C3" and 62 in paid and 15 in paid
    after = await running.balances()
    assert before[0] - after[0] == postpaid_total_minor() and after[0] == after[1]
    assert await running.books() == []
    assert terminal.bad_macs == []


async def test_the_bank_gets_the_switch_stan_and_rrn_never_the_terminals(start_switch):
    running, peer, terminal = await up_with(start_switch)
    answer = await terminal.inquiry("PLNPST", CUSTOMER)
    sent = [m for m in peer.received if m.mti == "0200"][-1]
    assert sent[37] == answer[37] and sent[32] == "90001"
    assert sent[41].strip() == "T0000001" and sent[42].strip() == AGENT


async def test_a_retransmitted_payment_gets_the_first_answer_and_the_bank_is_asked_once(start_switch):
    running, peer, terminal = await up_with(start_switch)
    peer.delay_s = 0.3
    quote = await terminal.inquiry("PLNPST", CUSTOMER)
    fields = terminal.base("500000", int(quote[4]), **{"48": "PLNPST" + CUSTOMER.ljust(13)})
    raw = sign(Message("0200", fields), KEY, TI)
    first = asyncio.create_task(terminal.send_raw(raw, fields[11]))
    await asyncio.sleep(0.05)  # the original is still with the bank
    second = await terminal.send_raw(raw, fields[11])
    first = await first
    assert first.fields == second.fields and first[39] == "00"
    assert len([m for m in peer.received if m.mti == "0200" and m[3] == "500000"]) == 1
    ledger, available = await running.balances()
    assert 10_000_000_00 - ledger == postpaid_total_minor()


async def test_same_key_with_other_content_is_a_duplicate_transmission(start_switch):
    running, peer, terminal = await up_with(start_switch)
    quote = await terminal.inquiry("PLNPST", CUSTOMER)
    fields = terminal.base("500000", int(quote[4]), **{"48": "PLNPST" + CUSTOMER.ljust(13)})
    assert (await terminal.send("0200", fields))[39] == "00"
    fields[4] = f"{int(quote[4]) + 100:012d}"
    assert (await terminal.send("0200", fields))[39] == "94"


async def test_a_bill_already_paid_through_the_switch_is_refused_88_without_asking_the_bank(start_switch):
    running, peer, terminal = await up_with(start_switch)
    quote = await terminal.inquiry("PLNPST", CUSTOMER)
    assert (await terminal.pay("PLNPST", CUSTOMER, int(quote[4])))[39] == "00"
    asked = len(peer.received)
    assert (await terminal.pay("PLNPST", CUSTOMER, int(quote[4])))[39] == "88"
    assert len(peer.received) == asked


async def test_a_payment_that_differs_from_the_inquiry_is_refused_13(start_switch):
    running, peer, terminal = await up_with(start_switch)
    quote = await terminal.inquiry("PLNPST", CUSTOMER)
    assert (await terminal.pay("PLNPST", CUSTOMER, int(quote[4]) - 100))[39] == "13"
    assert await running.balances() == (10_000_000_00, 10_000_000_00)


async def test_insufficient_deposit_is_51_and_nothing_is_held(start_switch):
    running, peer, terminal = await up_with(start_switch, deposit=1000_00)
    quote = await terminal.inquiry("PLNPST", CUSTOMER)
    assert (await terminal.pay("PLNPST", CUSTOMER, int(quote[4])))[39] == "51"
    assert await running.balances() == (1000_00, 1000_00)


async def test_the_daily_limit_is_61_and_reaching_it_exactly_is_allowed(start_switch):
    total = postpaid_total_minor()
    running, peer, terminal = await up_with(start_switch, daily_limit=total)
    quote = await terminal.inquiry("PLNPST", CUSTOMER)
    assert (await terminal.pay("PLNPST", CUSTOMER, int(quote[4])))[39] == "00"
    quote = await terminal.inquiry("PLNNTL", "5321126110001")
    assert (await terminal.pay("PLNNTL", "5321126110001", int(quote[4])))[39] == "61"


async def test_a_bank_decline_releases_the_hold_and_passes_the_code_through(start_switch):
    def declining(msg):
        if msg.mti == "0200" and msg[3] == "500000":
            return echo_response(msg, "77")
        return good_bank(msg)
    running, peer, terminal = await up_with(start_switch, answer=declining)
    assert (await terminal.pay("PLNPST", CUSTOMER, 100_000_00))[39] == "77"
    assert await running.balances() == (10_000_000_00, 10_000_000_00)


async def test_the_balance_inquiry_answers_ledger_and_available_in_field_54(start_switch):
    running, peer, terminal = await up_with(start_switch)
    answer = await terminal.balance()
    assert answer[39] == "00"
    assert answer[54] == "0001360C001000000000" + "0002360C001000000000"


async def test_a_wrong_mac_is_63_and_the_answer_is_signed(start_switch):
    running, peer, terminal = await up_with(start_switch)
    answer = await terminal.send("0200", terminal.base("310000"), key=bytes(16))
    assert answer[39] == "63" and terminal.bad_macs == []


async def test_an_unknown_terminal_gets_58_without_a_mac(start_switch):
    running, peer, terminal = await up_with(start_switch)
    stranger = await running.terminal(terminal_id="T9999999").connect()
    answer = await stranger.sign_on()
    assert answer[39] == "58" and 64 not in answer and 128 not in answer


async def test_a_request_before_sign_on_is_58(start_switch):
    running, peer, _ = await up_with(start_switch)
    terminal = await running.terminal().connect()
    assert (await terminal.balance())[39] == "58"


async def test_a_malformed_field_is_30_echoing_only_valid_fields(start_switch):
    running, peer, terminal = await up_with(start_switch)
    fields = terminal.base("310000")
    raw = sign(Message("0200", fields), KEY, TI)
    # field 4 made non-numeric: everything after it cannot be trusted
    text = bytearray(raw)
    pos = 4 + 16 + 6  # MTI, primary bitmap, field 3: field 4 starts here
    text[pos:pos + 1] = b"A"
    answer = await terminal.send_raw(bytes(text), fields[11])
    assert answer[39] == "30" and 4 not in answer and answer[3] == "310000"


async def test_an_unknown_processing_code_is_12(start_switch):
    running, peer, terminal = await up_with(start_switch)
    assert (await terminal.send("0200", terminal.base("990000")))[39] == "12"


async def test_no_bank_up_for_the_product_is_91(start_switch):
    running = await start_switch([bank("BANKA", 1)])  # nothing listens on port 1
    terminal = await running.terminal().connect()
    await terminal.sign_on()
    assert (await terminal.inquiry("PLNPST", CUSTOMER))[39] == "91"
    assert (await terminal.pay("PLNPST", CUSTOMER, 100_00))[39] == "91"
    assert await running.balances() == (10_000_000_00, 10_000_000_00)


async def test_many_requests_in_flight_on_one_connection_are_answered_in_any_order(start_switch):
    running, peer, terminal = await up_with(start_switch)
    answers = await asyncio.gather(*(terminal.inquiry("PLNPST", f"5321100{i:05d}") for i in range(30)))
    assert all(a[39] == "00" for a in answers)
    assert len({a[37] for a in answers}) == 30


async def test_200_concurrent_payments_against_a_deposit_for_100_approve_exactly_100(start_switch):
    running, peer, terminal = await up_with(start_switch, deposit=100 * 20_000_00)
    payments = [terminal.pay("PLNPRA", f"1423456{i:04d}", 20_000_00) for i in range(200)]
    answers = await asyncio.gather(*payments)
    codes = [a[39] for a in answers]
    assert codes.count("00") == 100 and codes.count("51") == 100
    assert await running.balances() == (0, 0)
    assert await running.books() == []


async def test_a_bank_quote_whose_field_48_is_unreadable_is_96_and_nothing_is_remembered(start_switch):
    def garbled(msg):
        if msg.mti == "0200" and msg[3] == "380000":
            return echo_response(msg, "00", **{"48": "PLNPST" + "?" * 30, "4": "000000100000"})
        return good_bank(msg)
    running, peer, terminal = await up_with(start_switch, answer=garbled)
    assert (await terminal.inquiry("PLNPST", CUSTOMER))[39] == "96"
    remembered = await running.db.read(lambda tx: tx.fetchval("SELECT COUNT(*) FROM last_inquiry"))
    assert remembered == 0


async def test_a_bank_code_outside_the_contract_reaches_the_terminal_as_05(start_switch):
    def odd(msg):
        return echo_response(msg, "Z9") if msg.mti == "0200" else good_bank(msg)
    running, peer, terminal = await up_with(start_switch, answer=odd)
    assert (await terminal.inquiry("PLNPST", CUSTOMER))[39] == "05"


async def test_sign_off_ends_the_session_and_the_next_request_is_58(start_switch):
    running, peer, terminal = await up_with(start_switch)
    off = await terminal.send("0800", {7: "1125083000", 11: terminal.next_stan(), 41: "T0000001", 70: "002"})
    assert off[39] == "00"
    assert (await terminal.balance())[39] == "58"


async def test_a_blocked_agent_gets_58_on_sign_on_and_on_requests(start_switch):
    from switch.ledger import accounts
    running, peer, terminal = await up_with(start_switch)
    await running.db.unit(lambda tx: accounts.set_agent_blocked(tx, AGENT, True))
    assert (await terminal.balance())[39] == "58"
    assert (await terminal.sign_on())[39] == "58"


async def test_the_bank_may_echo_the_switch_and_gets_0810_00(start_switch):
    from switch.wire import HI, encode, frame
    running, peer, terminal = await up_with(start_switch)
    peer.writers[0].write(frame(encode(Message("0800", {7: "1125083000", 11: "900001", 70: "301"}), HI), "2B"))
    assert await wait_until(lambda: any(a.get(11) == "900001" for a in peer.answers))
    answer = next(a for a in peer.answers if a.get(11) == "900001")
    assert answer.mti == "0810" and answer[39] == "00" and answer[70] == "301"
