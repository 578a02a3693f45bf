"""Resident lists with participation columns and old 9-digit CMND numbers, read and imported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from fieldapp.importer import import_residents
from fieldapp.importfile import ParsedFile, ParsedPerson, parse_resident_file
from fieldapp.model import Member
from fieldapp.workspace import Workspace
from tests.fieldapp.test_importer import CODES, _snapshot
from tests.fieldapp.test_importfile import TODAY, parse_text, refused_codes, write_xlsx

D = dt.date


# --- every header variant ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "field", "cell", "expected"),
    [
        ("Đối tượng", "bhyt_group", "CN", "near_poor"),
        ("Mã đối tượng", "bhyt_group", "hn", "poor"),
        ("Nhóm đối tượng", "bhyt_group", "Hộ gia đình cận nghèo", "near_poor"),
        ("NHÓM THAM GIA", "bhyt_group", "Học sinh", "student"),
        ("Từ ngày", "bhyt_valid_from", "01/01/2026", D(2026, 1, 1)),
        ("Giá trị từ", "bhyt_valid_from", "1/1/26", D(2026, 1, 1)),
        ("Hạn thẻ từ", "bhyt_valid_from", "2026-01-01", D(2026, 1, 1)),
        ("Ngày hiệu lực", "bhyt_valid_from", "46023", D(2026, 1, 1)),  # an Excel serial
        ("Hạn thẻ", "bhyt_expiry", "31/12/2026", D(2026, 12, 31)),
        ("Hạn thẻ BHYT", "bhyt_expiry", "31.12.26", D(2026, 12, 31)),
        ("Giá trị đến", "bhyt_expiry", "2026-12-31", D(2026, 12, 31)),
        ("Đến ngày", "bhyt_expiry", "46387", D(2026, 12, 31)),
        ("Thu nhập đóng BHXH", "bhxh_income", "1.500.000", 1_500_000),
        ("Mức thu nhập (đồng)", "bhxh_income", "2,200,000 đ", 2_200_000),
        ("Đóng đến tháng", "bhxh_paid_through", "12/2026", D(2026, 12, 31)),
        ("Đã đóng đến", "bhxh_paid_through", "15/02/2027", D(2027, 2, 28)),
        ("Đã đóng đến", "bhxh_paid_through", "tháng 6/2027", D(2027, 6, 30)),
        ("Số tháng đã hỗ trợ", "bhxh_supported_months", "24", 24),
    ],
)
def test_participation_headers(
    tmp_path: Path, header: str, field: str, cell: str, expected: object
) -> None:
    """Each header an office writes is recognised, and its cell read into the person's field."""
    parsed = parse_text(tmp_path, f"Họ và tên;Thôn;{header}\nLò Văn Tờ;Bản Lả;{cell}\n")
    assert parsed.mapping[header] == field
    (person,) = parsed.people
    assert getattr(person, field) == expected
    assert person.warnings == []
    assert person.bhxh_participating == (field == "bhxh_income")


# --- a CSV list -------------------------------------------------------------------------------

