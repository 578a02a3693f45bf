"""The main window: navigation, the areas, the shortcuts, and the dialogs they open."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6 import QtCore
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from fieldapp.model import Household, Member
from sync.protocol import i18n
from sync.protocol.i18n import say
from ui.operations import Operations
from ui.today import TodayView

# The other areas and the dialogs are imported when first opened: the Sync area brings the
# HTTP client, the End of day area and printing bring the PDF library, and none of them is
# needed to show Today, the first area.
if TYPE_CHECKING:
    from PySide6.QtWidgets import QDialog, QMessageBox

    from fieldapp.receipts import Receipt
    from fieldapp.workspace import Workspace
    from ui.coverage_page import CoveragePage
    from ui.day_report import DayReportPage
    from ui.household_page import HouseholdPage
    from ui.households import HouseholdsView
    from ui.print_page import PrintPage
    from ui.sync_page import SyncPage

TODAY, HOUSEHOLDS, HOUSEHOLD, PRINT, SYNC, END_OF_DAY, COVERAGE = range(7)
STATUS_MESSAGE_MS = 15000
# Watching for the provincial server starts this long after the window is up: the first paint
# and the first search do not wait for the HTTP client to load.
SERVER_WATCH_DELAY_MS = 1000


class MainWindow(QMainWindow):
    """Asks app.py (through signals) for what needs settings or files; opens the data dialogs.

    Each area, the search included, is built when it is first shown (or reached through its
    attribute), and an area reads its data when it is shown, so nothing is built or read for
    an area the agent has not looked at: at start only Today is.
    """

    language_changed = Signal(str)
    demo_requested = Signal()
    import_requested = Signal()
    settings_requested = Signal()
    lock_requested = Signal()
    # The Sync area enrolled this laptop: server address, communes (comma separated).
    enrolled = Signal(str, str)

    def __init__(
        self,
        ops: Operations,
        *,
        province_code: str = "",
        commune_code: str = "",
        agent_name: str = "",
        server_url: str = "",
        communes: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ops = ops
        self.province_code = province_code
        self.commune_code = commune_code
        self.agent_name = agent_name
        self.dialog: QDialog | None = None
        # The question asked before the demo data is removed, while it is open.
        self.remove_demo_box: QMessageBox | None = None
        self._villages: list[str] = []
        self._server_url = server_url
        self._communes = communes
        self._shown = False

        self._pages: dict[int, Any] = {}
        self.stack = QStackedWidget()
        for _row in range(COVERAGE + 1):
            self.stack.addWidget(QWidget())
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
        self._watch_timer = QTimer(self)
        self._watch_timer.setSingleShot(True)
        self._watch_timer.setInterval(SERVER_WATCH_DELAY_MS)
        self._watch_timer.timeout.connect(lambda: self.sync_page.start_watching())

        self._build_actions()
        self.nav.setCurrentRow(TODAY)
        self.nav.item(HOUSEHOLD).setHidden(True)
        self.retranslate()

    # -- areas ----------------------------------------------------------------------------

    def _built(self, row: int) -> Any:
        """The area at row if it has been built, else None."""
        return self._pages.get(row)

    def _page(self, row: int) -> Any:
        """The area at row, built (and put in place in the stack) on first use."""
        page = self._pages.get(row)
        if page is None:
            page = self._build_page(row)
            self._pages[row] = page
            placeholder = self.stack.widget(row)
            current = self.stack.currentIndex() == row
            self.stack.insertWidget(row, page)
            self.stack.removeWidget(placeholder)
            placeholder.deleteLater()
            if current:
                self.stack.setCurrentIndex(row)
        return page

    def _build_page(self, row: int) -> QWidget:
        if row == TODAY:
            today = TodayView(self.ops)
            today.open_household.connect(self.open_household)
            today.renew.connect(self.renew)
            today.pending_changed.connect(self._show_status)
            return today
        if row == HOUSEHOLDS:
            from ui.households import HouseholdsView

            households = HouseholdsView(self.ops)
            households.open_household.connect(self.open_household)
            households.model.modelReset.connect(self._remember_villages)
            return households
        if row == HOUSEHOLD:
            from ui.household_page import HouseholdPage

            household = HouseholdPage(self.ops)
            household.back_requested.connect(self.go_back)
            household.edit_household_requested.connect(self.edit_household)
            household.add_member_requested.connect(self.add_member)
            household.edit_member_requested.connect(self.edit_member)
            household.record_visit_requested.connect(self.record_visit)
            household.pledge_requested.connect(self.new_pledge)
            household.changed.connect(self.refresh_lists)
            household.payment_requested.connect(self.take_payment)
            household.print_receipt_requested.connect(self.print_receipt)
            household.void_receipt_requested.connect(self.void_receipt)
            household.flyer_requested.connect(self.print_household_flyer)
            return household
        if row == PRINT:
            from ui.print_page import PrintPage

            return PrintPage(self.ops, present=self._show_dialog)
        if row == SYNC:
            from ui.sync_page import SyncPage

            sync = SyncPage(self.ops, server_url=self._server_url, communes=self._communes)
            sync.synced.connect(self.refresh_all)
            sync.status_message.connect(
                lambda text: self.statusBar().showMessage(text, STATUS_MESSAGE_MS)
            )
            # The area reads the pending count anyway: the status line shows the same number.
            sync.pending_changed.connect(self._show_status)
            sync.enrolled.connect(self.enrolled)
            return sync
        if row == END_OF_DAY:
            from ui.day_report import DayReportPage

            day = DayReportPage(self.ops)
            day.handed_over.connect(self.update_status)
            day.pending_changed.connect(self._show_status)
            return day
        if row == COVERAGE:
            from ui.coverage_page import CoveragePage

            coverage = CoveragePage(self.ops)
            coverage.open_household.connect(self.open_household)
            return coverage
        raise ValueError(f"no area at row {row}")

    @property
    def today(self) -> TodayView:
        page: TodayView = self._page(TODAY)
        return page

    @property
    def households(self) -> HouseholdsView:
        page: HouseholdsView = self._page(HOUSEHOLDS)
        return page

    @property
    def household(self) -> HouseholdPage:
        page: HouseholdPage = self._page(HOUSEHOLD)
        return page

    @property
    def print_page(self) -> PrintPage:
        page: PrintPage = self._page(PRINT)
        return page

    @property
    def sync_page(self) -> SyncPage:
        page: SyncPage = self._page(SYNC)
        return page

    @property
    def day_page(self) -> DayReportPage:
        page: DayReportPage = self._page(END_OF_DAY)
        return page

    @property
    def coverage_page(self) -> CoveragePage:
        page: CoveragePage = self._page(COVERAGE)
        return page

    def set_server(self, server_url: str) -> None:
        """The provincial server's address changed in the settings."""
        self._server_url = server_url
        sync = self._built(SYNC)
        if sync is not None:
            sync.server_url = server_url
            sync.refresh()

    def watch_server(self) -> None:
        """Probe the server now and then, and sync in the background when it answers."""
        self._watch_timer.start()

    def stop_watching_server(self) -> None:
        self._watch_timer.stop()
        sync = self._built(SYNC)
        if sync is not None:
            sync.stop_watching()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown:
            # The areas wait for the window: the one in front is built and reads its data now.
            self._shown = True
            self._page(self.stack.currentIndex())
            self._load(self.stack.currentIndex())
            if self.stack.currentIndex() != TODAY:
                # Today reads the pending count with its data; other areas do not.
                self.update_status()

    # -- actions --------------------------------------------------------------------------

    def _action(self, shortcut: str | None, slot: object) -> QAction:
        action = QAction(self)
        if shortcut:
            # setShortcuts() with a parsed sequence: setShortcut() and QKeySequence(str) have
            # overloads that take a Qt.Key, and resolving them loads PySide6's Qt namespace.
            action.setShortcuts([QKeySequence.fromString(shortcut)])
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
        self.coverage_area_action = self._action("Ctrl+6", lambda: self.nav.setCurrentRow(COVERAGE))
        self.lock_action = self._action("Ctrl+L", self.lock_requested.emit)
        self.receipt_books_action = self._action(None, self.edit_receipt_books)
        self.demo_action = self._action(None, self.demo_requested.emit)
        self.remove_demo_action = self._action(None, self.ask_remove_demo)
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
            self.remove_demo_action,
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
            self.coverage_area_action,
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
        if row != TODAY:
            # Today reads its whole list again when it is next shown; the area in front
            # does not wait behind it.
            self.stop_reading()
        if self._shown:
            self._page(row)
        self.stack.setCurrentIndex(row)
        if self._shown:
            self._load(row)

    def _load(self, row: int) -> None:
        """Read the data of the area the agent has just brought to the front."""
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
        elif row == COVERAGE:
            self.coverage_page.refresh()

    def _remember_villages(self) -> None:
        self._villages = [
            self.households.village_combo.itemData(i)
            for i in range(1, self.households.village_combo.count())
        ]

    def stop_reading(self) -> None:
        """Stop the reads running in the background (Today's whole list), e.g. on closing."""
        today = self._pages.get(TODAY)
        if today is not None:
            today.stop_loading()

    def focus_search(self) -> None:
        self.nav.setCurrentRow(HOUSEHOLDS)
        self.households.focus_search()

    def open_household(self, household_id: str) -> None:
        self.nav.item(HOUSEHOLD).setHidden(False)
        self.household.open(household_id)
        self.nav.setCurrentRow(HOUSEHOLD)

    def renew(self, household_id: str, scheme: str, member_ids: list[str]) -> None:
        """A renewal from Today: the household, with the pledge for those members filled in."""
        self.open_household(household_id)
        self.new_pledge(household_id, scheme=scheme, member_ids=member_ids)

    def go_back(self) -> None:
        if self.stack.currentIndex() == HOUSEHOLD:
            self.nav.setCurrentRow(HOUSEHOLDS)
            self.households.table.setFocus()

    # -- demo data ----------------------------------------------------------------------------

    def ask_remove_demo(self) -> None:
        """Ask before removing the demo data; the core removes it whole or not at all."""
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(self)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(say("Xoá dữ liệu mẫu", "Remove demo data"))
        box.setText(
            say(
                "Xoá mọi hộ của xã mẫu cùng nhân khẩu, lần thăm, cam kết và biên lai của họ?",
                "Remove every household of the demo commune with its members, visits, pledges "
                "and receipts?",
            )
        )
        box.setInformativeText(
            say(
                "Dữ liệu thật không bị động đến. Dữ liệu mẫu đã xoá không lấy lại được.",
                "Real data is not touched. Removed demo data cannot be brought back.",
            )
        )
        remove = box.addButton(
            say("Xoá dữ liệu mẫu", "Remove demo data"), QMessageBox.ButtonRole.DestructiveRole
        )
        keep = box.addButton(say("Không xoá", "Keep it"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)

        def chosen(button: Any) -> None:
            self.remove_demo_box = None
            if button is remove:
                self.remove_demo()

        box.buttonClicked.connect(chosen)
        self.remove_demo_box = box
        box.open()

    def remove_demo(self) -> None:
        """Remove the demo data (fieldapp.demo.remove_demo), then show what is left."""
        from fieldapp.demo import DemoRemoval, remove_demo
        from fieldapp.errors import NotFoundError

        page = self._built(HOUSEHOLD)
        shown = page.household_id if page is not None else None

        def remove(ws: Workspace) -> tuple[DemoRemoval, bool]:
            removed = remove_demo(ws)
            if shown is None:
                return removed, False
            try:
                ws.households.get(shown)
            except NotFoundError:
                return removed, False
            return removed, True

        def done(outcome: tuple[DemoRemoval, bool]) -> None:
            removed, still_shown = outcome
            if shown is not None and not still_shown:
                # The household on its page was demo: leave the page, it has nothing to show.
                self.nav.item(HOUSEHOLD).setHidden(True)
                if self.stack.currentIndex() == HOUSEHOLD:
                    self.nav.setCurrentRow(HOUSEHOLDS)
                self.refresh_lists()
            else:
                self.refresh_all()
            self.statusBar().showMessage(
                say(
                    "Đã xoá dữ liệu mẫu: {households} hộ, {members} người.",
                    "Demo data removed: {households} households, {members} people.",
                ).format(households=removed.households, members=removed.members),
                10000,
            )

        self.ops.run_op(self, remove, success=done)

    def refresh_all(self) -> None:
        if self._built(TODAY) is not None:
            self.today.refresh()
        if self._built(HOUSEHOLDS) is not None:
            self.households.refresh()
        if self._built(HOUSEHOLD) is not None:
            self.household.refresh()
        if self.stack.currentIndex() == PRINT:
            self.print_page.refresh()
        elif self.stack.currentIndex() == END_OF_DAY:
            self.day_page.refresh()
        elif self.stack.currentIndex() == COVERAGE:
            self.coverage_page.refresh()
        self.update_status()

    def refresh_lists(self) -> None:
        if self._built(TODAY) is not None:
            self.today.refresh()
        if self._built(HOUSEHOLDS) is not None:
            self.households.model.refresh()
        if self.stack.currentIndex() == SYNC:
            self.sync_page.refresh()
        self.update_status()

    def update_status(self) -> None:
        self.ops.run_op(self, lambda ws: ws.pending_sync(), success=self._show_status)

    def _show_status(self, pending: int) -> None:
        parts = []
        if self.agent_name:
            parts.append(say("Nhân viên thu: {name}", "Agent: {name}").format(name=self.agent_name))
        parts.append(say("Chưa đồng bộ: {n}", "Not synced: {n}").format(n=pending))
        self.status_label.setText("  ·  ".join(parts))

    # -- dialogs --------------------------------------------------------------------------

    def _show_dialog(self, dialog: QDialog) -> None:
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
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
        from ui.household_dialog import HouseholdDialog

        dialog = HouseholdDialog(
            self.ops,
            province_code=self.province_code,
            commune_code=self.commune_code,
            villages=self._villages or None,
            parent=self,
        )
        dialog.saved.connect(self._household_saved)
        self._show_dialog(dialog)

    def edit_household(self, household: Household) -> None:
        from ui.household_dialog import HouseholdDialog

        dialog = HouseholdDialog(
            self.ops, household=household, villages=self._villages or None, parent=self
        )
        dialog.saved.connect(self._household_saved)
        self._show_dialog(dialog)

    def _household_saved(self, household: Household) -> None:
        self.refresh_lists()
        if self._built(HOUSEHOLDS) is not None:
            self.households.refresh()
        self.open_household(household.id)

    def add_member(self, household_id: str) -> None:
        from ui.member_dialog import MemberDialog

        dialog = MemberDialog(self.ops, household_id=household_id, parent=self)
        dialog.saved.connect(lambda _m: self._member_saved())
        self._show_dialog(dialog)

    def edit_member(self, member: Member) -> None:
        from ui.member_dialog import MemberDialog

        dialog = MemberDialog(
            self.ops, household_id=member.household_id, member=member, parent=self
        )
        dialog.saved.connect(lambda _m: self._member_saved())
        self._show_dialog(dialog)

    def _member_saved(self) -> None:
        if self._built(HOUSEHOLD) is not None:
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
            self.statusBar().showMessage(
                say(
                    "Chọn một hộ trước khi ghi lần thăm.",
                    "Choose a household before recording a visit.",
                ),
                5000,
            )
            return
        self.record_visit(household_id)

    def record_visit(self, household_id: str) -> None:
        from ui.visit_dialog import VisitDialog, load_visit_context

        def show(context: object) -> None:
            dialog = VisitDialog(self.ops, context, parent=self)  # type: ignore[arg-type]
            dialog.saved.connect(lambda _v: self._member_saved())
            self._show_dialog(dialog)

        self.ops.run_op(self, lambda ws: load_visit_context(ws, household_id), success=show)

    def new_pledge(
        self, household_id: str, *, scheme: str | None = None, member_ids: list[str] | None = None
    ) -> None:
        """The pledge dialog for a household; a renewal fills in its scheme and members."""
        from ui.pledge_dialog import PledgeDialog, load_pledge_context

        def show(context: object) -> None:
            dialog = PledgeDialog(self.ops, context, parent=self)  # type: ignore[arg-type]
            if scheme is not None and member_ids is not None:
                dialog.prefill(scheme, member_ids)
            dialog.saved.connect(lambda _p: self._member_saved())
            self._show_dialog(dialog)

        self.ops.run_op(self, lambda ws: load_pledge_context(ws, household_id), success=show)

    # -- payments, receipts and printing ---------------------------------------------------

    def take_payment(self, household_id: str, pledge_ids: list[str]) -> None:
        from ui.receipts import PaymentDialog, load_payment_context

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
        from ui.printing import show_document, slug
        from ui.receipts import number_text, receipt_title

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
        from ui.receipts import VoidDialog

        dialog = VoidDialog(self.ops, receipt, parent=self)
        dialog.voided.connect(lambda _r: self._member_saved())
        self._show_dialog(dialog)

    def print_household_flyer(self, household_id: str) -> None:
        from fieldapp.flyers import household_flyers
        from ui.printing import show_document, slug

        language = self.print_page.flyer_language()
        head = ""
        page = self._built(HOUSEHOLD)
        if page is not None and page.data is not None and page.household_id == household_id:
            head = page.data.household.head_name
        show_document(
            self,
            self.ops,
            lambda ws: household_flyers(ws, [household_id], language=language),
            title=say("Tờ rơi hộ {head}", "Flyer for the household of {head}").format(head=head)
            if head
            else say("Tờ rơi của hộ", "Household flyer"),
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
                self.statusBar().showMessage(
                    say(
                        "Chọn một hộ trước khi in tờ rơi.",
                        "Select a household before printing a flyer.",
                    ),
                    5000,
                )
            else:
                self.print_household_flyer(household_id)

    def edit_receipt_books(self) -> None:
        from ui.receipts import ReceiptBooksDialog

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
        self.setWindowTitle(
            say(
                "Thu BHXH, BHYT – sổ tay nhân viên thu", "BHXH & BHYT collection – agent's notebook"
            )
        )
        for row, text in enumerate(
            (
                say("Hôm nay", "Today"),
                say("Hộ gia đình", "Households"),
                say("Hộ đang xem", "Open household"),
                say("In ấn", "Print"),
                say("Đồng bộ", "Sync"),
                say("Cuối ngày", "End of day"),
                say("Độ bao phủ", "Coverage"),
            )
        ):
            self.nav.item(row).setText(text)
        self.file_menu.setTitle(say("&Tệp", "&File"))
        self.household_menu.setTitle(say("&Hộ", "&Household"))
        self.view_menu.setTitle(say("&Xem", "&View"))
        self.language_menu.setTitle(say("&Ngôn ngữ", "&Language"))
        self.find_action.setText(say("Tìm kiếm", "Search"))
        self.new_household_action.setText(say("Hộ mới…", "New household…"))
        self.visit_action.setText(say("Ghi lần thăm…", "Record a visit…"))
        self.print_action.setText(say("In…", "Print…"))
        self.print_action.setToolTip(
            say(
                "Biên lai đang chọn, hoặc tờ rơi của hộ",
                "The selected receipt, or the household's flyer",
            )
        )
        self.household_menu.setToolTipsVisible(True)
        self.back_action.setText(say("Quay lại danh sách", "Back to the list"))
        self.today_action.setText(say("Hôm nay", "Today"))
        self.list_action.setText(say("Hộ gia đình", "Households"))
        self.print_area_action.setText(say("In ấn", "Print"))
        self.sync_area_action.setText(say("Đồng bộ", "Sync"))
        self.day_area_action.setText(say("Cuối ngày", "End of day"))
        self.coverage_area_action.setText(say("Độ bao phủ", "Coverage"))
        self.lock_action.setText(say("Khoá máy", "Lock"))
        self.receipt_books_action.setText(say("Quyển biên lai…", "Receipt books…"))
        self.demo_action.setText(say("Tạo xã mẫu…", "Create demo commune…"))
        self.remove_demo_action.setText(say("Xoá dữ liệu mẫu…", "Remove demo data…"))
        self.import_action.setText(say("Nhập danh sách cư dân…", "Import a resident list…"))
        self.settings_action.setText(say("Cài đặt…", "Settings…"))
        self.quit_action.setText(say("Thoát", "Quit"))
        self.vi_action.setText("Tiếng Việt")
        self.en_action.setText("English")
        for page in self._pages.values():
            page.retranslate()
        if self._shown:
            self.update_status()
