"""ESC/POS output: what a real thermal printer needs around the receipt lines."""
from __future__ import annotations

from test_terminal_receipt import CASES

from terminal_sim.escpos import BOLD_ON, CUT, INIT, to_escpos


def test_escpos_starts_with_printer_init_and_ends_with_a_cut():
    data = to_escpos(CASES["prepaid_token"]())
    assert data.startswith(INIT) and data.endswith(CUT)


def test_escpos_prints_the_title_and_token_centered_and_bold():
    data = to_escpos(CASES["prepaid_token"]())
    assert b"\x1ba\x01" + BOLD_ON + b"STRUK PEMBELIAN LISTRIK PRABAYAR\n" in data
    assert b"\x1ba\x01" + BOLD_ON + b"1234 5678 9012 3456 7890\n" in data


def test_escpos_carries_every_receipt_line_in_order():
    lines = CASES["postpaid_reprint"]()
    data = to_escpos(lines)
    position = 0
    for line in lines:
        position = data.index(line.strip().encode("cp437"), position)
    assert data.count(b"\n") == len(lines)


def test_escpos_never_fails_on_text_the_printer_code_page_lacks():
    data = to_escpos(["NAMA : Zoë 李"])
    assert b"Zo\x89 ?" in data   # cp437 has e-diaeresis; the rest prints as '?'
