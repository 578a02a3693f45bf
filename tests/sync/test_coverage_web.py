"""The BHYT coverage page on the real server: counts by hand, targets, renewals, trend, scope,
CSRF, refused input and exports read back."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from fieldapp import participation as laptop_participation
from sync.protocol import participation_codes
from sync.server.schema import coverage_targets
from tests.sync.conftest import Laptop, Server, household, member
from tests.sync.test_web import COMMUNE, OTHER, add_supervisor, csrf_of, signed_in

# The server's clock stands at 2026-11-23 08:00 in Vietnam (conftest.START).
NEAR_AGENT = "Trần Thị Bình"
FAR_AGENT = "Lê Văn Cường"
FORMULA_VILLAGE = "=HYPERLINK(1)"


def card(valid_from: str | None, valid_to: str | None, **fields: Any) -> dict[str, Any]:
    return {"bhyt_valid_from": valid_from, "bhyt_expiry": valid_to, **fields}


# (village, commune, name, fields) of every member uploaded, in every status on 2026-11-23.
PEOPLE: list[tuple[str, str, str, dict[str, Any]]] = [
    # Bản Phố, commune 04001
    ("Bản Phố", COMMUNE, "Có thẻ", card("2026-01-01", "2027-06-30", bhyt_card="GD4010000000001")),
    ("Bản Phố", COMMUNE, "Hết hạn 10/12", card("2025-12-11", "2026-12-10")),
    ("Bản Phố", COMMUNE, "Hết hạn 30/11", card("2025-12-01", "2026-11-30")),
    ("Bản Phố", COMMUNE, "Hết hạn 15/10", card("2025-10-16", "2026-10-15")),
    ("Bản Phố", COMMUNE, "Hết hạn 31/05", card("2025-06-01", "2026-05-31")),
    ("Bản Phố", COMMUNE, "Chưa có thẻ", card(None, None)),
    ("Bản Phố", COMMUNE, "Đã rời hộ", card("2026-01-01", "2027-06-30", removed=True)),
    ("Bản Phố", COMMUNE, "Hộ nghèo", card(None, "2027-12-31", bhyt_card="HN4010000000002")),
    (
        "Bản Phố",
        COMMUNE,
        "Trẻ em",
        card("2021-11-29", "2026-11-28", bhyt_group="child_under_6"),
    ),
    ("Bản Phố", COMMUNE, "Chờ thẻ mới", card("2026-12-01", "2027-11-30")),
    # Bản Mới, commune 04001
    ("Bản Mới", COMMUNE, "Có thẻ Bản Mới", card(None, "2027-03-01")),
    ("Bản Mới", COMMUNE, "Hết hạn 20/11", card("2025-11-21", "2026-11-20")),
    # A village name that would be a formula in a spreadsheet, commune 04001
    (FORMULA_VILLAGE, COMMUNE, "Người thôn lạ", card(None, None)),
    # Thôn Xa, commune 04099
    ("Thôn Xa", OTHER, "Có thẻ Thôn Xa", card("2026-06-01", "2027-05-31")),
    ("Thôn Xa", OTHER, "Chưa có thẻ Thôn Xa", card(None, None)),
]


@dataclass
class Scene:
    near_agent: str
    far_agent: str


def upload(laptop: Laptop, commune: str) -> None:
    """One household per village of the commune, with its members, over the sync protocol."""
    villages = sorted({v for v, c, _, _ in PEOPLE if c == commune})
    records = []
    for village in villages:
        home = household(commune, village=village)
        records.append(laptop.record("household", home))
        for v, c, name, fields in PEOPLE:
            if (v, c) == (village, commune):
                person = member(home["id"], full_name=name, **fields)
                records.append(laptop.record("member", person))
    ack = laptop.send(*records)
    assert ack["refused"] == [], ack["refused"]


def build_scene(server: Server) -> Scene:
    add_supervisor(server, "tinh", "admin", [])
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    near = server.add_agent(NEAR_AGENT, [COMMUNE])
    far = server.add_agent(FAR_AGENT, [OTHER])
    upload(server.laptop(near), COMMUNE)
    upload(server.laptop(far), OTHER)
    return Scene(near, far)


@pytest.fixture
def scene(server: Server) -> Scene:
    return build_scene(server)


def _row(page: str, css: str, first_cell: str) -> list[str]:
    """The text of each cell of the table row of class `css` whose first cell is given."""
    for row in re.findall(rf'<tr class="{css}">(.*?)</tr>', page, re.S):
        cells = [
            re.sub(r"<[^>]+>|\s+", " ", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no {css} row {first_cell!r}")


def _stored_targets(server: Server) -> dict[str, tuple[int, str]]:
    with server.engine.connect() as conn:
        return {
            r.commune_code: (r.percent_tenths, r.due_on)
            for r in conn.execute(sa.select(coverage_targets))
        }


def test_counts_per_commune_and_village_match_hand_counts(server: Server, scene: Scene) -> None:
    """Residents, insured (expiring included), expiring within 30 days, lapsed, never and
    covered elsewhere, per commune and village, as counted by hand from PEOPLE."""
    with signed_in(server, "tinh") as client:
        page = client.get("/web/coverage").text
    assert "Bao phủ BHYT ngày 23/11/2026" in page
    # Residents, insured, expiring, lapsed, never, covered elsewhere, rate.
    # Bản Phố: the removed member is not a resident; the paid card from 01/12 is not yet
    # insurance; the HN card (poor) and the TE group (child) are covered elsewhere.
    assert _row(page, "village", "Bản Phố")[1:] == ["04001", "9", "5", "3", "2", "2", "2", "55,6%"]
    assert _row(page, "village", "Bản Mới")[1:] == ["04001", "2", "1", "0", "1", "0", "0", "50,0%"]
    assert _row(page, "village", "Thôn Xa")[1:] == ["04099", "2", "1", "0", "0", "1", "0", "50,0%"]
    near = _row(page, "commune", "Xã 04001")
    assert near[1:8] == ["12", "6", "3", "3", "3", "2", "50,0%"]
    assert "Chưa đặt mục tiêu" in near[8]
    assert _row(page, "commune", "Xã 04099")[1:8] == ["2", "1", "0", "0", "1", "0", "50,0%"]
    # Whole province: 7 of 14.
    assert "7 / 14 người" in page


def test_a_day_other_than_today(server: Server, scene: Scene) -> None:
    """?on= counts on that day: on 01/06/2026 the card ending 31/05 has just lapsed and the
    Thôn Xa card from 01/06 has started."""
    with signed_in(server, "tinh") as client:
        page = client.get("/web/coverage?on=2026-06-01").text
    assert "Bao phủ BHYT ngày 01/06/2026" in page
    # Bản Phố on 01/06: insured 1 (from 01/01), 2, 3, 4, HN, TE; 31/05 lapsed; 01/12 never.
    assert _row(page, "village", "Bản Phố")[1:] == ["04001", "9", "6", "0", "1", "2", "2", "66,7%"]
    assert _row(page, "village", "Thôn Xa")[1:] == ["04099", "2", "1", "0", "0", "1", "0", "50,0%"]


def test_target_gap_renewals_and_trend(server: Server, scene: Scene) -> None:
    """95 % of 12 residents needs 12 insured (11/12 = 91,7 %): 6 more. Renewals: the card
    ending 30/11 this month, and the two lapsed under 3 months (15/10, 20/11); the child's
    card is paid elsewhere and the one lapsed since May waits anew."""
    with signed_in(server, "tinh") as client:
        page = client.get("/web/coverage").text
        saved = client.post(
            "/web/coverage/target",
            data={
                "csrf": csrf_of(page),
                "commune_code": COMMUNE,
                "percent": "95",
                "due_on": "2026-12-31",
            },
        )
        assert saved.status_code == 303
        page = client.get(saved.headers["location"]).text
        lower = client.post(
            "/web/coverage/target",
            data={
                "csrf": csrf_of(page),
                "commune_code": OTHER,
                "percent": "50,0 %",
                "due_on": "31/12/2027",
            },
        )
        assert lower.status_code == 303
        page = client.get(lower.headers["location"]).text
    assert "Đã lưu mục tiêu bao phủ của xã 04099." in page
    assert _stored_targets(server) == {COMMUNE: (950, "2026-12-31"), OTHER: (500, "2027-12-31")}
    near = _row(page, "commune", "Xã 04001")
    assert "còn thiếu 6 người để đạt 95,0% (hạn 31/12/2026)" in near[8]
    assert "đã đạt mục tiêu 50,0% (hạn 31/12/2027)" in _row(page, "commune", "Xã 04099")[8]
    assert page.count('class="goal"') >= 2

    assert "Cần gia hạn tháng 11/2026" in page
    assert _row(page, "renewal", NEAR_AGENT)[1:] == ["04001", "1", "2", "3"]
    assert _row(page, "renewal", FAR_AGENT)[1:] == ["04099", "0", "0", "0"]

    # The trend: insured at the end of each month, from the cards on record.
    assert "ngày của thẻ cũ không được giữ lại" in page
    months = re.findall(r'<tr class="month">\s*<td>(\d\d/\d{4})</td>\s*<td class="num">(\d+)', page)
    assert len(months) == 12
    assert (months[0][0], months[-1][0]) == ("12/2025", "11/2026")
    trend = dict(months)
    # 31/12/2025: all but the card from 01/01/2026, the one from 01/12/2026, Thôn Xa's from
    # 01/06 and the three never insured: 8 of 14.
    assert trend["12/2025"] == "8"
    # 31/05/2026: the card ending that day still counts; Thôn Xa's has not started.
    assert trend["05/2026"] == "9"
    # 31/10/2026: the card ending 15/10 has lapsed; Thôn Xa's counts.
    assert trend["10/2026"] == "8"
    assert trend["11/2026"] == "7"


def test_commune_supervisor_sees_and_sets_only_their_communes(server: Server, scene: Scene) -> None:
    with signed_in(server, "xa1") as client:
        page = client.get("/web/coverage").text
        assert "Xã 04001" in page and "Bản Phố" in page
        for other in (OTHER, "Thôn Xa", FAR_AGENT):
            assert other not in page
        assert "6 / 12 người" in page
        assert re.findall(r'<option value="(\d+)"', page) == [COMMUNE]
        refused = client.post(
            "/web/coverage/target",
            data={
                "csrf": csrf_of(page),
                "commune_code": OTHER,
                "percent": "90",
                "due_on": "2026-12-31",
            },
        )
        assert refused.status_code == 404
        exported = client.get("/web/export/coverage.csv").content.decode("utf-8-sig")
        assert COMMUNE in exported and OTHER not in exported and "Thôn Xa" not in exported
        book = openpyxl.load_workbook(io.BytesIO(client.get("/web/export/coverage.xlsx").content))
        sheet = book.active
        assert sheet is not None
        assert {row[2] for row in sheet.iter_rows(min_row=2, values_only=True)} == {COMMUNE}
        allowed = client.post(
            "/web/coverage/target",
            data={
                "csrf": csrf_of(page),
                "commune_code": COMMUNE,
                "percent": "90",
                "due_on": "2026-12-31",
            },
        )
        assert allowed.status_code == 303
    assert _stored_targets(server) == {COMMUNE: (900, "2026-12-31")}


def test_post_without_the_csrf_token_is_refused(server: Server, scene: Scene) -> None:
    form = {"commune_code": COMMUNE, "percent": "95", "due_on": "2026-12-31"}
    with signed_in(server, "tinh") as client, signed_in(server, "xa1") as other:
        missing = client.post("/web/coverage/target", data=form)
        assert missing.status_code == 403 and "CSRF" in missing.text
        foreign = csrf_of(other.get("/web/coverage").text)
        assert (
            client.post("/web/coverage/target", data={**form, "csrf": foreign}).status_code == 403
        )
    with server.http() as anonymous:
        signed_out = anonymous.post("/web/coverage/target", data=form)
        assert signed_out.status_code == 303 and "/web/login" in signed_out.headers["location"]
    assert _stored_targets(server) == {}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("percent", "", "Hãy nhập tỷ lệ bao phủ mục tiêu"),
        ("percent", "   ", "Hãy nhập tỷ lệ bao phủ mục tiêu"),
        ("percent", "chín lăm", "phải là một số từ 0 đến 100"),
        ("percent", "95.55", "nhiều nhất một chữ số sau dấu phẩy"),
        ("percent", "-5", "phải là một số từ 0 đến 100"),
        ("percent", "1e2", "phải là một số từ 0 đến 100"),
        ("percent", "100.1", "không được vượt quá 100%"),
        ("percent", "999", "không được vượt quá 100%"),
        ("percent", "9" * 40, "phải là một số từ 0 đến 100"),
        ("due_on", "", "Hãy nhập ngày cần đạt mục tiêu"),
        ("due_on", "31/02/2026", "Ngày cần đạt mục tiêu không hợp lệ"),
        ("due_on", "ngày mai", "Ngày cần đạt mục tiêu không hợp lệ"),
        ("due_on", "2026-11-22", "phải từ hôm nay (23/11/2026) đến 31/12/2036"),
        ("due_on", "2037-01-01", "phải từ hôm nay (23/11/2026) đến 31/12/2036"),
        ("due_on", "9999-12-31", "phải từ hôm nay"),
        ("commune_code", "4001", "Mã xã phải gồm đúng 5 chữ số"),
        ("commune_code", "04001' OR 1=1", "Mã xã phải gồm đúng 5 chữ số"),
        ("commune_code", "04555", "Không có xã mã 04555"),
    ],
)
def test_bad_target_is_refused_with_a_reason(
    server: Server, scene: Scene, field: str, value: str, message: str
) -> None:
    form = {"commune_code": COMMUNE, "percent": "95", "due_on": "2026-12-31", field: value}
    with signed_in(server, "tinh") as client:
        csrf = csrf_of(client.get("/web/coverage").text)
        refused = client.post("/web/coverage/target", data={**form, "csrf": csrf})
    assert refused.status_code == 400, refused.text
    assert message in refused.text
    assert _stored_targets(server) == {}


def test_accepted_forms_of_a_target(server: Server, scene: Scene) -> None:
    """Comma or point, a percent sign, 0 and 100, today, ten years ahead; a new one replaces."""
    with signed_in(server, "tinh") as client:
        csrf = csrf_of(client.get("/web/coverage").text)
        for percent, due, stored in (
            ("95,5", "31/12/2026", (955, "2026-12-31")),
            ("100", "2036-12-31", (1000, "2036-12-31")),
            ("0 %", "23/11/2026", (0, "2026-11-23")),
            ("87.3", "1/6/2027", (873, "2027-06-01")),
        ):
            form = {"csrf": csrf, "commune_code": COMMUNE, "percent": percent, "due_on": due}
            assert client.post("/web/coverage/target", data=form).status_code == 303
            assert _stored_targets(server) == {COMMUNE: stored}


@pytest.mark.parametrize(
    "on", ["hôm qua", "2026-02-30", "1999-12-31", "2028-01-01", "2026-11-23" * 50, "23-11-2026"]
)
def test_bad_day_is_refused_with_a_reason(server: Server, scene: Scene, on: str) -> None:
    with signed_in(server, "tinh") as client:
        page = client.get("/web/coverage", params={"on": on})
        export = client.get("/web/export/coverage.csv", params={"on": on})
    assert page.status_code == 400 and "Ngày xem không hợp lệ" in page.text
    assert "31/12/2027" in page.text
    assert export.status_code == 400


def test_exports_parse_back(server: Server, scene: Scene) -> None:
    """CSV and XLSX hold the page's figures; a formula-like village name stays text."""
    with signed_in(server, "tinh") as client:
        csrf = csrf_of(client.get("/web/coverage").text)
        form = {"csrf": csrf, "commune_code": COMMUNE, "percent": "95", "due_on": "2026-12-31"}
        assert client.post("/web/coverage/target", data=form).status_code == 303
        response = client.get("/web/export/coverage.csv")
        assert response.headers["content-type"].startswith("text/csv")
        assert "bao-phu-bhyt-2026-11-23.csv" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        near = next(r for r in rows if r["Cấp"] == "Xã" and r["Mã xã"] == COMMUNE)
        assert (near["Người cư trú"], near["Có thẻ BHYT"], near["Tỷ lệ bao phủ (%)"]) == (
            "12",
            "6",
            "50.0",
        )
        assert (near["Mục tiêu (%)"], near["Hạn đạt mục tiêu"], near["Còn thiếu (người)"]) == (
            "95.0",
            "31/12/2026",
            "6",
        )
        village = next(r for r in rows if r["Thôn/bản"] == "Bản Phố")
        assert [village[k] for k in ("Sắp hết hạn (30 ngày)", "Đã hết hạn", "Chưa có thẻ")] == [
            "3",
            "2",
            "2",
        ]
        assert village["Có thẻ do nơi khác đóng"] == "2" and village["Ngày"] == "23/11/2026"
        assert any(r["Thôn/bản"] == "'" + FORMULA_VILLAGE for r in rows)

        book = openpyxl.load_workbook(
            io.BytesIO(client.get("/web/export/coverage.xlsx?on=2026-06-01").content)
        )
        sheet = book.active
        assert sheet is not None
        values = list(sheet.iter_rows(values_only=True))
        assert values[0][:4] == ("Ngày", "Cấp", "Mã xã", "Thôn/bản")
        by_place = {(r[2], r[3]): r for r in values[1:]}
        assert by_place[(COMMUNE, "Bản Phố")][4:11] == (9, 6, 66.7, 0, 1, 2, 2)
        # On 01/06 both Bản Mới cards are valid: 8 of 12; 95 % still needs all 12.
        assert by_place[(COMMUNE, None)][4:14] == (12, 8, 66.7, 0, 1, 3, 2, 95, "31/12/2026", 4)
        assert by_place[(OTHER, None)][4:7] == (2, 1, 50.0)
        assert "'" + FORMULA_VILLAGE in {r[3] for r in values[1:]}
        assert client.get("/web/export/coverage.pdf").status_code == 404


