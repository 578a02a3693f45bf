"""Import of resident lists into the store: idempotent, one transaction, refusals with reasons."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from fieldapp.importer import import_residents
from fieldapp.members import Members
from fieldapp.store import Store
from fieldapp.workspace import Workspace
from sync.protocol.errors import FieldappError

CODES = {"province_code": "15", "commune_code": "99001"}

MESSY_ROWS = [
    "DANH SÁCH HỘ GIA ĐÌNH THAM GIA BHYT",
    "Xã Bản Mẫu - ngày 01/11/2026",
    "",
    "STT;Họ và tên;Ngày sinh;Giới tính;Số CCCD;Thôn/Bản;Quan hệ với chủ hộ;Số điện thoại;Nghề",
    "(1);(2);(3);(4);(5);(6);(7);(8);(9)",
    "1;Nguyễn Văn Đức;12/03/1980;Nam;001080012345;Bản Phố;Chủ hộ;0912 345 678;Làm ruộng",
    "2;  Nguyễn Thị  Hương ;1985;Nữ;;Bản Phố;Vợ;;",
    "3;Nguyễn Văn An;05/06/2010;nam;;Bản Phố;Con;;",
    f"4;{unicodedata.normalize('NFD', 'Đặng Văn Tòn')};1970-01-02;M;015070123456;"
    "Thôn Đồi Chè;Chủ hộ;+84 987 111 222;",
    "5;Đặng Thị Dợ;02/02/1972;F;015172000001;Thôn Đồi Chè;Vợ;;",
    "6;Lò Văn 3;01/01/1990;Nam;;Thôn Đồi Chè;Con;;",
    "7;Lò Văn Pó;01/01/1990;Nam;01509012345;Thôn Đồi Chè;Con;;",
    "8;Nguyễn Văn Đức;12/03/1980;Nam;001080012345;Bản Phố;;;",
    ";;;;;;;;",
    "9;Vàng Thị Mỷ;03/04/1998;Nữ;001199000123;Bản Cốc Ly;Chủ hộ;0345678901;",
]


@pytest.fixture
def messy_csv(tmp_path: Path) -> Path:
    """A commune list as exported by a spreadsheet: BOM, title lines, numbered columns, CRLF."""
    path = tmp_path / "danh sach.csv"
    path.write_bytes(("\ufeff" + "\r\n".join(MESSY_ROWS) + "\r\n").encode("utf-8"))
    return path


def _snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: [tuple(r) for r in store.query(f"SELECT * FROM {table} ORDER BY rowid")]
        for table in ("household", "member", "outbox", "search_index")
    }


def test_messy_csv_is_imported(workspace: Workspace, messy_csv: Path) -> None:
    """Accepted rows become households and members; refused rows come back with reasons."""
    report = import_residents(workspace, messy_csv, **CODES)

    assert report.total_rows == 9
    assert (report.households_added, report.members_added, report.members_existing) == (3, 6, 0)
    assert report.unknown_columns == ["Nghề"]
    assert [r["row"] for r in report.refused] == [11, 12, 13]
    reasons = {r["row"]: r for r in report.refused}
    assert [p["code"] for p in reasons[11]["problems"]] == ["name_has_digit"]
    assert [p["code"] for p in reasons[12]["problems"]] == ["cccd_format"]
    assert [p["code"] for p in reasons[13]["problems"]] == ["duplicate"]
    assert all(r["reason"] for r in report.refused)
    assert all(p["vi"] and p["en"] for r in report.refused for p in r["problems"])

    villages = {
        h.village: h
        for v in workspace.households.villages()
        for h in workspace.households.in_village(v)
    }
    assert set(villages) == {"Bản Phố", "Thôn Đồi Chè", "Bản Cốc Ly"}
    ban_pho = villages["Bản Phố"]
    assert (ban_pho.head_name, ban_pho.phone) == ("Nguyễn Văn Đức", "0912345678")
    assert (ban_pho.province_code, ban_pho.commune_code) == ("15", "99001")
    names = [m.full_name for m in workspace.members.of_household(ban_pho.id)]
    assert sorted(names) == ["Nguyễn Thị Hương", "Nguyễn Văn An", "Nguyễn Văn Đức"]
    assert villages["Thôn Đồi Chè"].head_name == "Đặng Văn Tòn"  # stored NFC
    assert villages["Thôn Đồi Chè"].phone == "0987111222"
    (mismatch,) = workspace.members.of_household(villages["Bản Cốc Ly"].id)
    assert [w["code"] for w in mismatch.warnings] == ["cccd_year_mismatch"]
    assert report.warnings == 1
    assert [h.full_name for h in workspace.search.find("dang van ton")] == ["Đặng Văn Tòn"]
    # Every household and member went to the outbox.
    assert workspace.pending_sync() == 3 + 6
    assert "3" in report.summary("en") and "6" in report.summary("vi")


def test_importing_the_same_file_twice_adds_nothing(workspace: Workspace, messy_csv: Path) -> None:
    """The second import finds everyone already there and writes no row at all."""
    import_residents(workspace, messy_csv, **CODES)
    before = _snapshot(workspace.store)

    again = import_residents(workspace, messy_csv, **CODES)

    assert (again.households_added, again.members_added, again.members_existing) == (0, 0, 6)
    assert [r["row"] for r in again.refused] == [11, 12, 13]
    assert _snapshot(workspace.store) == before


def test_reading_warnings_are_counted(workspace: Workspace, tmp_path: Path) -> None:
    """A value left out while reading (a bad BHXH code) is counted in the report's warnings."""
    path = tmp_path / "codes.csv"
    path.write_text(
        "Họ và tên,Ngày sinh,Thôn,Mã số BHXH,Quan hệ\nHà Văn Dũng,1980,Bản Phố,12345,Chủ hộ\n",
        encoding="utf-8",
    )
    report = import_residents(workspace, path, **CODES)
    assert report.members_added == 1
    assert report.warnings == 1
    (household,) = workspace.households.in_village("Bản Phố")
    (member,) = workspace.members.of_household(household.id)
    assert member.bhxh_code is None


