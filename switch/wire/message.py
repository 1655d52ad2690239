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
        return RESPONSE_MTI[self.mti]

    def copy(self) -> "Message":
        return Message(self.mti, dict(self.fields))
