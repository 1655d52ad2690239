"""The wire's vocabulary (contract §4, §7): MTIs, processing codes, network-management codes and
response codes, each with its meaning, and the rule that gives a request's response MTI. The
switch's flows, the terminal simulator and the bank simulator all speak from this one list."""
from __future__ import annotations

from enum import StrEnum


class Mti(StrEnum):
    FINANCIAL = "0200"
    FINANCIAL_RESPONSE = "0210"
    ADVICE = "0220"
    ADVICE_REPEAT = "0221"
    ADVICE_RESPONSE = "0230"
    REVERSAL = "0400"
    REVERSAL_REPEAT = "0401"
    REVERSAL_RESPONSE = "0410"
    RECONCILIATION = "0500"
    RECONCILIATION_RESPONSE = "0510"
    NETWORK = "0800"
    NETWORK_RESPONSE = "0810"


def response_mti(mti: str) -> str | None:
    """A request, advice or notification (function digit 0, 2, 4) is answered with function + 1 and
    origin 0 (0200 → 0210, 0401 → 0410, 0221 → 0230); anything else (a response) gets no answer."""
    if len(mti) != 4 or not mti.isdigit() or mti[2] not in "024":
        return None
    return mti[:2] + str(int(mti[2]) + 1) + "0"


REQUEST_MTIS = tuple(m for m in Mti if response_mti(m) is not None)
RESPONSE_MTI: dict[str, str] = {m.value: str(response_mti(m)) for m in REQUEST_MTIS}


class ProcessingCode(StrEnum):
    INQUIRY = "380000"
    PAYMENT = "500000"     # also a reversal's, an advice's
    BALANCE = "310000"
    STATUS = "390000"

    @property
    def meaning(self) -> str:
        return _PROCESSING_MEANINGS[self]


_PROCESSING_MEANINGS = {ProcessingCode.INQUIRY: "bill inquiry", ProcessingCode.PAYMENT: "payment",
                        ProcessingCode.BALANCE: "deposit balance", ProcessingCode.STATUS: "status / reprint"}


class NetworkCode(StrEnum):
    """Field 70 of an 0800."""
    SIGN_ON = "001"
    SIGN_OFF = "002"
    ECHO = "301"
    CUTOVER = "201"   # bank side only


class ResponseCode(StrEnum):
    """Field 39 (§7)."""
    APPROVED = "00"
    DO_NOT_HONOUR = "05"
    INVALID_TRANSACTION = "12"
    INVALID_AMOUNT = "13"
    UNKNOWN_CUSTOMER = "14"
    ORIGINAL_NOT_FOUND = "25"
    FORMAT_ERROR = "30"
    INSUFFICIENT_DEPOSIT = "51"
    NOT_PERMITTED = "58"
    OVER_LIMIT = "61"
    SECURITY_VIOLATION = "63"
    NO_BANK_RESPONSE = "68"
    CUSTOMER_BLOCKED = "77"
    ALREADY_PAID = "88"
    BILL_NOT_AVAILABLE = "89"
    CUTOVER_IN_PROGRESS = "90"
    BANK_UNAVAILABLE = "91"
    DUPLICATE_TRANSMISSION = "94"
    RECONCILIATION_DIFFERS = "95"
    SYSTEM_MALFUNCTION = "96"

    @property
    def meaning(self) -> str:
        return RC_MEANINGS[self.value]


RC_MEANINGS: dict[str, str] = {
    "00": "Sukses / approved",
    "05": "Ditolak / do not honour",
    "12": "Transaksi tidak valid / invalid transaction",
    "13": "Jumlah tidak sesuai / invalid amount",
    "14": "IDPEL tidak dikenal / unknown customer",
    "25": "Transaksi asal tidak ada / original not found",
    "30": "Format salah / format error",
    "51": "Saldo deposit kurang / insufficient deposit",
    "58": "Terminal tidak diizinkan / not permitted to terminal",
    "61": "Melebihi limit / amount over the limit",
    "63": "MAC salah / security violation",
    "68": "Bank tidak menjawab, transaksi dibatalkan / no response from bank, being reversed",
    "77": "Pelanggan diblokir / customer blocked",
    "88": "Tagihan sudah terbayar / bill already paid",
    "89": "Tagihan bulan ini belum tersedia / current bill not yet available",
    "90": "Cutover sedang berjalan, coba lagi / cutover in progress, try again",
    "91": "Bank tidak tersedia / bank unavailable",
    "94": "Transmisi ganda / duplicate transmission",
    "95": "Rekonsiliasi berbeda / reconciliation totals differ",
    "96": "Gangguan sistem / system malfunction",
}
KNOWN_RC = frozenset(RC_MEANINGS)
