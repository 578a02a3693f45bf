"""The agents and devices pages in a real headless Chromium: add an agent, change their communes,
stop one who left, show an enrolment code with its QR code, revoke a device after confirming."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from sync.protocol import wire
from sync.server.schema import agent_communes, agents
from tests.sync.conftest import Server
from tests.sync.test_web import PASSWORD, add_supervisor
from tests.sync.test_web_browser import SHOTS, browser, pytestmark  # noqa: F401

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - depends on the machine
    expect = None


def _log_in(page: Any, server: Server, path: str, username: str) -> None:
    page.goto(f"{server.base_url}{path}")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()


def _communes(server: Server, name: str) -> list[str]:
    with server.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(agent_communes.c.commune_code)
                .join(agents, agents.c.id == agent_communes.c.agent_id)
                .where(agents.c.name == name)
                .order_by(agent_communes.c.commune_code)
            ).scalars()
        )


def test_supervisor_adds_an_agent_changes_their_communes_and_stops_another(
    server: Server,
    browser: Any,  # noqa: F811 (the shared fixture)
) -> None:
    assert expect is not None
    add_supervisor(server, "tinh", "admin", [])
    leaving = server.add_agent("Hà Văn Tư", ["04001"])
    laptop = server.laptop(leaving, "Máy của Tư")
    page = browser.new_page()
    _log_in(page, server, "/web/agents", "tinh")
    expect(page.get_by_role("heading", name="Nhân viên thu", exact=True)).to_be_visible()

    page.get_by_label("Họ và tên").fill("Nguyễn Thị Lan")
    page.get_by_label("Mã xã phụ trách").fill("04001, 04002")
    page.get_by_role("button", name="Thêm nhân viên").click()
    expect(page.get_by_role("status")).to_have_text("Đã thêm nhân viên thu.")
    row = page.locator("tr.agent", has_text="Nguyễn Thị Lan")
    expect(row).to_contain_text("04001, 04002")
    expect(row).to_contain_text("Đang hoạt động")

    row.get_by_role("link", name="Đổi xã").click()
    expect(page.get_by_role("heading", name="Đổi xã phụ trách: Nguyễn Thị Lan")).to_be_visible()
    field = page.get_by_label("Mã xã phụ trách")
    expect(field).to_have_value("04001, 04002")
    field.fill("04002 04003")
    page.get_by_role("button", name="Lưu xã phụ trách").click()
    expect(page.get_by_role("status")).to_contain_text("Đã đổi xã phụ trách")
    expect(page.locator("tr.agent", has_text="Nguyễn Thị Lan")).to_contain_text("04002, 04003")
    assert _communes(server, "Nguyễn Thị Lan") == ["04002", "04003"]

    page.locator("tr.agent", has_text="Hà Văn Tư").get_by_role(
        "link", name="Ngừng hoạt động"
    ).click()
    expect(page.get_by_role("heading", name="Ngừng hoạt động: Hà Văn Tư")).to_be_visible()
    expect(page.locator("p.alert")).to_contain_text("1 thiết bị")
    expect(page.get_by_role("listitem")).to_contain_text("Máy của Tư")
    page.get_by_label("Lý do (ghi vào nhật ký)").fill("Nghỉ việc")
    page.screenshot(path=str(SHOTS / "agent-deactivate.png"), full_page=True)
    page.get_by_role("button", name="Xác nhận ngừng hoạt động").click()
    expect(page.get_by_role("status")).to_contain_text("Đã ngừng hoạt động nhân viên thu")
    stopped = page.locator("tr.agent", has_text="Hà Văn Tư")
    expect(stopped).to_contain_text("Ngừng hoạt động từ 23/11/2026")
    expect(stopped.get_by_role("link")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "agents.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 760})
    page.screenshot(path=str(SHOTS / "agents-phone.png"), full_page=True)
    response = laptop.http.get(wire.CHANGES_PATH, params={"since": 0})
    assert response.status_code == 401


def test_supervisor_shows_a_code_with_its_qr_and_revokes_a_device(
    server: Server,
    browser: Any,  # noqa: F811 (the shared fixture)
) -> None:
    assert expect is not None
    add_supervisor(server, "xa1", "commune", ["04001"])
    agent = server.add_agent("Lò Thị Mai", ["04001"])
    lost = server.laptop(agent, "Máy bị mất")
    server.laptop(agent, "Máy dự phòng")
    page = browser.new_page()
    _log_in(page, server, "/web/devices", "xa1")

    page.get_by_role("button", name="Tạo mã").click()
    qr = page.locator("div.qr-code svg.qr")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 100 and box["width"] == box["height"]
    code = page.locator(".enrol-code").inner_text()
    expect(page.locator("svg.qr title")).to_have_text(f"Mã QR: {code}")
    page.screenshot(path=str(SHOTS / "devices-qr.png"), full_page=True)

    page.get_by_role("link", name="Thu hồi máy Máy bị mất của Lò Thị Mai").click()
    expect(page.get_by_role("heading", name="Thu hồi thiết bị")).to_be_visible()
    expect(page.locator("dl")).to_contain_text("Máy bị mất")
    expect(page.locator("dl")).to_contain_text("Lò Thị Mai (xã 04001)")
    page.get_by_label("Lý do (ghi vào nhật ký)").fill("Mất máy ở chợ phiên")
    page.screenshot(path=str(SHOTS / "device-revoke.png"), full_page=True)
    page.get_by_role("button", name="Xác nhận thu hồi").click()
    expect(page.get_by_role("status")).to_contain_text("Đã thu hồi thiết bị này lúc")
    page.screenshot(path=str(SHOTS / "device-revoked.png"), full_page=True)
    assert lost.http.get(wire.CHANGES_PATH, params={"since": 0}).status_code == 401

    page.get_by_role("link", name="Về danh sách thiết bị").click()
    row = page.locator("tr", has_text="Máy bị mất")
    expect(row).to_contain_text("Đã thu hồi")
    expect(row.get_by_role("link", name="Thu hồi")).to_have_count(0)
    expect(page.get_by_role("link", name="Thu hồi máy Máy dự phòng của Lò Thị Mai")).to_be_visible()
