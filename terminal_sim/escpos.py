"""The same receipt as ESC/POS bytes for a real 58 mm thermal printer (32 columns in font A)."""
from __future__ import annotations

from typing import Collection, Iterable

from switch.wire.receipt import emphasised

ESC, GS = b"\x1b", b"\x1d"
INIT = ESC + b"@"                  # reset the printer to its power-on state
CODEPAGE_437 = ESC + b"t\x00"      # character table 0: PC437 (USA, standard Europe)
ALIGN_LEFT, ALIGN_CENTER = ESC + b"a\x00", ESC + b"a\x01"
BOLD_ON, BOLD_OFF = ESC + b"E\x01", ESC + b"E\x00"
FEED_LINES = 4                     # lines fed past the tear bar before cutting
CUT = GS + b"V\x00"                # full cut


def to_escpos(lines: Iterable[str], titles: Collection[str] | None = None) -> bytes:
    """Receipt lines -> printer bytes. Lines whose stripped text is in titles (default: the receipt's
    titles, reprint mark and token) print centered and bold; the rest print as laid out."""
    lines = list(lines)
    bold = emphasised(lines) if titles is None else {t.strip() for t in titles}
    out = bytearray(INIT + CODEPAGE_437 + ALIGN_LEFT)
    for line in lines:
        text = line.strip()
        if text and text in bold:
            out += ALIGN_CENTER + BOLD_ON + _encode(text) + b"\n" + BOLD_OFF + ALIGN_LEFT
        else:
            out += _encode(line) + b"\n"
    out += ESC + b"d" + bytes([FEED_LINES]) + CUT
    return bytes(out)


def _encode(text: str) -> bytes:
    # cp437 covers ASCII and a few accented letters; anything else prints as '?', never raises
    return text.encode("cp437", errors="replace")
