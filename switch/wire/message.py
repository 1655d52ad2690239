"""The decoded form of an ISO 8583 message: plain data, field values exactly as on the wire."""
from __future__ import annotations

from dataclasses import dataclass, field

from .vocabulary import RESPONSE_MTI  # request MTI -> response MTI


@dataclass
class Message:
    mti: str
    fields: dict[int, str] = field(default_factory=dict)

    def get(self, number: int, default: str | None = None) -> str | None:
        return self.fields.get(number, default)

    def __getitem__(self, number: int) -> str:
        return self.fields[number]

    def __setitem__(self, number: int, value: str) -> None:
        self.fields[number] = value

    def __contains__(self, number: object) -> bool:
        return number in self.fields

    @property
    def is_request(self) -> bool:
        return self.mti in RESPONSE_MTI

    @property
    def response_mti(self) -> str:
        """The answer's MTI. A request MTI outside the table (0100, 0600 ...) gets its class's answer
        by the ISO rule (third digit + 1), so it can be refused (12) instead of left unanswered;
        KeyError for what is no request at all."""
        known = RESPONSE_MTI.get(self.mti)
        if known is not None:
            return known
        mti = self.mti
        if len(mti) == 4 and mti.isdigit() and mti[2] in "02468":
            return mti[:2] + str(int(mti[2]) + 1) + mti[3]
        raise KeyError(mti)

    def copy(self) -> "Message":
        return Message(self.mti, dict(self.fields))
