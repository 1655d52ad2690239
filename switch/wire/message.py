"""The decoded form of an ISO 8583 message: plain data, field values exactly as on the wire."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import overload

from .vocabulary import RESPONSE_MTI, response_mti  # request MTI -> response MTI


@dataclass
class Message:
    mti: str
    fields: dict[int, str] = field(default_factory=dict)

    @overload
    def get(self, number: int) -> str | None: ...
    @overload
    def get(self, number: int, default: str) -> str: ...

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
        (vocabulary.response_mti), so it can be refused (12) instead of left unanswered; KeyError for
        what is no request at all."""
        known = RESPONSE_MTI.get(self.mti) or response_mti(self.mti)
        if known is None:
            raise KeyError(self.mti)
        return known

    def copy(self) -> "Message":
        return Message(self.mti, dict(self.fields))
