"""The province's local support lines on the real server: added and ended on /web/policy by an
administrator, published as a new version of the tables, pulled by a laptop and used by its
calculator; refused input publishes nothing."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sync.server import audit
from sync.server.schema import policies
from tests.sync.client_fixtures import COMMUNE, Laptop, laptop_factory
from tests.sync.conftest import Server
from tests.sync.test_web import add_supervisor, csrf_of, signed_in

# 10 % of 22 % × the rural poverty line (1,500,000 đ until the end of 2026): 33,000 đ a month.
LINE = {
    "province": "04",
    "scheme": "bhxh_voluntary",
    "group": "other",
    "from": "2026-01-01",
    "to": "",
    "share_pct": "10",
    "amount": "",
    "source": "NQ 12/2026/NQ-HĐND tỉnh Cao Bằng",
}


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[Any]:
    yield from laptop_factory(server, tmp_path)


def _published(server: Server) -> list[dict[str, Any]]:
    with server.engine.connect() as conn:
        return [dict(d) for d in conn.execute(sa.select(policies.c.document)).scalars()]


def _post(client: Any, path: str, data: dict[str, str]) -> Any:
    page = client.get("/web/policy").text
    return client.post(path, data={"csrf": csrf_of(page), **data})


def _quote(laptop: Laptop) -> Any:
    return laptop.ws.pledges.quote_bhxh(
        income=1_500_000, months=1, groups=["other"], on=dt.date(2026, 11, 23), province="04"
    )


def test_a_line_reaches_the_laptops_calculator(server: Server, laptops: Any) -> None:
    add_supervisor(server, "tinh", "admin", [])
    agent = server.add_agent("Trần Thị Bình", [COMMUNE])
    laptop = laptops("a")
    laptop.enrol(agent)
    assert laptop.sync().ok
    before = _quote(laptop)
    assert before.local_support == 0

    with signed_in(server, "tinh") as client:
        done = _post(client, "/web/policy/lines", LINE)
        assert done.status_code == 303
        version = done.headers["location"].split("published=")[1]
        page = client.get(done.headers["location"]).text
    assert version == "vn-2026.12-t04.1"
    assert f"Đã công bố bảng chính sách {version}" in page
    assert "NQ 12/2026/NQ-HĐND tỉnh Cao Bằng" in page and "10%" in page
    (document,) = _published(server)
    assert document["local_support"] == [
        {**{k: v for k, v in LINE.items() if v}, "unconfirmed": False}
    ]
    assert document["published"] == "2026-12-01"  # never older than the tables it builds on

    assert laptop.sync().ok
    after = _quote(laptop)
    assert laptop.ws.policy.version == version
    assert after.local_support == 33_000
    assert after.payable == before.payable - 33_000
    # Another province's households are not supported by this line.
    other = laptop.ws.pledges.quote_bhxh(
        income=1_500_000, months=1, groups=["other"], on=dt.date(2026, 11, 23), province="08"
    )
    assert other.local_support == 0

    with server.engine.connect() as conn:
        (entry,) = audit.entries(conn, None, action="policy_publish")
    assert (entry.action, entry.actor, entry.target) == ("policy_publish", "tinh", version)


def test_ending_a_line_publishes_a_new_version_and_keeps_the_old(server: Server) -> None:
    add_supervisor(server, "tinh", "admin", [])
    with signed_in(server, "tinh") as client:
        assert _post(client, "/web/policy/lines", LINE).status_code == 303
        ended = _post(client, "/web/policy/lines/end", {"index": "0", "to": "2026-12-31"})
        assert ended.status_code == 303
        assert ended.headers["location"].endswith("published=vn-2026.12-t04.2")
        # A day before the start, or a line that already ends earlier: refused.
        assert (
            _post(client, "/web/policy/lines/end", {"index": "0", "to": "2025-01-01"}).status_code
            == 400
        )
        assert (
            _post(client, "/web/policy/lines/end", {"index": "0", "to": "2027-06-30"}).status_code
            == 400
        )
        assert (
            _post(client, "/web/policy/lines/end", {"index": "7", "to": "2026-12-31"}).status_code
            == 404
        )
    versions = {d["version"]: d["local_support"] for d in _published(server)}
    assert set(versions) == {"vn-2026.12-t04.1", "vn-2026.12-t04.2"}
    assert "to" not in versions["vn-2026.12-t04.1"][0]
    assert versions["vn-2026.12-t04.2"][0]["to"] == "2026-12-31"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"province": "4"}, "Mã tỉnh phải có 2 chữ số"),
        ({"scheme": "bhyt"}, "Hãy chọn BHYT hộ gia đình hoặc BHXH tự nguyện"),
        ({"group": "student"}, "Nhóm đối tượng này không có trong chương trình đã chọn"),
        ({"from": "23/11/2026"}, "Ngày bắt đầu phải là một ngày"),
        ({"to": "2025-12-31"}, "Ngày kết thúc đứng trước ngày bắt đầu"),
        ({"share_pct": ""}, "Hãy ghi đúng một trong hai"),
        ({"amount": "33000"}, "Hãy ghi đúng một trong hai"),
        ({"share_pct": "150"}, "Tỷ lệ hỗ trợ phải là một số lớn hơn 0 và tối đa 100"),
        ({"share_pct": "1e2"}, "Tỷ lệ hỗ trợ phải là một số lớn hơn 0 và tối đa 100"),
        ({"share_pct": "0"}, "Tỷ lệ hỗ trợ phải là một số lớn hơn 0 và tối đa 100"),
        ({"share_pct": "", "amount": "99999999999"}, "Số tiền hỗ trợ phải là số đồng"),
        ({"share_pct": "", "amount": "-5"}, "Số tiền hỗ trợ phải là số đồng"),
        ({"source": "   "}, "Hãy ghi tên nghị quyết"),
        ({"source": "x" * 301}, "Hãy ghi tên nghị quyết"),
    ],
)
def test_a_bad_line_is_refused_and_nothing_published(
    server: Server, change: dict[str, str], message: str
) -> None:
    add_supervisor(server, "tinh", "admin", [])
    with signed_in(server, "tinh") as client:
        response = _post(client, "/web/policy/lines", {**LINE, **change})
    assert response.status_code == 400
    assert message in re.sub(r"\s+", " ", response.text)
    assert _published(server) == []
    assert server.count("audit_log") == 0


def test_only_the_province_changes_lines_and_every_form_needs_its_token(server: Server) -> None:
    add_supervisor(server, "tinh", "admin", [])
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    with signed_in(server, "xa1") as client:
        page = client.get("/web/policy").text
        assert "Hỗ trợ của địa phương" in page and "Thêm dòng hỗ trợ" not in page
        assert (
            client.post("/web/policy/lines", data={"csrf": csrf_of(page), **LINE}).status_code
            == 403
        )
    with signed_in(server, "tinh") as client:
        assert client.post("/web/policy/lines", data=LINE).status_code == 403
        assert (
            client.post(
                "/web/policy/lines/end", data={"index": "0", "to": "2026-12-31"}
            ).status_code
            == 403
        )
    assert _published(server) == []
