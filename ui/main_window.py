"""The main window: navigation, the areas, the shortcuts, and the dialogs they open."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from fieldapp.flyers import household_flyers
from fieldapp.model import Household, Member
from fieldapp.receipts import Receipt
from ui import i18n
from ui.day_report import DayReportPage
from ui.household_dialog import HouseholdDialog
from ui.household_page import HouseholdPage
from ui.households import HouseholdsView
from ui.i18n import tr
from ui.member_dialog import MemberDialog
from ui.operations import Operations
from ui.pledge_dialog import PledgeDialog, load_pledge_context
from ui.print_page import PrintPage
from ui.printing import show_document, slug
from ui.receipts import (
    PaymentDialog,
    ReceiptBooksDialog,
    VoidDialog,
    load_payment_context,
    number_text,
    receipt_title,
)
from ui.sync_page import SyncPage
from ui.today import TodayView
from ui.visit_dialog import VisitDialog, load_visit_context

TODAY, HOUSEHOLDS, HOUSEHOLD, PRINT, SYNC, END_OF_DAY = range(6)
STATUS_MESSAGE_MS = 15000


class MainWindow(QMainWindow):
    """Asks app.py (through signals) for what needs settings or files; opens the data dialogs."""

    language_changed = Signal(str)
    demo_requested = Signal()
    import_requested = Signal()
    settings_requested = Signal()
    lock_requested = Signal()

    def __init__(
        self,
        ops: Operations,
        *,
        province_code: str = "",
        commune_code: str = "",
        agent_name: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ops = ops
        self.province_code = province_code
        self.commune_code = commune_code
        self.agent_name = agent_name
        self.dialog: QDialog | None = None
        self._villages: list[str] = []

        self.today = TodayView(ops)
        self.households = HouseholdsView(ops)
        self.household = HouseholdPage(ops)
        self.print_page = PrintPage(ops, present=self._show_dialog)
        self.sync_page = SyncPage(ops)
        self.day_page = DayReportPage(ops)
        self.stack = QStackedWidget()
        for page in (
            self.today,
            self.households,
            self.household,
            self.print_page,
            self.sync_page,
            self.day_page,
        ):
            self.stack.addWidget(page)
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.addItems([""] * self.stack.count())
        self.nav.setFixedWidth(200)
        self.nav.currentRowChanged.connect(self._navigate)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(6, 6, 6, 6)
        row.addWidget(self.nav)
        row.addWidget(self.stack, 1)
        # The lock screen (ui/lock.py) is added beside the content and swapped in whole.
        self.screens = QStackedWidget()
        self.screens.addWidget(central)
        self.setCentralWidget(self.screens)
        self.status_label = QLabel()
        self.statusBar().addPermanentWidget(self.status_label)

        self.today.open_household.connect(self.open_household)
        self.households.open_household.connect(self.open_household)
        self.households.model.modelReset.connect(self._remember_villages)
        self.household.back_requested.connect(self.go_back)
        self.household.edit_household_requested.connect(self.edit_household)
        self.household.add_member_requested.connect(self.add_member)
        self.household.edit_member_requested.connect(self.edit_member)
        self.household.record_visit_requested.connect(self.record_visit)
        self.household.pledge_requested.connect(self.new_pledge)
        self.household.changed.connect(self.refresh_lists)
        self.household.payment_requested.connect(self.take_payment)
        self.household.print_receipt_requested.connect(self.print_receipt)
        self.household.void_receipt_requested.connect(self.void_receipt)
        self.household.flyer_requested.connect(self.print_household_flyer)
        self.sync_page.synced.connect(self.refresh_all)
        self.sync_page.status_message.connect(
            lambda text: self.statusBar().showMessage(text, STATUS_MESSAGE_MS)
        )
        self.day_page.handed_over.connect(self.update_status)
        # Both areas read the pending count anyway: the status line shows the same number.
        self.sync_page.pending_changed.connect(self._show_status)
        self.day_page.pending_changed.connect(self._show_status)

        self._build_actions()
        self.nav.setCurrentRow(TODAY)
        self.nav.item(HOUSEHOLD).setHidden(True)
        self.retranslate()

    # -- actions --------------------------------------------------------------------------

    def _action(self, shortcut: str | None, slot: object) -> QAction:
        action = QAction(self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.find_action = self._action("Ctrl+F", self.focus_search)
        self.new_household_action = self._action("Ctrl+N", self.new_household)
        self.visit_action = self._action("F2", self.record_visit_here)
        self.print_action = self._action("Ctrl+P", self.print_here)
        self.back_action = self._action("Alt+Left", self.go_back)
        self.today_action = self._action("Ctrl+1", lambda: self.nav.setCurrentRow(TODAY))
        self.list_action = self._action("Ctrl+2", lambda: self.nav.setCurrentRow(HOUSEHOLDS))
        self.print_area_action = self._action("Ctrl+3", lambda: self.nav.setCurrentRow(PRINT))
        self.sync_area_action = self._action("Ctrl+4", lambda: self.nav.setCurrentRow(SYNC))
        self.day_area_action = self._action("Ctrl+5", lambda: self.nav.setCurrentRow(END_OF_DAY))
        self.lock_action = self._action("Ctrl+L", self.lock_requested.emit)
        self.receipt_books_action = self._action(None, self.edit_receipt_books)
        self.demo_action = self._action(None, self.demo_requested.emit)
        self.import_action = self._action(None, self.import_requested.emit)
        self.settings_action = self._action(None, self.settings_requested.emit)
        self.quit_action = self._action("Ctrl+Q", self.close)
        self.language_group = QActionGroup(self)
        self.vi_action = self._action(None, lambda: self.set_language("vi"))
        self.en_action = self._action(None, lambda: self.set_language("en"))
        for action in (self.vi_action, self.en_action):
            action.setCheckable(True)
            self.language_group.addAction(action)
        (self.en_action if i18n.language() == "en" else self.vi_action).setChecked(True)

        menus = self.menuBar()
        self.file_menu = menus.addMenu("")
        for action in (
            self.demo_action,
            self.import_action,
            self.receipt_books_action,
            self.settings_action,
        ):
            self.file_menu.addAction(action)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.lock_action)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.quit_action)
        self.household_menu = menus.addMenu("")
        for action in (
            self.find_action,
            self.new_household_action,
            self.visit_action,
            self.print_action,
        ):
            self.household_menu.addAction(action)
        self.view_menu = menus.addMenu("")
        for action in (
            self.today_action,
            self.list_action,
            self.print_area_action,
            self.sync_area_action,
            self.day_area_action,
            self.back_action,
        ):
            self.view_menu.addAction(action)
        self.language_menu = menus.addMenu("")
        self.language_menu.addAction(self.vi_action)
        self.language_menu.addAction(self.en_action)

    # -- navigation -----------------------------------------------------------------------

    def _navigate(self, row: int) -> None:
        if row < 0:
            return
        self.stack.setCurrentIndex(row)
        if row == TODAY:
            self.today.refresh()
        elif row == HOUSEHOLDS and self.households.model.rowCount() == 0:
            self.households.refresh()
        elif row == PRINT:
            self.print_page.refresh()
        elif row == SYNC:
            self.sync_page.refresh()
        elif row == END_OF_DAY:
            self.day_page.refresh()

    def _remember_villages(self) -> None:
        self._villages = [
            self.households.village_combo.itemData(i)
            for i in range(1, self.households.village_combo.count())
        ]

    def focus_search(self) -> None:
        self.nav.setCurrentRow(HOUSEHOLDS)
        self.households.focus_search()

    def open_household(self, household_id: str) -> None:
        self.nav.item(HOUSEHOLD).setHidden(False)
        self.household.open(household_id)
        self.nav.setCurrentRow(HOUSEHOLD)

    def go_back(self) -> None:
        if self.stack.currentIndex() == HOUSEHOLD:
            self.nav.setCurrentRow(HOUSEHOLDS)
            self.households.table.setFocus()

    def refresh_all(self) -> None:
        self.today.refresh()
        self.households.refresh()
        self.household.refresh()
        if self.stack.currentIndex() == PRINT:
            self.print_page.refresh()
        elif self.stack.currentIndex() == END_OF_DAY:
            self.day_page.refresh()
        self.update_status()

    def refresh_lists(self) -> None:
        self.today.refresh()
        self.households.model.refresh()
        if self.stack.currentIndex() == SYNC:
            self.sync_page.refresh()
        self.update_status()

    def update_status(self) -> None:
        self.ops.run_op(self, lambda ws: ws.pending_sync(), success=self._show_status)

    def _show_status(self, pending: int) -> None:
        parts = []
        if self.agent_name:
            parts.append(tr("Nhân viên thu: {name}").format(name=self.agent_name))
        parts.append(tr("Chưa đồng bộ: {n}").format(n=pending))
        self.status_label.setText("  ·  ".join(parts))

    # -- dialogs --------------------------------------------------------------------------

    def _show_dialog(self, dialog: QDialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.finished.connect(lambda _r: self._dialog_closed(dialog))
        # open(), not exec(): window-modal without a nested event loop.
        dialog.open()

    def present(self, dialog: QDialog) -> None:
        """Open a dialog of this window (window-modal, deleted on close, kept as self.dialog)."""
        self._show_dialog(dialog)

    def _dialog_closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def new_household(self) -> None:
        dialog = HouseholdDialog(
            self.ops,
            province_code=self.province_code,
            commune_code=self.commune_code,
            villages=self._villages,
            parent=self,
        )
        dialog.saved.connect(self._household_saved)
        self._show_dialog(dialog)

    def edit_household(self, household: Household) -> None:
        dialog = HouseholdDialog(
            self.ops, household=household, villages=self._villages, parent=self
        )
        dialog.saved.connect(self._household_saved)
        self._show_dialog(dialog)

    def _household_saved(self, household: Household) -> None:
        self.refresh_lists()
        self.households.refresh()
        self.open_household(household.id)

    def add_member(self, household_id: str) -> None:
        dialog = MemberDialog(self.ops, household_id=household_id, parent=self)
        dialog.saved.connect(lambda _m: self._member_saved())
        self._show_dialog(dialog)

    def edit_member(self, member: Member) -> None:
        dialog = MemberDialog(
            self.ops, household_id=member.household_id, member=member, parent=self
        )
        dialog.saved.connect(lambda _m: self._member_saved())
        self._show_dialog(dialog)

    def _member_saved(self) -> None:
        self.household.refresh()
        self.refresh_lists()

    def _selected_household_id(self) -> str | None:
        index = self.stack.currentIndex()
        if index == HOUSEHOLD:
            return self.household.household_id
        if index == HOUSEHOLDS:
            row = self.households.table.currentIndex().row()
            if 0 <= row < self.households.model.rowCount():
                return self.households.model.hit(row).household_id
        if index == TODAY:
            row = self.today.follow_table.currentIndex().row()
            if 0 <= row < self.today.follow_model.rowCount():
                return str(self.today.follow_model.record(row).household.id)
        return None

    def record_visit_here(self) -> None:
        household_id = self._selected_household_id()
        if household_id is None:
            self.statusBar().showMessage(tr("Chọn một hộ trước khi ghi lần thăm."), 5000)
            return
        self.record_visit(household_id)

    def record_visit(self, household_id: str) -> None:
        def show(context: object) -> None:
            dialog = VisitDialog(self.ops, context, parent=self)  # type: ignore[arg-type]
            dialog.saved.connect(lambda _v: self._member_saved())
            self._show_dialog(dialog)

        self.ops.run_op(self, lambda ws: load_visit_context(ws, household_id), success=show)

    def new_pledge(self, household_id: str) -> None:
        def show(context: object) -> None:
            dialog = PledgeDialog(self.ops, context, parent=self)  # type: ignore[arg-type]
            dialog.saved.connect(lambda _p: self._member_saved())
            self._show_dialog(dialog)

        self.ops.run_op(self, lambda ws: load_pledge_context(ws, household_id), success=show)

    # -- payments, receipts and printing ---------------------------------------------------

    def take_payment(self, household_id: str, pledge_ids: list[str]) -> None:
        def show(context: object) -> None:
            dialog = PaymentDialog(self.ops, context, parent=self)  # type: ignore[arg-type]
            dialog.issued.connect(self._receipt_issued)
            dialog.print_requested.connect(self.print_receipt)
            self._show_dialog(dialog)

        self.ops.run_op(
            self, lambda ws: load_payment_context(ws, household_id, pledge_ids), success=show
        )

    def _receipt_issued(self, receipt: Receipt) -> None:
        self.household.show_receipt(receipt.id)
        self.refresh_lists()

    def print_receipt(self, receipt: Receipt) -> None:
        """Preview the receipt uncounted; only Print or Save has the core count a print.

        The first counted print is the original and every later one a copy (BẢN SAO), so a
        look at the preview must not use up the original.
        """
        receipt_id, layout = receipt.id, self.household.receipt_layout()
        show_document(
            self,
            self.ops,
            lambda ws: ws.receipts.preview(receipt_id, layout=layout),
            title=receipt_title(receipt),
            file_name=f"bien-lai-{slug(receipt.series)}-{number_text(receipt.number)}.pdf",
            present=self._show_dialog,
            final=lambda ws: ws.receipts.render(receipt_id, layout=layout),
            finalised=lambda _document: self.household.refresh(),
        )

    def void_receipt(self, receipt: Receipt) -> None:
        dialog = VoidDialog(self.ops, receipt, parent=self)
        dialog.voided.connect(lambda _r: self._member_saved())
        self._show_dialog(dialog)

    def print_household_flyer(self, household_id: str) -> None:
        language = self.print_page.flyer_language()
        head = ""
        if self.household.data is not None and self.household.household_id == household_id:
            head = self.household.data.household.head_name
        show_document(
            self,
            self.ops,
            lambda ws: household_flyers(ws, [household_id], language=language),
            title=tr("Tờ rơi hộ {head}").format(head=head) if head else tr("Tờ rơi của hộ"),
            file_name=f"to-roi-{slug(head or household_id)}-{language}.pdf",
            present=self._show_dialog,
        )

    def print_here(self) -> None:
        """Ctrl+P: what is in front of the agent — a receipt or flyer, or the village batch."""
        index = self.stack.currentIndex()
        if index == HOUSEHOLD:
            self.household.print_selected()
        elif index == PRINT:
            self.print_page.make_flyers()
        else:
            household_id = self._selected_household_id()
            if household_id is None:
                self.statusBar().showMessage(tr("Chọn một hộ trước khi in tờ rơi."), 5000)
            else:
                self.print_household_flyer(household_id)

    def edit_receipt_books(self) -> None:
        dialog = ReceiptBooksDialog(self.ops, parent=self)
        dialog.changed.connect(lambda _books: self.print_page.refresh())
        self._show_dialog(dialog)

    # -- language -------------------------------------------------------------------------

    def set_language(self, lang: str) -> None:
        """Switch language at once: every widget retranslates itself."""
        i18n.set_language(lang)
        (self.en_action if lang == "en" else self.vi_action).setChecked(True)
        self.retranslate()
        if self.dialog is not None and hasattr(self.dialog, "retranslate"):
            self.dialog.retranslate()
        self.language_changed.emit(i18n.language())

    def retranslate(self) -> None:
        self.setWindowTitle(tr("Thu BHXH, BHYT – sổ tay nhân viên thu"))
        for row, text in enumerate(
            (
                tr("Hôm nay"),
                tr("Hộ gia đình"),
                tr("Hộ đang xem"),
                tr("In ấn"),
                tr("Đồng bộ"),
                tr("Cuối ngày"),
            )
        ):
            self.nav.item(row).setText(text)
        self.file_menu.setTitle(tr("&Tệp"))
        self.household_menu.setTitle(tr("&Hộ"))
        self.view_menu.setTitle(tr("&Xem"))
        self.language_menu.setTitle(tr("&Ngôn ngữ"))
        self.find_action.setText(tr("Tìm kiếm"))
        self.new_household_action.setText(tr("Hộ mới…"))
        self.visit_action.setText(tr("Ghi lần thăm…"))
        self.print_action.setText(tr("In…"))
        self.print_action.setToolTip(tr("Biên lai đang chọn, hoặc tờ rơi của hộ"))
        self.household_menu.setToolTipsVisible(True)
        self.back_action.setText(tr("Quay lại danh sách"))
        self.today_action.setText(tr("Hôm nay"))
        self.list_action.setText(tr("Hộ gia đình"))
        self.print_area_action.setText(tr("In ấn"))
        self.sync_area_action.setText(tr("Đồng bộ"))
        self.day_area_action.setText(tr("Cuối ngày"))
        self.lock_action.setText(tr("Khoá máy"))
        self.receipt_books_action.setText(tr("Quyển biên lai…"))
        self.demo_action.setText(tr("Tạo xã mẫu…"))
        self.import_action.setText(tr("Nhập danh sách cư dân…"))
        self.settings_action.setText(tr("Cài đặt…"))
        self.quit_action.setText(tr("Thoát"))
        self.vi_action.setText("Tiếng Việt")
        self.en_action.setText("English")
        self.today.retranslate()
        self.households.retranslate()
        self.household.retranslate()
        self.print_page.retranslate()
        self.sync_page.retranslate()
        self.day_page.retranslate()
        self.update_status()
