"""Reconciliation of a bank's settlement file against the switch's records: each kind of difference."""
from __future__ import annotations

import csv
from argparse import Namespace
from pathlib import Path

import pytest

from switch.settlement.files import RCN_HEADER, RcnLine, format_line, read_rcn, write_rcn
from switch.settlement.recon import (DIFFERS, MATCHED, ONLY_BANK, ONLY_SWITCH, NotSorted, compare,
                                     recon_command)
from switch.settlement.day import build_day

from settlement_bed import DAY, Ledger, config_for


def line(rrn: str, amount: int = 100, status: str = "PAID") -> RcnLine:
    return RcnLine(rrn, "000001", "T0000001", "AGT1", "PLNPST", "532110000123", "202610", amount, 300, "REF",
                   status, "2026-11-24T01:00:00Z", "2026-11-24T01:00:00Z")


def test_identical_sides_match_line_for_line():
    side = [line("000000000001"), line("000000000002", 250)]
    result = compare(side, list(side))
    assert result.clean and result.counts[MATCHED] == 2 and result.amounts[MATCHED] == 350


def test_each_kind_of_difference_is_found():
    switch = [line("000000000001"), line("000000000002"), line("000000000003", 500), line("000000000005"),
              line("000000000006", status="REVERSED")]
    bank = [line("000000000001"), line("000000000003", 400), line("000000000004"), line("000000000005"),
            line("000000000006", status="PAID")]
    result = compare(switch, bank)
    assert result.counts == {MATCHED: 2, ONLY_SWITCH: 1, ONLY_BANK: 1, DIFFERS: 2}
    kinds = {(d.kind, d.rrn) for d in result.differences}
    assert kinds == {(ONLY_SWITCH, "000000000002"), (ONLY_BANK, "000000000004"), (DIFFERS, "000000000003"),
                     (DIFFERS, "000000000006")}
    by_rrn = {d.rrn: d.detail for d in result.differences}
    assert by_rrn["000000000003"] == "amount 500 at switch, 400 at bank"
    assert by_rrn["000000000006"] == "REVERSED at switch, PAID at bank"


def test_a_side_running_out_first_leaves_the_rest_of_the_other_side_unmatched():
    result = compare([line("000000000001")], [line("000000000001"), line("000000000002"), line("000000000003")])
    assert result.counts[ONLY_BANK] == 2
    result = compare([line("000000000001"), line("000000000009")], [])
    assert result.counts[ONLY_SWITCH] == 2 and result.amounts[ONLY_SWITCH] == 200


def test_an_rrn_twice_in_the_banks_file_is_the_second_one_only_at_the_bank():
    result = compare([line("000000000001")], [line("000000000001"), line("000000000001")])
    assert result.counts[MATCHED] == 1 and result.counts[ONLY_BANK] == 1


def test_unsorted_input_is_refused_rather_than_misreported():
    with pytest.raises(NotSorted):
        compare([line("000000000001")], [line("000000000002"), line("000000000001")])


# ---- the command over files and the database -------------------------------------------------------

@pytest.fixture
async def day(db, tmp_path):
    """Three approved payments and a reversed one at the switch; the switch's own lines."""
    ledger = Ledger(db)
    for amount in (100_00, 200_00, 300_00):
        await ledger.payment(amount=amount)
    await ledger.payment(amount=400_00, state="reversed")
    built = await build_day(db, "BANKA", DAY, tmp_path / "switch-side", {})
    return list(read_rcn(built.files[0]))


def bank_file(tmp_path: Path, lines: list[RcnLine], *, ctl: bool = True) -> Path:
    folder = tmp_path / "bank"
    control = write_rcn(folder, "BANKA", DAY, lines)
    path = folder / "BANKA_20261124.RCN"
    if not ctl:
        (folder / "BANKA_20261124.CTL").unlink()
    assert control.paid_count == len(lines)
    return path


def args_for(path: Path, csv_out: Path | None = None, bank: str = "BANKA") -> Namespace:
    return Namespace(bank=bank, date=DAY, file=str(path), csv=str(csv_out) if csv_out else None)


async def test_a_bank_file_that_agrees_with_the_switch_exits_0(db, day, tmp_path, capsys):
    code = await recon_command(db, config_for(tmp_path, {"BANKA": 1}), args_for(bank_file(tmp_path, day)))
    out = capsys.readouterr().out
    assert code == 0 and "everything matches" in out and "(4 payments)" in out
    assert f"business date {DAY} is not closed" in out  # nobody closed it in this test


