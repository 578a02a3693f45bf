"""A newer resident list updates the people already there; an older one moves nothing back.

Members' own phone numbers from the list land on the member, are searchable and are checked
(one that cannot be a phone is left out with a warning; the person keeps their row).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from fieldapp.cli import main
from fieldapp.importer import import_residents
from fieldapp.model import Member
from fieldapp.workspace import Workspace
from tests.fieldapp.test_importer import CODES, _snapshot

D = dt.date


def write_csv(folder: Path, name: str, header: list[str], rows: list[list[str]]) -> Path:
    path = folder / name
    lines = [";".join(header), *(";".join(row) for row in rows)]
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def by_name(ws: Workspace) -> dict[str, Member]:
    return {
        m.full_name: m
        for v in ws.households.villages()
        for h in ws.households.in_village(v)
        for m in ws.members.of_household(h.id)
    }


def outbox_rows(ws: Workspace, member_id: str) -> list[dict[str, Any]]:
    return [
        {"op": r["op"], "data": json.loads(r["data"]), "base": json.loads(r["base"] or "null")}
        for r in ws.store.query(
            "SELECT op, data, base FROM outbox WHERE entity = 'member' AND entity_id = ? "
            "ORDER BY seq",
            (member_id,),
        )
    ]


# --- a messy list: every column name and date format ----------------------------------------

# (card, valid from, expiry, group, phone) headers; None: the list has no such column.
VARIANTS = [
    ("Mã thẻ BHYT", "Từ ngày", "Hạn thẻ", "Đối tượng", "Số điện thoại"),
    ("Số thẻ BHYT", "Giá trị từ", "Hạn thẻ BHYT", "Mã đối tượng", "SĐT"),
    ("Mã thẻ BHYT", "Từ ngày", "Giá trị đến", None, "Điện thoại"),
    ("Số thẻ BHYT", "Giá trị từ", "Đến ngày", "Mã đối tượng", "SĐT"),
]
# Each person's card from and to dates as written, and as read.
DATES = [
    ("01/01/2026", "31/12/2026", D(2026, 1, 1), D(2026, 12, 31)),  # dd/mm/yyyy
    ("5/3/26", "4/3/27", D(2026, 3, 5), D(2027, 3, 4)),  # d/m/yy
    ("2026-07-01", "2027-06-30", D(2026, 7, 1), D(2027, 6, 30)),  # yyyy-mm-dd
    ("46023", "46387", D(2026, 1, 1), D(2026, 12, 31)),  # Excel serials saved to CSV
]
PEOPLE = [
    # name, born, CCCD, relation, card, group cell, phone as written, phone stored
    (
        "Hà Văn Dũng",
        "12/03/1980",
        "001080012345",
        "Chủ hộ",
        "GD4150112345678",
        "GD",
        "+84 912 345 678",
        "0912345678",
    ),
    (
        "Lò Thị Mai",
        "1985",
        "001185054321",
        "Vợ",
        "CN3150112345679",
        "Hộ cận nghèo",
        "0987.111.222",
        "0987111222",
    ),
    ("Hà Văn Tú", "05/06/2022", "", "Con", "TE1150112345680", "", "", None),
    ("Hà Thị Lan", "2000", "", "Con", "HS4150112345681", "HS", "84 336 123 456", "0336123456"),
]


def messy_list(folder: Path, variant: tuple[str | None, ...]) -> Path:
    card_h, from_h, to_h, group_h, phone_h = variant
    header = ["STT", "Họ và tên", "Ngày sinh", "Số CCCD", "Thôn/Bản", "Quan hệ với chủ hộ"]
    header += [h for h in (card_h, from_h, to_h, group_h, phone_h) if h is not None]
    rows = []
    for number, (person, dates) in enumerate(zip(PEOPLE, DATES, strict=True), 1):
        name, born, cccd, relation, card, group, phone, _ = person
        row = [str(number), name, born, cccd, "Bản Phố", relation, card, dates[0], dates[1]]
        if group_h is not None:
            row.append(group)
        row.append(phone)
        rows.append(row)
    return write_csv(folder, "danh sach.csv", header, rows)


@pytest.mark.parametrize("variant", VARIANTS, ids=[v[4] or "" for v in VARIANTS])
def test_every_recognised_column_lands_on_the_member(
    workspace: Workspace, tmp_path: Path, variant: tuple[str | None, ...]
) -> None:
    """Card number, card dates in every format, group (or the card's prefix) and the person's
    own phone all land on the member; the head's phone also on the household."""
    report = import_residents(workspace, messy_list(tmp_path, variant), **CODES)

    assert (report.members_added, report.refused, report.unknown_columns) == (4, [], [])
    members = by_name(workspace)
    groups = {"Hà Văn Dũng": "household", "Lò Thị Mai": "near_poor", "Hà Thị Lan": "student"}
    for person, dates in zip(PEOPLE, DATES, strict=True):
        member = members[person[0]]
        assert member.bhyt_card == person[4]
        assert (member.bhyt_valid_from, member.bhyt_expiry) == (
            dates[2].isoformat(),
            dates[3].isoformat(),
        )
        assert member.phone == person[7], person[0]
        expected_group = groups.get(person[0]) if variant[3] is not None else None
        assert member.bhyt_group == expected_group
    # Without a group column the card's prefix gives it.
    assert members["Hà Văn Tú"].bhyt_group_effective == "child_under_6"
    (household,) = workspace.households.in_village("Bản Phố")
    assert household.phone == "0912345678"


def test_an_xlsx_with_date_cells_serials_and_a_number_phone(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Real date cells, serial numbers and a phone typed as a number (its 0 lost) are read."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Họ và tên", "Ngày sinh", "Thôn", "Quan hệ", "Mã thẻ BHYT", "Hạn thẻ", "SĐT"])
    sheet.append(
        [
            "Hoàng Văn Thắng",
            dt.datetime(1975, 5, 1),
            "Nậm Mòn",
            "Chủ hộ",
            "GD4150112345678",
            dt.datetime(2027, 8, 31),
            912345678,
        ]
    )
    sheet.append(["Nông Thị Lan", 1978, "Nậm Mòn", "Vợ", "GD4150112345679", 46387, 987111222])
    path = tmp_path / "nam mon.xlsx"
    book.save(path)

    report = import_residents(workspace, path, **CODES)

    assert (report.members_added, report.refused) == (2, [])
    members = by_name(workspace)
    assert (members["Hoàng Văn Thắng"].bhyt_expiry, members["Hoàng Văn Thắng"].phone) == (
        "2027-08-31",
        "0912345678",
    )
    assert (members["Nông Thị Lan"].bhyt_expiry, members["Nông Thị Lan"].phone) == (
        "2026-12-31",
        "0987111222",
    )


