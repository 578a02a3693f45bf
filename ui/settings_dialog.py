"""The settings the agent may change: name and phone (kept in the store), this laptop's codes,
server address, language and data folder."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sync.protocol import i18n
from sync.protocol.errors import FieldappError
from sync.protocol.i18n import say
from ui.forms import ERROR_STYLE
from ui.operations import Operations


class SettingsDialog(QDialog):
    """The settings the agent may change; the data folder applies at the next start.

    The agent's name and phone live in the store (they go on receipts and reports); the rest
    are this laptop's settings.
    """

    KEYS = ("province_code", "commune_code", "server_url", "data_dir")

    def __init__(self, settings: QSettings, ops: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._ops = ops
        self.name_edit = QLineEdit()
        self.phone_edit = QLineEdit()
        self.edits = {key: QLineEdit(str(settings.value(key, "") or "")) for key in self.KEYS}
        self.language_combo = QComboBox()
        self.language_combo.addItem("Tiếng Việt", "vi")
        self.language_combo.addItem("English", "en")
        self.language_combo.setCurrentIndex(max(0, self.language_combo.findData(i18n.language())))
        self.folder_button = QPushButton(say("Chọn…", "Choose…"))
        self.folder_button.clicked.connect(self._choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.edits["data_dir"], 1)
        folder_row.addWidget(self.folder_button)
        self.error_label = QLabel()
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow(say("Tên nhân viên thu", "Agent name"), self.name_edit)
        form.addRow(say("Số điện thoại", "Phone"), self.phone_edit)
        form.addRow(say("Mã tỉnh", "Province code"), self.edits["province_code"])
        form.addRow(say("Mã xã", "Commune code"), self.edits["commune_code"])
        form.addRow(
            say("Địa chỉ máy chủ tỉnh", "Provincial server address"), self.edits["server_url"]
        )
        form.addRow(say("Ngôn ngữ", "Language"), self.language_combo)
        form.addRow(
            say("Thư mục dữ liệu (áp dụng khi mở lại)", "Data folder (applies at next start)"),
            folder_row,
        )
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setText(say("Lưu", "Save"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(say("Huỷ", "Cancel"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.setWindowTitle(say("Cài đặt", "Settings"))
        self.resize(680, 360)
        ops.run_op(self, lambda ws: (ws.agent_name, ws.agent_phone), success=self._fill)

    def _fill(self, agent: tuple[str, str]) -> None:
        self.name_edit.setText(agent[0])
        self.phone_edit.setText(agent[1])

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self,
            say("Chọn thư mục dữ liệu", "Choose the data folder"),
            self.edits["data_dir"].text(),
        )
        if folder:
            self.edits["data_dir"].setText(folder)

    @property
    def language(self) -> str:
        return str(self.language_combo.currentData())

    def accept(self) -> None:
        """Store the agent through the core first; the dialog closes once that is done."""
        name, phone = self.name_edit.text(), self.phone_edit.text()
        self.buttons.setEnabled(False)
        self._ops.run_op(
            self,
            lambda ws: ws.set_agent(name=name, phone=phone),
            success=lambda _none: self._saved(),
            failure=self._failed,
        )

    def _saved(self) -> None:
        for key, edit in self.edits.items():
            self.settings.setValue(key, edit.text().strip())
        self.settings.setValue("agent_name", self.name_edit.text().strip())
        self.buttons.setEnabled(True)
        super().accept()

    def _failed(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        if isinstance(exc, FieldappError):
            self.error_label.setText(exc.message(i18n.language()))
        else:
            self._ops.show_error(self, exc)
