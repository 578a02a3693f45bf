"""Reading commune resident lists from CSV and XLSX files written by the tests."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from fieldapp.importfile import ParsedFile, ParsedHousehold, parse_resident_file
from sync.protocol.errors import FieldappError

TODAY = date(2026, 11, 15)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def names(household: ParsedHousehold) -> list[str]:
    return [person.full_name for person in household.rows]


def heads(household: ParsedHousehold) -> list[str]:
    return [person.full_name for person in household.rows if person.is_head]


def summary(household: ParsedHousehold) -> str:
    """A parsed household on one line: village | head's name | phone | people, heads starred."""
    people = ", ".join(("*" if p.is_head else "") + p.full_name for p in household.rows)
    return f"{household.village} | {household.head_name} | {household.phone} | {people}"


def refused_codes(parsed: ParsedFile) -> dict[int, list[str]]:
    return {row.row: [p.code for p in row.problems] for row in parsed.refused}


def all_text(parsed: ParsedFile) -> list[str]:
    """Every text value the parse produced, to check normalisation."""
    texts: list[str] = []
    for household in parsed.households:
        texts += [household.village or "", household.head_name or ""]
        for person in household.rows:
            texts += [person.full_name, person.village or "", person.relation or ""]
            texts += [person.import_key, *(p.vi for p in person.warnings)]
    for refused in parsed.refused:
        texts += [*refused.values, *refused.values.values(), *(p.vi for p in refused.problems)]
    return texts + list(parsed.mapping) + parsed.unknown_columns


# Line numbers on the right are the row numbers a spreadsheet shows for this file.
MESSY_CSV = """\
STT;Họ và tên;Ngày sinh;Giới tính;Số CCCD;Quan hệ với chủ hộ;Thôn/Bản;Số điện thoại;Ghi chú
1;Nguyễn Văn An;12/05/1970;Nam;001 070 012345;Chủ hộ;Thôn Nà Lừa;+84 912 345 678;
2;Lò Thị Bình;3/4/1972;Nữ;;Vợ;Thôn Nà Lừa;;

3;Nguyễn  Văn Cường;1995;nam;001096001111;Con;Thôn Nà Lừa;;
4;Hoàng Thị Dung;31/02/1990;Nữ;;Con dâu;Thôn Nà Lừa;;
5;Lò Thị Bình;03/04/1972;Nữ;;Vợ;thôn nà lừa;;ghi trùng
6;Vàng A Sử;15.08.1985;Nam;011085001234;Chủ hộ;Bản Pá Khoang;0987654321;khó liên lạc
7;Giàng Thị Mỷ;01/01/2030;Nữ;;Vợ;Bản Pá Khoang;;
8;Vàng A Chả;20-10-2010;Nam;01101000123;Con;Bản Pá Khoang;;
9;Vàng Thị Súa;2012-06-01;Nam;011312000456;Con;Bản Pá Khoang;12345;
;;;;;;;;
10;;;;;;;;
11;Lương Văn Tâm;1960;Nam;;;Thôn Nà Lừa;;
12;;05/05/1980;Nữ;;Vợ;Thôn Nà Lừa;;
"""
#  1 header, 2 An, 3 Bình, 4 blank, 5 Cường, 6 Dung (31/02), 7 Bình again, 8 Sử,
#  9 Mỷ (2030), 10 Chả (11-digit CCCD), 11 Súa, 12 blank, 13 row number only, 14 Tâm,
# 15 no name


@pytest.fixture
def messy_csv(tmp_path: Path) -> Path:
    path = tmp_path / "danh_sach.csv"
    # NFD as typed with Unikey "tổ hợp", saved by Excel as "CSV UTF-8" (with a BOM).
    path.write_bytes(nfd(MESSY_CSV).encode("utf-8-sig"))
    return path


