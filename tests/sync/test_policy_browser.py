"""The local support page in a real headless Chromium: an administrator publishes a line."""

from __future__ import annotations

from typing import Any

from tests.sync.conftest import Server
from tests.sync.test_web import PASSWORD, add_supervisor
from tests.sync.test_web_browser import SHOTS, browser, pytestmark  # noqa: F401

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - depends on the machine
    expect = None


def test_an_administrator_publishes_a_local_support_line(
    server: Server,
    browser: Any,  # noqa: F811 (the shared fixture)
) -> None:
    assert expect is not None
    add_supervisor(server, "tinh", "admin", [])
    page = browser.new_page()
    page.goto(f"{server.base_url}/web/policy")
    page.get_by_label("Tên đăng nhập").fill("tinh")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading", name="Hỗ trợ của địa phương")).to_be_visible()
    expect(page.get_by_text("Chưa có dòng hỗ trợ nào của địa phương.")).to_be_visible()

    page.get_by_label("Mã tỉnh").fill("04")
    page.get_by_label("Chương trình").select_option("bhxh_voluntary")
    page.locator("select[name=group]").select_option("ethnic_minority")
    page.get_by_label("Từ ngày").fill("2026-07-01")
    page.get_by_label("Tỷ lệ (%)").fill("10")
    page.get_by_label("Nghị quyết").fill("NQ 12/2026/NQ-HĐND tỉnh Cao Bằng")
    page.get_by_role("button", name="Công bố").click()

    expect(page.get_by_role("status")).to_contain_text("vn-2026.12-t04.1")
    row = page.locator("tr", has_text="NQ 12/2026/NQ-HĐND tỉnh Cao Bằng")
    expect(row).to_contain_text("BHXH tự nguyện")
    expect(row).to_contain_text("Dân tộc thiểu số")
    expect(row).to_contain_text("01/07/2026")
    expect(row).to_contain_text("10%")
    page.screenshot(path=str(SHOTS / "policy.png"), full_page=True)
