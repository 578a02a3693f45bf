"""/web/targets on the real server: targets per agent (sent to the laptop), per commune and per
village, by form and from an uploaded XLSX (all rows or none, every bad row listed), with the
month's progress; scope, CSRF and hostile input change nothing; every action is audited."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from typing import Any

import httpx
import openpyxl
import pytest
import sqlalchemy as sa

from sync.server import audit
from sync.server.schema import area_targets, targets
from sync.server.web.targets_pages import HEADERS, MAX_ROWS
from tests.sync.conftest import Server
from tests.sync.test_web import COMMUNE, OTHER, World, build_world, csrf_of, signed_in

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def world(server: Server) -> World:
    return build_world(server)


def _agent_targets(server: Server) -> set[tuple[str, str, str, int]]:
    with server.engine.connect() as conn:
        rows = conn.execute(
            sa.select(targets.c.agent_id, targets.c.scheme, targets.c.month, targets.c["count"])
        ).all()
    return {(r[0], r[1], r[2], r[3]) for r in rows}


def _area_targets(server: Server) -> set[tuple[str, str, str, str, int, str]]:
    with server.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                area_targets.c.commune_code,
                area_targets.c.village,
                area_targets.c.scheme,
                area_targets.c.month,
                area_targets.c["count"],
                area_targets.c.set_by,
            )
        ).all()
    return {(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows}


def _entries(server: Server) -> list[audit.Entry]:
    with server.engine.connect() as conn:
        return audit.entries(conn, None)


def _stored(server: Server) -> tuple[Any, ...]:
    return _agent_targets(server), _area_targets(server), len(_entries(server))


def _cells(page: str, css: str) -> list[list[str]]:
    return [
        [
            " ".join(re.sub(r"<[^>]+>", " ", c).split())
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(rf'<tr class="{css}">(.*?)</tr>', page, re.S)
    ]


def _post(client: httpx.Client, path: str, **form: Any) -> httpx.Response:
    csrf = csrf_of(client.get("/web/targets").text)
    return client.post(path, data={"csrf": csrf, **{k: str(v) for k, v in form.items()}})


def xlsx_of(rows: list[list[Any]], *, headers: tuple[str, ...] = HEADERS) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(headers))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(
    client: httpx.Client, body: bytes, *, name: str = "chi-tieu.xlsx", csrf: bool = True
) -> httpx.Response:
    data = {"csrf": csrf_of(client.get("/web/targets").text)} if csrf else {}
    return client.post("/web/targets/upload", data=data, files={"file": (name, body, XLSX)})


def test_agent_target_by_form_reaches_the_laptop_and_the_audit_log(
    server: Server, world: World
) -> None:
    laptop = server.laptop(world.near_agent, "máy mới")
    _, cursor = laptop.pull()
    with signed_in(server, "xa1") as client:
        done = _post(
            client,
            "/web/targets/agent",
            agent_id=world.near_agent,
            scheme="bhxh_voluntary",
            month="2026-12",
            count=7,
        )
        assert done.status_code == 303
        page = client.get(done.headers["location"]).text
    assert "Chỉ tiêu tháng 12/2026" in page and "Đã lưu 1 chỉ tiêu." in page
    assert ["Trần Thị Bình", "BHXH tự nguyện", "7", "0", "0%", ""] in _cells(page, "agent-target")
    assert (world.near_agent, "bhxh_voluntary", "2026-12", 7) in _agent_targets(server)
    changes, _ = laptop.pull(cursor)
    (target,) = [c["data"] for c in changes if c["entity"] == "target"]
    assert (target["scheme"], target["month"], target["count"]) == ("bhxh_voluntary", "2026-12", 7)
    entry = _entries(server)[0]
    assert (entry.action, entry.actor, entry.target, entry.communes) == (
        "target_set",
        "xa1",
        world.near_agent,
        (COMMUNE,),
    )
    assert entry.detail == {
        "agent": "Trần Thị Bình",
        "scheme": "bhxh_voluntary",
        "month": "2026-12",
        "count": 7,
    }


def test_commune_and_village_targets_by_form_with_progress(server: Server, world: World) -> None:
    """Two people paid for BHYT in 04001 in 11/2026 (one in Bản Phố, one in Bản Mới)."""
    with signed_in(server, "xa1") as client:
        for village, count in (("", 10), ("  Bản   Phố ", 3), ("", 4)):
            done = _post(
                client,
                "/web/targets/area",
                commune_code=COMMUNE,
                village=village,
                scheme="bhyt_household",
                month="11/2026",
                count=count,
            )
            assert done.status_code == 303
        page = client.get("/web/targets?month=2026-11").text
    assert _area_targets(server) == {
        (COMMUNE, "", "bhyt_household", "2026-11", 4, "xa1"),
        (COMMUNE, "Bản Phố", "bhyt_household", "2026-11", 3, "xa1"),
    }
    rows = [r[:6] for r in _cells(page, "area-target")]
    assert rows == [
        [COMMUNE, "(cả xã)", "BHYT hộ gia đình", "4", "2", "50%"],
        [COMMUNE, "Bản Phố", "BHYT hộ gia đình", "3", "1", "33%"],
    ]
    # The agent's own target (4, set in the scene) and the two paid.
    assert ["Trần Thị Bình", "BHYT hộ gia đình", "4", "2", "50%", ""] in _cells(
        page, "agent-target"
    )
    # Newest first.
    actions = [
        (e.target, e.communes, e.detail) for e in _entries(server) if e.action == "target_set"
    ]
    assert actions == [
        (
            COMMUNE,
            (COMMUNE,),
            {"village": "", "scheme": "bhyt_household", "month": "2026-11", "count": 4},
        ),
        (
            f"{COMMUNE}/Bản Phố",
            (COMMUNE,),
            {"village": "Bản Phố", "scheme": "bhyt_household", "month": "2026-11", "count": 3},
        ),
        (
            COMMUNE,
            (COMMUNE,),
            {"village": "", "scheme": "bhyt_household", "month": "2026-11", "count": 10},
        ),
    ]


def test_scope_and_csrf_change_nothing(server: Server, world: World) -> None:
    both = server.add_agent("Hà Thị Dung", [COMMUNE, OTHER])
    before = _stored(server)
    agent_form = {"scheme": "bhyt", "month": "2026-12", "count": 5}
    area_form = {"scheme": "bhyt", "month": "2026-12", "count": 5, "village": ""}
    with signed_in(server, "xa1") as client:
        page = client.get("/web/targets?month=2026-11").text
        assert "Lê Văn Cường" not in page and OTHER not in page and "Hà Thị Dung" not in page
        far = _post(client, "/web/targets/agent", agent_id=world.far_agent, **agent_form)
        assert far.status_code == 404
        partly = _post(client, "/web/targets/agent", agent_id=both, **agent_form)
        assert partly.status_code == 403
        unknown = _post(client, "/web/targets/agent", agent_id="ai-đó", **agent_form)
        assert unknown.status_code == 404
        other = _post(client, "/web/targets/area", commune_code=OTHER, **area_form)
        assert other.status_code == 404
        for path, form in (
            ("/web/targets/agent", {"agent_id": world.near_agent, **agent_form}),
            ("/web/targets/area", {"commune_code": COMMUNE, **area_form}),
        ):
            refused = client.post(path, data={k: str(v) for k, v in form.items()})
            assert refused.status_code == 403 and "CSRF" in refused.text
        no_csrf = _upload(client, xlsx_of([["2026-12", COMMUNE, "", "", "BHYT", 5]]), csrf=False)
        assert no_csrf.status_code == 403
        sheet = xlsx_of(
            [
                ["2026-12", COMMUNE, "", "", "BHYT", 5],
                ["2026-12", OTHER, "", "", "BHYT", 5],
                ["2026-12", "", "", "Lê Văn Cường", "BHYT", 5],
            ]
        )
        refused = _upload(client, sheet)
        assert refused.status_code == 400
        assert "Dòng 3: xã 04099 không thuộc địa bàn của bạn" in refused.text
        assert "Dòng 4: không có nhân viên thu “Lê Văn Cường” trong địa bàn của bạn" in refused.text
    assert _stored(server) == before


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"month": "2026-13"}, "Tháng 13/2026 không hợp lệ."),
        ({"month": "13/2026"}, "Tháng 13/2026 không hợp lệ."),
        ({"month": "1999-12"}, "Tháng 12/1999 không hợp lệ."),
        ({"month": "tháng mười"}, "Tháng “tháng mười” không hợp lệ"),
        ({"count": "-1"}, "Chỉ tiêu -1 phải từ 0 đến 100.000"),
        ({"count": "100001"}, "Chỉ tiêu 100001 phải từ 0 đến 100.000"),
        ({"count": "9" * 40}, "phải là số nguyên"),
        ({"count": "1e9"}, "phải là số nguyên"),
        ({"count": ""}, "Thiếu chỉ tiêu"),
        ({"scheme": "bảo hiểm"}, "Chương trình “bảo hiểm” không hợp lệ"),
        ({"commune_code": "4001x"}, "Mã xã “4001x” phải gồm 5 chữ số"),
        ({"commune_code": "04777"}, "Xã 04777 không thuộc địa bàn của bạn hoặc chưa có"),
        ({"village": "x" * 300}, "Ô dài quá 200 ký tự."),
    ],
)
def test_bad_form_values_are_refused_with_a_message(
    server: Server, world: World, form: dict[str, str], message: str
) -> None:
    before = _stored(server)
    base = {"scheme": "bhyt", "month": "2026-12", "count": "5"}
    with signed_in(server, "tinh") as client:
        path = (
            "/web/targets/area" if {"commune_code", "village"} & set(form) else "/web/targets/agent"
        )
        fields = {**base, "commune_code": COMMUNE, "agent_id": world.near_agent, **form}
        refused = _post(client, path, **fields)
    assert refused.status_code == 400
    assert message in refused.text
    assert _stored(server) == before


def test_a_sheet_sets_agent_commune_and_village_targets_in_one_go(
    server: Server, world: World
) -> None:
    laptop = server.laptop(world.near_agent, "máy mới")
    _, cursor = laptop.pull()
    with signed_in(server, "tinh") as client:
        template = client.get("/web/targets/template.xlsx")
        assert template.status_code == 200
        assert template.headers["content-type"] == XLSX
        book = openpyxl.load_workbook(io.BytesIO(template.content))
        sheet = book.worksheets[0]
        assert tuple(c.value for c in sheet[1]) == HEADERS
        assert sheet.max_row == 1, "the template holds no example rows that would be stored"
        for row in (
            ["2026-12", COMMUNE, "", "", "BHYT", 30],
            ["12/2026", "04001", "Bản Phố", None, "bhyt_household", "12"],
            [dt.datetime(2026, 12, 1), 4099, "", "", "BHXH tự nguyện", 2.0],
            ["2026-12", "", "", "trần thị bình", "bhxh", 6],
            ["2026-12", OTHER, "", world.far_agent, "BHYT", 9],
            [None, None, None, None, None, None],
        ):
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        done = _upload(client, out.getvalue(), name="chỉ tiêu tháng 12.xlsx")
        assert done.status_code == 303
        page = client.get(done.headers["location"]).text
    assert "Đã lưu 5 chỉ tiêu." in page
    assert _area_targets(server) == {
        (COMMUNE, "", "bhyt_household", "2026-12", 30, "tinh"),
        (COMMUNE, "Bản Phố", "bhyt_household", "2026-12", 12, "tinh"),
        (OTHER, "", "bhxh_voluntary", "2026-12", 2, "tinh"),
    }
    assert {
        (world.near_agent, "bhxh_voluntary", "2026-12", 6),
        (world.far_agent, "bhyt_household", "2026-12", 9),
    } <= _agent_targets(server)
    changes, _ = laptop.pull(cursor)
    assert [c["data"]["count"] for c in changes if c["entity"] == "target"] == [6]
    (entry,) = [e for e in _entries(server) if e.action == "targets_upload"]
    assert (entry.action, entry.target, entry.communes) == (
        "targets_upload",
        "chỉ tiêu tháng 12.xlsx",
        (COMMUNE, OTHER),
    )
    assert entry.detail["rows"] == 5
    assert (entry.detail["agent_targets"], entry.detail["area_targets"]) == (2, 3)


def test_one_bad_row_among_good_ones_stores_nothing_and_lists_every_bad_row(
    server: Server, world: World
) -> None:
    before = _stored(server)
    sheet = xlsx_of(
        [
            ["2026-12", COMMUNE, "", "", "BHYT", 30],
            ["2026-13", COMMUNE, "", "", "BHYT", 30],
            ["2026-12", COMMUNE, "Bản Phố", "", "BHYT", -4],
            ["2026-12", COMMUNE, "", "Trần Thị Bình", "BHYT", 3],
            ["2026-12", COMMUNE, "Bản Phố", "Trần Thị Bình", "BHYT", 3],
            ["2026-12", "", "", "", "BHYT", 3],
            ["2026-12", COMMUNE, "", "", "BHXH", "=1+1"],
            ["2026-12", COMMUNE, "", "", "Thẻ vàng", 1],
            ["2026-12", COMMUNE, " ", None, "bhyt", 31],
            ["2026-12", "abc", "", "", "BHYT", 1],
        ]
    )
    with signed_in(server, "tinh") as client:
        refused = _upload(client, sheet)
    assert refused.status_code == 400
    page = refused.text
    assert "Bảng tính chưa được lưu:" in page and "8 trong 10 dòng có lỗi" in page
    listed = re.findall(r"<li>(Dòng \d+: .*?)</li>", page)
    assert listed == [
        "Dòng 3: tháng 13/2026 không hợp lệ",
        "Dòng 4: chỉ tiêu -4 phải từ 0 đến 100.000",
        "Dòng 6: chỉ tiêu của nhân viên thu không ghi thôn/bản",
        "Dòng 7: cần mã xã (hoặc tên nhân viên thu)",
        "Dòng 8: thiếu chỉ tiêu (ô trống, hoặc công thức thay vì con số)",
        "Dòng 9: chương trình “Thẻ vàng” không hợp lệ (ghi BHYT hoặc BHXH)",
        "Dòng 10: trùng với dòng 2",
        "Dòng 11: mã xã “abc” phải gồm 5 chữ số",
    ]
    assert _stored(server) == before


def _zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"<" + b" " * (60 * 1024 * 1024))
    return out.getvalue()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"PK\x03\x04 not really a zip", "không phải bảng tính Excel (.xlsx) đọc được"),
        (b"Th\xe1ng,X\xe3\n2026-12,04001\n", "không phải bảng tính Excel (.xlsx) đọc được"),
        (b"", "Tệp trống"),
        (b"\x00" * (2 * 1024 * 1024 + 1), "Tệp quá lớn: tối đa 2 MB"),
        (b"\x00" * (8 * 1024 * 1024), "Tệp quá lớn: tối đa 2 MB"),
        (_zip_bomb(), "giải nén ra quá lớn"),
        (xlsx_of([], headers=("Month", "Commune")), "Dòng đầu của bảng tính phải là các cột"),
        (xlsx_of([]), "không có dòng chỉ tiêu nào"),
        (xlsx_of([["2026-12", COMMUNE, "", "", "BHYT", 1]] * (MAX_ROWS + 1)), "quá 5.000 dòng"),
    ],
    ids=[
        "broken",
        "csv",
        "empty",
        "oversized",
        "far-oversized",
        "zip-bomb",
        "header",
        "no-rows",
        "too-many",
    ],
)
def test_a_malformed_or_oversized_file_is_refused(
    server: Server, world: World, body: bytes, message: str
) -> None:
    before = _stored(server)
    with signed_in(server, "tinh") as client:
        refused = _upload(client, body)
    assert refused.status_code == 400
    assert message in refused.text
    assert _stored(server) == before


def test_an_upload_without_a_file_or_as_a_plain_form_is_refused(
    server: Server, world: World
) -> None:
    before = _stored(server)
    with signed_in(server, "tinh") as client:
        csrf = csrf_of(client.get("/web/targets").text)
        plain = client.post("/web/targets/upload", data={"csrf": csrf})
        assert plain.status_code == 400 and "Hãy chọn tệp bảng tính" in plain.text
        nameless = client.post(
            "/web/targets/upload",
            data={"csrf": csrf},
            files={"other": ("x.xlsx", b"abc", XLSX)},
        )
        assert nameless.status_code == 400 and "Hãy chọn tệp bảng tính" in nameless.text
        broken = client.post(
            "/web/targets/upload",
            content=b'--xyz\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n',
            headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        )
        assert broken.status_code in (400, 403)
        assert "<html" in broken.text.lower()
    assert _stored(server) == before
