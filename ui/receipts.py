"""Receipts: take a payment on the next receipt number, void a spoiled receipt, receipt books."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fieldapp.errors import ValidationError
from fieldapp.model import Household, Member, Pledge
from fieldapp.pledges import Requote
from fieldapp.receipts import Receipt, ReceiptBook, RequoteNeeded
from fieldapp.workspace import Workspace
from sync.protocol import i18n
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen
from sync.protocol.i18n import say
from sync.protocol.labels import scheme_label
from sync.protocol.money import amount_in_words, format_vnd
from ui.forms import ERROR_STYLE, ProblemLines, add_row
from ui.labels import date_text, moment_text
from ui.models import Column, RecordsModel
from ui.operations import Operations

HEAD_RELATION = "Chủ hộ"
OK_STYLE = "color: #1b5e20;"
# The layouts the core renders receipts in, in the order the agent picks them.
LAYOUTS = ("a5", "a6", "roll80")


def layout_label(layout: str) -> str:
    return {
        "a5": say("A5", "A5"),
        "a6": say("A6", "A6"),
        "roll80": say("Cuộn 80 mm", "80 mm roll"),
    }.get(layout, layout)


def number_text(number: int) -> str:
    """Receipt numbers are printed with seven digits: 12 → "0000012"."""
    return f"{number:07d}"


def receipt_title(receipt: Receipt) -> str:
    return say("Biên lai {series} số {number}", "Receipt {series} no. {number}").format(
        series=receipt.series, number=number_text(receipt.number)
    )


def status_text(receipt: Receipt) -> str:
    if receipt.void_reason is not None:
        return say("Đã huỷ: {reason}", "Void: {reason}").format(reason=receipt.void_reason)
    return say("Còn hiệu lực", "Valid")


def receipt_columns(names: dict[str, str] | None = None) -> list[Column]:
    """Columns of a table of receipts (the household page's receipts tab)."""
    return [
        Column(lambda: say("Ký hiệu", "Series"), lambda r: r.series),
        Column(lambda: say("Số", "Number"), lambda r: number_text(r.number)),
        Column(lambda: say("Người nộp", "Payer"), lambda r: r.payer_name),
        Column(lambda: say("Số tiền", "Amount"), lambda r: format_vnd(r.amount)),
        Column(lambda: say("Ngày lập", "Issued"), lambda r: moment_text(r.issued_at)),
        Column(lambda: say("Trạng thái", "Status"), status_text),
        Column(lambda: say("Số lần in", "Prints"), lambda r: str(r.prints)),
        Column(
            lambda: say("Thời gian đóng", "Period covered"),
            lambda r: f"{date_text(r.period_from)} – {date_text(r.period_to)}",
        ),
    ]


# -- take payment -----------------------------------------------------------------------------


@frozen
class PaymentContext:
    household: Household
    members: list[Member]
    pledges: list[Pledge]
    # The book the next number comes from, as the core will choose it; None when none is left.
    book: ReceiptBook | None


def load_payment_context(ws: Workspace, household_id: str, pledge_ids: list[str]) -> PaymentContext:
    return PaymentContext(
        household=ws.households.get(household_id),
        members=ws.members.of_household(household_id),
        pledges=[ws.pledges.get(p) for p in pledge_ids],
        book=ws.receipts.next_book(),
    )


@frozen
class Payment:
    """An issued receipt and the pledges it paid (new ones where the amounts were re-quoted)."""

    receipt: Receipt
    pledges: list[Pledge]


def issue_payment(
    ws: Workspace,
    pledge_ids: list[str],
    payer_member_id: str | None,
    *,
    seen: list[Requote] | None = None,
) -> Payment:
    """Take the payment; with the re-quotes the agent accepted (`seen`), pledges whose
    amounts changed are replaced first — refused if the rules now say anything else."""
    receipt = ws.receipts.issue(
        pledge_ids=pledge_ids,
        payer_member_id=payer_member_id,
        requote=seen is not None,
        seen=seen,
    )
    return Payment(receipt, [ws.pledges.get(p) for p in receipt.pledge_ids])


class RequoteDialog(QDialog):
    """The amounts under the rules in force on the payment day differ from the pledge's:
    show old → new for each member and ask whether to take the new amount or nothing."""

    def __init__(self, requotes: list[Requote], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.requotes = requotes
        self.heading = QLabel()
        self.heading.setProperty("role", "title")
        self.explanation = QLabel()
        self.explanation.setObjectName("explanation")
        self.explanation.setWordWrap(True)
        # Amounts right-aligned, so that old and new line up digit under digit.
        self.table = QTableWidget(len(requotes), 5)
        self.table.setObjectName("requotes")
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for row, requote in enumerate(requotes):
            old, new = requote.old["payable"], requote.new["payable"]
            cells = (
                requote.member_name,
                scheme_label(requote.pledge.scheme),
                format_vnd(old),
                format_vnd(new),
                _signed(new - old),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column >= 2:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(row, column, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.resizeRowsToContents()
        rows = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(
            min(rows, 8 * 32) + header.sizeHint().height() + 2 * self.table.frameWidth()
        )
        self.total_label = QLabel()
        self.total_label.setObjectName("total")
        self.total_label.setStyleSheet("font-size: 14pt; font-weight: bold;")
        self.notes_label = QLabel()
        self.notes_label.setWordWrap(True)
        self.notes_label.setStyleSheet("color: #8a5300;")
        self.buttons = QDialogButtonBox()
        self.requote_button = self.buttons.addButton("", QDialogButtonBox.ButtonRole.AcceptRole)
        self.decline_button = self.buttons.addButton("", QDialogButtonBox.ButtonRole.RejectRole)
        self.requote_button.setObjectName("requote")
        self.decline_button.setObjectName("decline")
        self.requote_button.clicked.connect(self.accept)
        self.decline_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.explanation)
        layout.addWidget(self.table)
        layout.addWidget(self.total_label)
        layout.addWidget(self.notes_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.resize(860, 360)
        self.retranslate()
        # Nothing is taken unless the agent says so: Enter does not re-quote.
        self.decline_button.setDefault(True)
        self.decline_button.setFocus()

    def old_total(self) -> int:
        return sum(r.old["payable"] for r in self.requotes)

    def new_total(self) -> int:
        return sum(r.new["payable"] for r in self.requotes)

    def retranslate(self) -> None:
        self.setWindowTitle(say("Mức đóng đã thay đổi", "The amounts have changed"))
        self.heading.setText(
            say("Cần tính lại trước khi thu tiền", "Re-quote before taking the money")
        )
        first = self.requotes[0]
        versions = ", ".join(sorted({r.policy_version for r in self.requotes}))
        pledged = sorted({date_text(r.pledge.start_date) for r in self.requotes})
        self.explanation.setText(
            say(
                "Cam kết được tính ngày {pledged}. Theo quy định áp dụng ngày {day} (chính sách "
                "{version}), số tiền phải đóng đã khác. Không thu theo số tiền cũ: tính lại "
                "theo mức mới, hoặc chưa thu lần này.",
                "The pledge was quoted on {pledged}. Under the rules in force on {day} (policy "
                "{version}) the amounts are different. The old amount is not taken: re-quote "
                "at the new amount, or take nothing now.",
            ).format(pledged=", ".join(pledged), day=date_text(first.on), version=versions)
        )
        self.table.setHorizontalHeaderLabels(
            [
                say("Người tham gia", "Participant"),
                say("Loại", "Scheme"),
                say("Lúc cam kết", "When pledged"),
                say("Nay phải đóng", "Payable now"),
                say("Chênh lệch", "Difference"),
            ]
        )
        for row, requote in enumerate(self.requotes):
            self.table.item(row, 1).setText(scheme_label(requote.pledge.scheme))
        self.total_label.setText(
            say("Tổng cộng: {old} → {new}", "Total: {old} → {new}").format(
                old=format_vnd(self.old_total()), new=format_vnd(self.new_total())
            )
        )
        notes: list[str] = []
        for requote in self.requotes:
            for note in requote.notes_en if i18n.language() == "en" else requote.notes_vi:
                if note not in notes:
                    notes.append(note)
        self.notes_label.setText("\n".join(f"⚠ {n}" for n in notes))
        self.notes_label.setVisible(bool(notes))
        self.requote_button.setText(say("Tính lại và thu tiền", "Re-quote and take payment"))
        self.decline_button.setText(say("Không thu", "Do not take payment"))


def _signed(amount: int) -> str:
    return ("+" if amount > 0 else "") + format_vnd(amount)


class PaymentDialog(QDialog):
    """Confirm who pays what on which receipt number; the core issues the receipt."""

    issued = Signal(object)
    print_requested = Signal(object)

    def __init__(
        self, ops: Operations, context: PaymentContext, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._ops = ops
        self.context = context
        self.book = context.book
        self.receipt: Receipt | None = None
        # Open while the agent decides about changed amounts.
        self.requote_dialog: RequoteDialog | None = None
        names = {m.id: m.full_name for m in context.members}

        self.heading = QLabel()
        self.heading.setProperty("role", "title")
        self.household_caption, self.household_label = QLabel(), QLabel()
        self.payer_caption = QLabel()
        self.payer_combo = QComboBox()
        for member in context.members:
            self.payer_combo.addItem(member.full_name, member.id)
        # The head pays by default, as on the paper receipts (the core's default too).
        heads = [i for i, m in enumerate(context.members) if m.relation == HEAD_RELATION]
        self.payer_combo.setCurrentIndex(heads[0] if heads else 0)
        self.payer_caption.setBuddy(self.payer_combo)
        self.covers_caption = QLabel()
        self.covers_model = RecordsModel(
            [
                Column(
                    lambda: say("Người tham gia", "Participant"),
                    lambda p: names.get(p.member_id, ""),
                ),
                Column(lambda: say("Loại", "Scheme"), lambda p: scheme_label(p.scheme)),
                Column(
                    lambda: say("Số tháng", "Months"), lambda p: str(p.params.get("months", ""))
                ),
                Column(lambda: say("Phải đóng", "Payable"), lambda p: format_vnd(p.payable)),
            ],
            parent=self,
        )
        self.covers_model.set_records(context.pledges)
        self.covers_table = QTableView()
        self.covers_table.setModel(self.covers_model)
        self.covers_table.verticalHeader().hide()
        self.covers_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.covers_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.covers_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        # As tall as its rows (a family is a few people): the total stays in view below.
        self.covers_table.resizeRowsToContents()
        rows = sum(self.covers_table.rowHeight(r) for r in range(self.covers_model.rowCount()))
        self.covers_table.setFixedHeight(
            min(rows, 8 * 32) + header.sizeHint().height() + 2 * self.covers_table.frameWidth()
        )
        self.amount_caption = QLabel()
        self.amount_label = QLabel()
        self.amount_label.setObjectName("amount")
        self.amount_label.setStyleSheet("font-size: 18pt; font-weight: bold;")
        self.words_label = QLabel()
        self.words_label.setWordWrap(True)
        self.book_caption = QLabel()
        self.book_label = QLabel()
        self.book_label.setWordWrap(True)
        self.books_button = QPushButton()
        self.books_button.clicked.connect(self.edit_books)
        book_row = QHBoxLayout()
        book_row.addWidget(self.book_label, 1)
        book_row.addWidget(self.books_button)
        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.result_label = QLabel()
        self.result_label.setObjectName("result")
        self.result_label.setWordWrap(True)
        self.result_label.setStyleSheet(
            "color: #1b5e20; background: #e8f5e9; padding: 8px; font-size: 13pt;"
        )
        self.result_label.hide()

        form = QFormLayout()
        form.addRow(self.household_caption, self.household_label)
        form.addRow(self.payer_caption, self.payer_combo)
        form.addRow(self.covers_caption, self.covers_table)
        form.addRow(self.amount_caption, self.amount_label)
        form.addRow("", self.words_label)
        form.addRow(self.book_caption, book_row)

        self.buttons = QDialogButtonBox()
        self.confirm_button = self.buttons.addButton("", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("", QDialogButtonBox.ButtonRole.RejectRole)
        self.print_button = self.buttons.addButton("", QDialogButtonBox.ButtonRole.ActionRole)
        self.print_button.hide()
        self.confirm_button.setDefault(True)
        self.confirm_button.clicked.connect(self.confirm)
        self.cancel_button.clicked.connect(self.reject)
        self.print_button.clicked.connect(self._print_now)
        QShortcut(QKeySequence("Ctrl+Return"), self, self._confirm_or_print)

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.result_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.resize(860, 480)
        self.retranslate()

    def amount(self) -> int:
        """What the agent is about to take, for display only: the core computes the receipt."""
        return sum(p.payable for p in self.context.pledges)

    def payer_id(self) -> str | None:
        value = self.payer_combo.currentData()
        return str(value) if value else None

    def confirm(self) -> None:
        """Ask the core whether the rules on the payment day give other amounts; if not,
        issue the receipt. A refusal is shown here and nothing is recorded."""
        if self.receipt is not None or self.requote_dialog is not None:
            return
        pledge_ids = [p.id for p in self.context.pledges]
        self.confirm_button.setEnabled(False)
        self.error_label.clear()
        self._ops.run_op(
            self,
            lambda ws: ws.receipts.requotes(pledge_ids),
            success=self._requotes_checked,
            failure=self._refused,
        )

    def _requotes_checked(self, requotes: list[Requote]) -> None:
        if requotes:
            self._ask_requote(requotes)
        else:
            self.issue()

    def issue(self, *, seen: list[Requote] | None = None) -> None:
        """Issue the receipt through the core; with the accepted re-quotes, at those amounts."""
        pledge_ids = [p.id for p in self.context.pledges]
        payer = self.payer_id()
        self.confirm_button.setEnabled(False)
        self._ops.run_op(
            self,
            lambda ws: issue_payment(ws, pledge_ids, payer, seen=seen),
            success=self._issued,
            failure=self._refused,
        )

    def _ask_requote(self, requotes: list[Requote]) -> None:
        dialog = RequoteDialog(requotes, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.requote_dialog = dialog
        dialog.accepted.connect(self._requote_accepted)
        dialog.rejected.connect(self._requote_declined)
        dialog.open()

    def _requote_accepted(self) -> None:
        seen = self.requote_dialog.requotes if self.requote_dialog is not None else None
        self.requote_dialog = None
        self.issue(seen=seen)

    def _requote_declined(self) -> None:
        self.requote_dialog = None
        self.confirm_button.setEnabled(True)
        self.error_label.setText(
            say(
                "Chưa thu tiền: mức đóng hôm nay khác với lúc cam kết. Không có gì được lưu.",
                "No money taken: today's amounts differ from the pledge. Nothing was recorded.",
            )
        )

    def _issued(self, payment: Payment) -> None:
        self.receipt = payment.receipt
        self.covers_model.set_records(payment.pledges)
        self.payer_combo.setEnabled(False)
        self.books_button.hide()
        self.confirm_button.hide()
        self.print_button.show()
        self.print_button.setDefault(True)
        self.print_button.setFocus()
        self.retranslate()
        self.issued.emit(payment.receipt)

    def _refused(self, exc: Exception) -> None:
        if isinstance(exc, RequoteNeeded):
            # The rules changed between the check and the payment (midnight, a new policy).
            self._ask_requote(exc.requotes)
            return
        self.confirm_button.setEnabled(True)
        if not isinstance(exc, FieldappError):
            self._ops.show_error(self, exc)
            return
        self.error_label.setText(exc.message(i18n.language()))
        if exc.code == "no_receipt_numbers":
            self.books_button.setFocus()

    def _print_now(self) -> None:
        if self.receipt is not None:
            receipt = self.receipt
            self.accept()
            self.print_requested.emit(receipt)

    def _confirm_or_print(self) -> None:
        if self.receipt is None:
            self.confirm()
        else:
            self._print_now()

    def edit_books(self) -> None:
        dialog = ReceiptBooksDialog(self._ops, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.changed.connect(self._books_changed)
        dialog.open()

    def _books_changed(self, _books: list[ReceiptBook]) -> None:
        # The core says which book the next number comes from.
        self._ops.run_op(self, lambda ws: ws.receipts.next_book(), success=self._show_next_book)

    def _show_next_book(self, book: ReceiptBook | None) -> None:
        self.book = book
        self.error_label.clear()
        self.retranslate()

    def retranslate(self) -> None:
        self.setWindowTitle(say("Thu tiền", "Take payment"))
        self.heading.setText(say("Thu tiền và lập biên lai", "Take payment and issue a receipt"))
        household = self.context.household
        self.household_caption.setText(say("Hộ", "Household"))
        self.household_label.setText(
            f"{household.head_name} · {household.address or household.village}"
        )
        self.payer_caption.setText(say("&Người nộp tiền", "&Payer"))
        self.covers_caption.setText(say("Nộp cho", "Paying for"))
        self.covers_model.retranslate()
        self.amount_caption.setText(say("Số tiền", "Amount"))
        amount = self.receipt.amount if self.receipt else self.amount()
        self.amount_label.setText(format_vnd(amount))
        self.words_label.setText(
            say("Bằng chữ: {words}", "In words: {words}").format(words=amount_in_words(amount))
        )
        self.book_caption.setText(say("Số biên lai", "Receipt number"))
        self.books_button.setText(say("Nhập quyển biên lai…", "Enter a receipt book…"))
        book = self.book
        if self.receipt is not None:
            self.book_label.setStyleSheet(OK_STYLE)
            self.book_label.setText(receipt_title(self.receipt))
        elif book is None:
            self.book_label.setStyleSheet(ERROR_STYLE)
            self.book_label.setText(
                say(
                    "Không còn quyển biên lai nào còn số. Hãy nhập quyển mới trước khi thu tiền.",
                    "No receipt book has numbers left. Enter a new book before taking money.",
                )
            )
        else:
            self.book_label.setStyleSheet("")
            self.book_label.setText(
                say(
                    "Quyển {series}, số {number} (quyển còn {remaining} số)",
                    "Book {series}, number {number} ({remaining} numbers left in the book)",
                ).format(
                    series=book.series,
                    number=number_text(book.next_number),
                    remaining=book.remaining,
                )
            )
        if self.receipt is not None:
            text = say(
                "Đã lập biên lai {series} số {number}: {amount}. In ngay để giao cho hộ?",
                "Receipt {series} no. {number} issued: {amount}. Print it now to hand to the "
                "household?",
            )
            self.result_label.setText(
                text.format(
                    series=self.receipt.series,
                    number=number_text(self.receipt.number),
                    amount=format_vnd(self.receipt.amount),
                )
            )
            self.result_label.show()
        self.confirm_button.setText(
            say("Xác nhận đã thu tiền (Ctrl+Enter)", "Confirm money received (Ctrl+Enter)")
        )
        self.cancel_button.setText(say("Để sau", "Later") if self.receipt else say("Huỷ", "Cancel"))
        self.print_button.setText(
            say("In biên lai ngay (Ctrl+Enter)", "Print the receipt now (Ctrl+Enter)")
        )


# -- void -------------------------------------------------------------------------------------


class VoidDialog(QDialog):
    """Void a spoiled receipt with a reason; the core keeps it on record and never reuses it."""

    voided = Signal(object)

    def __init__(self, ops: Operations, receipt: Receipt, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ops = ops
        self.receipt = receipt
        self.heading = QLabel()
        self.heading.setProperty("role", "title")
        self.explanation = QLabel()
        self.explanation.setWordWrap(True)
        self.problems = ProblemLines()
        self.reason_caption = QLabel()
        self.reason_edit = QLineEdit()
        form = QFormLayout()
        add_row(form, self.reason_caption, self.reason_edit, self.problems, "reason")
        general = self.problems.label("general")
        self.buttons = QDialogButtonBox()
        self.void_button = self.buttons.addButton("", QDialogButtonBox.ButtonRole.AcceptRole)
        self.close_button = self.buttons.addButton("", QDialogButtonBox.ButtonRole.RejectRole)
        self.void_button.clicked.connect(self.confirm)
        self.close_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.explanation)
        layout.addLayout(form)
        layout.addWidget(general)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.resize(620, 260)
        self.retranslate()
        self.reason_edit.setFocus()

    def confirm(self) -> None:
        receipt_id, reason = self.receipt.id, self.reason_edit.text()
        self.void_button.setEnabled(False)
        self._ops.run_op(
            self,
            lambda ws: ws.receipts.void(receipt_id, reason=reason),
            success=self._voided,
            failure=self._refused,
        )

    def _voided(self, receipt: Receipt) -> None:
        self.receipt = receipt
        self.voided.emit(receipt)
        self.accept()

    def _refused(self, exc: Exception) -> None:
        self.void_button.setEnabled(True)
        if isinstance(exc, ValidationError):
            self.problems.show(exc.problems)
        elif isinstance(exc, FieldappError):
            self.problems.show([], fallback="general")
            label = self.problems.label("general")
            label.setText(exc.message(i18n.language()))
            label.setStyleSheet(ERROR_STYLE)
            label.show()
        else:
            self._ops.show_error(self, exc)

    def retranslate(self) -> None:
        self.setWindowTitle(say("Huỷ biên lai", "Void receipt"))
        self.heading.setText(
            say("Huỷ {receipt}", "Void {receipt}").format(receipt=receipt_title(self.receipt))
        )
        self.explanation.setText(
            say(
                "Biên lai đã huỷ vẫn được lưu và gửi về tỉnh; số của nó không bao giờ được dùng "
                "lại. Ghi rõ lý do (ví dụ: viết sai tên, in hỏng).",
                "A void receipt stays on record and is sent to the province; its number is never "
                "used again. Give the reason (for example: name written wrongly, misprinted).",
            )
        )
        self.reason_caption.setText(say("&Lý do huỷ", "&Reason"))
        self.void_button.setText(say("Huỷ biên lai", "Void receipt"))
        self.close_button.setText(say("Đóng", "Close"))


# -- receipt books ----------------------------------------------------------------------------


class ReceiptBooksDialog(QDialog):
    """The receipt books on this device, and a form to enter a paper book by hand."""

    changed = Signal(object)

    def __init__(self, ops: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ops = ops
        self.heading = QLabel()
        self.heading.setProperty("role", "title")
        self.model = RecordsModel(
            [
                Column(lambda: say("Ký hiệu", "Series"), lambda b: b.series),
                Column(lambda: say("Từ số", "From"), lambda b: number_text(b.first_number)),
                Column(lambda: say("Đến số", "To"), lambda b: number_text(b.last_number)),
                Column(
                    lambda: say("Số tiếp theo", "Next number"),
                    lambda b: number_text(b.next_number) if b.remaining > 0 else "—",
                ),
                Column(lambda: say("Còn lại", "Left"), lambda b: str(b.remaining)),
                Column(lambda: say("Nguồn", "Source"), lambda b: source_label(b.source)),
            ],
            parent=self,
        )
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("summary")

        self.new_heading = QLabel()
        self.new_heading.setStyleSheet("font-weight: bold;")
        self.problems = ProblemLines()
        self.series_caption, self.series_edit = QLabel(), QLineEdit()
        self.series_edit.setMaxLength(20)
        self.first_caption, self.first_spin = QLabel(), QSpinBox()
        self.last_caption, self.last_spin = QLabel(), QSpinBox()
        # Zero is allowed in the fields so the core's own range message can speak.
        for spin in (self.first_spin, self.last_spin):
            spin.setRange(0, 9_999_999)
            spin.setMinimumWidth(140)
        self.first_spin.setValue(1)
        self.last_spin.setValue(50)
        numbers = QWidget()
        numbers_row = QHBoxLayout(numbers)
        numbers_row.setContentsMargins(0, 0, 0, 0)
        numbers_row.addWidget(self.first_caption)
        numbers_row.addWidget(self.first_spin)
        numbers_row.addWidget(self.last_caption)
        numbers_row.addWidget(self.last_spin)
        numbers_row.addStretch(1)
        self.range_caption = QLabel()
        form = QFormLayout()
        add_row(form, self.series_caption, self.series_edit, self.problems, "series")
        add_row(form, self.range_caption, numbers, self.problems, "range")
        self.first_caption.setBuddy(self.first_spin)
        self.last_caption.setBuddy(self.last_spin)
        self.add_button = QPushButton()
        self.add_button.clicked.connect(self.add_book)
        self.series_edit.returnPressed.connect(self.add_book)
        add_row_layout = QHBoxLayout()
        add_row_layout.addStretch(1)
        add_row_layout.addWidget(self.add_button)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.new_heading)
        layout.addLayout(form)
        layout.addWidget(self.problems.label("general"))
        layout.addLayout(add_row_layout)
        layout.addWidget(self.buttons)
        self.resize(760, 520)
        self.retranslate()
        self.series_edit.setFocus()
        self.reload()

    def reload(self) -> None:
        self._ops.run_op(self, lambda ws: ws.receipts.books(), success=self._show_books)

    def _show_books(self, books: list[ReceiptBook]) -> None:
        self.model.set_records(books)
        self._render_summary()

    def _render_summary(self) -> None:
        books = self.model.records()
        remaining = sum(b.remaining for b in books)
        self.summary_label.setStyleSheet(ERROR_STYLE if remaining == 0 else "")
        self.summary_label.setText(
            say(
                "Còn {n} số biên lai trong {books} quyển.",
                "{n} receipt numbers left in {books} books.",
            ).format(n=remaining, books=len(books))
        )

    def add_book(self) -> None:
        series = self.series_edit.text()
        first, last = self.first_spin.value(), self.last_spin.value()
        self.problems.clear()
        self.add_button.setEnabled(False)

        def add(ws: Workspace) -> list[ReceiptBook]:
            ws.receipts.add_book(series=series, first=first, last=last)
            return ws.receipts.books()

        self._ops.run_op(self, add, success=self._added, failure=self._refused)

    def _added(self, books: list[ReceiptBook]) -> None:
        self.add_button.setEnabled(True)
        self.series_edit.clear()
        self._show_books(books)
        self.changed.emit(books)

    def _refused(self, exc: Exception) -> None:
        self.add_button.setEnabled(True)
        if isinstance(exc, ValidationError):
            self.problems.show(exc.problems, fallback="range")
        else:
            self._ops.show_error(self, exc)

    def retranslate(self) -> None:
        self.setWindowTitle(say("Quyển biên lai", "Receipt books"))
        self.heading.setText(say("Quyển biên lai trên máy này", "Receipt books on this computer"))
        self.model.retranslate()
        self.new_heading.setText(say("Nhập quyển biên lai giấy", "Enter a paper receipt book"))
        self.series_caption.setText(say("&Ký hiệu", "&Series"))
        self.range_caption.setText(say("Dải số", "Numbers"))
        self.first_caption.setText(say("&Từ số", "&From"))
        self.last_caption.setText(say("Đế&n số", "&To"))
        self.add_button.setText(say("Thêm quyển", "Add book"))
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setText(say("Đóng", "Close"))
        self._render_summary()


def source_label(source: str) -> str:
    return {
        "manual": say("Nhập tay", "Entered by hand"),
        "server": say("Từ máy chủ tỉnh", "From the provincial server"),
    }.get(source, source)
