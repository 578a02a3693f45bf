"""The Print area: flyers for a whole village in one batch (all households, those with someone
uninsured, or renewal reminders for those with a card to renew), and the receipt books."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fieldapp.documents import Cancelled as FlyersCancelled
from fieldapp.flyers import AUDIENCES, ONLY, village_flyers
from fieldapp.receipts import ReceiptBook
from fieldapp.workspace import Workspace
from sync.protocol.frozen import frozen
from sync.protocol.i18n import say
from sync.protocol.labels import audience_label
from ui.forms import ERROR_STYLE
from ui.operations import Cancelled, Operations, Progress
from ui.printing import can_rasterise, show_document, slug
from ui.receipts import ReceiptBooksDialog

# Flyer languages offered here; other template languages are samples not yet reviewed.
FLYER_LANGUAGES = ("vi", "en")


def language_label(code: str) -> str:
    return {"vi": "Tiếng Việt", "en": "English"}.get(code, code)


@frozen
class PrintData:
    villages: list[str]
    books: list[ReceiptBook]


def load_print_data(ws: Workspace) -> PrintData:
    return PrintData(villages=ws.households.villages(), books=ws.receipts.books())


class PrintPage(QWidget):
    """Choose a village, which households, an audience and a language; the core lays out one
    page per household (a flyer, or a renewal reminder for the households with a card to
    renew)."""

    def __init__(
        self,
        ops: Operations,
        *,
        present: Callable[[QDialog], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._ops = ops
        self._present = present
        self.data: PrintData | None = None
        self.heading = QLabel()
        self.heading.setProperty("role", "title")

        self.flyers_box = QGroupBox()
        self.village_caption, self.village_combo = QLabel(), QComboBox()
        self.village_combo.setMinimumContentsLength(24)
        self.only_caption, self.only_combo = QLabel(), QComboBox()
        self.only_combo.addItem("", None)
        for choice in ONLY:
            self.only_combo.addItem("", choice)
        self.only_combo.currentIndexChanged.connect(lambda _i: self.retranslate())
        self.group_caption, self.group_combo = QLabel(), QComboBox()
        self.group_combo.addItem("", None)
        for audience in AUDIENCES:
            self.group_combo.addItem("", audience)
        self.language_caption, self.language_combo = QLabel(), QComboBox()
        for language in FLYER_LANGUAGES:
            self.language_combo.addItem(language_label(language), language)
        for caption, combo in (
            (self.village_caption, self.village_combo),
            (self.only_caption, self.only_combo),
            (self.group_caption, self.group_combo),
            (self.language_caption, self.language_combo),
        ):
            caption.setBuddy(combo)
        self.flyers_button = QPushButton()
        self.flyers_button.setDefault(True)
        self.flyers_button.clicked.connect(self.make_flyers)
        self.flyers_hint = QLabel()
        self.flyers_hint.setWordWrap(True)
        self.status_label = QLabel()
        self.status_label.setObjectName("status")
        self.status_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow(self.village_caption, self.village_combo)
        form.addRow(self.only_caption, self.only_combo)
        form.addRow(self.group_caption, self.group_combo)
        form.addRow(self.language_caption, self.language_combo)
        button_row = QHBoxLayout()
        button_row.addWidget(self.flyers_button)
        button_row.addStretch(1)
        flyers = QVBoxLayout(self.flyers_box)
        flyers.addLayout(form)
        flyers.addWidget(self.flyers_hint)
        flyers.addLayout(button_row)
        flyers.addWidget(self.status_label)

        self.books_box = QGroupBox()
        self.books_label = QLabel()
        self.books_label.setObjectName("books")
        self.books_button = QPushButton()
        self.books_button.clicked.connect(self.edit_books)
        books_row = QHBoxLayout(self.books_box)
        books_row.addWidget(self.books_label, 1)
        books_row.addWidget(self.books_button)

        self.printing_label = QLabel()
        self.printing_label.setWordWrap(True)
        self.printing_label.setStyleSheet("color: #555;")

        # A column of readable width: full-width combos on a wide screen are hard to scan.
        column = QWidget()
        column.setMaximumWidth(820)
        inner = QVBoxLayout(column)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.heading)
        inner.addWidget(self.flyers_box)
        inner.addWidget(self.books_box)
        inner.addWidget(self.printing_label)
        inner.addStretch(1)
        layout = QHBoxLayout(self)
        layout.addWidget(column, 1)
        layout.addStretch(0)
        self.retranslate()

    def refresh(self) -> None:
        self._ops.run_op(self, load_print_data, success=self._show)

    def _show(self, data: PrintData) -> None:
        self.data = data
        current = self.village_combo.currentText()
        self.village_combo.clear()
        self.village_combo.addItems(data.villages)
        if current in data.villages:
            self.village_combo.setCurrentText(current)
        self.flyers_button.setEnabled(bool(data.villages))
        self.retranslate()

    def flyer_language(self) -> str:
        return str(self.language_combo.currentData() or "vi")

    def flyer_choice(self) -> str | None:
        """Which households get a page: None for all, else one of the core's ONLY choices."""
        choice = self.only_combo.currentData()
        return str(choice) if choice else None

    def make_flyers(self) -> None:
        """One PDF of flyers for the chosen village, on the worker, cancellable between pages."""
        village = self.village_combo.currentText()
        if not village:
            return
        group = self.group_combo.currentData()
        language = self.flyer_language()
        only = self.flyer_choice()
        reminders = only == "expiring"
        self.status_label.setStyleSheet("")
        self.status_label.setText(
            say("Đang dựng tờ nhắc gia hạn…", "Laying out renewal reminders…")
            if reminders
            else say("Đang dựng tờ rơi…", "Laying out flyers…")
        )

        def produce(ws: Workspace, progress: Progress) -> bytes:
            return village_flyers(
                ws,
                village=village,
                group=group,
                language=language,
                only=only,
                on_progress=progress,
                should_cancel=lambda: progress.cancelled,
            )

        stem = {"expiring": "nhac-gia-han", "uninsured": "to-roi-chua-co-the"}.get(only or "")
        name = (
            f"{stem or 'to-roi'}-{slug(village)}"
            + (f"-{group}" if group else "")
            + f"-{language}.pdf"
        )
        title = (
            say("Nhắc gia hạn thẻ BHYT {village}", "BHYT renewal reminders for {village}")
            if reminders
            else say("Tờ rơi {village}", "Flyers for {village}")
        )
        show_document(
            self,
            self._ops,
            produce,
            title=title.format(village=village),
            file_name=name,
            present=self._present,
            produced=lambda _document: self.status_label.clear(),
            failure=self._failed,
            progress=(
                say(
                    "Đang dựng tờ nhắc gia hạn cho {village}…",
                    "Laying out renewal reminders for {village}…",
                )
                if reminders
                else say("Đang dựng tờ rơi cho {village}…", "Laying out flyers for {village}…")
            ).format(village=village),
        )

    def _failed(self, exc: Exception) -> None:
        # Either our Cancel reached the core between pages, or the core noticed it first.
        if isinstance(exc, Cancelled | FlyersCancelled):
            self.status_label.setStyleSheet(ERROR_STYLE)
            self.status_label.setText(
                say("Đã huỷ. Không có tệp nào được ghi.", "Cancelled. No file was written.")
            )
            return
        self.status_label.clear()
        self._ops.show_error(self, exc)

    def edit_books(self) -> None:
        dialog = ReceiptBooksDialog(self._ops, parent=self)
        dialog.changed.connect(lambda _books: self.refresh())
        if self._present is not None:
            self._present(dialog)
        else:
            dialog.open()

    def retranslate(self) -> None:
        self.heading.setText(say("In ấn", "Print"))
        self.flyers_box.setTitle(say("Tờ rơi cho cả thôn/bản", "Flyers for a whole village"))
        self.village_caption.setText(say("&Thôn/bản", "&Village"))
        self.only_caption.setText(say("&In cho", "Print &for"))
        for i, text in enumerate(
            (
                say("Mọi hộ", "All households"),
                say("Hộ có người chưa có thẻ BHYT", "Households with someone uninsured"),
                say("Hộ có thẻ BHYT cần gia hạn", "Households with a card to renew"),
            )
        ):
            self.only_combo.setItemText(i, text)
        self.group_caption.setText(say("Nhó&m đối tượng", "Audience &group"))
        self.language_caption.setText(say("N&gôn ngữ", "Lan&guage"))
        self.group_combo.setItemText(0, say("Mọi nhóm", "All groups"))
        for i in range(1, self.group_combo.count()):
            self.group_combo.setItemText(i, audience_label(self.group_combo.itemData(i)))
        self.flyers_hint.setText(
            say(
                "Mỗi hộ một trang A5, với số tiền tính riêng cho hộ. Nhóm đối tượng lấy theo nhóm "
                "đã ghi của hộ.",
                "One A5 page per household, with the household's own amounts. The audience group "
                "follows the groups recorded for the household.",
            )
            + " "
            + (
                say(
                    "Hộ có thẻ sắp hết hạn hoặc vừa hết hạn nhận tờ nhắc gia hạn: tên người, "
                    "ngày hết hạn và số tiền gia hạn cho cả hộ.",
                    "Households with a card ending soon or just ended get a renewal reminder: "
                    "names, card end dates and what renewing costs the household.",
                )
                if self.flyer_choice() == "expiring"
                else ""
            )
        )
        self.flyers_button.setText(say("Tạo tờ rơi (Ctrl+P)", "Make flyers (Ctrl+P)"))
        self.books_box.setTitle(say("Biên lai", "Receipts"))
        self.books_button.setText(say("Quyển biên lai…", "Receipt books…"))
        if self.data is None:
            self.books_label.clear()
        else:
            remaining = sum(b.remaining for b in self.data.books)
            self.books_label.setStyleSheet(ERROR_STYLE if remaining == 0 else "")
            self.books_label.setText(
                say(
                    "Còn {n} số biên lai trong {books} quyển.",
                    "{n} receipt numbers left in {books} books.",
                ).format(n=remaining, books=len(self.data.books))
            )
        self.printing_label.setText(
            say(
                "In qua máy in của hệ điều hành; lúc nào cũng lưu được thành PDF.",
                "Printing goes through the system's printers; saving as PDF always works.",
            )
            if can_rasterise()
            else say(
                "Máy này thiếu công cụ poppler (pdftoppm) nên chưa xem trước và in trực tiếp "
                "được; hãy lưu thành PDF rồi in bằng trình đọc PDF.",
                "This computer lacks the poppler tools (pdftoppm), so documents cannot be "
                "previewed or printed from the app; save them as PDF and print from a PDF reader.",
            )
        )
