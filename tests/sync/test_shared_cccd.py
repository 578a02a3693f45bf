"""People who share a CCCD: the same resident list imported on two laptops is flagged for a
supervisor, who merges them; the merge reaches every laptop."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.sync.client_fixtures import COMMUNE, OTHER, Laptop, laptop_factory
from tests.sync.conftest import Server
from tests.sync.test_web import add_supervisor, csrf_of, signed_in

MakeLaptop = Callable[[str], Laptop]
LIST = "Họ và tên,Ngày sinh,Giới tính,Số CCCD,Thôn/Bản,Chủ hộ\n"
PEOPLE = (
    "Vàng Seo Sử,05/03/1975,Nam,011075000123,Bản Phố,x\n"
    "Lò Thị Mai,12/08/1980,Nữ,011180000456,Bản Phố,\n"
    "Giàng A Pó,01/01/1990,Nam,,Bản Phố,x\n"
)


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    yield from laptop_factory(server, tmp_path)


def _imported_on_two_laptops(
    server: Server, laptops: MakeLaptop, tmp_path: Path, communes: tuple[str, str]
) -> tuple[Laptop, Laptop]:
    """Two agents import the same resident list into their communes and sync."""
    made = []
    for name, commune in zip(("a", "b"), communes, strict=True):
        laptop = laptops(name)
        laptop.enrol(server.add_agent(f"Nhân viên {name}", [commune]))
        resident_list = tmp_path / f"danh-sach-{name}.csv"
        resident_list.write_text(LIST + PEOPLE, encoding="utf-8")
        from fieldapp.importer import import_residents

        report = import_residents(
            laptop.ws, resident_list, province_code="04", commune_code=commune
        )
        assert report.members_added == 3
        assert laptop.sync().ok
        made.append(laptop)
    return made[0], made[1]


def _groups(page: str) -> list[str]:
    return re.findall(r"CCCD (\d{12}) · (\d+) bản ghi", page)


def test_the_same_list_on_two_laptops_is_flagged_and_merged_back_to_both(
    server: Server, laptops: MakeLaptop, tmp_path: Path
) -> None:
    """Two people with a CCCD each appear twice; the supervisor keeps one record of each and
    both laptops drop the other on their next pull. A person without a CCCD is not flagged."""
    a, b = _imported_on_two_laptops(server, laptops, tmp_path, (COMMUNE, COMMUNE))
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    with signed_in(server, "xa1") as web:
        page = web.get("/web/people")
        assert page.status_code == 200
        assert _groups(page.text) == [("011075000123", "2"), ("011180000456", "2")]
        for _ in range(2):
            page = web.get("/web/people")
            keep = re.search(r'name="keep" value="([^"]+)"', page.text)
            assert keep is not None
            merged = web.post(
                "/web/people/merge", data={"csrf": csrf_of(page.text), "keep": keep.group(1)}
            )
            assert merged.status_code == 303
        page = web.get("/web/people")
        assert _groups(page.text) == [] and "Không có ai trùng số CCCD" in page.text
        # The merges made are listed: one row for each record merged away.
        assert "Đã gộp gần đây" in page.text
        assert page.text.count("<td>011075000123</td>") == 1
        assert page.text.count("<td>011180000456</td>") == 1
    for laptop in (a, b):
        assert laptop.sync().ok
    for laptop in (a, b):
        names = [
            m.full_name
            for home in laptop.ws.households.in_village("Bản Phố")
            for m in laptop.ws.members.of_household(home.id)
        ]
        # Each laptop has both lists; a person with a CCCD is left once, the one without a
        # CCCD cannot be told apart and stays twice.
        assert names.count("Vàng Seo Sử") == 1 and names.count("Lò Thị Mai") == 1
        assert names.count("Giàng A Pó") == 2
    assert [h.full_name for h in a.ws.search.find("011075000123")] == [
        h.full_name for h in b.ws.search.find("011075000123")
    ]


def test_a_commune_supervisor_merges_only_what_is_all_theirs(
    server: Server, laptops: MakeLaptop, tmp_path: Path
) -> None:
    """When the records lie in two communes, a supervisor of one sees the group but cannot
    merge it (the form is not offered, and a forged post is refused with nothing changed);
    the province can."""
    _imported_on_two_laptops(server, laptops, tmp_path, (COMMUNE, OTHER))
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    add_supervisor(server, "tinh", "admin", [])
    with signed_in(server, "xa1") as web:
        page = web.get("/web/people")
        assert len(_groups(page.text)) == 2 and 'name="keep"' not in page.text
        assert "cán bộ cấp tỉnh gộp nhóm này" in page.text
    with signed_in(server, "tinh") as web:
        page = web.get("/web/people")
        keep = re.search(r'name="keep" value="([^"]+)"', page.text)
        assert keep is not None
    with signed_in(server, "xa1") as web:
        page = web.get("/web/people")
        refused = web.post(
            "/web/people/merge", data={"csrf": csrf_of(page.text), "keep": keep.group(1)}
        )
        assert refused.status_code == 403
        assert len(_groups(web.get("/web/people").text)) == 2
    with signed_in(server, "tinh") as web:
        page = web.get("/web/people")
        done = web.post(
            "/web/people/merge", data={"csrf": csrf_of(page.text), "keep": keep.group(1)}
        )
        assert done.status_code == 303
        assert len(_groups(web.get("/web/people").text)) == 1


def test_merging_needs_the_session_s_csrf_and_a_known_record(
    server: Server, laptops: MakeLaptop, tmp_path: Path
) -> None:
    """Without the CSRF value, or with a record that shares its CCCD with nobody, nothing is
    merged."""
    _imported_on_two_laptops(server, laptops, tmp_path, (COMMUNE, COMMUNE))
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    with signed_in(server, "xa1") as web:
        page = web.get("/web/people")
        keep = re.search(r'name="keep" value="([^"]+)"', page.text)
        assert keep is not None
        assert web.post("/web/people/merge", data={"keep": keep.group(1)}).status_code == 403
        unknown = web.post(
            "/web/people/merge", data={"csrf": csrf_of(page.text), "keep": "không-có"}
        )
        assert unknown.status_code == 404
        assert len(_groups(web.get("/web/people").text)) == 2
