"""The laptop's record export holds no formula: names, places, notes and reasons that start one
are written as text in the zipped CSV files and in the workbook, amounts stay numbers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fieldapp.workspace import Workspace
from sync.protocol.sheets import TEXT_MARK
from tests.fieldapp.conftest import run_fieldapp
from tests.fieldapp.samples import new_household
from tests.sync.sheetcheck import live_csv_fields, live_xlsx_cells, texts, xlsx_book, zip_of_csv

HEAD = '=HYPERLINK("http://x.invalid/","Bấm vào đây")'
VILLAGE = "@Bản Phố"
ADDRESS = "+84 Nậm Mòn"
NOTES = "-1+1"
MEMBER = "+Giàng Seo Sử"
VISIT_NOTES = "@SUM(A1:A9)"
VOID_REASON = "=cmd|' /C calc'!A0"
HOSTILE = (HEAD, VILLAGE, ADDRESS, NOTES, MEMBER, VISIT_NOTES, VOID_REASON)


@pytest.fixture
def hostile(workspace: Workspace) -> Workspace:
    """A household, member, visit, pledge and voided receipt whose texts each start a formula."""
    ws = workspace
    home = new_household(ws, head_name=HEAD, village=VILLAGE, address=ADDRESS, notes=NOTES)
    person = ws.members.add(home.id, full_name=MEMBER, relation="con", sex="male")
    ws.visits.record(home.id, outcome="consulted", notes=VISIT_NOTES)
    ws.receipts.add_book(series="LC-NTA-26", first=1, last=10)
    [promise] = ws.pledges.pledge_bhyt_household(
        home.id, member_ids=[person.id], months=12, start=dt.date(2026, 12, 1)
    )
    issued = ws.receipts.issue(pledge_ids=[promise.id])
    ws.receipts.void(issued.id, reason=VOID_REASON)
    return ws


def test_csv_export_holds_no_formula(hostile: Workspace, tmp_path: Path) -> None:
    """`fieldapp export` to a zip: every CSV read back has no field that starts a formula, and
    each hostile text is there whole behind an apostrophe."""
    path = tmp_path / "ban-ghi.zip"
    assert run_fieldapp(hostile, "export", "--out", str(path)) == 0
    files = zip_of_csv(path)
    for name, rows in files.items():
        assert live_csv_fields(rows) == [], name
    fields = {f for rows in files.values() for row in rows for f in row}
    assert {TEXT_MARK + text for text in HOSTILE} <= fields
    # The receipt's amount is still a bare number.
    receipts = files["receipts.csv"]
    amount = receipts[0].index("Số tiền (đ)")
    assert receipts[1][amount].isdigit()


def test_xlsx_export_holds_no_formula(hostile: Workspace, tmp_path: Path) -> None:
    """`fieldapp export` to a workbook: no formula and no text that starts one, each hostile
    text whole behind an apostrophe, amounts as integers."""
    path = tmp_path / "ban-ghi.xlsx"
    assert run_fieldapp(hostile, "export", "--out", str(path)) == 0
    book = xlsx_book(path)
    assert live_xlsx_cells(book) == []
    assert {TEXT_MARK + text for text in HOSTILE} <= texts(book)
    receipts = list(book["Biên lai"].iter_rows(values_only=True))
    amount = receipts[0].index("Số tiền (đ)")
    assert isinstance(receipts[1][amount], int) and receipts[1][amount] > 0


def test_a_control_character_in_a_note_does_not_stop_the_workbook(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A control character pasted into a note, which XLSX cannot hold, is shown as U+FFFD
    rather than failing the export."""
    new_household(workspace, notes="Hẹn\x07 thứ Bảy")
    path = tmp_path / "ban-ghi.xlsx"
    assert run_fieldapp(workspace, "export", "--out", str(path)) == 0
    assert "Hẹn\ufffd thứ Bảy" in texts(xlsx_book(path))