HEADER = (
    "STT;Họ và tên;Ngày sinh;Giới tính;Số CCCD;Thôn/Bản;Quan hệ với chủ hộ;Số thẻ BHYT;"
    "Đối tượng;Từ ngày;Hạn thẻ;Thu nhập đóng BHXH;Đóng đến tháng;Số tháng đã hỗ trợ"
)
ROWS = [
    "1;Hà Văn Dũng;12/03/1980;Nam;001080012345;Bản Phố;Chủ hộ;GD4150112345678;Hộ gia đình;"
    "01/01/2026;31/12/2026;1.500.000;12/2026;24",
    # An old CMND; the card's dates written short.
    "2;Lò Thị Mai;1985;Nữ;012345678;Bản Phố;Vợ;CN3150112345679;CN;1/7/26;30/6/27;;;",
    # No group written: the card's prefix (TE) says it.
    "3;Hà Văn Tú;05/06/2022;Nam;;Bản Phố;Con;TE1150112345680;;2026-01-01;2026-12-31;;;",
    # The group column and the card disagree: the column is taken, with a warning.
    "4;Hà Thị Lan;2000;Nữ;;Bản Phố;Con;GD4150112345681;Hộ nghèo;;;;;",
    # A CMND written with spaces, dates as Excel serials saved to CSV.
    "5;Vàng A Sử;15/08/1985;Nam;123 456 789;Bản Pá Khoang;Chủ hộ;;Hộ cận nghèo;46023;46387;"
    "2200000 đ;T6/2027;0",
    "6;Giàng Thị Mỷ;01/01/1990;Nữ;;Bản Pá Khoang;Vợ;;xyz;;;;;",
    "7;Giàng A Chả;20/10/2010;Nam;;Bản Pá Khoang;Con;;;;31/02/2026;;;",
    "8;Lý Văn Pao;01/01/1970;Nam;;Bản Lả;Chủ hộ;;;31/12/2026;01/01/2026;;;",
    "9;Lý Thị Say;01/01/1972;Nữ;;Bản Lả;Vợ;;;;;abc;;",
    "10;Lò Văn Pó;01/01/1990;Nam;0150900123;Bản Lả;;;;;;;;",
    "11;Lò Văn Páo;01/01/1991;Nam;;Bản Lả;;;;;;;13/2026;abc",
    # Read fine, but more than the members service takes: refused when stored.
    "12;Thào A Lử;01/01/1992;Nam;;Bản Lả;;;;;;2.000.000.000;;",
]
# Rows 2-6 are taken, rows 7-12 refused while reading, row 13 refused when stored.
REASONS = {
    7: [
        (
            "bhyt_group",
            "bhyt_group_unknown",
            "Không hiểu đối tượng tham gia BHYT “xyz”: hãy ghi mã 2 chữ cái như GD, CN, HN, HS "
            "hoặc tên nhóm như “Hộ gia đình”, “Hộ cận nghèo”",
            "Cannot read the BHYT group “xyz”: write a 2-letter code such as GD, CN, HN, HS or "
            "a group's name such as “Hộ gia đình”, “Hộ cận nghèo”",
        )
    ],
    8: [
        (
            "bhyt_expiry",
            "date_invalid",
            "Hạn thẻ BHYT: Ngày “31/02/2026” không tồn tại",
            "BHYT card expiry: There is no such date as “31/02/2026”",
        )
    ],
    9: [
        (
            "bhyt_valid_from",
            "card_dates_reversed",
            "Thẻ BHYT có giá trị từ 31/12/2026 nhưng hết hạn 01/01/2026: ngày bắt đầu phải trước "
            "ngày hết hạn",
            "The BHYT card is valid from 31/12/2026 but expires on 01/01/2026: the start must "
            "come first",
        )
    ],
    10: [
        (
            "bhxh_income",
            "bhxh_income_invalid",
            "Không đọc được mức thu nhập đóng BHXH “abc”: cần số tiền đồng, ví dụ 1.500.000",
            "Cannot read the BHXH income “abc”: expected an amount in đồng, e.g. 1,500,000",
        )
    ],
    11: [
        (
            "cccd",
            "cccd_format",
            "Số CCCD phải gồm đúng 12 chữ số, hoặc 9 chữ số nếu là CMND cũ (đang là “0150900123”)",
            "The CCCD number must have exactly 12 digits, or 9 for an old CMND (got “0150900123”)",
        )
    ],
    12: [
        (
            "bhxh_paid_through",
            "date_invalid",
            "Tháng đóng BHXH đến: Tháng “13/2026” không tồn tại",
            "BHXH paid-through month: There is no such month as “13/2026”",
        ),
        (
            "bhxh_supported_months",
            "bhxh_supported_months_invalid",
            "Số tháng đã được hỗ trợ “abc” không hợp lệ: cần số nguyên từ 0 đến 1200",
            "The supported months used “abc” is not valid: expected a whole number from 0 to 1200",
        ),
    ],
}


def reasons(problems: list[Any]) -> list[tuple[str, str, str, str]]:
    return [(p["field"], p["code"], p["vi"], p["en"]) for p in problems]


