"""The coverage page in a real headless Chromium: rate against target, the gap, the trend."""

from __future__ import annotations

from typing import Any

from tests.sync.conftest import Server
from tests.sync.test_coverage_web import build_scene
from tests.sync.test_web import PASSWORD
from tests.sync.test_web_browser import SHOTS, browser, pytestmark  # noqa: F401

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - depends on the machine
    expect = None


def test_supervisor_sets_a_target_and_sees_the_gap(
    server: Server,
    browser: Any,  # noqa: F811 (the shared fixture)
) -> None:
    assert expect is not None
    build_scene(server)
    page = browser.new_page()
    page.goto(f"{server.base_url}/web/coverage")
    page.get_by_label("Tên đăng nhập").fill("tinh")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading", name="Bao phủ BHYT ngày 23/11/2026")).to_be_visible()
    expect(page.locator("nav a[aria-current='page']")).to_have_text("Bao phủ BHYT")

    page.get_by_label("Xã").select_option("04001")
    page.get_by_label("Tỷ lệ mục tiêu (%)").fill("95")
    page.get_by_label("Cần đạt trước ngày").fill("2026-12-31")
    page.get_by_role("button", name="Lưu mục tiêu").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lưu mục tiêu bao phủ của xã 04001")
    commune = page.locator("tr.commune", has_text="Xã 04001")
    expect(commune).to_contain_text("còn thiếu 6 người để đạt 95,0%")
    # The bar is half full (50 %) and the target's mark stands at 95 of 100.
    fill = commune.locator("svg.bar rect.fill")
    assert fill.get_attribute("width") == "50.0"
    assert "low" in (fill.get_attribute("class") or "")
    assert commune.locator("svg.bar rect.goal").get_attribute("x") == "94.4"
    gap_colour = commune.locator("small.gap").evaluate("e => getComputedStyle(e).color")
    assert gap_colour == "rgb(166, 27, 27)"
    expect(page.locator("tr.month")).to_have_count(12)
    page.screenshot(path=str(SHOTS / "coverage.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 760})
    page.screenshot(path=str(SHOTS / "coverage-phone.png"), full_page=True)
