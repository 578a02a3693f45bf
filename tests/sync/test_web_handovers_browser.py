"""The cash handover pages in a real headless Chromium: a short day stands out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sync.client_fixtures import Laptop, laptop_factory
from tests.sync.conftest import Server
from tests.sync.test_handovers import SHORT_REASON, _agent_with_book, _two_days_of_handovers
from tests.sync.test_web import PASSWORD, add_supervisor
from tests.sync.test_web_browser import SHOTS, browser, pytestmark  # noqa: F401

MakeLaptop = Callable[[str], Laptop]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - depends on the machine
    expect = None


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    yield from laptop_factory(server, tmp_path)


def test_supervisor_sees_the_short_day_highlighted(
    server: Server,
    laptops: MakeLaptop,
    browser: Any,  # noqa: F811 (the shared fixture)
) -> None:
    """From the dashboard's handover summary to the agent's days: the short day is red."""
    assert expect is not None
    add_supervisor(server, "tinh", "admin", [])
    a = laptops("a")
    a.enrol(_agent_with_book(server))
    assert a.sync().ok
    _two_days_of_handovers(a)
    assert a.sync().ok

    page = browser.new_page()
    page.goto(f"{server.base_url}/web/?month=2026-11")
    page.get_by_label("Tên đăng nhập").fill("tinh")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading", name="Nộp tiền tháng 11/2026")).to_be_visible()
    summary = page.locator("tr.handover", has_text="Trần Thị Bình")
    expect(summary).to_contain_text("-50.000 đ")
    page.screenshot(path=str(SHOTS / "dashboard-handovers.png"), full_page=True)

    summary.get_by_role("link", name="Trần Thị Bình").click()
    expect(page.get_by_role("heading", name="Nộp tiền cuối ngày — tháng 11/2026")).to_be_visible()
    short = page.locator("tr.handover.short")
    expect(short).to_have_count(1)
    expect(short).to_contain_text(SHORT_REASON)
    expect(short).to_contain_text("Thiếu 50.000 đ")
    # The highlight is the stylesheet's own: a tinted row with a red edge.
    background = short.locator("td").first.evaluate("td => getComputedStyle(td).backgroundColor")
    edge = short.locator("td").first.evaluate("td => getComputedStyle(td).borderLeftColor")
    assert (background, edge) == ("rgb(253, 234, 234)", "rgb(166, 27, 27)")
    balanced = page.locator("tr.handover.balanced")
    expect(balanced).to_contain_text("Đủ")
    assert balanced.locator("td").first.evaluate("td => getComputedStyle(td).backgroundColor") in (
        "rgba(0, 0, 0, 0)",
        "transparent",
    )
    page.screenshot(path=str(SHOTS / "handovers.png"), full_page=True)