# --- a newer list, an older list ----------------------------------------------------------------

HEADER = [
    "Họ và tên",
    "Ngày sinh",
    "Số CCCD",
    "Thôn/Bản",
    "Quan hệ",
    "Số thẻ BHYT",
    "Đối tượng",
    "Từ ngày",
    "Hạn thẻ",
    "SĐT",
    "Mức thu nhập",
    "Đóng đến tháng",
]


def row(
    name: str,
    cccd: str,
    relation: str,
    card: str,
    valid: tuple[str, str],
    phone: str = "",
    income: str = "",
    paid: str = "",
) -> list[str]:
    born = {
        "Hà Văn Dũng": "12/03/1980",
        "Lò Thị Mai": "03/04/1985",
        "Hà Văn Tú": "05/06/2015",
        "Hà Thị Lan": "01/01/2000",
    }[name]
    return [name, born, cccd, "Bản Phố", relation, card, "GD", *valid, phone, income, paid]


Y2026 = ("01/01/2026", "31/12/2026")
Y2027 = ("01/01/2027", "31/12/2027")


def list_2026(folder: Path) -> Path:
    return write_csv(
        folder,
        "2026.csv",
        HEADER,
        [
            row(
                "Hà Văn Dũng",
                "001080012345",
                "Chủ hộ",
                "GD4150112345678",
                Y2026,
                "0912345678",
                "1.500.000",
                "06/2026",
            ),
            row("Lò Thị Mai", "001185054321", "Vợ", "GD4150112345679", Y2026),
            row("Hà Văn Tú", "", "Con", "GD4150112345680", Y2026),
        ],
    )


