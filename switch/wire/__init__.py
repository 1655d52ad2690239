"""Wire layer: framing, ISO 8583 codec (on pyiso8583), MAC and field-48 layouts.

Public API (import from here):
    Message                      decoded message: mti + {field number: str value}
    WireError                    base of every wire error
    CodecError(field, reason)    any bad byte string / bad field; str() is "field 4: expected 12 digits, got 'ABC'"
    FramingError, FrameTooLarge, BadHeader, IdleTimeout, StallTimeout, ConnectionClosed
    decode(raw, spec=TI) -> Message;  encode(msg, spec=TI) -> bytes
    TI, HI                       field specs (loaded from specs/*.json)
    compute_mac(key, data) -> str;  sign(msg, key, spec=TI) -> bytes;  verify(raw, key) -> bool
    FrameReader, frame(data, header) -> bytes
"""
