"""Receipts (struk) as a 32-column thermal printer prints them, in Indonesian, after PLN's layouts.

Pure functions: product info (the parsed field 48 of switch.wire.field48) + ReceiptMeta in, a list of
lines out, each at most WIDTH characters, no trailing spaces. Dispatch is by shape (bills / meter /
transaction_name) so this module needs nothing else of the wire layer. It lives here, below both, so
the simulated terminal prints and the back-office console shows the same struk.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable
from zoneinfo import ZoneInfo

WIDTH = 32
WIB = ZoneInfo("Asia/Jakarta")
RULE = "-" * WIDTH
REPRINT_MARK = "CETAK ULANG"
FOOTER = "TERIMA KASIH"

TITLE_POSTPAID = "STRUK PEMBAYARAN TAGIHAN LISTRIK"
TITLE_PREPAID = "STRUK PEMBELIAN LISTRIK PRABAYAR"
TITLE_NONTAGLIS = "STRUK NON TAGIHAN LISTRIK"
TITLE_BILL_POSTPAID = "INFORMASI TAGIHAN LISTRIK"
TITLE_BILL_PREPAID = "INFORMASI PELANGGAN PRABAYAR"
TITLE_BILL_NONTAGLIS = "INFORMASI NON TAGIHAN LISTRIK"
TITLE_BALANCE = "INFORMASI SALDO DEPOSIT"
TITLES = frozenset({TITLE_POSTPAID, TITLE_PREPAID, TITLE_NONTAGLIS, TITLE_BILL_POSTPAID,
                    TITLE_BILL_PREPAID, TITLE_BILL_NONTAGLIS, TITLE_BALANCE, REPRINT_MARK})
PLN_STATEMENT = "PLN menyatakan struk ini sebagai bukti pembayaran yang sah."

# PLN's own month abbreviations (PEB, AGU, NOP — not FEB, AUG, NOV)
MONTHS = ("JAN", "PEB", "MAR", "APR", "MEI", "JUN", "JUL", "AGU", "SEP", "OKT", "NOP", "DES")
TOKEN_LINE = re.compile(r"^\d{4}( \d{4}){4}$")


@dataclass(frozen=True)
class ReceiptMeta:
    terminal_id: str
    agent_id: str
    rrn: str
    stan: str
    when: datetime               # naive = already WIB; aware = converted to WIB
    amount_minor: int            # field 4
    rc: str = "00"
    info_text: tuple[str, ...] = ()   # field 62 lines


# ---------------------------------------------------------------- formatting helpers

def rupiah(whole: int) -> str:
    """Rp 1.234.567 — dots as thousand separators, as printed in Indonesia."""
    sign = "-" if whole < 0 else ""
    return f"{sign}Rp {abs(whole):,}".replace(",", ".")


def kwh(kwh_x100: int) -> str:
    """33,64 — comma decimal, dot thousands."""
    whole, cents = divmod(kwh_x100, 100)
    return f"{whole:,}".replace(",", ".") + f",{cents:02d}"


def period(yyyymm: str) -> str:
    """202609 -> SEP26."""
    month = int(yyyymm[4:6])
    name = MONTHS[month - 1] if 1 <= month <= 12 else yyyymm[4:6]
    return f"{name}{yyyymm[2:4]}"


def date_dmy(yyyymmdd: str) -> str:
    d = str(yyyymmdd).strip()
    return f"{d[6:8]}-{d[4:6]}-{d[0:4]}" if len(d) == 8 and d.isdigit() else d


def token_groups(token: str) -> str:
    """20 digits in groups of four, the way customers key them into the meter."""
    t = str(token).strip()
    return " ".join(t[i:i + 4] for i in range(0, len(t), 4))


def tariff_power(tariff: str, power_va: int) -> str:
    return f"{str(tariff).strip()}/{int(power_va)} VA"


def center(text: str) -> list[str]:
    """Word-wrapped and centered; blank text gives one empty line."""
    if not text.strip():
        return [""]
    return [(" " * ((WIDTH - len(part)) // 2) + part).rstrip() for part in _wrap(text.strip(), WIDTH)]


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def kv(label: str, value: Any, width: int, atomic: bool = False) -> list[str]:
    """'LABEL      : value'. Text wraps inside the value column; an atomic value (amount, reference,
    meter reading) never splits: when it does not fit beside the label it goes right-aligned onto
    its own line, and only something longer than a whole line is cut into pieces."""
    prefix = f"{label:<{width}}: " if len(label) <= width else f"{label}: "
    text = " ".join(str(value).split())
    if len(prefix) + len(text) <= WIDTH:
        return [(prefix + text).rstrip()]
    column = WIDTH - len(prefix)
    if not atomic and column >= 8:
        parts = _wrap(text, column)
        return [prefix + parts[0]] + [" " * len(prefix) + p for p in parts[1:]]
    pieces = [text[i:i + WIDTH] for i in range(0, len(text), WIDTH)]
    return [prefix.rstrip()] + [p.rjust(WIDTH) for p in pieces]


# ---------------------------------------------------------------- product kinds

def _kind(info: Any) -> str:
    if hasattr(info, "bills"):
        return "postpaid"
    if hasattr(info, "meter"):
        return "prepaid"
    if hasattr(info, "transaction_name"):
        return "nontaglis"
    raise TypeError(f"not a field-48 product info: {type(info).__name__}")


def _postpaid_body(info: Any, with_ref: bool) -> list[str]:
    w = 11
    bills = list(info.bills)
    tag = sum(b.amount + b.penalty for b in bills)
    lines = kv("IDPEL", info.customer, w, atomic=True) + kv("NAMA", info.name, w)
    lines += kv("TARIF/DAYA", tariff_power(info.tariff, info.power_va), w)
    lines += kv("BL/TH", ", ".join(period(b.period) for b in bills), w)
    if not with_ref:  # the bill view says how many months this payment covers
        lines += kv("JML TAGIHAN", f"{len(bills)} BULAN", w)
    if bills:
        stand = f"{int(bills[0].meter_before):08d}-{int(bills[-1].meter_after):08d}"
        lines += kv("STAND METER", stand, w, atomic=True)
    lines += kv("RP TAG PLN", rupiah(tag), w, atomic=True)
    if with_ref:
        lines += kv("NO REF", info.biller_ref or "", w, atomic=True)
        lines += [""] + center(PLN_STATEMENT) + [""]
    lines += kv("ADMIN BANK", rupiah(info.admin_fee * len(bills)), w, atomic=True)
    lines += kv("TOTAL BAYAR", rupiah(info.total), w, atomic=True)
    remaining = int(info.outstanding) - len(bills)
    if remaining > 0:
        lines += [""] + center(f"ANDA MASIH MEMILIKI SISA TUNGGAKAN {remaining} BULAN")
    return lines


def _prepaid_head(info: Any, w: int) -> list[str]:
    lines = kv("NO METER", info.meter, w, atomic=True) + kv("IDPEL", info.idpel, w, atomic=True)
    lines += kv("NAMA", info.name, w)
    return lines + kv("TARIF/DAYA", tariff_power(info.tariff, info.power_va), w)


def _prepaid_body(info: Any, amount_minor: int) -> list[str]:
    w = 12
    sale = info.sale
    lines = _prepaid_head(info, w)
    if sale is None:  # a purchase without its token (e.g. a status answer still pending)
        return lines + kv("ADMIN BANK", rupiah(info.admin_fee), w, atomic=True)
    paid = amount_minor // 100 if amount_minor > 0 else (
        sale.stamp_duty + sale.vat + sale.ppj + sale.installment + sale.power_purchase + info.admin_fee)
    lines += kv("NO REF", sale.biller_ref, w, atomic=True)
    lines += kv("RP BAYAR", rupiah(paid), w, atomic=True)
    lines += kv("ADMIN BANK", rupiah(info.admin_fee), w, atomic=True)
    lines += kv("METERAI", rupiah(sale.stamp_duty), w, atomic=True)
    lines += kv("PPN", rupiah(sale.vat), w, atomic=True)
    lines += kv("PPJ", rupiah(sale.ppj), w, atomic=True)
    lines += kv("ANGSURAN", rupiah(sale.installment), w, atomic=True)
    lines += kv("RP STROOM/TOKEN", rupiah(sale.power_purchase), w, atomic=True)
    lines += kv("JML KWH", kwh(sale.kwh_x100), w, atomic=True)
    lines += ["", f"{'STROOM/TOKEN':<{w}}:"] + center(token_groups(sale.token))
    return lines


def _nontaglis_body(info: Any, with_ref: bool) -> list[str]:
    w = 14
    lines = kv("TRANSAKSI", info.transaction_name, w)
    lines += kv("NO REGISTRASI", info.customer, w, atomic=True)
    lines += kv("TGL REGISTRASI", date_dmy(info.registration_date), w, atomic=True)
    lines += kv("NAMA", info.name, w)
    lines += kv("BIAYA PLN", rupiah(info.amount), w, atomic=True)
    if with_ref:
        lines += kv("NO REF", info.biller_ref or "", w, atomic=True)
    lines += kv("ADMIN BANK", rupiah(info.admin_fee), w, atomic=True)
    return lines + kv("TOTAL BAYAR", rupiah(info.total), w, atomic=True)


def _local(when: datetime) -> datetime:
    return when.astimezone(WIB) if when.tzinfo is not None else when


def _meta_lines(meta: ReceiptMeta) -> list[str]:
    w = 8
    lines = [RULE] + kv("AGEN", meta.agent_id.strip(), w, atomic=True)
    lines += kv("TERMINAL", meta.terminal_id.strip(), w, atomic=True)
    lines += kv("WAKTU", _local(meta.when).strftime("%d-%m-%Y %H:%M:%S"), w, atomic=True)
    if meta.rrn.strip():
        lines += kv("RRN", meta.rrn.strip(), w, atomic=True)
    return lines + kv("STAN", meta.stan, w, atomic=True) + [RULE]


def _head(title: str, reprint: bool, rc: str) -> list[str]:
    lines = center(title)
    if reprint:
        lines += center(REPRINT_MARK)
    if rc != "00":  # never let a declined slip pass for proof of payment
        lines += center(f"*** TIDAK BERHASIL (RC {rc}) ***")
    return lines + [""]


def _info_text(text: Iterable[str]) -> list[str]:
    lines: list[str] = []
    for line in text:
        if line.strip():
            lines += center(line)
    return [""] + lines if lines else []


# ---------------------------------------------------------------- public renderers

def render_receipt(product_info: Any, meta: ReceiptMeta, reprint: bool = False) -> list[str]:
    """The struk of an approved payment (or of its reprint, marked CETAK ULANG)."""
    kind = _kind(product_info)
    if kind == "postpaid":
        title, body = TITLE_POSTPAID, _postpaid_body(product_info, with_ref=True)
    elif kind == "prepaid":
        title, body = TITLE_PREPAID, _prepaid_body(product_info, meta.amount_minor)
    else:
        title, body = TITLE_NONTAGLIS, _nontaglis_body(product_info, with_ref=True)
    return _head(title, reprint, meta.rc) + body + _info_text(meta.info_text) + [""] + _meta_lines(meta) + center(FOOTER)


def render_bill(product_info: Any) -> list[str]:
    """The inquiry view shown to the customer before the agent confirms the payment."""
    kind = _kind(product_info)
    if kind == "postpaid":
        return center(TITLE_BILL_POSTPAID) + [""] + _postpaid_body(product_info, with_ref=False)
    if kind == "prepaid":
        return center(TITLE_BILL_PREPAID) + [""] + _prepaid_head(product_info, 12) + kv(
            "ADMIN BANK", rupiah(product_info.admin_fee), 12, atomic=True)
    return center(TITLE_BILL_NONTAGLIS) + [""] + _nontaglis_body(product_info, with_ref=False)


def render_balance(ledger_rupiah: int, available_rupiah: int, meta: ReceiptMeta) -> list[str]:
    """The deposit slip of a balance inquiry: ledger (saldo) and available (dapat dipakai)."""
    w = 11
    body = kv("SALDO", rupiah(ledger_rupiah), w, atomic=True)
    body += kv("DITAHAN", rupiah(ledger_rupiah - available_rupiah), w, atomic=True)
    body += kv("TERSEDIA", rupiah(available_rupiah), w, atomic=True)
    return _head(TITLE_BALANCE, False, meta.rc) + body + [""] + _meta_lines(meta) + center(FOOTER)


def emphasised(lines: Iterable[str]) -> set[str]:
    """Lines a real printer prints bold and centered: titles, the reprint mark, the token."""
    return {s for s in (line.strip() for line in lines) if s in TITLES or TOKEN_LINE.match(s)}