def list_2027(folder: Path) -> Path:
    """Dũng and Mai renewed for 2027, Mai now has a phone, Tú not renewed yet, Lan is new."""
    return write_csv(
        folder,
        "2027.csv",
        HEADER,
        [
            row(
                "Hà Văn Dũng",
                "001080012345",
                "Chủ hộ",
                "GD4150112345678",
                Y2027,
                "0912345678",
                "1.500.000",
                "12/2026",
            ),
            row("Lò Thị Mai", "001185054321", "Vợ", "GD4150112345679", Y2027, "0987 111 222"),
            row("Hà Văn Tú", "", "Con", "GD4150112345680", Y2026),
            row("Hà Thị Lan", "", "Con", "GD4150112345681", Y2027),
        ],
    )


def test_a_newer_list_renews_cards_reports_them_and_queues_them_for_sync(
    workspace: Workspace, tmp_path: Path
) -> None:
    import_residents(workspace, list_2026(tmp_path), **CODES)
    before = by_name(workspace)
    pending = workspace.pending_sync()

    report = import_residents(workspace, list_2027(tmp_path), **CODES)

    assert (report.members_added, report.members_existing) == (1, 3)
    assert (report.members_updated, report.members_unchanged, report.members_kept_newer) == (
        2,
        1,
        0,
    )
    assert report.updated_fields == {
        "bhyt_expiry": 2,
        "bhyt_valid_from": 2,
        "phone": 1,
        "bhxh_paid_through": 1,
    }
    assert "cập nhật 2 người: hạn thẻ: 2, thẻ có giá trị từ: 2" in report.summary("vi")
    assert "1 người không đổi" in report.summary("vi")
    assert "card expiry: 2" in report.summary("en")
    after = by_name(workspace)
    assert after["Hà Văn Dũng"].bhyt_expiry == after["Lò Thị Mai"].bhyt_expiry == "2027-12-31"
    assert after["Hà Văn Dũng"].bhxh_paid_through == "2026-12-31"
    assert after["Lò Thị Mai"].phone == "0987111222"
    assert after["Hà Văn Tú"] == before["Hà Văn Tú"]
    # One edit per renewed person plus the new person: each queued for sync.
    assert workspace.pending_sync() == pending + 2 + 1
    dung = after["Hà Văn Dũng"]
    change = outbox_rows(workspace, dung.id)[-1]
    assert change["op"] == "update"
    assert change["data"] == {
        "id": dung.id,
        "household_id": dung.household_id,
        "bhyt_valid_from": "2027-01-01",
        "bhyt_expiry": "2027-12-31",
        "bhxh_paid_through": "2026-12-31",
    }
    # The clocks the edit replaces travel with it, as for an edit in the member dialog.
    first = outbox_rows(workspace, dung.id)[0]
    assert first["op"] == "insert"
    clocks = json.loads(
        workspace.store.scalar("SELECT clocks FROM member WHERE id = ?", (dung.id,))
    )
    assert set(change["base"]) == {"bhyt_valid_from", "bhyt_expiry", "bhxh_paid_through"}
    assert all(clocks[k] > change["base"][k] for k in change["base"])
    assert clocks["full_name"] < clocks["bhyt_expiry"]

    # The same newer list again changes nothing.
    snapshot = _snapshot(workspace.store)
    again = import_residents(workspace, list_2027(tmp_path), **CODES)
    assert (again.members_added, again.members_updated, again.members_unchanged) == (0, 0, 4)
    assert _snapshot(workspace.store) == snapshot


