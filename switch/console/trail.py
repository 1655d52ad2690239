"""One transaction's message trail, decoded for people: every field named after the interface specs,
field 48 broken into its product data, secrets and customer numbers masked exactly as the logs mask
them (switch.ops.logging); and the struk as the terminal printed it."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from switch.ledger.reports import Trail
from switch.ledger.txns import SafItem, Txn
from switch.ops.logging import REDACTED, SECRET_KEYS, mask_customer
from switch.wire import field48
from switch.wire.errors import CodecError
from switch.wire.vocabulary import RESPONSE_MTI
from switch.wire.receipt import ReceiptMeta, render_receipt
from switch.wire.spec import HI, TI, Spec

SAF_FIRST_MTI = {"reversal": "0400", "advice": "0220"}
SAF_ANSWER_MTI = {"reversal": "0410", "advice": "0230"}


@dataclass(frozen=True)
class FieldRow:
    number: int
    name: str
    value: str


@dataclass
class MessageView:
    title: str
    mti: str
    rows: list[FieldRow]
    product: list[tuple[str, str]] = field(default_factory=list)   # field 48, decoded
    note: str = ""


class Masker:
    """Hides what the logs hide: MACs and keys whole, customer numbers but for their ends."""

    def __init__(self, *customers: str | None) -> None:
        self.customers = sorted({c.strip() for c in customers if c and c.strip()}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for customer in self.customers:
            value = value.replace(customer, mask_customer(customer))
        return value

    def field(self, number: int, value: str) -> str:
        return REDACTED if str(number) in SECRET_KEYS else self.text(value)


def _name(spec: Spec, number: int) -> str:
    return str(spec.get(str(number), {}).get("desc", f"field {number}"))


def _product_rows(value: str, request: bool, masker: Masker) -> list[tuple[str, str]]:
    try:
        info: Any = field48.parse_request(value) if request else field48.parse_response(value)
    except (CodecError, ValueError):
        return []
    rows: list[tuple[str, str]] = []
    for name, item in dataclasses.asdict(info).items():
        if isinstance(item, (list, tuple)):
            for i, bill in enumerate(item, 1):
                for key, part in (bill.items() if isinstance(bill, dict) else [("", bill)]):
                    rows.append((f"{name}[{i}].{key}", masker.text(str(part))))
        elif isinstance(item, dict):
            rows.extend((f"{name}.{key}", masker.text(str(part))) for key, part in item.items())
        else:
            rows.append((name, "" if item is None else masker.text(str(item))))
    return rows


def message_view(title: str, mti: str, fields: dict[int, str], spec: Spec, masker: Masker,
                 note: str = "") -> MessageView:
    rows = [FieldRow(n, _name(spec, n), masker.field(n, v)) for n, v in sorted(fields.items())]
    product = _product_rows(fields[48], mti in RESPONSE_MTI, masker) if 48 in fields else []
    return MessageView(title, mti, rows, product, note)


def _txn_views(txn: Txn, masker: Masker) -> list[MessageView]:
    views = []
    what = f"{txn.kind} #{txn.txn_id}"
    if txn.request is not None:
        views.append(message_view(f"terminal → switch ({what})", txn.mti, txn.request, TI, masker))
    if txn.bank_request is not None:
        bank_mti = "0200"
        views.append(message_view(f"switch → bank {txn.bank_id or ''} ({what})", bank_mti, txn.bank_request,
                                  HI, masker))
    if txn.bank_response is not None:
        views.append(message_view(f"bank {txn.bank_id or ''} → switch ({what})", "0210", txn.bank_response,
                                  HI, masker))
    if txn.response is not None:
        views.append(message_view(f"switch → terminal ({what})", RESPONSE_MTI.get(txn.mti, ""), txn.response,
                                  TI, masker))
    return views


def _saf_view(item: SafItem, result_rc: str | None, masker: Masker) -> MessageView:
    mti = SAF_FIRST_MTI.get(item.kind, "")
    answered = f"answered {result_rc}" if result_rc else "no answer yet"
    note = f"{item.state}, {item.attempts} attempt(s), {answered}"
    return message_view(f"switch → bank {item.bank_id} ({item.kind}, queued {item.created_at})", mti,
                        item.message, HI, masker, note)


def trail_views(trail: Trail) -> list[MessageView]:
    """The messages in the order they happened: the transaction, its bank's reversals/advices, then
    the related terminal transactions (a reversal of it, or the payment it reverses)."""
    masker = Masker(trail.txn.customer, *(t.customer for t in trail.related))
    views = _txn_views(trail.txn, masker)
    for item in trail.queued:
        views.append(_saf_view(item, trail.queue_results.get(item.saf_id), masker))
        answer = trail.queue_answers.get(item.saf_id)
        if answer is not None:
            views.append(message_view(f"bank {item.bank_id} → switch (answer to the {item.kind})",
                                      SAF_ANSWER_MTI.get(item.kind, ""), answer, HI, masker))
    for other in trail.related:
        views.extend(_txn_views(other, masker))
    return views


def receipt_lines(txn: Txn) -> list[str] | None:
    """The struk the terminal printed for an approved payment; None for anything else."""
    response = txn.response or {}
    if txn.kind != "payment" or response.get(39) != "00" or not response.get(48):
        return None
    try:
        info = field48.parse_response(response[48])
    except (CodecError, ValueError):
        return None
    request = txn.request or {}
    when = datetime.fromisoformat(txn.created_at.replace("Z", "+00:00"))
    text = tuple(response[62].split("|")) if response.get(62) else ()
    meta = ReceiptMeta(request.get(41, txn.terminal_id).strip(), request.get(42, txn.agent_id or "").strip(),
                       (response.get(37) or txn.rrn or "").strip(), txn.stan, when,
                       int(response.get(4) or request.get(4) or txn.amount or 0), "00", text)
    return render_receipt(info, meta)
