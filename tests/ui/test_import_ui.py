"""Importing a resident list from the app: the report box, and a cancel that stores nothing."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QProgressDialog

from fieldapp.importfile import REFUSED_DETAIL_LIMIT
from fieldapp.workspace import Workspace
from ui.app import App

HEADER = "Họ và tên;Ngày sinh;Số CCCD;Thôn/Bản"


def _choose(monkeypatch, path: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_a, **_k: (str(path), ""))


def _box(title: str) -> QMessageBox:
    boxes = [
        w
        for w in QApplication.allWidgets()
        if isinstance(w, QMessageBox) and w.isVisible() and w.windowTitle() == title
    ]
    assert boxes, title
    return boxes[0]


def test_a_list_of_junk_reports_the_first_rows_and_counts_the_rest(
    app: App, idle, monkeypatch, tmp_path: Path, workspace: Workspace
) -> None:
    bad = REFUSED_DETAIL_LIMIT + 25
    path = tmp_path / "danh-sach.csv"
    rows = [f"Người {i};31/02/1990;12ab;Bản Phố" for i in range(bad)]
    path.write_text("\n".join([HEADER, *rows, "Vàng Thị Mỷ;03/04/1998;001199000123;Bản Cốc Ly"]))
    _choose(monkeypatch, path)
    before = workspace.households.count()

    app.window.import_requested.emit()
    idle()

    box = _box("Kết quả nhập danh sách")
    assert f"{bad} dòng bị từ chối" in box.text()
    details = box.detailedText().splitlines()
    assert len(details) == REFUSED_DETAIL_LIMIT + 1
    assert details[0].startswith("Dòng 2:")
    assert details[-1] == "… và 25 dòng bị từ chối khác"
    box.close()
    assert workspace.households.count() == before + 1


def test_cancelling_an_import_stores_nothing(
    app: App, idle, monkeypatch, tmp_path: Path, workspace: Workspace
) -> None:
    path = tmp_path / "danh-sach.csv"
    rows = [f"Giàng Seo Sử;01/01/{1950 + i % 60};0151{i:08d};Bản Phố" for i in range(3000)]
    path.write_text("\n".join([HEADER, *rows]), encoding="utf-8")
    _choose(monkeypatch, path)
    pending = workspace.pending_sync()
    households = workspace.households.count()
    # Hold the worker so the Cancel lands before the import has begun.
    gate = threading.Event()
    app.ops.run_op(None, lambda _ws: gate.wait(10), success=lambda _r: None)

    app.window.import_requested.emit()
    dialogs = [d for d in app.window.findChildren(QProgressDialog) if d.isVisible()]
    assert len(dialogs) == 1
    assert "Đang nhập danh sách cư dân" in dialogs[0].labelText()
    dialogs[0].canceled.emit()
    gate.set()
    idle()

    assert workspace.households.count() == households
    assert workspace.pending_sync() == pending
    assert not [
        w
        for w in QApplication.allWidgets()
        if isinstance(w, QMessageBox)
        and w.isVisible()
        and w.windowTitle() == "Kết quả nhập danh sách"
    ]


RENEWAL_HEADER = "Họ và tên;Ngày sinh;Số CCCD;Thôn/Bản;Quan hệ;Số thẻ BHYT;Hạn thẻ;SĐT"


def _import(app: App, idle, monkeypatch, path: Path) -> QMessageBox:
    _choose(monkeypatch, path)
    app.window.import_requested.emit()
    idle()
    return _box("Kết quả nhập danh sách")


def test_a_newer_list_then_an_older_one_are_reported_in_vietnamese(
    app: App, idle, monkeypatch, tmp_path: Path, workspace: Workspace
) -> None:
    """The box says how many people were updated and which values; an older list's values the
    store keeps are listed in the details, row by row."""
    first = tmp_path / "2026.csv"
    first.write_text(
        "\n".join(
            [
                RENEWAL_HEADER,
                "Giàng Seo Sử;01/01/1980;010080000111;Bản Phố;Chủ hộ;GD4150112345678;"
                "31/12/2026;0912 345 678",
                "Vàng Thị Mỷ;03/04/1998;001199000123;Bản Phố;Vợ;GD4150112345679;31/12/2026;",
            ]
        ),
        encoding="utf-8",
    )
    newer = tmp_path / "2027.csv"
    newer.write_text(
        first.read_text(encoding="utf-8").replace("31/12/2026", "31/12/2027"), encoding="utf-8"
    )
    _import(app, idle, monkeypatch, first).close()
    pending = workspace.pending_sync()

    box = _import(app, idle, monkeypatch, newer)
    assert "2 người đã có (cập nhật 2 người: hạn thẻ: 2" in box.text()
    assert box.detailedText() == ""
    box.close()
    assert workspace.pending_sync() == pending + 2
    su = workspace.members.by_cccd("010080000111")
    assert su is not None and (su.bhyt_expiry, su.phone) == ("2027-12-31", "0912345678")

    box = _import(app, idle, monkeypatch, first)
    assert "2 người giữ thông tin mới hơn danh sách" in box.text()
    assert box.detailedText().splitlines() == [
        "Dòng 2: hạn thẻ 31/12/2026 trong danh sách, giữ 31/12/2027 (mới hơn)",
        "Dòng 3: hạn thẻ 31/12/2026 trong danh sách, giữ 31/12/2027 (mới hơn)",
    ]
    box.close()
    assert workspace.members.by_cccd("010080000111").bhyt_expiry == "2027-12-31"


def test_the_member_dialog_shows_and_edits_the_phone_from_the_list(
    app: App, qtbot, idle, monkeypatch, tmp_path: Path, workspace: Workspace
) -> None:
    from ui.member_dialog import MemberDialog

    path = tmp_path / "ds.csv"
    path.write_text(
        "\n".join(
            [
                RENEWAL_HEADER,
                "Giàng Seo Sử;01/01/1980;010080000111;Bản Phố;Chủ hộ;;;",
                "Vàng Thị Mỷ;03/04/1998;001199000123;Bản Phố;Vợ;;;+84 336 123 456",
            ]
        ),
        encoding="utf-8",
    )
    _import(app, idle, monkeypatch, path).close()
    my = workspace.members.by_cccd("001199000123")
    assert my is not None and my.phone == "0336123456"

    app.window.open_household(my.household_id)
    idle()
    app.window.edit_member(my)
    dialog = app.window.dialog
    assert isinstance(dialog, MemberDialog)
    assert dialog.phone_edit.text() == "0336123456"
    assert dialog.captions["phone"].text() == "Số điện thoại riêng"
    dialog.phone_edit.setText("12345")
    dialog.check_now()
    idle()
    assert dialog.problems.severity("phone") == "error"
    assert "không hợp lệ" in dialog.problems.text("phone")
    dialog.phone_edit.setText("0389 000 111")
    dialog.save()
    idle()
    qtbot.waitUntil(lambda: app.window.dialog is None)
    assert workspace.members.get(my.id).phone == "0389000111"
    assert my.id in [h.member_id for h in workspace.search.find("000111")]