def test_an_older_list_moves_nothing_backwards(workspace: Workspace, tmp_path: Path) -> None:
    import_residents(workspace, list_2027(tmp_path), **CODES)
    snapshot = _snapshot(workspace.store)

    report = import_residents(workspace, list_2026(tmp_path), **CODES)

    assert (report.members_added, report.members_existing, report.members_updated) == (0, 3, 0)
    # Mai's 2026 row has no phone: a blank cell changes nothing, and nothing is "kept".
    assert (report.members_kept_newer, report.members_unchanged) == (2, 1)
    assert report.kept_newer_fields == {
        "bhyt_expiry": 2,
        "bhyt_valid_from": 2,
        "bhxh_paid_through": 1,
    }
    assert "2 người giữ thông tin mới hơn danh sách" in report.summary("vi")
    assert "hạn thẻ: 2" in report.summary("vi")
    assert "Dòng 2: hạn thẻ 31/12/2026 trong danh sách, giữ 31/12/2027 (mới hơn)" in (
        report.kept_lines("vi")
    )
    assert _snapshot(workspace.store) == snapshot
    assert by_name(workspace)["Hà Văn Dũng"].bhyt_expiry == "2027-12-31"


def test_a_payment_after_the_list_is_not_undone_by_it(workspace: Workspace, tmp_path: Path) -> None:
    """A card renewed at the visit runs later than the list that was imported before."""
    import_residents(workspace, list_2026(tmp_path), **CODES)
    tu = by_name(workspace)["Hà Văn Tú"]
    workspace.members.update(tu.id, bhyt_valid_from="2027-01-01", bhyt_expiry="2027-12-31")

    report = import_residents(workspace, list_2026(tmp_path), **CODES)

    assert report.kept_newer_fields == {"bhyt_expiry": 1, "bhyt_valid_from": 1}
    assert workspace.members.get(tu.id).bhyt_expiry == "2027-12-31"


def test_a_cccd_finds_a_person_added_by_hand(workspace: Workspace, tmp_path: Path) -> None:
    """Matched on the CCCD first: the agent's own entry is updated, not doubled."""
    household = workspace.households.add(village="Bản Phố", head_name="Hà Văn Dũng", **CODES)
    dung = workspace.members.add(household.id, full_name="Hà Văn Dũng", cccd="001080012345")

    report = import_residents(workspace, list_2027(tmp_path), **CODES)

    assert report.members_existing == 1
    assert report.updated_fields["bhyt_expiry"] == 1
    assert workspace.members.get(dung.id).bhyt_expiry == "2027-12-31"
    assert len([m for m in by_name(workspace) if m == "Hà Văn Dũng"]) == 1


# --- refused rows: nothing half-way --------------------------------------------------------------