@pytest.fixture
def participation_csv(tmp_path: Path) -> Path:
    path = tmp_path / "danh sach tham gia.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8-sig")
    return path


def by_row(parsed: ParsedFile) -> dict[int, ParsedPerson]:
    return {person.row: person for person in parsed.people}


def test_csv_participation_values(participation_csv: Path) -> None:
    """Group, card dates and BHXH state are read from every format the list uses."""
    parsed = parse_resident_file(participation_csv, today=TODAY)
    assert parsed.unknown_columns == []
    people = by_row(parsed)
    assert sorted(people) == [2, 3, 4, 5, 6, 13]

    dung = people[2]
    assert (dung.bhyt_group, dung.bhyt_valid_from, dung.bhyt_expiry) == (
        "household",
        D(2026, 1, 1),
        D(2026, 12, 31),
    )
    assert (dung.bhxh_income, dung.bhxh_participating) == (1_500_000, True)
    assert (dung.bhxh_paid_through, dung.bhxh_supported_months) == (D(2026, 12, 31), 24)
    assert dung.warnings == []

    mai = people[3]
    assert (mai.cccd, mai.old_id, mai.import_key) == (None, "012345678", "cmnd:012345678")
    assert [(p.code, p.severity) for p in mai.warnings] == [("old_id_number", "warning")]
    assert (mai.bhyt_group, mai.bhyt_valid_from, mai.bhyt_expiry) == (
        "near_poor",
        D(2026, 7, 1),
        D(2027, 6, 30),
    )
    assert (mai.bhxh_income, mai.bhxh_participating, mai.bhxh_paid_through) == (None, False, None)

    tu = people[4]
    assert (tu.bhyt_group, tu.bhyt_card) == (None, "TE1150112345680")
    assert (tu.bhyt_valid_from, tu.bhyt_expiry) == (D(2026, 1, 1), D(2026, 12, 31))

    lan = people[5]
    assert lan.bhyt_group == "poor"
    assert [(p.field, p.code, p.severity) for p in lan.warnings] == [
        ("bhyt_group", "bhyt_group_card_mismatch", "warning")
    ]

    su = people[6]
    assert (su.cccd, su.old_id, su.import_key) == (None, "123456789", "cmnd:123456789")
    assert (su.bhyt_group, su.bhyt_valid_from, su.bhyt_expiry) == (
        "near_poor",
        D(2026, 1, 1),
        D(2026, 12, 31),
    )
    assert (su.bhxh_income, su.bhxh_paid_through, su.bhxh_supported_months) == (
        2_200_000,
        D(2027, 6, 30),
        0,
    )

    assert people[13].bhxh_income == 2_000_000_000  # the members service refuses it


def test_csv_bad_cells_refuse_their_row_with_the_reason(participation_csv: Path) -> None:
    parsed = parse_resident_file(participation_csv, today=TODAY)
    refused = {row.row: [p.as_dict() for p in row.problems] for row in parsed.refused}
    assert {row: reasons(problems) for row, problems in refused.items()} == REASONS
    for row in parsed.refused:
        assert all(p.severity == "error" for p in row.problems)


def test_cmnd_numbers(tmp_path: Path) -> None:
    """A 9-digit CMND is kept as the old ID with a warning; two rows with one CMND are one
    person; other lengths are still refused."""
    parsed = parse_text(
        tmp_path,
        "Họ và tên;Số CMND/CCCD;Thôn\n"
        "Lò Văn Tờ;012.345.678;Bản Lả\n"
        "Lò Văn Tờ;012345678;Bản Lả\n"
        "Lò Thị Say;1234567;Bản Lả\n",
    )
    assert parsed.mapping["Số CMND/CCCD"] == "cccd"
    (to,) = parsed.people
    assert (to.cccd, to.old_id) == (None, "012345678")
    (warning,) = to.warnings
    assert warning.vi == (
        "Số 012345678 là CMND 9 số cũ: đã lưu làm giấy tờ cũ; hãy hỏi số CCCD 12 số"
    )
    assert refused_codes(parsed) == {3: ["duplicate"], 4: ["cccd_format"]}
    duplicate, short = parsed.refused
    assert duplicate.problems[0].vi == "Trùng với người ở dòng 2 (cùng số CMND)"
    assert short.problems[0].en == (
        "The CCCD number must have exactly 12 digits, or 9 for an old CMND (got “1234567”)"
    )


