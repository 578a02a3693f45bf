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