def test_messy_csv_mapping_and_counts(messy_csv: Path) -> None:
    parsed = parse_resident_file(messy_csv, today=TODAY)
    assert parsed.mapping == {
        "Họ và tên": "full_name",
        "Ngày sinh": "date_of_birth",
        "Giới tính": "sex",
        "Số CCCD": "cccd",
        "Quan hệ với chủ hộ": "relation",
        "Thôn/Bản": "village",
        "Số điện thoại": "phone",
    }
    assert parsed.unknown_columns == ["Ghi chú"]
    assert parsed.header_row == 1
    assert parsed.sheet is None
    # Blank lines and the line holding only a row number are not counted.
    assert parsed.total_rows == 11
    assert parsed.total_rows == len(parsed.people) + len(parsed.refused)


@pytest.mark.parametrize(
    ("source", "households"),
    [
        pytest.param(
            "messy_csv",
            [
                "Thôn Nà Lừa | Nguyễn Văn An | 0912345678 | "
                "*Nguyễn Văn An, Lò Thị Bình, Nguyễn Văn Cường",
                "Bản Pá Khoang | Vàng A Sử | 0987654321 | *Vàng A Sử, Vàng Thị Súa",
                # No relation and a different village from the household above: one person.
                "Thôn Nà Lừa | Lương Văn Tâm | None | *Lương Văn Tâm",
            ],
            id="messy-csv",
        ),
        pytest.param(
            "commune_xlsx",
            [
                "Bản Phăng | Lò Văn Phong | 0912345678 | *Lò Văn Phong, Quàng Thị Hoa, Lò Thị Mai",
                "Bản Co Mỵ | Cà Văn Minh | None | *Cà Văn Minh",
                # Same head's name, other village: another household, its head not on the list.
                "Bản Co Mỵ | Lò Văn Phong | None | Lò Văn Nam",
            ],
            id="xlsx-by-head-name-and-village",
        ),
    ],
)
def test_households(request: pytest.FixtureRequest, source: str, households: list[str]) -> None:
    """People are grouped into households by relation, head's name and village; each household
    has its village, its head's name and phone, and its people with the heads starred."""
    parsed = parse_resident_file(request.getfixturevalue(source), today=TODAY)
    assert [summary(h) for h in parsed.households] == households


def test_messy_csv_refused_rows(messy_csv: Path) -> None:
    parsed = parse_resident_file(messy_csv, today=TODAY)
    assert refused_codes(parsed) == {
        6: ["dob_invalid"],
        7: ["duplicate"],
        9: ["dob_future"],
        10: ["cccd_format"],
        15: ["name_required"],
    }
    by_row = {row.row: row for row in parsed.refused}
    assert by_row[6].problems[0].vi == "Ngày “31/02/1990” không tồn tại"
    assert by_row[6].problems[0].en == "There is no such date as “31/02/1990”"
    assert "dòng 3" in by_row[7].problems[0].vi and "row 3" in by_row[7].problems[0].en
    assert by_row[7].values["Ghi chú"] == "ghi trùng"
    assert by_row[9].problems[0].field == "date_of_birth"
    assert by_row[10].values["Số CCCD"] == "01101000123"
    assert "12 chữ số" in by_row[10].problems[0].vi
    assert by_row[15].values == {
        "STT": "12",
        "Ngày sinh": "05/05/1980",
        "Giới tính": "Nữ",
        "Quan hệ với chủ hộ": "Vợ",
        "Thôn/Bản": "Thôn Nà Lừa",
    }
    for row in parsed.refused:
        assert all(p.severity == "error" and p.vi and p.en for p in row.problems)


