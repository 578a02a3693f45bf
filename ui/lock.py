"""The app lock: a PIN screen over the whole window at start, after idle time and on Ctrl+L.

While locked, the window shows only the lock screen: the areas with names and CCCD numbers are
swapped out, menus and shortcuts are off, and open dialogs are hidden until the PIN is right.
The PIN rules, the back-off after wrong tries and the idle timeout are the core's
(fieldapp.lock); this module only asks and shows.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMainWindow

from fieldapp.lock import DEFAULT_IDLE_TIMEOUT
from ui.operations import Operations

if TYPE_CHECKING:
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QDialog

    from ui.lock_screen import LockScreen


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
            # Its module (the PIN fields, buttons and form styles) is loaded with it: a start
            # with the lock off never needs those Qt classes.
            from ui.lock_screen import LockScreen

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
        from PySide6.QtWidgets import QDialog

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
