"""TI message authentication (§6): AES-128-CMAC over the encoded message, first 8 bytes in hex."""
from __future__ import annotations

import hmac

from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from .codec import decode, encode
from .message import Message
from .spec import TI, Spec

MAC_PLACEHOLDER = "0" * 16


class MacKey:
    """A terminal key made ready for CMAC once (its AES key schedule), for a connection that MACs
    every request and answer with it: copying the ready context costs about a third of setting it
    up from the key bytes each time. Holds the key: keep it where the key bytes would be kept."""

    __slots__ = ("key", "_ready")

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError(f"a terminal MAC key is 16 bytes, got {len(key)}")
        self.key = key
        self._ready = CMAC(algorithms.AES(key))

    def __repr__(self) -> str:
        return "MacKey([redacted])"

    def mac(self, data: bytes) -> str:
        cmac = self._ready.copy()
        cmac.update(data)
        return cmac.finalize()[:8].hex().upper()


def compute_mac(key: bytes | MacKey, data: bytes) -> str:
    """First 8 bytes of AES-128-CMAC(key, data) as 16 upper-case hex characters."""
    if isinstance(key, MacKey):
        return key.mac(data)
    if len(key) != 16:
        raise ValueError(f"a terminal MAC key is 16 bytes, got {len(key)}")
    cmac = CMAC(algorithms.AES(key))
    cmac.update(data)
    return cmac.finalize()[:8].hex().upper()


def mac_field(msg: Message) -> int:
    """The MAC goes last: 128 when a secondary bitmap is needed, else 64."""
    return 128 if max(msg.fields, default=0) > 64 else 64


def sign(msg: Message, key: bytes | MacKey, spec: Spec = TI) -> bytes:
    """Encode msg with its MAC field set; the caller's msg is left untouched."""
    signed = msg.copy()
    signed.fields.pop(64, None)  # a stale MAC must not stay in the middle of the message
    signed.fields.pop(128, None)
    # the placeholder makes the bitmap final before the MAC input is taken
    signed.fields[mac_field(signed)] = MAC_PLACEHOLDER
    raw = encode(signed, spec)
    body = raw[:-16]
    return body + compute_mac(key, body).encode("ascii")


def verify(raw: bytes, key: bytes | MacKey, spec: Spec = TI) -> bool:
    """True when raw carries a right MAC as its last field. CodecError only if raw does not decode."""
    return verify_decoded(decode(raw, spec), raw, key)


def verify_decoded(msg: Message, raw: bytes, key: bytes | MacKey) -> bool:
    """verify() for a message already decoded from raw (saves decoding it twice on the hot path)."""
    expected_field = 128 if max(msg.fields, default=0) > 64 else 64
    if expected_field not in msg.fields or (expected_field == 128 and 64 in msg.fields):
        return False
    raw = bytes(raw)
    body, given = raw[:-16], raw[-16:]
    return hmac.compare_digest(compute_mac(key, body).encode("ascii"), given)