# --- an XLSX list -----------------------------------------------------------------------------

XLSX_HEADER = [
    "STT",
    "Họ và tên",
    "Ngày sinh",
    "Số CMND/CCCD",
    "Thôn",
    "Chủ hộ",
    "Mã thẻ BHYT",
    "Nhóm đối tượng",
    "Hạn thẻ từ",
    "Giá trị đến",
    "Mức thu nhập",
    "Đã đóng đến",
    "Số tháng đã hỗ trợ",
]


@pytest.fixture
def participation_xlsx(tmp_path: Path) -> Path:
    head = "Hoàng Văn Thắng"
    village = "Thôn Nậm Mòn"
    return write_xlsx(
        tmp_path / "nam mon.xlsx",
        [
            ["DANH SÁCH THAM GIA BHYT, BHXH TỰ NGUYỆN"],
            XLSX_HEADER,
            # Real date cells; the month paid as a date cell; the income as a number.
            [
                1,
                head,
                dt.datetime(1975, 5, 1),
                19075000111,
                village,
                head,
                "GD4150112345678",
                "GD",
                dt.datetime(2026, 1, 1),
                dt.datetime(2026, 12, 31),
                2_200_000,
                dt.datetime(2026, 12, 1),
                12,
            ],
            # A CMND typed as a number lost its leading 0; dates as serials in number cells.
            [
                *(2, "Nông Thị Lan", dt.datetime(1978, 7, 9), 12345678, village, head, None),
                *("Hộ gia đình cận nghèo", 46023, 46387.0),
            ],
            [
                *(3, "Hoàng Thị Hòa", 2005, 123456789, village, head, None),
                *("Học sinh", "1/9/26", "31/8/27"),
            ],
            [4, "Hoàng Văn Nam", 2003, None, village, head, None, "xyz"],
            [5, "Hoàng Văn Bảo", 2004, None, village, head, None, None, None, "31/02/2026"],
            [
                *(6, "Hoàng Văn Cường", 2006, None, village, head, None, None),
                *(dt.datetime(2027, 1, 1), dt.datetime(2026, 12, 31)),
            ],
            [7, "Hoàng Thị Mai", 2007, None, village, head, None, None, None, None, "abc"],
            [8, "Hoàng Thị Ngọc", 2008, None, village, head, None, None, None, 123],
        ],
    )


def test_xlsx_participation_values(participation_xlsx: Path) -> None:
    parsed = parse_resident_file(participation_xlsx, today=TODAY)
    assert {name: parsed.mapping[name] for name in XLSX_HEADER[6:]} == {
        "Mã thẻ BHYT": "bhyt_card",
        "Nhóm đối tượng": "bhyt_group",
        "Hạn thẻ từ": "bhyt_valid_from",
        "Giá trị đến": "bhyt_expiry",
        "Mức thu nhập": "bhxh_income",
        "Đã đóng đến": "bhxh_paid_through",
        "Số tháng đã hỗ trợ": "bhxh_supported_months",
    }
    people = by_row(parsed)
    assert sorted(people) == [3, 4, 5]
    thang, lan, hoa = people[3], people[4], people[5]
    assert (thang.cccd, thang.old_id, thang.bhyt_group) == ("019075000111", None, "household")
    assert (thang.bhyt_valid_from, thang.bhyt_expiry) == (D(2026, 1, 1), D(2026, 12, 31))
    assert (thang.bhxh_income, thang.bhxh_participating) == (2_200_000, True)
    assert (thang.bhxh_paid_through, thang.bhxh_supported_months) == (D(2026, 12, 31), 12)
    assert (lan.cccd, lan.old_id, lan.bhyt_group) == (None, "012345678", "near_poor")
    assert (lan.bhyt_valid_from, lan.bhyt_expiry) == (D(2026, 1, 1), D(2026, 12, 31))
    assert (hoa.old_id, hoa.bhyt_group) == ("123456789", "student")
    assert (hoa.bhyt_valid_from, hoa.bhyt_expiry) == (D(2026, 9, 1), D(2027, 8, 31))
    assert [p.code for p in lan.warnings] == [p.code for p in hoa.warnings] == ["old_id_number"]


