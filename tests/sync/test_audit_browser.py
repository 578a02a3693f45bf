"""The audit page in a real headless Chromium: an action on another page shows up in the log."""

from __future__ import annotations

from typing import Any

from tests.sync.conftest import Server
from tests.sync.test_web import COMMUNE, PASSWORD, add_supervisor
from tests.sync.test_web_browser import SHOTS, browser, pytestmark  # noqa: F401

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - depends on the machine
    expect = None


def test_an_enrolment_code_made_on_the_devices_page_is_in_the_log(
    server: Server,
    browser: Any,  # noqa: F811 (the shared fixture)
) -> None:
    assert expect is not None
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    server.add_agent("Lò Thị Mai", [COMMUNE])
    page = browser.new_page()
    page.goto(f"{server.base_url}/web/devices")
    page.get_by_label("Tên đăng nhập").fill("xa1")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.get_by_role("button", name="Tạo mã").click()
    expect(page.get_by_role("heading", name="Mã đăng ký cho Lò Thị Mai")).to_be_visible()

    page.get_by_role("navigation", name="Quản trị").get_by_role("link", name="Nhật ký").click()
    expect(page.get_by_role("heading", name="Nhật ký thao tác")).to_be_visible()
    row = page.locator("tr", has_text="Tạo mã đăng ký thiết bị")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("xa1 (Cán bộ)")
    expect(row).to_contain_text(COMMUNE)
    expect(row).to_contain_text("Nhân viên: Lò Thị Mai")
    expect(row).to_contain_text("Hiệu lực (giờ): 72")
    page.get_by_label("Việc").select_option("device_revoke")
    page.get_by_role("button", name="Xem").click()
    expect(page.get_by_text("Chưa có thao tác nào.")).to_be_visible()
    page.get_by_label("Việc").select_option("")
    page.get_by_role("button", name="Xem").click()
    page.screenshot(path=str(SHOTS / "audit.png"), full_page=True)
