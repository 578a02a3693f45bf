"""The Print area and the document dialog: village flyers, cancel, save as PDF, a Qt printer."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pypdf
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QProgressDialog

from fieldapp.text import nfc
from fieldapp.workspace import Workspace
from tests.ui.conftest import open_dialog
from tests.ui.test_receipts_ui import pdf_printer
from ui.app import App
from ui.main_window import HOUSEHOLD, PRINT
from ui.printing import DocumentDialog, can_rasterise

needs_poppler = pytest.mark.skipif(not can_rasterise(), reason="poppler's pdftoppm is missing")


def _pdf_text(data: bytes) -> str:
    return nfc("".join(p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(data)).pages))


def _print_area(app: App, idle):
    """Open the Print area: its page."""
    app.window.print_area_action.trigger()
    idle()
    assert app.window.stack.currentIndex() == PRINT
    return app.window.print_page


def _village_flyers(app: App, idle) -> DocumentDialog:
    """Make the flyers of the Print area's village: the document dialog showing them."""
    page = _print_area(app, idle)
    page.make_flyers()
    idle()
    return open_dialog(app, DocumentDialog)


def test_village_flyers_cancel_writes_nothing(
    app: App, qtbot, idle, workspace: Workspace, tmp_path: Path
) -> None:
    """Cancel during a village batch: the page says "Đã huỷ", no document and no file appear."""
    page = _print_area(app, idle)
    assert page.village_combo.count() == len(workspace.households.villages())
    pending = workspace.pending_sync()
    # Hold the worker so the Cancel is certain to land before the first page is laid out.
    gate = threading.Event()
    app.ops.run_op(None, lambda _ws: gate.wait(10), success=lambda _r: None)
    page.make_flyers()
    progress = [d for d in page.findChildren(QProgressDialog) if d.isVisible()]
    assert len(progress) == 1
    progress[0].canceled.emit()
    gate.set()
    idle()
    assert page.status_label.text().startswith("Đã huỷ")
    assert app.window.dialog is None
    assert not [d for d in page.findChildren(QProgressDialog) if d.isVisible()]
    assert list(tmp_path.rglob("*.pdf")) == []
    assert workspace.pending_sync() == pending


def test_village_flyers_one_page_per_household(app: App, qtbot, idle, workspace: Workspace) -> None:
    """Ctrl+P in the Print area lays out one flyer page per household of the village."""
    page = _print_area(app, idle)
    village = workspace.households.villages()[0]
    page.village_combo.setCurrentText(village)
    qtbot.keyClick(app.window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    idle()
    dialog = open_dialog(app, DocumentDialog)
    pages = len(pypdf.PdfReader(io.BytesIO(dialog.document.pdf)).pages)
    assert pages == len(workspace.households.in_village(village))
    if can_rasterise():
        assert dialog.document.info is not None and dialog.document.info.pages == pages
        assert len(dialog.page_labels) == min(pages, 12)
    dialog.reject()


def test_save_household_flyer_as_pdf(
    app: App, qtbot, idle, workspace: Workspace, tmp_path: Path, monkeypatch
) -> None:
    """Ctrl+P on a household page (no receipt) shows its flyer; Save as writes it whole."""
    village = workspace.households.villages()[0]
    household = workspace.households.in_village(village)[0]
    app.window.open_household(household.id)
    idle()
    assert app.window.stack.currentIndex() == HOUSEHOLD
    qtbot.keyClick(app.window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    idle()
    dialog = open_dialog(app, DocumentDialog)
    assert household.head_name in dialog.heading.text()
    target = tmp_path / "to-roi"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *_a, **_k: (str(target), "PDF (*.pdf)")
    )
    qtbot.keyClick(dialog, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    idle()
    written = tmp_path / "to-roi.pdf"
    # Written whole under its name: no temporary file is left beside it.
    assert sorted(p.name for p in tmp_path.glob("*to-roi*")) == ["to-roi.pdf"]
    assert household.head_name in _pdf_text(written.read_bytes())
    assert str(written) in dialog.status_label.text()
    dialog.reject()


def test_save_to_missing_folder_says_why(app: App, qtbot, idle, tmp_path: Path) -> None:
    """Saving into a folder that is gone reports the system's reason and leaves nothing."""
    dialog = _village_flyers(app, idle)
    dialog.save_to(tmp_path / "gone" / "flyers.pdf")
    idle()
    assert dialog.status_label.text().startswith("Không lưu được")
    assert list(tmp_path.rglob("*.pdf")) == []
    dialog.reject()


@needs_poppler
def test_print_to_a_qt_printer(app: App, qtbot, idle, tmp_path: Path) -> None:
    """Printing sends every page to the Qt printer (a PDF printer here: no physical one)."""
    dialog = _village_flyers(app, idle)
    dialog.print_to(pdf_printer(tmp_path / "printed.pdf"))
    idle()
    expected = len(pypdf.PdfReader(io.BytesIO(dialog.document.pdf)).pages)
    assert dialog.status_label.text() == f"Đã gửi {expected} trang tới máy in."
    assert len(pypdf.PdfReader(tmp_path / "printed.pdf").pages) == expected
    dialog.reject()


def test_without_poppler_only_save(app: App, qtbot, idle, tmp_path: Path, monkeypatch) -> None:
    """Without poppler the dialog says so, cannot print, and Save as PDF still works."""
    monkeypatch.setattr("ui.printing._tools", lambda: None)
    dialog = _village_flyers(app, idle)
    assert dialog.document.preview == () and not dialog.print_button.isEnabled()
    assert "poppler" in dialog.info_label.text()
    dialog.save_to(tmp_path / "flyers.pdf")
    idle()
    assert (tmp_path / "flyers.pdf").read_bytes() == dialog.document.pdf
    dialog.reject()
