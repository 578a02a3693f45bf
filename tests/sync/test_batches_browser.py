"""Uploading a USB batch file in a real headless Chromium, then the refusals and the dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sync.protocol import signing
from tests.sync.conftest import Server, household, new_id, receipt
from tests.sync.test_refusals_web import build
from tests.sync.test_web import PASSWORD
from tests.sync.test_web_browser import SHOTS, browser, pytestmark  # noqa: F401

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - depends on the machine
    expect = None


def test_supervisor_uploads_a_batch_file_and_sees_what_was_refused(
    server: Server,
    browser: Any,  # noqa: F811 (the shared fixture)
    tmp_path: Path,
) -> None:
    assert expect is not None
    scene = build(server)
    near = scene.near
    home = household("04001", head_name="Quàng Văn Pâng")
    file = tmp_path / "lo-ngay-24.fabatch"
    file.write_bytes(
        signing.write_batch_file(
            near.batch(
                [
                    near.record("household", home),
                    near.record("receipt", receipt(home["id"], new_id(), 12)),
                ]
            ),
            near.key,
        )
    )

    page = browser.new_page()
    page.goto(f"{server.base_url}/web/batches")
    page.get_by_label("Tên đăng nhập").fill("xa1")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading", name="Nhập tệp đồng bộ từ USB")).to_be_visible()
    # A file altered after the laptop signed it: refused whole, the form offered again.
    altered = tmp_path / "sua-tay.fabatch"
    altered.write_bytes(file.read_bytes().replace(b"Qu\xc3\xa0ng", b"Qu\xc3\xa1ng"))
    page.locator("input[name=file]").set_input_files(str(altered))
    page.get_by_role("button", name="Tải lên và nhập").click()
    expect(page.get_by_role("alert")).to_contain_text("Chữ ký của tệp không khớp")
    page.screenshot(path=str(SHOTS / "batches-refused-file.png"), full_page=True)
    page.locator("input[name=file]").set_input_files(str(file))
    page.get_by_role("button", name="Tải lên và nhập").click()
    expect(page.get_by_role("status")).to_contain_text("Đã nhập 1 bản ghi, từ chối 1 bản ghi")
    refused = page.locator("tr", has_text="Biên lai ngoài quyển được cấp")
    expect(refused).to_contain_text("/web/books")
    expect(
        page.get_by_role("link", name="Tải tệp xác nhận (lo-ngay-24.fabatch.ack)")
    ).to_be_visible()
    expect(page.locator("table").last).to_contain_text("lo-ngay-24.fabatch")
    page.screenshot(path=str(SHOTS / "batches.png"), full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Tải tệp xác nhận (lo-ngay-24.fabatch.ack)").click()
    saved = tmp_path / "back.ack"
    download.value.save_as(saved)
    ack = signing.read_ack_file(saved.read_bytes(), near.device_id, near.key)
    assert [r["code"] for r in ack["refused"]] == ["receipt_book_mismatch"]

    page.get_by_role("link", name="Xem mọi bản ghi còn bị từ chối").click()
    expect(page.get_by_role("heading", name="Bản ghi bị từ chối")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(4)
    page.screenshot(path=str(SHOTS / "refusals.png"), full_page=True)

    page.goto(f"{server.base_url}/web/")
    row = page.locator("tr.stuck", has_text="Trần Thị Bình")
    expect(row).to_contain_text("4 bản ghi bị từ chối")
    expect(row).not_to_contain_text("Bình thường")
    page.screenshot(path=str(SHOTS / "dashboard-refused.png"), full_page=True)
