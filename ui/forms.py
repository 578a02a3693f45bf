"""Form helpers: a field with its inline problem line (errors in red, warnings in amber)."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from fieldapp.errors import Problem
from sync.protocol import i18n

ERROR_STYLE = "color: #b00020;"
WARNING_STYLE = "color: #8a5300; background: #fff3cd; padding: 2px 4px;"


class ProblemLines:
    """One message line per field, filled from the core's problems."""

    def __init__(self) -> None:
        self._labels: dict[str, QLabel] = {}

    def label(self, key: str) -> QLabel:
        if key not in self._labels:
            label = QLabel()
            label.setObjectName(f"problem_{key}")
            label.setWordWrap(True)
            label.hide()
            self._labels[key] = label
        return self._labels[key]

    def clear(self) -> None:
        for label in self._labels.values():
            label.clear()
            label.setProperty("severity", "")
            label.hide()

    def show(self, problems: Iterable[Problem], *, fallback: str = "general") -> None:
        """Show each problem next to its field (errors first); unknown fields go to fallback."""
        self.clear()
        grouped: dict[str, list[Problem]] = {}
        for problem in problems:
            key = problem.field if problem.field in self._labels else fallback
            grouped.setdefault(key, []).append(problem)
        lang = i18n.language()
        for key, items in grouped.items():
            items.sort(key=lambda p: p.severity != "error")
            label = self.label(key)
            is_error = items[0].severity == "error"
            label.setText(
                "\n".join(
                    ("⚠ " if p.severity == "warning" else "✖ ") + p.message(lang) for p in items
                )
            )
            label.setStyleSheet(ERROR_STYLE if is_error else WARNING_STYLE)
            label.setProperty("severity", "error" if is_error else "warning")
            label.show()

    def text(self, key: str) -> str:
        return self.label(key).text() if key in self._labels else ""

    def severity(self, key: str) -> str:
        return str(self.label(key).property("severity") or "") if key in self._labels else ""


def add_row(
    form: QFormLayout, caption: QLabel, editor: QWidget, problems: ProblemLines, key: str
) -> None:
    """A form row whose field carries its problem line just below it."""
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    column.addWidget(editor)
    column.addWidget(problems.label(key))
    caption.setBuddy(editor)
    form.addRow(caption, box)
