"""The Print area and the document dialog: village flyers, cancel, save as PDF, a Qt printer."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QProgressDialog

from fieldapp.text import nfc
from fieldapp.workspace import Workspace
from sync.protocol import i18n
from sync.protocol.clock import FixedClock
from sync.protocol.money import format_vnd
from tests.fieldapp.pdfcheck import flat, page_texts
from tests.fieldapp.test_renewal_reminders import (
    CLOCK,
    DUE,
    EXPIRING,
    HOUSEHOLDS,
    ON,
    UNINSURED,
    VILLAGE,
    build_commune,
)
from tests.ui.conftest import open_dialog, shown, wait_idle
from tests.ui.test_receipts_ui import pdf_printer
from ui.app import App, build
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


@pytest.fixture
def small_app(qtbot, settings, tmp_path: Path) -> Iterator[App]:
    """The app on the small commune of the renewal tests, its clock on 4 December 2026."""
    folder = tmp_path / "small"
    with Workspace.open(folder, clock=FixedClock(CLOCK)) as ws:
        build_commune(ws)
    i18n.set_language("vi")
    with shown(qtbot, build(settings, folder, clock=FixedClock(CLOCK))) as built:
        yield built


def _choose(app: App, qtbot, village: str, only: str | None) -> DocumentDialog | None:
    """Pick the village and the households in the Print area, make the PDF: its dialog."""
    page = _print_area(app, lambda: wait_idle(qtbot, app))
    page.village_combo.setCurrentText(village)
    page.only_combo.setCurrentIndex(page.only_combo.findData(only))
    assert page.flyer_choice() == only
    page.make_flyers()
    wait_idle(qtbot, app)
    dialog = app.window.dialog
    return dialog if isinstance(dialog, DocumentDialog) else None


def _heads(pdf: bytes) -> list[str]:
    texts = [flat(t) for t in page_texts(pdf)]
    return [head for text in texts for head in HOUSEHOLDS if f"ông/bà {head}" in text]


def test_print_area_only_expiring_makes_renewal_reminders(small_app: App, qtbot) -> None:
    """ "Hộ có thẻ BHYT cần gia hạn": a reminder for each household due, with its amount."""
    dialog = _choose(small_app, qtbot, VILLAGE, "expiring")
    assert dialog is not None
    assert "Nhắc gia hạn thẻ BHYT" in dialog.heading.text()
    pdf = dialog.document.pdf
    assert _heads(pdf) == EXPIRING
    with Workspace.open(small_app.data_dir, clock=FixedClock(CLOCK)) as ws:
        for head, text in zip(EXPIRING, (flat(t) for t in page_texts(pdf)), strict=True):
            household = next(h for h in ws.households.in_village(VILLAGE) if h.head_name == head)
            names = [name for name, _line in DUE[head]]
            ids = [m.id for m in ws.members.of_household(household.id) if m.full_name in names]
            amount = ws.pledges.quote_household_bhyt(
                household.id, member_ids=ids, months=12, on=ON
            ).payable
            assert format_vnd(amount) in text
            assert all(f"{name} {line}" in text for name, line in DUE[head])
    dialog.reject()


def test_print_area_only_uninsured_and_all(small_app: App, qtbot) -> None:
    dialog = _choose(small_app, qtbot, VILLAGE, "uninsured")
    assert dialog is not None
    assert _heads(dialog.document.pdf) == UNINSURED
    dialog.reject()
    wait_idle(qtbot, small_app)
    dialog = _choose(small_app, qtbot, VILLAGE, None)
    assert dialog is not None
    assert sorted(_heads(dialog.document.pdf)) == sorted(HOUSEHOLDS)
    dialog.reject()


def test_print_area_nobody_to_remind_says_so(small_app: App, qtbot) -> None:
    """A village where every card is good: the core's message, and no document."""
    dialog = _choose(small_app, qtbot, "Bản Mới", "expiring")
    assert dialog is None
    assert small_app.ops.last_error is not None
    assert "Không có hộ nào ở Bản Mới có thẻ BHYT cần gia hạn" in small_app.ops.last_error
    assert small_app.window.print_page.status_label.text() == ""
