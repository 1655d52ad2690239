"""A terminal built on a library that always sets bit 1 and sends an all-zero secondary bitmap (as the
JavaScript library iso_8583 does) is served: the MAC is checked over the bytes as sent, and the answer
carries only a primary bitmap."""
from __future__ import annotations

from switch.wire import TI, Message, compute_mac, decode, encode, verify
from switch.wire.mac import MAC_PLACEHOLDER
from tests.support.bank_answers import postpaid_total_minor
from tests.support.harness import switch_with_bank
from tests.support.peers import KEY

CUSTOMER = "532110000123"


def with_empty_secondary_bitmap(msg: Message, key: bytes = KEY) -> bytes:
    """msg (no field above 64) encoded the way iso_8583 does it: bit 1 set, sixteen '0's of secondary
    bitmap, MAC in 64."""
    assert all(n <= 64 for n in msg.fields)
    fields = dict(msg.fields)
    fields[64] = MAC_PLACEHOLDER
    plain = encode(Message(msg.mti, fields), TI)
    primary = int(plain[4:20], 16) | (1 << 63)
    body = plain[:4] + f"{primary:016X}".encode() + b"0" * 16 + plain[20:-16]
    return body + compute_mac(key, body).encode()


def primary_only(raw: bytes) -> bool:
    return not int(raw[4:20], 16) & (1 << 63)


async def test_a_balance_inquiry_and_payment_with_an_all_zero_secondary_bitmap_are_served(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch)
    balance = Message("0200", terminal.base("310000", 0))
    answer = await terminal.send_raw(with_empty_secondary_bitmap(balance), balance[11], timeout=10)
    assert answer[39] == "00" and 54 in answer and 64 in answer

    quote = Message("0200", terminal.base("380000", 0, **{"48": "PLNPST" + CUSTOMER.ljust(13)}))
    answered = await terminal.send_raw(with_empty_secondary_bitmap(quote), quote[11], timeout=10)
    assert answered[39] == "00" and int(answered[4]) == postpaid_total_minor()
    payment = Message("0200", terminal.base("500000", int(answered[4]), **{"48": "PLNPST" + CUSTOMER.ljust(13)}))
    paid = await terminal.send_raw(with_empty_secondary_bitmap(payment), payment[11], timeout=10)
    assert paid[39] == "00" and paid[38]
    for raw in terminal.raw_responses[1:]:  # after the sign-on
        assert primary_only(raw) and verify(raw, KEY)
    assert terminal.bad_macs == []
    assert await running.books() == []
    await terminal.close()


async def test_a_wrong_mac_under_an_all_zero_secondary_bitmap_is_still_63(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch)
    balance = Message("0200", terminal.base("310000", 0))
    raw = with_empty_secondary_bitmap(balance, key=bytes(16))
    answer = await terminal.send_raw(raw, balance[11], timeout=10)
    assert answer[39] == "63" and primary_only(terminal.raw_responses[-1])
    await terminal.close()


def test_the_codec_reads_an_all_zero_secondary_bitmap_and_writes_only_a_primary_one():
    msg = Message("0200", {3: "310000", 7: "1125083005", 11: "000001", 41: "T0000001"})
    raw = with_empty_secondary_bitmap(msg)
    decoded = decode(raw, TI)
    assert decoded.mti == "0200" and {n: decoded[n] for n in (3, 7, 11, 41)} == msg.fields
    assert primary_only(encode(decoded, TI))