def test_a_bad_phone_is_left_out_and_the_rest_of_the_row_taken(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A phone that cannot be a phone is warned about and left out; the renewed card on the same
    row is taken, the phone already on record stays, and a new person is added without one."""
    import_residents(workspace, list_2026(tmp_path), **CODES)
    path = write_csv(
        tmp_path,
        "bad.csv",
        HEADER,
        [
            row("Hà Văn Dũng", "001080012345", "Chủ hộ", "GD4150112345678", Y2027, "091234"),
            row("Lò Thị Mai", "001185054321", "Vợ", "GD4150112345679", Y2027),
            row("Hà Thị Lan", "", "Con", "GD4150112345681", Y2027, "12345678901234"),
        ],
    )

    report = import_residents(workspace, path, **CODES)

    assert report.refused == []
    assert report.warnings == 2
    assert (report.members_added, report.members_updated) == (1, 2)
    members = by_name(workspace)
    assert (members["Hà Văn Dũng"].bhyt_expiry, members["Hà Văn Dũng"].phone) == (
        "2027-12-31",
        "0912345678",
    )
    assert members["Lò Thị Mai"].bhyt_expiry == "2027-12-31"
    assert (members["Hà Thị Lan"].bhyt_expiry, members["Hà Thị Lan"].phone) == ("2027-12-31", None)


def test_an_update_the_members_service_refuses_is_a_refused_row(
    workspace: Workspace, tmp_path: Path
) -> None:
    """More supported months than the policy allows: refused with the service's reason."""
    header = [
        "Họ và tên",
        "Ngày sinh",
        "Số CCCD",
        "Thôn",
        "Quan hệ",
        "Hạn thẻ",
        "Số tháng đã hỗ trợ",
    ]
    first = write_csv(
        tmp_path,
        "a.csv",
        header,
        [
            ["Hà Văn Dũng", "12/03/1980", "001080012345", "Bản Phố", "Chủ hộ", "31/12/2026", "12"],
        ],
    )
    import_residents(workspace, first, **CODES)
    snapshot = _snapshot(workspace.store)
    second = write_csv(
        tmp_path,
        "b.csv",
        header,
        [
            ["Hà Văn Dũng", "12/03/1980", "001080012345", "Bản Phố", "Chủ hộ", "31/12/2027", "500"],
        ],
    )

    report = import_residents(workspace, second, **CODES)

    (refused,) = report.refused
    assert [p["code"] for p in refused["problems"]] == ["over_cap"]
    assert (report.members_updated, report.members_existing) == (0, 1)
    assert _snapshot(workspace.store) == snapshot


def test_a_cancel_while_updating_leaves_everything_as_it_was(
    workspace: Workspace, tmp_path: Path
) -> None:
    import_residents(workspace, list_2026(tmp_path), **CODES)
    snapshot = _snapshot(workspace.store)

    def cancel(done: int, total: int) -> None:
        if done >= total // 2 and total > 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_residents(workspace, list_2027(tmp_path), **CODES, progress=cancel)
    assert _snapshot(workspace.store) == snapshot


# --- the member's phone in the search -----------------------------------------------------------


def test_a_member_phone_from_the_list_is_found_by_search(
    workspace: Workspace, tmp_path: Path
) -> None:
    import_residents(workspace, list_2027(tmp_path), **CODES)
    mai = by_name(workspace)["Lò Thị Mai"]

    for typed in (
        "0987111222",
        "0987 111 222",
        "+84 987 111 222",
        "84987111222",
        "987111222",
        "111222",
        "1222",
    ):
        hits = workspace.search.find(typed)
        assert mai.id in [h.member_id for h in hits], typed
    (hit,) = [h for h in workspace.search.find("0987111222") if h.member_id == mai.id]
    assert hit.phone == "0987111222"
    # Not someone else's number.
    assert mai.id not in [h.member_id for h in workspace.search.find("0912345678")]


def test_search_follows_a_changed_phone(workspace: Workspace, tmp_path: Path) -> None:
    """The search rows are rebuilt when a list, or the agent, changes the member's phone."""
    import_residents(workspace, list_2027(tmp_path), **CODES)
    mai = by_name(workspace)["Lò Thị Mai"]
    newer = write_csv(
        tmp_path,
        "2028.csv",
        HEADER,
        [
            row("Lò Thị Mai", "001185054321", "Vợ", "GD4150112345679", Y2027, "0365 432 100"),
        ],
    )
    import_residents(workspace, newer, **CODES)
    assert mai.id in [h.member_id for h in workspace.search.find("0365432100")]
    assert mai.id not in [h.member_id for h in workspace.search.find("0987111222")]

    workspace.members.update(mai.id, phone="+84 389 000 111")
    assert workspace.members.get(mai.id).phone == "0389000111"
    assert mai.id in [h.member_id for h in workspace.search.find("389000111")]
    assert mai.id not in [h.member_id for h in workspace.search.find("0365432100")]


# --- the command line ---------------------------------------------------------------------------


def test_the_import_command_prints_and_returns_the_updates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELDAPP_LANG", "vi")
    data = tmp_path / "data"
    first, second = list_2026(tmp_path), list_2027(tmp_path)
    base = ["--data-dir", str(data), "import"]
    codes = ["--province", "15", "--commune", "99001"]
    assert main([*base, str(first), *codes]) == 0
    capsys.readouterr()

    assert main([*base, str(second), *codes]) == 0
    text = capsys.readouterr().out
    assert "cập nhật 2 người: hạn thẻ: 2" in text

    assert main([*base, str(first), *codes, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["members_kept_newer"] == 2
    assert report["kept_newer_fields"]["bhyt_expiry"] == 2
    assert report["updated_fields"] == {}
    assert {k["row"] for k in report["kept_newer"]} == {2, 3}
