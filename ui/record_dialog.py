"""The base of the dialogs that save one record: fields with their problem lines, Save and Cancel,
the save run on the worker, and the core's refusals shown next to the fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QWidget

from fieldapp.errors import ValidationError
from sync.protocol.i18n import say
from ui.forms import ProblemLines, add_row
from ui.operations import Operations

if TYPE_CHECKING:
    from fieldapp.workspace import Workspace


class RecordDialog(QDialog):
    """Subclasses build their fields, then call `submit` with the core call that saves them.

    On success `saved` carries the record and the dialog closes; on a ValidationError each
    problem (and warning) appears under its field and the first refused field takes the focus;
    any other error is shown by the operations helper.
    """

    saved = Signal(object)

    def __init__(self, ops: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ops = ops
        self.problems = ProblemLines()
        self.editors: dict[str, QWidget] = {}
        self.captions: dict[str, QLabel] = {}
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

    def form(self, editors: dict[str, QWidget]) -> QFormLayout:
        """A form with a caption and a problem line for each field, in the given order."""
        layout = QFormLayout()
        for key, editor in editors.items():
            self.editors[key] = editor
            self.captions[key] = QLabel()
            add_row(layout, self.captions[key], editor, self.problems, key)
        return layout

    def save(self) -> None:
        raise NotImplementedError

    def submit(self, work: Callable[[Workspace], Any]) -> None:
        """Run the core call that saves the record; Save stays disabled until it answers."""
        self.buttons.setEnabled(False)
        self._ops.run_op(self, work, success=self._done, failure=self._refused)

    def _done(self, record: object) -> None:
        self.saved.emit(record)
        self.accept()

    def _refused(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        if not isinstance(exc, ValidationError):
            self._ops.show_error(self, exc)
            return
        self.problems.show(exc.problems + exc.warnings)
        field = exc.problems[0].field if exc.problems else ""
        if field in self.editors:
            self.editors[field].setFocus()

    def retranslate_form(self, captions: dict[str, str]) -> None:
        """The captions of the fields and the buttons, in the current language."""
        for key, text in captions.items():
            self.captions[key].setText(text)
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setText(say("Lưu", "Save"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(say("Huỷ", "Cancel"))
