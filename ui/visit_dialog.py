"""Record a visit in one step: outcome by one key, topics, materials, next visit, notes."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QDate, QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDateEdit,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fieldapp.model import VISIT_MATERIALS as MATERIALS
from fieldapp.model import VISIT_OUTCOMES, Household
from fieldapp.model import VISIT_TOPICS as TOPICS
from fieldapp.visits import suggest_next_visit
from fieldapp.workspace import Workspace
from sync.protocol.frozen import frozen
from sync.protocol.i18n import say
from sync.protocol.labels import outcome_label, topic_label
from ui.labels import month_label
from ui.operations import Operations
from ui.record_dialog import RecordDialog

_OUTCOME_KEYS = {
    Qt.Key.Key_1: 0,
    Qt.Key.Key_2: 1,
    Qt.Key.Key_3: 2,
    Qt.Key.Key_4: 3,
    Qt.Key.Key_5: 4,
    Qt.Key.Key_6: 5,
}


@frozen
class VisitContext:
    household: Household
    today: dt.date
    suggested_next: dt.date


def load_visit_context(ws: Workspace, household_id: str) -> VisitContext:
    household = ws.households.get(household_id)
    today = ws.today()
    return VisitContext(household, today, suggest_next_visit(household.best_months, today))


def _checklist(items: tuple[str, ...]) -> QListWidget:
    widget = QListWidget()
    for text in items:
        item = QListWidgetItem(topic_label(text))
        item.setData(Qt.ItemDataRole.UserRole, text)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Unchecked)
        widget.addItem(item)
    widget.setMinimumHeight(150)
    return widget


def _checked(widget: QListWidget) -> list[str]:
    return [
        widget.item(i).data(Qt.ItemDataRole.UserRole)
        for i in range(widget.count())
        if widget.item(i).checkState() == Qt.CheckState.Checked
    ]


class VisitDialog(RecordDialog):
    """Keys 1–6 pick the outcome anywhere but in the notes; Ctrl+Enter saves."""

    def __init__(
        self, ops: Operations, context: VisitContext, parent: QWidget | None = None
    ) -> None:
        super().__init__(ops, parent)
        self._context = context
        self.heading = QLabel()
        self.heading.setProperty("role", "title")
        self.outcome_label = QLabel()
        self.outcome_group = QButtonGroup(self)
        self.outcome_group.setExclusive(True)
        self.outcome_buttons: list[QPushButton] = []
        outcomes = QGridLayout()
        for i, _code in enumerate(VISIT_OUTCOMES):
            button = QPushButton()
            button.setCheckable(True)
            button.setMinimumHeight(44)
            button.installEventFilter(self)
            self.outcome_group.addButton(button, i)
            self.outcome_buttons.append(button)
            outcomes.addWidget(button, i // 3, i % 3)
        self.topics_label = QLabel()
        self.topics_list = _checklist(TOPICS)
        self.materials_label = QLabel()
        self.materials_list = _checklist(MATERIALS)
        for widget in (self.topics_list, self.materials_list):
            widget.installEventFilter(self)
        self.next_check = QCheckBox()
        self.next_check.setChecked(True)
        self.next_check.installEventFilter(self)
        self.next_edit = QDateEdit()
        self.next_edit.setCalendarPopup(True)
        self.next_edit.setDisplayFormat("dd/MM/yyyy")
        suggested = context.suggested_next
        self.next_edit.setDate(QDate(suggested.year, suggested.month, suggested.day))
        self.next_check.toggled.connect(self.next_edit.setEnabled)
        self.best_label = QLabel()
        self.notes_label = QLabel()
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setTabChangesFocus(True)
        self.notes_edit.setFixedHeight(80)
        self.notes_label.setBuddy(self.notes_edit)
        # Where a refusal of each field puts the focus.
        self.editors.update(outcome=self.outcome_buttons[0], next_visit=self.next_edit)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, activated=self.save)

        lists = QGridLayout()
        lists.addWidget(self.topics_label, 0, 0)
        lists.addWidget(self.materials_label, 0, 1)
        lists.addWidget(self.topics_list, 1, 0)
        lists.addWidget(self.materials_list, 1, 1)
        next_row = QHBoxLayout()
        next_row.addWidget(self.next_check)
        next_row.addWidget(self.next_edit)
        next_row.addWidget(self.best_label, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.outcome_label)
        layout.addLayout(outcomes)
        layout.addWidget(self.problems.label("outcome"))
        layout.addLayout(lists, 1)
        layout.addLayout(next_row)
        layout.addWidget(self.problems.label("next_visit"))
        layout.addWidget(self.notes_label)
        layout.addWidget(self.notes_edit)
        layout.addWidget(self.problems.label("general"))
        layout.addWidget(self.buttons)
        self.resize(860, 640)
        self.retranslate()
        self.outcome_buttons[0].setFocus()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Lists and buttons would eat digits (type-ahead search); take them for the outcome.
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in _OUTCOME_KEYS
            and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        ):
            self.choose(_OUTCOME_KEYS[Qt.Key(event.key())])
            return True
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in _OUTCOME_KEYS and not self.notes_edit.hasFocus():
            self.choose(_OUTCOME_KEYS[Qt.Key(event.key())])
            return
        super().keyPressEvent(event)

    def choose(self, index: int) -> None:
        button = self.outcome_buttons[index]
        button.setChecked(True)
        button.setFocus()

    def outcome(self) -> str | None:
        index = self.outcome_group.checkedId()
        return VISIT_OUTCOMES[index] if index >= 0 else None

    def save(self) -> None:
        outcome = self.outcome() or ""
        household_id = self._context.household.id
        topics = _checked(self.topics_list)
        materials = _checked(self.materials_list)
        next_visit = self.next_edit.date().toPython() if self.next_check.isChecked() else None
        notes = self.notes_edit.toPlainText()
        self.submit(
            lambda ws: ws.visits.record(
                household_id,
                outcome=outcome,
                topics=topics,
                materials=materials,
                next_visit=next_visit,
                notes=notes,
            )
        )

    def retranslate(self) -> None:
        household = self._context.household
        self.setWindowTitle(say("Ghi lần thăm", "Record a visit"))
        self.heading.setText(
            say("Thăm hộ {head} – {village}", "Visit to {head} – {village}").format(
                head=household.head_name, village=household.village
            )
        )
        self.outcome_label.setText(say("Kết quả (bấm phím số):", "Outcome (press a number key):"))
        for i, (button, code) in enumerate(zip(self.outcome_buttons, VISIT_OUTCOMES, strict=True)):
            button.setText(f"{i + 1}  {outcome_label(code)}")
        self.topics_label.setText(say("Nội dung đã tư vấn", "Topics explained"))
        self.materials_label.setText(say("Tài liệu đã phát", "Materials handed out"))
        for widget in (self.topics_list, self.materials_list):
            for i in range(widget.count()):
                item = widget.item(i)
                item.setText(topic_label(item.data(Qt.ItemDataRole.UserRole)))
        self.next_check.setText(say("&Hẹn thăm lại ngày", "&Next visit on"))
        months = ", ".join(month_label(m) for m in household.best_months)
        self.best_label.setText(
            say("Tháng có thu nhập: {months}", "Income months: {months}").format(months=months)
            if months
            else ""
        )
        self.notes_label.setText(say("&Ghi chú", "&Notes"))
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setText(
            say("Lưu (Ctrl+Enter)", "Save (Ctrl+Enter)")
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(say("Huỷ", "Cancel"))