def test_messy_csv_people(messy_csv: Path) -> None:
    parsed = parse_resident_file(messy_csv, today=TODAY)
    people = {person.row: person for person in parsed.people}
    assert sorted(people) == [2, 3, 5, 8, 11, 14]

    an = people[2]
    assert (an.date_of_birth, an.birth_year_only, an.sex) == (date(1970, 5, 12), False, "male")
    assert (an.cccd, an.phone, an.relation) == ("001070012345", "0912345678", "Chủ hộ")
    assert an.warnings == []

    # A bare year, and a CCCD whose year digits disagree: kept, with a warning.
    cuong = people[5]
    assert cuong.full_name == "Nguyễn Văn Cường"  # double space collapsed
    assert (cuong.date_of_birth, cuong.birth_year_only) == (date(1995, 1, 1), True)
    assert [(p.code, p.severity) for p in cuong.warnings] == [("cccd_year_mismatch", "warning")]

    # Sex digit says female, the list says Nam; and a phone that cannot be a phone.
    sua = people[11]
    assert sua.sex == "male"
    assert sua.phone is None
    assert [(p.code, p.severity) for p in sua.warnings] == [
        ("cccd_sex_mismatch", "warning"),
        ("phone_format", "warning"),
    ]
    assert people[14].relation is None


def test_messy_csv_is_nfc(messy_csv: Path) -> None:
    parsed = parse_resident_file(messy_csv, today=TODAY)
    texts = all_text(parsed)
    assert any("ễ" in text for text in texts)
    for text in texts:
        assert unicodedata.is_normalized("NFC", text), text


def test_import_keys(messy_csv: Path) -> None:
    parsed = parse_resident_file(messy_csv, today=TODAY)
    keys = {person.row: person.import_key for person in parsed.people}
    assert keys == {
        2: "cccd:001070012345",
        3: "name:lo thi binh|1972-04-03|thon na lua",
        5: "cccd:001096001111",
        8: "cccd:011085001234",
        11: "cccd:011312000456",
        14: "name:luong van tam|1960|thon na lua",
    }
    again = parse_resident_file(messy_csv, today=TODAY)
    assert [p.import_key for p in again.people] == [p.import_key for p in parsed.people]
    assert again == parsed


def test_import_keys_do_not_depend_on_row_order_or_spelling(tmp_path: Path) -> None:
    header = "Họ và tên,Ngày sinh,Thôn,Quan hệ"
    first = tmp_path / "a.csv"
    first.write_text(f"{header}\nLò Thị Bình,3/4/1972,Nà Lừa,\nVàng A Sử,1985,Pá Khoang,\n")
    second = tmp_path / "b.csv"
    # Another year's list: rows swapped, old-style tone marks, upper case, padded dates.
    second.write_text(f"{header}\nVÀNG A SỬ,1985,Pá Khoang,\nLò Thị Bình,03/04/1972,nà lừa,\n")
    keys_a = {p.import_key for p in parse_resident_file(first, today=TODAY).people}
    keys_b = {p.import_key for p in parse_resident_file(second, today=TODAY).people}
    assert keys_a == keys_b


