"""Wire-layer errors. Everything the wire layer raises about bad bytes is a WireError."""
from __future__ import annotations


class WireError(Exception):
    """Base of every wire error."""


class CodecError(WireError):
    """A byte string or field value that does not follow the contract (the switch answers 30)."""

    def __init__(self, field: int | str | None, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"field {self.field}: {self.reason}" if self.field is not None else self.reason

    def __reduce__(self):  # keep pickling/copying working with the two-argument constructor
        return (self.__class__, (self.field, self.reason))


class UnknownProduct(CodecError):
    """Field 48 names a well-formed product code that the contract does not define (answer 12, not 30)."""

    def __init__(self, product: str) -> None:
        self.product = product
        super().__init__(48, f"unknown product {product!r}")

    def __reduce__(self):
        return (self.__class__, (self.product,))


class FramingError(WireError):
    """The length-header framing was broken; the connection cannot be trusted any more."""


class FrameTooLarge(FramingError):
    """A header announced (or a caller tried to send) more bytes than allowed."""


class BadHeader(FramingError):
    """A length header that is not a valid length (4A not digits, or zero)."""


class IdleTimeout(FramingError):
    """No frame started within the idle timeout."""


class StallTimeout(FramingError):
    """A frame started but did not complete within the stall timeout."""


class ConnectionClosed(FramingError):
    """The peer closed the connection cleanly between frames."""
