"""Receipt books and targets in a real headless Chromium: allocate a range, register a book
entered by hand on a laptop, set targets by form, upload a sheet with bad rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.sync.conftest import Server, new_id
from tests.sync.test_targets_web import xlsx_of
from tests.sync.test_web import PASSWORD, build_world
from tests.sync.test_web_browser import SHOTS, browser, pytestmark  # noqa: F401

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - depends on the machine
    expect = None


def test_supervisor_allocates_registers_a_book_and_sets_a_target(
    server: Server,
    browser: Any,  # noqa: F811 (the shared fixture)
    tmp_path: Path,
) -> None:
    assert expect is not None
    build_world(server)
    page = browser.new_page()
    page.goto(f"{server.base_url}/web/books")
    page.get_by_label("Tên đăng nhập").fill("tinh")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading", name="Quyển biên lai", exact=True)).to_be_visible()

    allocate = page.locator("form[action='/web/books/allocate']")
    allocate.get_by_label("Nhân viên thu").select_option(label="Trần Thị Bình (04001)")
    allocate.get_by_label("Ký hiệu").fill("LC-NTA-26")
    allocate.get_by_label("Từ số").fill("1")
    allocate.get_by_label("Đến số").fill("500")
    allocate.get_by_role("button", name="Cấp quyển").click()
    expect(page.get_by_role("status")).to_contain_text("Đã cấp quyển biên lai.")
    near = page.locator("section.agent-books", has_text="Trần Thị Bình")
    expect(near.locator("tr.book", has_text="LC-NTA-26")).to_contain_text("500 / 500")

    register = page.locator("form[action='/web/books/register']")
    register.get_by_label("Nhân viên thu").select_option(label="Trần Thị Bình (04001)")
    register.get_by_label("Ký hiệu").fill("TAY-01")
    register.get_by_label("Từ số").fill("1")
    register.get_by_label("Đến số").fill("50")
    register.get_by_label("Mã quyển trên máy").fill(new_id())
    register.get_by_role("button", name="Đăng ký quyển").click()
    expect(page.get_by_role("status")).to_contain_text("Đã đăng ký quyển tự nhập.")
    hand = near.locator("tr.book", has_text="TAY-01")
    expect(hand).to_contain_text("Tự nhập trên máy")
    # The stylesheet is applied: the origin is a tag, not bare text.
    assert hand.locator(".tag").evaluate("e => getComputedStyle(e).display") == "inline-block"
    page.screenshot(path=str(SHOTS / "books.png"), full_page=True)

    page.goto(f"{server.base_url}/web/targets?month=2026-11")
    expect(page.get_by_role("heading", name="Chỉ tiêu tháng 11/2026")).to_be_visible()
    form = page.get_by_role("form", name="Chỉ tiêu nhân viên thu")
    form.get_by_label("Nhân viên thu").select_option(label="Trần Thị Bình (04001)")
    form.get_by_label("Chương trình").select_option(label="BHYT hộ gia đình")
    form.get_by_label("Chỉ tiêu (người)").fill("8")
    form.get_by_role("button", name="Lưu chỉ tiêu nhân viên").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lưu 1 chỉ tiêu.")
    row = page.locator("tr.agent-target", has_text="Trần Thị Bình").filter(
        has_text="BHYT hộ gia đình"
    )
    # Two of the eight have paid this month: a quarter of the bar, in the "low" colour.
    expect(row).to_contain_text("25%")
    fill = row.locator("svg.bar rect.fill")
    assert fill.get_attribute("width") == "25"
    assert "low" in (fill.get_attribute("class") or "")
    area = page.get_by_role("form", name="Chỉ tiêu xã, thôn/bản")
    area.get_by_label("Xã").select_option("04001")
    area.get_by_label("Chỉ tiêu (người)").fill("4")
    area.get_by_role("button", name="Lưu chỉ tiêu xã/thôn").click()
    expect(page.locator("tr.area-target", has_text="(cả xã)")).to_contain_text("50%")
    page.screenshot(path=str(SHOTS / "targets.png"), full_page=True)

    # A sheet with a bad row among good ones: nothing stored, every bad row listed.
    bad = tmp_path / "chi-tieu.xlsx"
    bad.write_bytes(
        xlsx_of(
            [
                ["2026-12", "04001", "", "", "BHYT", 30],
                ["2026-13", "04001", "Bản Phố", "", "BHYT", 5],
                ["2026-12", "04001", "", "", "Thẻ vàng", 5],
            ]
        )
    )
    page.get_by_label("Tệp .xlsx").set_input_files(str(bad))
    page.get_by_role("button", name="Tải lên").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Bảng tính chưa được lưu")
    expect(alert.locator("li")).to_have_text(
        [
            "Dòng 3: tháng 13/2026 không hợp lệ",
            "Dòng 4: chương trình “Thẻ vàng” không hợp lệ (ghi BHYT hoặc BHXH)",
        ]
    )
    page.screenshot(path=str(SHOTS / "targets-errors.png"), full_page=True)