def test_a_bad_phone_is_left_out_and_the_person_kept(workspace: Workspace, tmp_path: Path) -> None:
    """A phone that cannot be a phone does not cost the resident their row (they would be
    missing from the village's coverage): the person is imported, the phone left out with a
    warning that quotes it."""
    path = tmp_path / "phones.csv"
    path.write_text(
        "Họ và tên,Ngày sinh,Thôn,Số điện thoại,Quan hệ\nHà Văn Dũng,1980,Bản Phố,12345,Chủ hộ\n",
        encoding="utf-8",
    )
    report = import_residents(workspace, path, **CODES)
    assert (report.members_added, report.refused_count, report.warnings) == (1, 0, 1)
    (household,) = workspace.households.in_village("Bản Phố")
    (member,) = workspace.members.of_household(household.id)
    assert (household.phone, member.phone) == (None, None)


def test_xlsx_with_typed_cells_is_imported(workspace: Workspace, tmp_path: Path) -> None:
    """A workbook with a title row, real date cells and a CCCD that lost its leading zero."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Danh sách"
    sheet.append(["DANH SÁCH NHÂN KHẨU THÔN NẬM MÒN"])
    sheet.append([])
    sheet.append(["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Số CCCD", "Thôn", "Chủ hộ"])
    sheet.append(
        [
            1,
            "Hoàng Văn Thắng",
            dt.datetime(1975, 5, 1),
            "Nam",
            19075000111,
            "Thôn Nậm Mòn",
            "Hoàng Văn Thắng",
        ]
    )
    sheet.append(
        [2, "Nông Thị Lan", dt.datetime(1978, 7, 9), "Nữ", None, "Thôn Nậm Mòn", "Hoàng Văn Thắng"]
    )
    sheet.append([3, "Hoàng Thị Hòa", 2005, "Nữ", None, "Thôn Nậm Mòn", "Hoàng Văn Thắng"])
    path = tmp_path / "nam mon.xlsx"
    book.save(path)

    report = import_residents(workspace, path, **CODES)

    assert (report.households_added, report.members_added, report.refused) == (1, 3, [])
    (household,) = workspace.households.in_village("Thôn Nậm Mòn")
    assert household.head_name == "Hoàng Văn Thắng"
    members = {m.full_name: m for m in workspace.members.of_household(household.id)}
    assert members["Hoàng Văn Thắng"].cccd == "019075000111"
    assert members["Hoàng Văn Thắng"].date_of_birth == "1975-05-01"
    assert members["Nông Thị Lan"].sex == "female"
    again = import_residents(workspace, path, **CODES)
    assert (again.households_added, again.members_added, again.members_existing) == (0, 0, 3)


def test_missing_commune_is_a_clear_error(
    workspace: Workspace, messy_csv: Path, counts: Callable[[Store], dict[str, int]]
) -> None:
    """Without province and commune codes (given or stored) the import stops before writing."""
    before = counts(workspace.store)
    with pytest.raises(FieldappError) as caught:
        import_residents(workspace, messy_csv)
    assert caught.value.code == "import_no_commune"
    assert "--commune" in caught.value.vi and "--commune" in caught.value.en
    assert counts(workspace.store) == before


def test_commune_stored_in_meta_is_used(workspace: Workspace, messy_csv: Path) -> None:
    """The device's assigned province and commune are used when none are given."""
    workspace.store.set_meta("province_code", "15")
    workspace.store.set_meta("commune_code", "99001")
    report = import_residents(workspace, messy_csv)
    assert report.households_added == 3
    assert {
        h.commune_code
        for v in workspace.households.villages()
        for h in workspace.households.in_village(v)
    } == {"99001"}


