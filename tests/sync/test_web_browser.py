"""Supervisor pages in a real headless Chromium against the real server on loopback."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sync.server.schema import field_conflicts, households
from tests.sync.conftest import Server
from tests.sync.test_web import PASSWORD, World, build_world

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path("/tmp/fieldapp-web")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed"),
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium with an empty profile, laptop-sized (1366×768)."""
    assert sync_playwright is not None and CHROMIUM is not None
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1366, "height": 768},
            locale="vi-VN",
        )
        try:
            yield context
        finally:
            context.close()


def test_supervisor_logs_in_settles_a_conflict_and_checks_a_receipt(
    server: Server, browser: Any
) -> None:
    """Log in, read progress, pick a conflict's value by clicking, open a receipt's QR URL."""
    world: World = build_world(server)
    page = browser.new_page()
    page.goto(f"{server.base_url}/web/")
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    page.get_by_label("Tên đăng nhập").fill("tinh")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()

    expect(page.get_by_role("heading", name="Tiến độ tháng 11/2026")).to_be_visible()
    row = page.locator("table.progress tr", has_text="Trần Thị Bình").first
    expect(row).to_contain_text("2 / 4")
    assert page.locator("svg.bar rect.fill").count() > 0
    # The stylesheet is our own and applied (no unstyled page).
    assert page.evaluate("getComputedStyle(document.querySelector('.top')).display") == "flex"
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 760})
    page.screenshot(path=str(SHOTS / "dashboard-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 768})

    page.get_by_role("link", name="Xung đột", exact=True).click()
    page.locator(f"a[href='/web/conflicts/{world.near_conflict}']").click()
    expect(page.get_by_role("heading", name="Giá trị trên máy chủ")).to_be_visible()
    page.screenshot(path=str(SHOTS / "conflict.png"), full_page=True)
    server_side = page.locator("section.side", has_text="Giá trị trên máy chủ")
    chosen = server_side.locator("p.value").inner_text()
    server_side.get_by_role("button", name="Chọn giá trị này").click()
    expect(page.get_by_role("status")).to_contain_text("Đã xử lý")
    page.screenshot(path=str(SHOTS / "conflict-resolved.png"), full_page=True)
    with server.engine.connect() as conn:
        settled = conn.execute(
            sa.select(field_conflicts).where(field_conflicts.c.id == world.near_conflict)
        ).one()
        phone = conn.execute(
            sa.select(households.c.data).where(households.c.id == settled.entity_id)
        ).scalar_one()["phone"]
    assert settled.resolution["by"] == "tinh" and phone == chosen

    page.get_by_role("link", name="Biên lai", exact=True).click()
    expect(page.locator("tbody tr")).to_have_count(3)
    page.screenshot(path=str(SHOTS / "receipts.png"), full_page=True)
    page.get_by_role("link", name="Thiết bị", exact=True).click()
    page.get_by_role("button", name="Tạo mã").click()
    expect(page.locator(".enrol-code")).to_have_text(re.compile(r"^[A-Z0-9]{5}-[A-Z0-9]{5}$"))
    page.screenshot(path=str(SHOTS / "devices.png"), full_page=True)

    # The receipt QR is scanned with a phone: a small screen, not signed in.
    browser.clear_cookies()
    phone_page = browser.new_page()
    phone_page.set_viewport_size({"width": 390, "height": 760})
    phone_page.goto(f"{server.base_url}/r/{world.near.receipt_id}?s={world.near.sig}")
    expect(phone_page.get_by_role("status")).to_have_text("Hợp lệ")
    expect(phone_page.locator("dl.facts")).to_contain_text("1.366.200 đ")
    phone_page.screenshot(path=str(SHOTS / "receipt.png"), full_page=True)
    phone_page.goto(f"{server.base_url}/r/{world.near_voided.receipt_id}?s={world.near_voided.sig}")
    expect(phone_page.get_by_role("status")).to_have_text("Đã huỷ")
    phone_page.screenshot(path=str(SHOTS / "receipt-voided.png"), full_page=True)
