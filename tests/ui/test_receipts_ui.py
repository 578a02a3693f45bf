"""Taking payment, the receipts tab and the receipt books, through the real window and store."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtPrintSupport import QPrinter

from fieldapp.workspace import Workspace
from sync.protocol.money import format_vnd
from tests.ui.conftest import open_dialog
from ui.app import App
from ui.household_page import HouseholdPage
from ui.main_window import HOUSEHOLD
from ui.printing import DocumentDialog
from ui.receipts import PaymentDialog, ReceiptBooksDialog, VoidDialog

SERIES = "LC-NTA-26"


def bhyt_household(ws: Workspace) -> tuple[str, list[str]]:
    """A demo household with at least two open BHYT pledges, and those pledges."""
    for village in ws.households.villages():
        for household in ws.households.in_village(village):
            pledges = [
                p.id
                for p in ws.pledges.of_household(household.id)
                if p.scheme == "bhyt_household" and p.status == "pledged"
            ]
            if len(pledges) >= 2:
                return household.id, pledges
    raise AssertionError("the demo has no household with BHYT pledges")


def open_household(app: App, idle, household_id: str) -> HouseholdPage:
    app.window.open_household(household_id)
    idle()
    assert app.window.stack.currentIndex() == HOUSEHOLD
    return app.window.household


def select_rows(table, model, wanted: set[str]) -> None:
    selection = table.selectionModel()
    selection.clearSelection()
    for row, record in enumerate(model.records()):
        if record.id in wanted:
            selection.select(
                model.index(row, 0),
                QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
            )


def payment_dialog(app: App, idle, page: HouseholdPage, pledge_ids: list[str]) -> PaymentDialog:
    """Select these pledges on the household page and take payment: the payment dialog."""
    page.tabs.setCurrentIndex(2)
    select_rows(page.pledges_table, page.pledges_model, set(pledge_ids))
    assert page.take_payment_button.isEnabled()
    page.take_payment_button.click()
    idle()
    return open_dialog(app, PaymentDialog)


def add_book_from(dialog: PaymentDialog, idle) -> ReceiptBooksDialog:
    """Enter receipt book SERIES through the payment dialog's books button; the books dialog."""
    dialog.books_button.click()
    books = dialog.findChild(ReceiptBooksDialog)
    assert books is not None
    idle()
    books.series_edit.setText(SERIES)
    books.add_book()
    idle()
    return books


def issued_receipt(ws: Workspace) -> tuple[str, str]:
    """A household and the receipt the core issued for its BHYT pledges."""
    ws.receipts.add_book(series=SERIES, first=1, last=50)
    household_id, pledge_ids = bhyt_household(ws)
    return household_id, ws.receipts.issue(pledge_ids=pledge_ids).id


def pdf_text(pdf: bytes) -> str:
    return "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def pdf_printer(path: Path) -> QPrinter:
    """A Qt printer writing a PDF file: the stand-in for a physical printer, which CI lacks."""
    printer = QPrinter(QPrinter.PrinterMode.ScreenResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(path))
    return printer


