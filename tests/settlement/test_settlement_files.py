"""The RCN/CTL format: written atomically, read back as written, bad files named to the line."""
from __future__ import annotations

import pytest

from switch.settlement.files import (CTL_HEADER, RCN_HEADER, RcnLine, RcnWriter, SettlementFileError, read_ctl,
                                     read_rcn, write_rcn)


def line(rrn: str, amount: int = 100, status: str = "PAID", ref: str = "REF") -> RcnLine:
    return RcnLine(rrn, "000001", "T0000001", "AGT1", "PLNPST", "532110000123", "202609,202610", amount, 600_000,
                   ref, status, "2026-11-24T01:00:00Z", "2026-11-24T02:00:00Z")


def test_lines_written_are_the_lines_read(tmp_path):
    lines = [line("000000000001"), line("000000000002", 5, "REVERSED")]
    control = write_rcn(tmp_path, "BANKA", "2026-11-24", lines)
    assert list(read_rcn(tmp_path / "BANKA_20261124.RCN")) == lines
    assert read_ctl(tmp_path / "BANKA_20261124.CTL") == control
    assert (tmp_path / "BANKA_20261124.CTL").read_text() == (
        f"{CTL_HEADER}\nBANKA|2026-11-24|2|105|1|5|C0000000000000100\n")


def test_a_separator_inside_a_value_cannot_break_a_line(tmp_path):
    write_rcn(tmp_path, "BANKA", "2026-11-24", [line("000000000001", ref="A|B\nC")])
    (read,) = list(read_rcn(tmp_path / "BANKA_20261124.RCN"))
    assert read.bank_ref == "A B C"


def test_a_failed_write_leaves_the_previous_files_and_no_debris(tmp_path):
    write_rcn(tmp_path, "BANKA", "2026-11-24", [line("000000000001")])
    before = (tmp_path / "BANKA_20261124.RCN").read_bytes()
    with pytest.raises(ValueError, match="sorted"):
        write_rcn(tmp_path, "BANKA", "2026-11-24", [line("000000000002"), line("000000000001")])
    assert (tmp_path / "BANKA_20261124.RCN").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BANKA_20261124.CTL", "BANKA_20261124.RCN"]


def test_an_unfinished_writer_is_invisible(tmp_path):
    writer = RcnWriter(tmp_path, "BANKA", "2026-11-24").open()
    writer.write([line("000000000001")])
    assert not (tmp_path / "BANKA_20261124.RCN").exists()
    writer.finish()
    assert len(list(read_rcn(tmp_path / "BANKA_20261124.RCN"))) == 1


@pytest.mark.parametrize("bad, complaint", [
    ("000000000001|x", ":2: 2 fields, expected 13"),
    ("000000000001|1|T|A|PLNPST|C||12a|0|R|PAID|t|u", ":2: AMOUNT/ADMIN_FEE"),
    ("000000000001|1|T|A|PLNPST|C||12|0|R|OPEN|t|u", ":2: STATUS 'OPEN'"),
])
def test_a_bad_line_is_named_by_file_and_line_number(tmp_path, bad, complaint):
    path = tmp_path / "BANKA_20261124.RCN"
    path.write_text(f"{RCN_HEADER}\n{bad}\n")
    with pytest.raises(SettlementFileError) as error:
        list(read_rcn(path))
    assert complaint in str(error.value) and str(path) in str(error.value)


def test_a_control_file_is_checked_for_its_net_and_accepts_either_date_form(tmp_path):
    path = tmp_path / "BANKA_20261124.CTL"
    path.write_text(f"{CTL_HEADER}\nBANKA|20261124|2|300|1|100|C0000000000000200\n")
    assert read_ctl(path).business_date == "2026-11-24"
    path.write_text(f"{CTL_HEADER}\nBANKA|2026-11-24|2|300|1|100|D0000000000000200\n")
    with pytest.raises(SettlementFileError, match="NET"):
        read_ctl(path)