def parse_text(folder: Path, text: str, name: str = "list.csv") -> ParsedFile:
    """Write a resident list as UTF-8 text into the folder and parse it."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return parse_resident_file(path, today=TODAY)


def write_xlsx(path: Path, rows: Sequence[Sequence[object]], *, title: str = "Danh sách") -> Path:
    workbook = Workbook()
    notes = workbook.active
    assert notes is not None
    notes.title = "Hướng dẫn"
    notes.append(["Điền danh sách ở trang bên cạnh"])
    sheet = workbook.create_sheet(title)
    for row in rows:
        sheet.append(row)
    workbook.active = 1
    workbook.save(path)
    return path


@pytest.fixture
def commune_xlsx(tmp_path: Path) -> Path:
    header = ["STT", "Họ tên chủ hộ", "Họ và tên", "Ngày tháng năm sinh", "Giới tính", "CCCD"]
    header += ["Thôn", "SĐT", "Mã số BHXH", "Dân tộc"]
    return write_xlsx(
        tmp_path / "xa_muong_phang.xlsx",
        [
            ["DANH SÁCH HỘ GIA ĐÌNH THAM GIA BHYT NĂM 2027"],
            ["Xã Mường Phăng, tỉnh Điện Biên"],
            [],
            header,
            ["(1)", "(2)", "(3)", "(4)", "(5)", "(6)", "(7)", "(8)", "(9)", "(10)"],
            # Identifiers typed as numbers: Excel dropped their leading zeros.
            [
                1,
                "Lò Văn Phong",
                nfd("Lò Văn Phong"),
                datetime(1968, 3, 2),
                "Nam",
                11068001234,
                "Bản Phăng",
                912345678,
                112345678,
                "Thái",
            ],
            # The head's cell is merged over the household's rows, so the cells below are empty.
            [2, None, "Quàng Thị Hoa", 1970, "Nữ", None, "Bản Phăng", None, None, "Thái"],
            [3, "Lò Văn Phong", "Lò Thị Mai", "05/06/2001", "Nữ", None, "Bản Phăng"],
            [4, "Cà Văn Minh", "Cà Văn Minh", "1975", "Nam", None, "Bản Co Mỵ"],
            # Same head's name, other village: another household.
            [5, "Lò Văn Phong", "Lò Văn Nam", "2003", "Nam", None, "Bản Co Mỵ"],
            [6, "Cà Văn Minh", "Cà Thị Lan", "1978", "Nữ", "0111780000001", "Bản Co Mỵ"],
            [7, "Cà Văn Minh", "Cà Văn Hùng", "2030", "Nam", None, "Bản Co Mỵ"],
            [None] * 10,
            [8],
        ],
    )


def test_xlsx_header_below_title(commune_xlsx: Path) -> None:
    parsed = parse_resident_file(commune_xlsx, today=TODAY)
    assert parsed.sheet == "Danh sách"
    assert parsed.header_row == 4
    assert parsed.mapping["Họ tên chủ hộ"] == "head_name"
    assert parsed.mapping["Ngày tháng năm sinh"] == "date_of_birth"
    assert parsed.mapping["SĐT"] == "phone"
    assert parsed.mapping["Dân tộc"] == "ethnicity"
    assert parsed.unknown_columns == []
    assert parsed.total_rows == 7


def test_xlsx_values(commune_xlsx: Path) -> None:
    parsed = parse_resident_file(commune_xlsx, today=TODAY)
    people = {person.row: person for person in parsed.people}
    phong = people[6]
    assert phong.full_name == "Lò Văn Phong" and unicodedata.is_normalized("NFC", phong.full_name)
    assert (phong.date_of_birth, phong.birth_year_only) == (date(1968, 3, 2), False)
    assert (phong.cccd, phong.phone, phong.bhxh_code) == (
        "011068001234",
        "0912345678",
        "0112345678",
    )
    assert phong.ethnicity == "Thái"
    assert phong.warnings == []
    assert phong.import_key == "cccd:011068001234"
    hoa = people[7]
    assert (hoa.date_of_birth, hoa.birth_year_only, hoa.sex) == (date(1970, 1, 1), True, "female")
    assert hoa.import_key == "name:quang thi hoa|1970|ban phang"
    assert people[8].date_of_birth == date(2001, 6, 5)


def test_xlsx_refused_rows(commune_xlsx: Path) -> None:
    parsed = parse_resident_file(commune_xlsx, today=TODAY)
    assert refused_codes(parsed) == {11: ["cccd_format"], 12: ["dob_future"]}
    lan = parsed.refused[0]
    assert lan.values["Họ và tên"] == "Cà Thị Lan"
    assert lan.values["STT"] == "6"


def test_xlsx_import_keys_stable(commune_xlsx: Path) -> None:
    first = parse_resident_file(commune_xlsx, today=TODAY)
    second = parse_resident_file(commune_xlsx, today=TODAY)
    assert [p.import_key for p in first.people] == [p.import_key for p in second.people]
    assert len({p.import_key for p in first.people}) == len(first.people)


def test_households_by_code_tab_separated(tmp_path: Path) -> None:
    parsed = parse_text(
        tmp_path,
        "Mã hộ\tHọ tên\tQuan hệ\tNăm sinh\tĐịa chỉ\tSố thẻ BHYT\n"
        "H01\tSùng A Páo\tChủ hộ\t1980\tBản Huổi Só\tGD4110112345678\n"
        "H02\tMùa A Dế\tChủ hộ\t1979\tBản Huổi Só\t\n"
        "H01\tSùng Thị Dợ\tVợ\t1982\tBản Huổi Só\tgd 4 11 0112345679\n"
        "\tSùng A Lử\tCon\t2008\tBản Huổi Só\tGD41\n",
        name="ma_ho.txt",
    )
    pao, de = parsed.households
    # The row with no code follows the household of the row above it (a merged cell).
    assert names(pao) == ["Sùng A Páo", "Sùng Thị Dợ", "Sùng A Lử"]
    assert names(de) == ["Mùa A Dế"]
    assert (pao.household_code, de.household_code) == ("H01", "H02")
    assert heads(pao) == ["Sùng A Páo"] and heads(de) == ["Mùa A Dế"]
    assert pao.rows[1].bhyt_card == "GD4110112345679"
    lu = pao.rows[2]
    assert lu.bhyt_card is None
    assert [(p.code, p.severity) for p in lu.warnings] == [("bhyt_card_format", "warning")]


def test_relation_rows_before_any_head_are_households_of_one(tmp_path: Path) -> None:
    parsed = parse_text(
        tmp_path,
        "Họ và tên,Quan hệ,Thôn\n"
        "Lý Thị Mẩy,Con,Bản Lả\n"
        "Hầu A Chứ,,Bản Lả\n"
        "Lý Văn Tờ,Chủ hộ,Bản Lả\n"
        "Lý Thị Say,,Bản Lả\n"
        "Lý Văn Pao,Con,\n",
    )
    assert [names(h) for h in parsed.households] == [
        ["Lý Thị Mẩy"],
        ["Hầu A Chứ"],
        ["Lý Văn Tờ", "Lý Thị Say", "Lý Văn Pao"],
    ]
    assert [heads(h) for h in parsed.households] == [["Lý Thị Mẩy"], ["Hầu A Chứ"], ["Lý Văn Tờ"]]


def test_head_ticked_in_the_head_column(tmp_path: Path) -> None:
    parsed = parse_text(
        tmp_path,
        "Họ và tên;Chủ hộ;Thôn\n"
        "Lò Văn Tờ;x;Bản Lả\n"
        "Lò Thị Say;;Bản Lả\n"
        "Lường Văn Ơn;X;Bản Lả\n"
        "Lường Thị Ả;;Bản Lả\n",
    )
    assert [names(h) for h in parsed.households] == [
        ["Lò Văn Tờ", "Lò Thị Say"],
        ["Lường Văn Ơn", "Lường Thị Ả"],
    ]
    assert [h.head_name for h in parsed.households] == ["Lò Văn Tờ", "Lường Văn Ơn"]
    assert [heads(h) for h in parsed.households] == [["Lò Văn Tờ"], ["Lường Văn Ơn"]]


def test_without_grouping_columns_everyone_is_a_household(tmp_path: Path) -> None:
    parsed = parse_text(tmp_path, "Họ tên,Năm sinh\nLò Văn A,1980\nLò Văn B,1982\n")
    assert [heads(h) for h in parsed.households] == [["Lò Văn A"], ["Lò Văn B"]]


def test_comma_delimited_with_quoted_commas(tmp_path: Path) -> None:
    text = 'Họ và tên,Ngày sinh,Địa chỉ\n"Nguyễn Văn An","01/02/1980","Thôn 3, xã Cẩm Thạch"\n'
    (person,) = parse_text(tmp_path, text).people
    assert person.village == "Thôn 3, xã Cẩm Thạch"


def test_windows_1258_csv(tmp_path: Path) -> None:
    path = tmp_path / "ansi.csv"
    # Windows-1258 has "ê" and a combining tilde, not a precomposed "ễ".
    text = "Họ tên;Năm sinh\r\nNguy\u00ea\u0303n Văn An;1980\r\n".replace("ọ", "o\u0323")
    path.write_bytes(text.encode("cp1258"))
    (person,) = parse_resident_file(path, today=TODAY).people
    assert person.full_name == "Nguyễn Văn An"
    assert unicodedata.is_normalized("NFC", person.full_name)


def test_mojibake_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "mojibake.csv"
    original = "Họ và tên;Thôn\nNguyễn Thị Hương;Nà Lừa\nĐinh Văn Ờ;Nà Lừa\n"
    # What Excel shows when a UTF-8 file is opened as Windows-1252, saved back as UTF-8.
    garbled = "".join(
        bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in original.encode("utf-8")
    )
    assert "Nguyá»…n" in garbled
    path.write_text(garbled, encoding="utf-8")
    parsed = parse_resident_file(path, today=TODAY)
    assert [p.full_name for p in parsed.people] == ["Nguyễn Thị Hương", "Đinh Văn Ờ"]


def test_header_names_with_notes_and_marks(tmp_path: Path) -> None:
    parsed = parse_text(
        tmp_path,
        "Họ và tên (*);Ngày sinh (dd/mm/yyyy);Số định danh cá nhân;Tổ dân phố;Số căn cước;"
        "Mã BHXH;Họ tên chủ hộ;Quan hệ với chủ hộ;ĐIỆN THOẠI\n"
        "Trần Thị Hoà;01/01/1990;;Tổ 5;;;Trần Văn Hải;Con;\n",
    )
    assert parsed.mapping == {
        "Họ và tên (*)": "full_name",
        "Ngày sinh (dd/mm/yyyy)": "date_of_birth",
        "Số định danh cá nhân": "cccd",
        "Tổ dân phố": "village",
        "Mã BHXH": "bhxh_code",
        "Họ tên chủ hộ": "head_name",
        "Quan hệ với chủ hộ": "relation",
        "ĐIỆN THOẠI": "phone",
    }
    # Two columns for the CCCD: the first is used, the other reported.
    assert parsed.unknown_columns == ["Số căn cước"]


def test_header_only_gives_an_empty_result(tmp_path: Path) -> None:
    parsed = parse_text(tmp_path, "Họ và tên;Ngày sinh\n\n")
    assert (parsed.households, parsed.refused, parsed.total_rows) == ([], [], 0)


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("empty.csv", b"", "import_empty"),
        ("blank.csv", b"\r\n \r\n", "import_empty"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "import_format"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "import_format"),
        ("broken.xlsx", b"PK\x03\x04 not really a zip", "import_unreadable"),
        ("letter.csv", "Kính gửi UBND xã\nVề việc danh sách\n".encode(), "import_no_header"),
        ("noname.csv", "Ngày sinh;Giới tính\n01/01/1990;Nam\n".encode(), "import_no_name_column"),
        (
            "split.csv",
            "Họ đệm;Tên;Năm sinh;Thôn\nLò Văn;Tờ;1980;Lả\n".encode(),
            "import_no_name_column",
        ),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes, code: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FieldappError) as caught:
        parse_resident_file(path, today=TODAY)
    assert caught.value.code == code
    assert caught.value.vi and caught.value.en and caught.value.vi != caught.value.en


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FieldappError) as caught:
        parse_resident_file(tmp_path / "nowhere.csv", today=TODAY)
    assert caught.value.code == "import_unreadable"


def test_xlsx_without_header(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "notes.xlsx", [["Ghi chú"], ["không có gì"]])
    with pytest.raises(FieldappError) as caught:
        parse_resident_file(path, today=TODAY)
    assert caught.value.code == "import_no_header"
    assert "Họ và tên" in caught.value.vi


def test_excel_unicode_text_export(tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes("Họ và tên\tNăm sinh\r\nĐinh Thị Hoà\t1990\r\n".encode("utf-16"))
    (person,) = parse_resident_file(path, today=TODAY).people
    assert (person.full_name, person.date_of_birth) == ("Đinh Thị Hoà", date(1990, 1, 1))