def test_xlsx_bad_cells_refuse_their_row_with_the_reason(participation_xlsx: Path) -> None:
    parsed = parse_resident_file(participation_xlsx, today=TODAY)
    assert refused_codes(parsed) == {
        6: ["bhyt_group_unknown"],
        7: ["date_invalid"],
        8: ["card_dates_reversed"],
        9: ["bhxh_income_invalid"],
        10: ["date_invalid"],
    }
    rows = {row.row: row.problems for row in parsed.refused}
    assert rows[7][0].vi == "Hạn thẻ BHYT: Ngày “31/02/2026” không tồn tại"
    assert rows[8][0].vi == (
        "Thẻ BHYT có giá trị từ 01/01/2027 nhưng hết hạn 31/12/2026: ngày bắt đầu phải trước "
        "ngày hết hạn"
    )
    assert rows[9][0].en == (
        "Cannot read the BHXH income “abc”: expected an amount in đồng, e.g. 1,500,000"
    )
    assert rows[10][0].en == (
        "BHYT card expiry: Cannot read the date “123”: write it as day/month/year, e.g. 31/12/2026"
    )


# --- importing --------------------------------------------------------------------------------


def members_by_name(ws: Workspace) -> dict[str, Member]:
    return {
        m.full_name: m
        for v in ws.households.villages()
        for h in ws.households.in_village(v)
        for m in ws.members.of_household(h.id)
    }


def test_csv_import_stores_participation(workspace: Workspace, participation_csv: Path) -> None:
    """The members get their group, card dates and BHXH state; a CMND is the old ID, warned."""
    report = import_residents(workspace, participation_csv, **CODES)

    assert (report.households_added, report.members_added) == (2, 5)
    assert report.warnings == 3  # two CMNDs, one group that disagrees with the card
    members = members_by_name(workspace)
    dung = members["Hà Văn Dũng"]
    assert (dung.bhyt_group, dung.bhyt_valid_from, dung.bhyt_expiry) == (
        "household",
        "2026-01-01",
        "2026-12-31",
    )
    assert (dung.bhxh_participating, dung.bhxh_income) == (True, 1_500_000)
    assert (dung.bhxh_paid_through, dung.bhxh_supported_months) == ("2026-12-31", 24)

    mai = members["Lò Thị Mai"]
    assert (mai.cccd, mai.old_id) == (None, "012345678")
    assert [w["code"] for w in mai.warnings] == ["old_id_number"]
    assert (mai.bhyt_group, mai.bhxh_participating, mai.bhxh_income) == ("near_poor", False, None)

    # No group written: none recorded; the card's prefix gives the group the member counts in.
    tu = members["Hà Văn Tú"]
    assert (tu.bhyt_group, tu.bhyt_group_effective) == (None, "child_under_6")
    assert members["Hà Thị Lan"].bhyt_group_effective == "poor"

    su = members["Vàng A Sử"]
    assert (su.old_id, su.bhyt_group, su.bhxh_income) == ("123456789", "near_poor", 2_200_000)
    assert (su.bhxh_paid_through, su.bhxh_supported_months) == ("2027-06-30", 0)