async def test_every_difference_is_shown_and_written_as_csv_and_exits_1(db, day, tmp_path, capsys):
    changed = day[1]._replace(amount=day[1].amount + 1)
    extra = day[0]._replace(rrn="999999999999")
    lines = [day[0], changed, day[3]._replace(status="PAID"), extra]  # day[2] missing at the bank
    out_csv = tmp_path / "diff.csv"
    code = await recon_command(db, config_for(tmp_path, {"BANKA": 1}),
                               args_for(bank_file(tmp_path, lines), out_csv))
    assert code == 1
    rows = list(csv.DictReader(open(out_csv)))
    assert sorted((r["kind"], r["rrn"]) for r in rows) == sorted([
        (DIFFERS, day[1].rrn), (DIFFERS, day[3].rrn), (ONLY_SWITCH, day[2].rrn), (ONLY_BANK, "999999999999")])
    differs = next(r for r in rows if r["rrn"] == day[1].rrn)
    assert (int(differs["switch_amount"]), int(differs["bank_amount"])) == (day[1].amount, day[1].amount + 1)
    printed = capsys.readouterr().out
    assert "only-at-bank" in printed and "999999999999" in printed


async def test_a_control_file_that_disagrees_with_its_settlement_file_fails_the_recon(db, day, tmp_path, capsys):
    path = bank_file(tmp_path, day)
    ctl = path.with_suffix(".CTL")
    header, values = ctl.read_text().splitlines()
    parts = values.split("|")
    parts[2] = str(int(parts[2]) + 1)
    ctl.write_text(f"{header}\n{'|'.join(parts)}\n")
    code = await recon_command(db, config_for(tmp_path, {"BANKA": 1}), args_for(path))
    assert code == 1 and "PAID_COUNT" in capsys.readouterr().out


async def test_a_missing_or_unreadable_file_is_one_line_and_exit_1(db, day, tmp_path, capsys):
    config = config_for(tmp_path, {"BANKA": 1})
    assert await recon_command(db, config, args_for(tmp_path / "nope.RCN")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0]
    garbage = tmp_path / "BANKA_20261124.RCN"
    garbage.write_text("hello\nworld\n")
    assert await recon_command(db, config, args_for(garbage)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a settlement file" in err[0]
    broken = tmp_path / "broken" / "BANKA_20261124.RCN"
    broken.parent.mkdir()
    broken.write_text(RCN_HEADER + "\n" + format_line(day[0]).replace("|PAID|", "|LOST|") + "\n")
    assert await recon_command(db, config, args_for(broken)) == 1
    assert ":2: STATUS 'LOST'" in capsys.readouterr().err


async def test_an_unknown_bank_is_a_usage_error(db, day, tmp_path, capsys):
    code = await recon_command(db, config_for(tmp_path, {"BANKA": 1}), args_for(tmp_path, bank="BANKQ"))
    assert code == 2 and "unknown bank BANKQ" in capsys.readouterr().err


async def test_a_bank_file_out_of_rrn_order_is_still_reconciled(db, day, tmp_path, capsys):
    folder = tmp_path / "unsorted"
    folder.mkdir()
    path = folder / "BANKA_20261124.RCN"
    path.write_text("\n".join([RCN_HEADER] + [format_line(x) for x in reversed(day)]) + "\n")
    code = await recon_command(db, config_for(tmp_path, {"BANKA": 1}), args_for(path))
    assert code == 0 and "no control file" in capsys.readouterr().out


@pytest.mark.parametrize("ctl", [True, False])
async def test_a_file_of_another_date_is_refused_and_its_first_line_says_so(db, day, tmp_path, capsys, ctl):
    path = bank_file(tmp_path, day, ctl=ctl)
    args = Namespace(bank="BANKA", date="2026-11-25", file=str(path), csv=None)
    code = await recon_command(db, config_for(tmp_path, {"BANKA": 1}), args)
    captured = capsys.readouterr()
    first = captured.err.splitlines()[0]
    assert code == 2 and captured.out == "" and len(captured.err.splitlines()) == 1
    assert "business date 2026-11-24" in first and "not --date 2026-11-25" in first
    assert ("control file" in first) == ctl


async def test_a_file_of_another_bank_is_refused_naming_both(db, day, tmp_path, capsys):
    path = bank_file(tmp_path, day)
    code = await recon_command(db, config_for(tmp_path, {"BANKA": 1, "BANKB": 2}), args_for(path, bank="BANKB"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "bank BANKA" in err[0] and "not --bank BANKB" in err[0]