def test_page_is_linked_from_the_nav(server: Server, scene: Scene) -> None:
    with signed_in(server, "xa1") as client:
        for path in ("/web/", "/web/receipts", "/web/coverage"):
            assert 'href="/web/coverage"' in client.get(path).text


def test_the_server_reads_groups_as_the_laptop_does() -> None:
    """The laptop and the server read a member's group with one set of rules, so a commune's
    coverage is the same number in both places."""
    assert laptop_participation.bhyt_group_of is participation_codes.bhyt_group_of
    assert laptop_participation.group_from_card is participation_codes.group_from_card
    assert participation_codes.BHYT_COVERED_GROUPS == laptop_participation.BHYT_COVERED_GROUPS
    for group, prefixes in participation_codes.CARD_PREFIXES.items():
        for prefix in prefixes:
            assert participation_codes.group_from_card(f"{prefix}4010000000001") == group
    cases = {
        ("Hộ cận nghèo", None): "near_poor",
        ("HỌC SINH", None): "student",
        ("Công ty may", None): "other_covered",
        ("", "TE4010000000001"): "child_under_6",
        (None, "0100000001"): "household",
    }
    for (text, card), group in cases.items():
        assert (
            participation_codes.bhyt_group_of(bhyt_group=None, bhyt_card=card, covered_by=text)
            == group
        )
