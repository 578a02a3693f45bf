"""The PIN screen the app lock (ui.lock) puts over the whole window: set a first PIN, or enter
it; after wrong tries it counts down the wait the core (fieldapp.lock) imposes.
"""

from __future__ import annotations

from PySide6 import QtCore
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fieldapp.lock import Attempt, LockedOut
from sync.protocol import i18n
from sync.protocol.errors import FieldappError
from sync.protocol.i18n import say
from ui.forms import ERROR_STYLE
from ui.operations import Operations


def wait_text(seconds: int) -> str:
    minutes, rest = divmod(max(0, seconds), 60)
    if minutes:
        return say("{m} phút {s} giây", "{m} min {s} s").format(m=minutes, s=rest)
    return say("{s} giây", "{s} s").format(s=rest)


class LockScreen(QWidget):
    """Asks for the PIN (or, the first time, for a new one twice). Shows no personal data."""

    unlocked = Signal()

    def __init__(self, ops: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ops = ops
        self.setting = False
        self.key: bytes | None = None
        self.remaining = 0
        self.setObjectName("lockScreen")
        # A plain QWidget subclass paints no style-sheet background without this.
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet("#lockScreen { background: #2f3b4a; } #lockCard { background: white; }")

        self.title = QLabel()
        self.title.setProperty("role", "title")
        self.title.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.prompt = QLabel()
        self.prompt.setWordWrap(True)
        self.prompt.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.pin_edit = QLineEdit()
        self.pin_edit.setObjectName("pin")
        self.repeat_edit = QLineEdit()
        for edit in (self.pin_edit, self.repeat_edit):
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setMaxLength(8)
            edit.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            edit.setStyleSheet("font-size: 18pt; padding: 6px;")
            edit.setInputMethodHints(QtCore.Qt.InputMethodHint.ImhDigitsOnly)
        self.pin_edit.returnPressed.connect(self._next_or_submit)
        self.repeat_edit.returnPressed.connect(self.submit)
        self.message = QLabel()
        self.message.setObjectName("lockMessage")
        self.message.setWordWrap(True)
        self.message.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.message.setMinimumHeight(48)
        self.button = QPushButton()
        self.button.setDefault(True)
        self.button.setStyleSheet("font-size: 13pt; padding: 8px 24px;")
        self.button.clicked.connect(self.submit)

        card = QFrame()
        card.setObjectName("lockCard")
        card.setFixedWidth(440)
        column = QVBoxLayout(card)
        column.setContentsMargins(32, 28, 32, 28)
        column.setSpacing(12)
        for widget in (
            self.title,
            self.prompt,
            self.pin_edit,
            self.repeat_edit,
            self.message,
            self.button,
        ):
            column.addWidget(widget)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(card, 0, QtCore.Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(2)

        self.countdown = QTimer(self)
        self.countdown.setInterval(1000)
        self.countdown.timeout.connect(self.tick)
        self.retranslate()

    def prepare(self, *, setting: bool) -> None:
        """Clear the fields for a new lock (setting: ask for a first PIN)."""
        self.setting = setting
        self.pin_edit.clear()
        self.repeat_edit.clear()
        self.repeat_edit.setVisible(setting)
        if not self.remaining:
            self.message.clear()
        self.retranslate()
        self.pin_edit.setFocus()

    def _next_or_submit(self) -> None:
        if self.setting:
            self.repeat_edit.setFocus()
        else:
            self.submit()

    def _say(self, text: str, *, error: bool = True) -> None:
        self.message.setStyleSheet(ERROR_STYLE if error else "color: #1b5e20;")
        self.message.setText(text)

    def submit(self) -> None:
        if self.remaining:
            return
        pin = self.pin_edit.text().strip()
        if self.setting:
            if pin != self.repeat_edit.text().strip():
                self._say(
                    say(
                        "Hai lần nhập mã PIN không khớp. Hãy nhập lại.",
                        "The two PINs do not match. Enter them again.",
                    )
                )
                self.repeat_edit.clear()
                self.repeat_edit.setFocus()
                return
            self.button.setEnabled(False)
            self._ops.run_op(
                self, lambda ws: ws.lock.set_pin(pin), success=self._pin_set, failure=self._failed
            )
            return
        if not pin:
            self._say(say("Hãy nhập mã PIN.", "Enter the PIN."))
            return
        self.button.setEnabled(False)
        self._ops.run_op(
            self, lambda ws: ws.lock.attempt(pin), success=self._checked, failure=self._failed
        )

    def _pin_set(self, key: bytes) -> None:
        self.button.setEnabled(True)
        self.key = key
        self.unlocked.emit()

    def _checked(self, attempt: Attempt) -> None:
        self.button.setEnabled(True)
        self.pin_edit.clear()
        if attempt.ok:
            self.key = attempt.key
            self.message.clear()
            self.unlocked.emit()
        elif attempt.wait:
            self.start_countdown(attempt.wait)
        else:
            self._say(say("Sai mã PIN. Hãy thử lại.", "Wrong PIN. Try again."))
            self.pin_edit.setFocus()

    def _failed(self, exc: Exception) -> None:
        self.button.setEnabled(True)
        if isinstance(exc, LockedOut):
            self.start_countdown(exc.seconds)
        elif isinstance(exc, FieldappError):
            self._say(exc.message(i18n.language()))
            self.pin_edit.clear()
            self.repeat_edit.clear()
            self.pin_edit.setFocus()
        else:
            self._ops.show_error(self, exc)

    # -- waiting after too many wrong tries -------------------------------------------------

    def start_countdown(self, seconds: int) -> None:
        """Turn the PIN field off and count the core's waiting time down, second by second."""
        self.remaining = seconds
        self.pin_edit.setEnabled(False)
        self.button.setEnabled(False)
        self._show_countdown()
        self.countdown.start()

    def tick(self) -> None:
        self.remaining = max(0, self.remaining - 1)
        if self.remaining:
            self._show_countdown()
            return
        self.countdown.stop()
        self.pin_edit.setEnabled(True)
        self.button.setEnabled(True)
        self._say(say("Có thể nhập lại mã PIN.", "You can enter the PIN again."), error=False)
        self.pin_edit.setFocus()

    def _show_countdown(self) -> None:
        self._say(
            say(
                "Sai mã PIN nhiều lần. Hãy chờ {wait} rồi thử lại.",
                "Too many wrong PINs. Wait {wait}, then try again.",
            ).format(wait=wait_text(self.remaining))
        )

    def retranslate(self) -> None:
        self.title.setText(say("Sổ tay nhân viên thu đang khoá", "The agent's notebook is locked"))
        if self.setting:
            self.prompt.setText(
                say(
                    "Đặt mã PIN (4 đến 8 chữ số) để bảo vệ dữ liệu của người dân trên máy này. "
                    "Nhập hai lần.",
                    "Set a PIN (4 to 8 digits) to protect people's data on this laptop. Enter it "
                    "twice.",
                )
            )
            self.pin_edit.setPlaceholderText(say("Mã PIN mới", "New PIN"))
            self.repeat_edit.setPlaceholderText(say("Nhập lại mã PIN", "Repeat the PIN"))
            self.button.setText(say("Đặt mã PIN", "Set PIN"))
        else:
            self.prompt.setText(say("Nhập mã PIN để mở khoá.", "Enter the PIN to unlock."))
            self.pin_edit.setPlaceholderText(say("Mã PIN", "PIN"))
            self.button.setText(say("Mở khoá", "Unlock"))
        if self.remaining:
            self._show_countdown()