def test_take_payment_issues_receipt_one(
    app: App, qtbot, idle, workspace: Workspace, tmp_path: Path
) -> None:
    """Paying a household's BHYT pledges shows receipt 0000001 and the pledges turn "Đã đóng"."""
    workspace.receipts.add_book(series=SERIES, first=1, last=50)
    household_id, pledge_ids = bhyt_household(workspace)
    page = open_household(app, idle, household_id)
    dialog = payment_dialog(app, idle, page, pledge_ids)
    head = next(m for m in workspace.members.of_household(household_id) if m.relation == "Chủ hộ")
    assert dialog.payer_combo.currentText() == head.full_name
    payable = sum(workspace.pledges.get(p).payable for p in pledge_ids)
    assert dialog.amount_label.text() == format_vnd(payable)
    assert f"{SERIES}, số 0000001" in dialog.book_label.text()

    qtbot.keyClick(dialog, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    idle()
    assert dialog.receipt is not None and dialog.receipt.number == 1
    assert "số 0000001" in dialog.result_label.text()
    assert dialog.print_button.isVisible()
    idle()
    statuses = {
        p.id: page.pledges_model.data(page.pledges_model.index(row, 5))
        for row, p in enumerate(page.pledges_model.records())
    }
    assert {statuses[p] for p in pledge_ids} == {"Đã đóng"}
    assert page.tabs.currentWidget() is page.receipts_tab
    assert page.selected_receipt() is not None
    assert page.receipts_model.data(page.receipts_model.index(0, 1)) == "0000001"
    stored = workspace.receipts.issued(household_id=household_id)
    assert [r.number for r in stored] == [1]
    assert stored[0].amount == payable and set(stored[0].pledge_ids) == set(pledge_ids)

    # The preview counts no print; saving the PDF is the first print: the original.
    qtbot.keyClick(dialog, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    idle()
    document = app.window.dialog
    assert isinstance(document, DocumentDialog)
    assert workspace.receipts.get(stored[0].id).prints == 0
    document.save_to(tmp_path / "bien-lai.pdf")
    idle()
    assert workspace.receipts.get(stored[0].id).prints == 1
    saved = (tmp_path / "bien-lai.pdf").read_bytes()
    assert saved == document.document.pdf
    assert "BẢN SAO" not in pdf_text(saved)
    document.reject()


def test_no_receipt_book_refuses_payment(app: App, qtbot, idle, workspace: Workspace) -> None:
    """With no receipt book the core's message is shown and nothing is recorded."""
    household_id, pledge_ids = bhyt_household(workspace)
    before = workspace.pending_sync()
    page = open_household(app, idle, household_id)
    dialog = payment_dialog(app, idle, page, pledge_ids)
    assert "Không còn quyển biên lai" in dialog.book_label.text()
    dialog.confirm()
    idle()
    assert dialog.receipt is None
    assert dialog.error_label.text().startswith("Hết số biên lai")
    assert dialog.confirm_button.isEnabled()
    assert workspace.receipts.issued(household_id=household_id) == []
    assert {workspace.pledges.get(p).status for p in pledge_ids} == {"pledged"}
    assert workspace.pending_sync() == before

    # Entering a book from the dialog itself lets the agent carry on.
    books = add_book_from(dialog, idle)
    assert f"{SERIES}, số 0000001" in dialog.book_label.text()
    assert dialog.error_label.text() == ""
    books.reject()
    dialog.reject()


def test_void_with_reason(app: App, qtbot, idle, workspace: Workspace, typing) -> None:
    """Voiding needs the core's reason; afterwards the status column shows "Đã huỷ" and why."""
    household_id, receipt_id = issued_receipt(workspace)
    page = open_household(app, idle, household_id)
    page.tabs.setCurrentWidget(page.receipts_tab)
    select_rows(page.receipts_table, page.receipts_model, {receipt_id})
    page.void_receipt_button.click()
    dialog = app.window.dialog
    assert isinstance(dialog, VoidDialog)
    dialog.confirm()
    idle()
    assert dialog.isVisible()
    assert dialog.problems.text("reason") == "✖ Cần ghi lý do huỷ biên lai."
    assert workspace.receipts.get(receipt_id).void_reason is None

    typing(dialog.reason_edit, "Viết sai tên người nộp")
    dialog.confirm()
    idle()
    qtbot.waitUntil(lambda: app.window.dialog is None)
    assert workspace.receipts.get(receipt_id).void_reason == "Viết sai tên người nộp"
    idle()
    status = page.receipts_model.data(page.receipts_model.index(0, 5))
    assert status == "Đã huỷ: Viết sai tên người nộp"
    assert not page.void_receipt_button.isEnabled() or page.selected_receipt() is None


def test_reprint_is_counted_as_copy(
    app: App, qtbot, idle, workspace: Workspace, tmp_path: Path
) -> None:
    """Ctrl+P on a printed receipt previews BẢN SAO; saving it counts the second print."""
    household_id, receipt_id = issued_receipt(workspace)
    workspace.receipts.render(receipt_id)
    page = open_household(app, idle, household_id)
    page.tabs.setCurrentWidget(page.receipts_tab)
    select_rows(page.receipts_table, page.receipts_model, {receipt_id})
    assert page.print_receipt_button.text().startswith("In lại bản sao")
    qtbot.keyClick(app.window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    idle()
    document = app.window.dialog
    assert isinstance(document, DocumentDialog)
    assert workspace.receipts.get(receipt_id).prints == 1
    assert "BẢN SAO" in pdf_text(document.document.pdf)
    document.save_to(tmp_path / "copy.pdf")
    idle()
    assert workspace.receipts.get(receipt_id).prints == 2
    assert "BẢN SAO" in pdf_text((tmp_path / "copy.pdf").read_bytes())
    idle()
    assert page.receipts_model.data(page.receipts_model.index(0, 6)) == "2"
    document.reject()


def test_preview_counts_no_print_and_printing_counts_one(
    app: App, qtbot, idle, workspace: Workspace, tmp_path: Path
) -> None:
    """Opening and closing the preview leaves the count at 0; Print counts one, the original."""
    household_id, receipt_id = issued_receipt(workspace)
    page = open_household(app, idle, household_id)
    page.tabs.setCurrentWidget(page.receipts_tab)
    select_rows(page.receipts_table, page.receipts_model, {receipt_id})
    for _ in range(2):
        page.print_receipt_button.click()
        idle()
        document = app.window.dialog
        assert isinstance(document, DocumentDialog)
        document.reject()
        idle()
    assert workspace.receipts.get(receipt_id).prints == 0

    page.print_receipt_button.click()
    idle()
    document = app.window.dialog
    assert isinstance(document, DocumentDialog)
    document.print_to(pdf_printer(tmp_path / "printed.pdf"))
    idle()
    assert workspace.receipts.get(receipt_id).prints == 1
    assert "Đã gửi 1 trang" in document.status_label.text()
    assert "BẢN SAO" not in pdf_text(document.document.pdf)
    assert (tmp_path / "printed.pdf").stat().st_size > 0
    idle()
    assert page.receipts_model.data(page.receipts_model.index(0, 6)) == "1"
    document.reject()


def test_books_dialog_refuses_overlap(app: App, qtbot, idle, workspace: Workspace) -> None:
    """An overlapping number range is refused with the core's message under the range."""
    workspace.receipts.add_book(series=SERIES, first=1, last=50)
    app.window.receipt_books_action.trigger()
    dialog = app.window.dialog
    assert isinstance(dialog, ReceiptBooksDialog)
    idle()
    assert dialog.model.rowCount() == 1
    assert "Còn 50 số" in dialog.summary_label.text()
    dialog.series_edit.setText(SERIES.lower())
    dialog.first_spin.setValue(40)
    dialog.last_spin.setValue(90)
    dialog.add_book()
    idle()
    assert dialog.problems.severity("range") == "error"
    assert "trùng với quyển LC-NTA-26 1–50" in dialog.problems.text("range")
    assert len(workspace.receipts.books()) == 1

    dialog.first_spin.setValue(51)
    dialog.add_book()
    idle()
    assert dialog.problems.text("range") == ""
    assert dialog.model.rowCount() == 2
    assert "Còn 90 số" in dialog.summary_label.text()
    dialog.reject()