def test_csv_import_refuses_bad_rows_and_stores_nothing_of_them(
    workspace: Workspace, participation_csv: Path
) -> None:
    """Refused rows come back with their reasons; no member, household or outbox row of theirs
    is stored (Bản Lả, whose every row is refused, gets no household)."""
    report = import_residents(workspace, participation_csv, **CODES)

    refused = {r["row"]: r for r in report.refused}
    assert sorted(refused) == [7, 8, 9, 10, 11, 12, 13]
    assert {row: reasons(refused[row]["problems"]) for row in REASONS} == REASONS
    assert [p["code"] for p in refused[13]["problems"]] == ["out_of_range"]
    assert refused[13]["problems"][0]["field"] == "bhxh_income"
    assert all(r["reason"] for r in report.refused)

    assert set(workspace.households.villages()) == {"Bản Phố", "Bản Pá Khoang"}
    assert sorted(members_by_name(workspace)) == [
        "Hà Thị Lan",
        "Hà Văn Dũng",
        "Hà Văn Tú",
        "Lò Thị Mai",
        "Vàng A Sử",
    ]
    assert workspace.members.count() == 5
    assert workspace.pending_sync() == 2 + 5


def test_reimport_finds_everyone_again(workspace: Workspace, participation_csv: Path) -> None:
    """The same list again, CMND holders included, adds and changes nothing."""
    import_residents(workspace, participation_csv, **CODES)
    before = _snapshot(workspace.store)

    again = import_residents(workspace, participation_csv, **CODES)

    assert (again.households_added, again.members_added, again.members_existing) == (0, 0, 5)
    assert again.refused_count == 7
    assert _snapshot(workspace.store) == before
    assert workspace.members.by_import_key("cmnd:012345678") is not None


def test_newer_list_with_a_later_expiry_updates_the_card(
    workspace: Workspace, participation_csv: Path
) -> None:
    """A person already there takes the later card expiry of a newer list, as a member edit
    queued for sync; nobody else changes."""
    import_residents(workspace, participation_csv, **CODES)
    before = members_by_name(workspace)
    pending = workspace.pending_sync()
    newer = participation_csv.with_name("danh sach 2027.csv")
    newer.write_text(
        participation_csv.read_text(encoding="utf-8-sig").replace(
            "01/01/2026;31/12/2026;1.500.000", "01/01/2026;31/12/2027;1.500.000"
        ),
        encoding="utf-8",
    )

    report = import_residents(workspace, newer, **CODES)

    assert (report.members_added, report.members_existing) == (0, 5)
    assert (report.members_updated, report.members_unchanged) == (1, 4)
    assert report.updated_fields == {"bhyt_expiry": 1}
    after = members_by_name(workspace)
    assert after["Hà Văn Dũng"].bhyt_expiry == "2027-12-31"
    assert {n: m for n, m in after.items() if n != "Hà Văn Dũng"} == {
        n: m for n, m in before.items() if n != "Hà Văn Dũng"
    }
    assert workspace.pending_sync() == pending + 1


def test_xlsx_import_and_reimport(workspace: Workspace, participation_xlsx: Path) -> None:
    report = import_residents(workspace, participation_xlsx, **CODES)

    assert (report.households_added, report.members_added, report.refused_count) == (1, 3, 5)
    members = members_by_name(workspace)
    assert members["Hoàng Văn Thắng"].bhxh_paid_through == "2026-12-31"
    assert (members["Nông Thị Lan"].old_id, members["Nông Thị Lan"].cccd) == ("012345678", None)
    assert members["Hoàng Thị Hòa"].bhyt_expiry == "2027-08-31"
    before = _snapshot(workspace.store)

    again = import_residents(workspace, participation_xlsx, **CODES)

    assert (again.members_added, again.members_existing) == (0, 3)
    assert _snapshot(workspace.store) == before


def test_a_dash_is_an_empty_cell(tmp_path: Path) -> None:
    """Lists write "-" where a person has no card or no BHXH: nothing is read, nothing refused."""
    parsed = parse_text(
        tmp_path,
        "Họ và tên;Thôn;Đối tượng;Hạn thẻ;Mức thu nhập;Đóng đến tháng;Số tháng đã hỗ trợ\n"
        "Lò Văn Tờ;Bản Lả;-;-;—;.;--\n",
    )
    (person,) = parsed.people
    assert (person.bhyt_group, person.bhyt_expiry, person.bhxh_income) == (None, None, None)
    assert (person.bhxh_paid_through, person.bhxh_supported_months) == (None, None)
    assert parsed.refused == []