def test_import_is_one_transaction(
    workspace: Workspace,
    messy_csv: Path,
    monkeypatch: pytest.MonkeyPatch,
    counts: Callable[[Store], dict[str, int]],
) -> None:
    """If the process fails on the third person, nothing from the file is stored."""
    before = counts(workspace.store)
    real_add = Members.add
    calls = {"n": 0}

    def failing_add(self: Members, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("power cut")
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(Members, "add", failing_add)
    with pytest.raises(RuntimeError, match="power cut"):
        import_residents(workspace, messy_csv, **CODES)
    assert calls["n"] == 3
    assert counts(workspace.store) == before
    assert workspace.households.count() == 0
    monkeypatch.undo()
    report = import_residents(workspace, messy_csv, **CODES)
    assert report.members_added == 6


def test_unreadable_file_is_a_clear_error(workspace: Workspace, tmp_path: Path) -> None:
    """A file without a recognisable header row raises FieldappError and stores nothing."""
    path = tmp_path / "khac.csv"
    path.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(FieldappError) as caught:
        import_residents(workspace, path, **CODES)
    assert caught.value.vi and caught.value.en
    assert workspace.is_empty()


def test_a_list_of_junk_keeps_the_first_reasons_and_counts_every_row(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Every refused row is counted; reasons are kept for the first rows only (bounded memory)."""
    from fieldapp.importfile import REFUSED_DETAIL_LIMIT

    bad_rows = REFUSED_DETAIL_LIMIT + 37
    lines = ["Họ và tên;Ngày sinh;Số CCCD;Thôn/Bản"]
    lines += [f"Người {i};99/99/9999;12ab;Bản Phố" for i in range(bad_rows)]
    lines.append("Vàng Thị Mỷ;03/04/1998;001199000123;Bản Cốc Ly")
    path = tmp_path / "junk.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = import_residents(workspace, path, **CODES)

    assert (report.total_rows, report.refused_count) == (bad_rows + 1, bad_rows)
    assert len(report.refused) == REFUSED_DETAIL_LIMIT
    assert report.refused_not_listed == 37
    assert [r["row"] for r in report.refused] == list(range(2, REFUSED_DETAIL_LIMIT + 2))
    assert f"{bad_rows} dòng bị từ chối" in report.summary("vi")
    assert f"{bad_rows} rows refused" in report.summary("en")
    assert report.as_dict()["refused_count"] == bad_rows
    assert (report.households_added, report.members_added) == (1, 1)


def test_progress_goes_forward_to_the_end_and_a_cancel_stores_nothing(
    workspace: Workspace, messy_csv: Path
) -> None:
    """Progress runs 0 → done in order; an exception from progress rolls the whole import back."""
    seen: list[float] = []

    def record(done: int, total: int) -> None:
        seen.append(done / total)

    import_residents(workspace, messy_csv, **CODES, progress=record)
    assert seen[0] == 0 and seen[-1] == 1
    assert seen == sorted(seen)

    class Stop(Exception):
        pass

    other = messy_csv.with_name("other.csv")
    other.write_text(
        "Họ và tên;Ngày sinh;Số CCCD;Thôn/Bản\n"
        "Sùng A Páo;01/01/1990;015090000777;Bản Mới\n"
        "Sùng Thị Dua;02/02/1992;015192000778;Bản Khác\n",
        encoding="utf-8",
    )
    before = _snapshot(workspace.store)
    calls = 0

    def cancel_while_storing(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if done * 2 > total:  # past reading: households are being stored
            raise Stop

    with pytest.raises(Stop):
        import_residents(workspace, other, **CODES, progress=cancel_while_storing)
    assert calls > 1
    assert _snapshot(workspace.store) == before
