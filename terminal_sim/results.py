"""What a terminal makes of an answer: its outcome (`Result`), the meaning of its code, its balances."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from switch.wire.field48 import NontaglisInfo, PostpaidInfo, PrepaidInfo
from switch.wire.fields import parse_balances
from switch.wire.receipt import ReceiptMeta, render_receipt
from switch.wire.vocabulary import RC_MEANINGS as SWITCH_RC_MEANINGS

ProductInfo = PostpaidInfo | PrepaidInfo | NontaglisInfo

# Terminal-local outcomes: never sent by a switch (§7 codes are all digits), so never confused with one.
RC_TIMEOUT, RC_BAD_MAC, RC_CONNECTION_LOST = "TO", "MC", "CL"

RC_MEANINGS = {
    **SWITCH_RC_MEANINGS,
    RC_TIMEOUT: "Tidak ada jawaban, cek status / no response in time, check status",
    RC_BAD_MAC: "MAC jawaban salah, cek status / response MAC invalid, check status",
    RC_CONNECTION_LOST: "Koneksi terputus, cek status / connection lost, check status",
}



def rc_meaning(rc: str) -> str:
    return RC_MEANINGS.get(rc, "Kode tidak dikenal / unknown response code")


@dataclass
class Result:
    """One request's outcome. rc is field 39, or a local code (TO, MC, CL) when no trusted answer came."""
    mti: str                       # of the response ('' when none came)
    rc: str
    fields: dict[int, str]         # of the response, as on the wire ({} when none came)
    info: ProductInfo | None       # parsed field 48, when the response carries one that parses
    text: list[str]                # field 62 split at '|'
    elapsed_s: float
    rc_meaning: str
    request: dict[int, str] = field(default_factory=dict)
    sent_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    error: str | None = None       # why the answer is missing or untrusted

    @property
    def approved(self) -> bool:
        return self.rc == "00" and self.error is None

    @property
    def stan(self) -> str:
        return self.request.get(11, "")

    @property
    def amount_minor(self) -> int:
        value = self.fields.get(4, "")
        return int(value) if value.isdigit() else 0

    @property
    def rrn(self) -> str:
        return self.fields.get(37, "").strip()

    @property
    def balance(self) -> tuple[int, int] | None:
        """(ledger, available) in whole rupiah from field 54, or None."""
        return parse_balance(self.fields.get(54, ""))

    def receipt_meta(self, stan: str | None = None, when: datetime | None = None) -> ReceiptMeta:
        tid = self.fields.get(41, self.request.get(41, ""))
        agent = self.fields.get(42, self.request.get(42, ""))
        return ReceiptMeta(terminal_id=tid.strip(), agent_id=agent.strip(), rrn=self.rrn,
                           stan=stan or self.stan, when=when or self.sent_at,
                           amount_minor=self.amount_minor, rc=self.rc, info_text=tuple(self.text))

    def receipt(self, reprint: bool = False, stan: str | None = None, when: datetime | None = None
                ) -> list[str] | None:
        """The struk of this (payment or status) answer, or None when it has no product data."""
        if self.info is None:
            return None
        return render_receipt(self.info, self.receipt_meta(stan, when), reprint=reprint)

    def as_dict(self) -> dict[str, Any]:
        return {"mti": self.mti, "rc": self.rc, "rc_meaning": self.rc_meaning, "approved": self.approved,
                "stan": self.stan, "rrn": self.rrn, "amount_minor": self.amount_minor,
                "elapsed_s": round(self.elapsed_s, 4), "error": self.error, "text": self.text,
                "fields": {str(k): v for k, v in sorted(self.fields.items())}}


class Declined(Exception):
    """A request that had to succeed (sign-on for a session, balance()) did not."""

    def __init__(self, result: Result) -> None:
        self.result = result
        super().__init__(f"{result.rc} {result.rc_meaning}")


def parse_balance(f54: str) -> tuple[int, int] | None:
    """(ledger, available) in whole rupiah from field 54 (§4), or None."""
    balances = parse_balances(f54)
    return None if balances is None else (balances[0] // 100, balances[1] // 100)


