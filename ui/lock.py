"""The app lock: a PIN screen over the whole window at start, after idle time and on Ctrl+L.

While locked, the window shows only the lock screen: the areas with names and CCCD numbers are
swapped out, menus and shortcuts are off, and open dialogs are hidden until the PIN is right.
The PIN rules, the back-off after wrong tries and the idle timeout are the core's
(fieldapp.lock); this module only asks and shows.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFrame,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fieldapp.lock import DEFAULT_IDLE_TIMEOUT, Attempt, LockedOut
from sync.protocol import i18n
from sync.protocol.errors import FieldappError
from sync.protocol.i18n import say
from ui.forms import ERROR_STYLE
from ui.operations import Operations

if TYPE_CHECKING:
    from PySide6.QtCore import QEvent


@functools.cache
def activity_events() -> frozenset[QEvent.Type]:
    """Input that counts as the agent being at the laptop. (Built when the lock first watches:
    naming QEvent builds its enums, which the first screen does not need.)"""
    from PySide6.QtCore import QEvent

    return frozenset(
        {
            QEvent.Type.KeyPress,
            QEvent.Type.MouseButtonPress,
            QEvent.Type.MouseMove,
            QEvent.Type.Wheel,
            QEvent.Type.TouchBegin,
        }
    )


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


class AppLock(QObject):
    """Locks the window at start, after the idle timeout, and when asked; unlocks on the PIN."""

    locked_changed = Signal(bool)
    unlocked = Signal()

    def __init__(self, ops: Operations, window: QMainWindow, *, enabled: bool) -> None:
        super().__init__(window)
        self._ops = ops
        self.window = window
        self.enabled = enabled
        self.locked = False
        self._screen: LockScreen | None = None
        self._hidden: list[QDialog] = []
        self._disabled: list[QAction] = []
        self.idle_timer = QTimer(self)
        self.idle_timer.setSingleShot(True)
        self.idle_timer.setInterval(DEFAULT_IDLE_TIMEOUT * 1000)
        self.idle_timer.timeout.connect(self.lock)
        self._filtering = False

    @property
    def screen(self) -> LockScreen:
        """The PIN screen, built the first time it is needed (never, with the lock off)."""
        if self._screen is None:
            self._screen = LockScreen(self._ops)
            self._screen.unlocked.connect(self.unlock)
        return self._screen

    @property
    def key(self) -> bytes | None:
        """The backup key, known once the agent has unlocked (or set the PIN) this session."""
        return self._screen.key if self._screen is not None else None

    def start(self) -> None:
        """Lock at start (asking for a first PIN if there is none) and watch for idle time."""
        if not self.enabled:
            return
        app = QApplication.instance()
        if app is not None and not self._filtering:
            app.installEventFilter(self)
            self._filtering = True

        def begin(state: tuple[bool, int]) -> None:
            has_pin, idle_seconds = state
            self.idle_timer.setInterval(idle_seconds * 1000)
            self.lock(setting=not has_pin)

        self._ops.run_op(
            self.window,
            lambda ws: (ws.lock.has_pin(), ws.lock.idle_timeout()),
            success=begin,
        )

    def stop(self) -> None:
        self.idle_timer.stop()
        if self._screen is not None:
            self._screen.countdown.stop()
        app = QApplication.instance()
        if app is not None and self._filtering:
            app.removeEventFilter(self)
            self._filtering = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self.locked and event.type() in activity_events():
            self.idle_timer.start()
        return False

    def request(self) -> None:
        """Ctrl+L or the menu: lock now (only once a PIN exists, which start() ensures)."""
        if self.enabled and not self.locked:
            self.lock()

    def lock(self, *, setting: bool = False) -> None:
        if self.locked or not self.enabled:
            return
        self.locked = True
        self.idle_timer.stop()
        screens: Any = getattr(self.window, "screens", None)
        if screens is not None:
            if screens.indexOf(self.screen) < 0:
                screens.addWidget(self.screen)
            screens.setCurrentWidget(self.screen)
        # Dialogs (a household, a receipt preview) carry names: hide them until unlocked.
        self._hidden = [d for d in self.window.findChildren(QDialog) if d.isVisible()]
        for dialog in self._hidden:
            dialog.hide()
        self._disabled = [a for a in self.window.findChildren(QAction) if a.isEnabled()]
        for action in self._disabled:
            action.setEnabled(False)
        self.window.menuBar().setEnabled(False)
        self.screen.prepare(setting=setting)
        self.locked_changed.emit(True)

    def unlock(self) -> None:
        if not self.locked:
            return
        self.locked = False
        screens: Any = getattr(self.window, "screens", None)
        if screens is not None:
            screens.setCurrentIndex(0)
        for action in self._disabled:
            action.setEnabled(True)
        self._disabled = []
        self.window.menuBar().setEnabled(True)
        for dialog in self._hidden:
            dialog.show()
        self._hidden = []
        self.idle_timer.start()
        self.locked_changed.emit(False)
        self.unlocked.emit()

    def retranslate(self) -> None:
        if self._screen is not None:
            self._screen.retranslate()
