"""One household: members, visit history, pledges with their status history, receipts, notes."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fieldapp.model import Household, Member, Pledge, Visit
from fieldapp.receipts import Receipt
from fieldapp.workspace import Workspace
from sync.protocol import i18n
from sync.protocol.frozen import frozen
from sync.protocol.i18n import say
from sync.protocol.labels import (
    group_label,
    outcome_label,
    scheme_label,
    sex_label,
    status_label,
    topic_label,
)
from sync.protocol.money import format_vnd
from ui.labels import bhyt_group_text, date_text, moment_text, month_label, month_text
from ui.models import Column, RecordsModel
from ui.operations import Operations
from ui.receipts import LAYOUTS, layout_label, receipt_columns


@frozen
class HouseholdData:
    household: Household
    members: list[Member]
    visits: list[Visit]
    pledges: list[Pledge]
    names: dict[str, str]
    receipts: list[Receipt]


def load_household(ws: Workspace, household_id: str) -> HouseholdData:
    members = ws.members.of_household(household_id, include_removed=True)
    return HouseholdData(
        household=ws.households.get(household_id),
        members=[m for m in members if not m.removed],
        visits=ws.visits.of_household(household_id),
        pledges=ws.pledges.of_household(household_id),
        names={m.id: m.full_name for m in members},
        receipts=ws.receipts.issued(household_id=household_id),
    )


def _warnings(member: Member) -> str:
    key = "en" if i18n.language() == "en" else "vi"
    return "; ".join(w.get(key, "") for w in member.warnings)


def _card(member: Member) -> str:
    """The card number (or the other group's note) and its last valid day."""
    card = member.bhyt_card or member.covered_by or ""
    if member.bhyt_expiry:
        until = say("đến {day}", "to {day}").format(day=date_text(member.bhyt_expiry))
        return f"{card} ({until})" if card else until
    return card


def _bhxh(member: Member) -> str:
    if member.bhxh_paid_through:
        return say("Đã đóng đến {month}", "Paid through {month}").format(
            month=month_text(member.bhxh_paid_through)
        )
    return say("Đang tham gia", "Participating") if member.bhxh_participating else ""


def _table(model: RecordsModel) -> QTableView:
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


class HouseholdPage(QWidget):
    """Requests dialogs through signals; the main window opens them."""

    back_requested = Signal()
    edit_household_requested = Signal(object)
    add_member_requested = Signal(str)
    edit_member_requested = Signal(object)
    record_visit_requested = Signal(str)
    pledge_requested = Signal(str)
    payment_requested = Signal(str, list)
    print_receipt_requested = Signal(object)
    void_receipt_requested = Signal(object)
    flyer_requested = Signal(str)
    changed = Signal()

    def __init__(self, ops: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ops = ops
        self.data: HouseholdData | None = None
        self.back_button = QPushButton()
        self.back_button.clicked.connect(self.back_requested.emit)
        self.heading = QLabel()
        self.heading.setProperty("role", "title")
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.edit_button = QPushButton()
        self.edit_button.clicked.connect(
            lambda: self.data and self.edit_household_requested.emit(self.data.household)
        )
        self.visit_button = QPushButton()
        self.visit_button.clicked.connect(self._record_visit)
        self.pledge_button = QPushButton()
        self.pledge_button.clicked.connect(
            lambda: self.data and self.pledge_requested.emit(self.data.household.id)
        )

        self.members_model = RecordsModel(
            [
                Column(lambda: say("Họ và tên", "Full name"), lambda m: m.full_name),
                Column(lambda: say("Quan hệ", "Relation"), lambda m: m.relation),
                Column(
                    lambda: say("Ngày sinh", "Date of birth"), lambda m: date_text(m.date_of_birth)
                ),
                Column(lambda: say("Giới tính", "Sex"), lambda m: sex_label(m.sex)),
                Column(lambda: say("CCCD", "ID card (CCCD)"), lambda m: m.cccd or ""),
                Column(lambda: say("Thẻ BHYT", "Health card"), _card),
                Column(
                    lambda: say("Nhóm BHYT", "BHYT group"),
                    lambda m: bhyt_group_text(m.bhyt_group_effective),
                ),
                Column(lambda: say("BHXH tự nguyện", "Voluntary BHXH"), _bhxh),
                Column(lambda: say("Cảnh báo", "Warnings"), _warnings),
            ],
            highlight=lambda m: bool(m.warnings),
            parent=self,
        )
        self.members_table = _table(self.members_model)
        self.members_table.activated.connect(self._edit_member)
        self.add_member_button = QPushButton()
        self.add_member_button.clicked.connect(
            lambda: self.data and self.add_member_requested.emit(self.data.household.id)
        )
        self.edit_member_button = QPushButton()
        self.edit_member_button.clicked.connect(
            lambda: self._edit_member(self.members_table.currentIndex())
        )
        self.remove_member_button = QPushButton()
        self.remove_member_button.clicked.connect(self._remove_member)

        self.visits_model = RecordsModel(
            [
                Column(lambda: say("Lúc", "When"), lambda v: moment_text(v.at)),
                Column(lambda: say("Kết quả", "Outcome"), lambda v: outcome_label(v.outcome)),
                Column(
                    lambda: say("Nội dung", "Topics"),
                    lambda v: ", ".join(topic_label(t) for t in v.topics),
                ),
                Column(
                    lambda: say("Tài liệu", "Materials"),
                    lambda v: ", ".join(topic_label(t) for t in v.materials),
                ),
                Column(
                    lambda: say("Hẹn thăm lại", "Next visit"), lambda v: date_text(v.next_visit)
                ),
                Column(lambda: say("Ghi chú", "Notes"), lambda v: v.notes),
            ],
            parent=self,
        )
        self.visits_table = _table(self.visits_model)

        self.pledges_model = RecordsModel(
            [
                Column(lambda: say("Người tham gia", "Participant"), self._member_name),
                Column(lambda: say("Loại", "Scheme"), lambda p: scheme_label(p.scheme)),
                Column(
                    lambda: say("Số tháng", "Months"), lambda p: str(p.params.get("months", ""))
                ),
                Column(lambda: say("Phải đóng", "Payable"), lambda p: format_vnd(p.payable)),
                Column(lambda: say("Hạn đóng", "Due"), lambda p: date_text(p.due_date)),
                Column(lambda: say("Trạng thái", "Status"), lambda p: status_label(p.status)),
                Column(
                    lambda: say("Lịch sử", "History"),
                    lambda p: " → ".join(
                        f"{status_label(e.status)} {moment_text(e.at)}"
                        + (f" ({e.reason})" if e.reason else "")
                        for e in p.history
                    ),
                ),
            ],
            parent=self,
        )
        self.pledges_table = _table(self.pledges_model)
        # Several pledges of one family are paid together on one receipt.
        self.pledges_table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.pledges_table.selectionModel().selectionChanged.connect(self._pledges_selected)
        self.take_payment_button = QPushButton()
        self.take_payment_button.setObjectName("takePayment")
        self.take_payment_button.setStyleSheet("font-weight: bold;")
        self.take_payment_button.setEnabled(False)
        self.take_payment_button.clicked.connect(self.take_payment)
        self.cancel_button = QPushButton()
        self.cancel_button.clicked.connect(self._cancel_pledge)

        self.receipts_model = RecordsModel(
            receipt_columns(),
            highlight=lambda r: r.void_reason is not None,
            parent=self,
        )
        self.receipts_table = _table(self.receipts_model)
        self.receipts_table.selectionModel().selectionChanged.connect(
            lambda _s, _d: self._receipt_selected()
        )
        self.receipts_table.activated.connect(lambda _i: self.print_selected_receipt())
        self.print_receipt_button = QPushButton()
        self.print_receipt_button.clicked.connect(self.print_selected_receipt)
        self.void_receipt_button = QPushButton()
        self.void_receipt_button.clicked.connect(self._void_receipt)
        self.layout_caption = QLabel()
        self.layout_combo = QComboBox()
        for layout in LAYOUTS:
            self.layout_combo.addItem("", layout)
        self.layout_caption.setBuddy(self.layout_combo)
        self._pending_receipt: str | None = None

        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setTabChangesFocus(True)
        self.save_notes_button = QPushButton()
        self.save_notes_button.clicked.connect(self._save_notes)

        self.tabs = QTabWidget()
        self.tabs.addTab(
            self._tab(
                self.members_table,
                self.add_member_button,
                self.edit_member_button,
                self.remove_member_button,
            ),
            "",
        )
        self.tabs.addTab(self._tab(self.visits_table, self.visit_button), "")
        self.tabs.addTab(
            self._tab(
                self.pledges_table,
                self.take_payment_button,
                self.pledge_button,
                self.cancel_button,
            ),
            "",
        )
        self.receipts_tab = self._tab(
            self.receipts_table,
            self.print_receipt_button,
            self.void_receipt_button,
            self.layout_caption,
            self.layout_combo,
        )
        self.tabs.addTab(self.receipts_tab, "")
        self.tabs.addTab(self._tab(self.notes_edit, self.save_notes_button), "")

        top = QHBoxLayout()
        top.addWidget(self.back_button)
        top.addWidget(self.heading, 1)
        top.addWidget(self.edit_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.details)
        layout.addWidget(self.tabs, 1)
        self.retranslate()

    @staticmethod
    def _tab(main: QWidget, *buttons: QWidget) -> QWidget:
        tab = QWidget()
        row = QHBoxLayout()
        for button in buttons:
            row.addWidget(button)
        row.addStretch(1)
        column = QVBoxLayout(tab)
        column.addWidget(main, 1)
        column.addLayout(row)
        return tab

    def _member_name(self, pledge: Pledge) -> str:
        return self.data.names.get(pledge.member_id, "") if self.data else ""

    @property
    def household_id(self) -> str | None:
        return self.data.household.id if self.data else None

    def open(self, household_id: str) -> None:
        self._ops.run_op(self, lambda ws: load_household(ws, household_id), success=self._show)

    def refresh(self) -> None:
        if self.household_id:
            self.open(self.household_id)

    def _show(self, data: HouseholdData) -> None:
        first = self.data is None or self.data.household.id != data.household.id
        self.data = data
        self.members_model.set_records(data.members)
        self.visits_model.set_records(data.visits)
        self.pledges_model.set_records(data.pledges)
        selected = self.selected_receipt()
        if self._pending_receipt is None and selected is not None and not first:
            # A reprint reloads the page; the agent's receipt stays selected.
            self._pending_receipt = selected.id
        self.receipts_model.set_records(data.receipts)
        self._select_pending_receipt()
        self._pledges_selected()
        self._receipt_selected()
        self.notes_edit.setPlainText(data.household.notes)
        if first:
            self.tabs.setCurrentIndex(0)
            self.members_table.setFocus()
            if data.members:
                self.members_table.selectRow(0)
        self.retranslate()

    def _record_visit(self) -> None:
        if self.data:
            self.record_visit_requested.emit(self.data.household.id)

    def _edit_member(self, index: object) -> None:
        row = self.members_table.currentIndex().row()
        if 0 <= row < self.members_model.rowCount():
            self.edit_member_requested.emit(self.members_model.record(row))

    def _remove_member(self) -> None:
        row = self.members_table.currentIndex().row()
        if row < 0:
            return
        member_id = self.members_model.record(row).id
        self._ops.run_op(
            self, lambda ws: ws.members.remove(member_id), success=lambda _m: self._changed()
        )

    def _selected_pledge(self) -> Pledge | None:
        row = self.pledges_table.currentIndex().row()
        return self.pledges_model.record(row) if row >= 0 else None

    def _cancel_pledge(self) -> None:
        pledge = self._selected_pledge()
        if pledge is None:
            return
        reason, ok = QInputDialog.getText(
            self, say("Huỷ cam kết", "Cancel pledge"), say("Lý do huỷ:", "Reason for cancelling:")
        )
        if ok:
            self._ops.run_op(
                self,
                lambda ws: ws.pledges.cancel(pledge.id, reason=reason),
                success=lambda _p: self._changed(),
            )

    # -- payments and receipts ------------------------------------------------------------

    def selected_pledge_ids(self) -> list[str]:
        rows = sorted(i.row() for i in self.pledges_table.selectionModel().selectedRows())
        return [self.pledges_model.record(r).id for r in rows]

    def _pledges_selected(self, *_args: object) -> None:
        self.take_payment_button.setEnabled(bool(self.selected_pledge_ids()))

    def take_payment(self) -> None:
        pledge_ids = self.selected_pledge_ids()
        if self.data is not None and pledge_ids:
            self.payment_requested.emit(self.data.household.id, pledge_ids)

    def selected_receipt(self) -> Receipt | None:
        rows = self.receipts_table.selectionModel().selectedRows()
        return self.receipts_model.record(rows[0].row()) if rows else None

    def _receipt_selected(self) -> None:
        receipt = self.selected_receipt()
        self.print_receipt_button.setEnabled(receipt is not None)
        self.void_receipt_button.setEnabled(receipt is not None and receipt.void_reason is None)
        self.print_receipt_button.setText(
            say("In lại bản sao (Ctrl+P)", "Print again as a copy (Ctrl+P)")
            if receipt is not None and receipt.prints
            else say("In biên lai (Ctrl+P)", "Print receipt (Ctrl+P)")
        )

    def show_receipt(self, receipt_id: str) -> None:
        """Open the receipts tab on this receipt once the page has reloaded."""
        self._pending_receipt = receipt_id
        self.tabs.setCurrentWidget(self.receipts_tab)
        self.refresh()

    def _select_pending_receipt(self) -> None:
        receipt_id, self._pending_receipt = self._pending_receipt, None
        if receipt_id is None:
            return
        for row, receipt in enumerate(self.receipts_model.records()):
            if receipt.id == receipt_id:
                self.receipts_table.selectionModel().select(
                    self.receipts_model.index(row, 0),
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
                self.receipts_table.setCurrentIndex(self.receipts_model.index(row, 0))
                self.receipts_table.setFocus()

    def receipt_layout(self) -> str:
        return str(self.layout_combo.currentData() or "a5")

    def print_selected_receipt(self) -> None:
        receipt = self.selected_receipt()
        if receipt is not None:
            self.print_receipt_requested.emit(receipt)

    def print_selected(self) -> None:
        """Ctrl+P: the receipt selected on the receipts tab, otherwise the household's flyer."""
        if self.data is None:
            return
        receipt = self.selected_receipt()
        if self.tabs.currentWidget() is self.receipts_tab and receipt is not None:
            self.print_receipt_requested.emit(receipt)
        else:
            self.flyer_requested.emit(self.data.household.id)

    def _void_receipt(self) -> None:
        receipt = self.selected_receipt()
        if receipt is not None and receipt.void_reason is None:
            self.void_receipt_requested.emit(receipt)

    def _save_notes(self) -> None:
        if self.data is None:
            return
        household_id, notes = self.data.household.id, self.notes_edit.toPlainText()
        self._ops.run_op(
            self,
            lambda ws: ws.households.update(household_id, notes=notes),
            success=lambda _h: self._changed(),
        )

    def _changed(self) -> None:
        self.refresh()
        self.changed.emit()

    def retranslate(self) -> None:
        self.back_button.setText(say("← Danh sách (Alt+←)", "← List (Alt+←)"))
        self.edit_button.setText(say("Sửa thông tin hộ", "Edit household"))
        self.visit_button.setText(say("Ghi lần thăm (F2)", "Record visit (F2)"))
        self.pledge_button.setText(say("Cam kết mới", "New pledge"))
        self.add_member_button.setText(say("Thêm thành viên", "Add member"))
        self.edit_member_button.setText(say("Sửa", "Edit"))
        self.remove_member_button.setText(say("Chuyển khỏi hộ", "Remove from household"))
        self.cancel_button.setText(say("Huỷ cam kết", "Cancel pledge"))
        self.save_notes_button.setText(say("Lưu ghi chú", "Save notes"))
        self.take_payment_button.setText(say("Thu tiền…", "Take payment…"))
        self.take_payment_button.setToolTip(
            say(
                "Chọn một hay nhiều cam kết cùng loại bảo hiểm (giữ Ctrl hoặc Shift để chọn "
                "nhiều).",
                "Select one or more pledges of the same scheme (hold Ctrl or Shift to select "
                "several).",
            )
        )
        self.void_receipt_button.setText(say("Huỷ biên lai…", "Void receipt…"))
        self.layout_caption.setText(say("&Khổ giấy:", "&Paper:"))
        for i in range(self.layout_combo.count()):
            self.layout_combo.setItemText(i, layout_label(self.layout_combo.itemData(i)))
        self._receipt_selected()
        data = self.data
        counts = (
            (len(data.members), len(data.visits), len(data.pledges), len(data.receipts))
            if data
            else (0, 0, 0, 0)
        )
        self.tabs.setTabText(0, say("Thành viên ({n})", "Members ({n})").format(n=counts[0]))
        self.tabs.setTabText(1, say("Lần thăm ({n})", "Visits ({n})").format(n=counts[1]))
        self.tabs.setTabText(2, say("Cam kết ({n})", "Pledges ({n})").format(n=counts[2]))
        self.tabs.setTabText(3, say("Biên lai ({n})", "Receipts ({n})").format(n=counts[3]))
        self.tabs.setTabText(4, say("Ghi chú", "Notes"))
        if data is None:
            self.heading.setText("")
            self.details.setText("")
        else:
            h = data.household
            self.heading.setText(say("Hộ {head}", "Household of {head}").format(head=h.head_name))
            parts = [h.address or h.village]
            if h.phone:
                parts.append(say("ĐT {phone}", "Tel. {phone}").format(phone=h.phone))
            if h.groups:
                parts.append(", ".join(group_label(g) for g in h.groups))
            if h.best_months:
                parts.append(
                    say("Tháng có thu nhập: {months}", "Income months: {months}").format(
                        months=", ".join(month_label(m) for m in h.best_months)
                    )
                )
            self.details.setText(" · ".join(parts))
        for model in (
            self.members_model,
            self.visits_model,
            self.pledges_model,
            self.receipts_model,
        ):
            model.retranslate()
