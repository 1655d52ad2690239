"""Wire layer: framing, ISO 8583 codec (on pyiso8583), MAC and field-48 layouts.

Public API (import from here):
    Message                      decoded message: mti + {field number: str value}
    WireError                    base of every wire error
    CodecError(field, reason)    any bad byte string / bad field; str() is "field 4: expected 12 digits, got 'ABC'"
    FramingError, FrameTooLarge, BadHeader, IdleTimeout, StallTimeout, ConnectionClosed
    decode(raw, spec=TI) -> Message;  encode(msg, spec=TI) -> bytes
    TI, HI                       field specs (loaded from specs/*.json)
    compute_mac(key, data) -> str;  sign(msg, key, spec=TI) -> bytes;  verify(raw, key) -> bool
    MacKey(key)                  a key made ready once, for many MACs (key: bytes or MacKey above)
    FrameReader, frame(data, header) -> bytes
    field 48 (module switch.wire.field48): parse_request / build_request, parse_response / build_response
"""
from .codec import an, decode, encode, n
from .errors import (BadHeader, CodecError, ConnectionClosed, FrameTooLarge, FramingError, IdleTimeout,
                     StallTimeout, UnknownProduct, WireError)
from .field48 import (NONTAGLIS, POSTPAID, PREPAID, PRODUCTS, NontaglisInfo, PostpaidBill, PostpaidInfo,
                      PrepaidInfo, PrepaidSale, ProductRequest, build_request, build_response, parse_request,
                      parse_response)
from .framing import FrameReader, frame, write_frame
from .mac import MacKey, compute_mac, mac_field, sign, verify, verify_decoded
from .message import RESPONSE_MTI, Message
from .spec import HI, TI, Spec, load_spec

__all__ = [
    "Message", "RESPONSE_MTI", "WireError", "CodecError", "UnknownProduct", "FramingError", "FrameTooLarge",
    "BadHeader", "IdleTimeout", "StallTimeout", "ConnectionClosed", "decode", "encode", "n", "an",
    "TI", "HI", "Spec", "load_spec", "compute_mac", "MacKey", "mac_field", "sign", "verify", "verify_decoded", "FrameReader",
    "frame", "write_frame", "POSTPAID", "PREPAID", "NONTAGLIS", "PRODUCTS", "ProductRequest", "PostpaidBill",
    "PostpaidInfo", "PrepaidSale", "PrepaidInfo", "NontaglisInfo", "parse_request", "build_request",
    "parse_response", "build_response",
]
