"""The PIN lock over the real window and store, and the start-of-day backup wiring."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt

from fieldapp import lock
from fieldapp.backup import BACKUP_DIRNAME, backups_in
from fieldapp.lock import PinLock
from fieldapp.logs import LOG_DIRNAME
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from tests.ui.conftest import shown, wait_idle
from ui.app import App, backup_first_time, build, start_day

PIN = "246810"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC))


@pytest.fixture
def locked_app(qtbot, settings: QSettings, data_dir: Path, clock: FixedClock) -> Iterator[App]:
    """The app with its lock on, over a copy of the demo store, on a clock the test moves."""
    with shown(qtbot, build(settings, data_dir, lock=True, clock=clock)) as built:
        yield built
        wait_idle(qtbot, built)
        built.lock.stop()


def shows_lock(app: App) -> bool:
    window = app.window
    return window.screens.currentWidget() is app.lock.screen and not window.stack.isVisible()


def enter(app: App, qtbot, pin: str) -> None:
    screen = app.lock.screen
    screen.pin_edit.setText(pin)
    qtbot.keyClick(screen.pin_edit, Qt.Key.Key_Return)
    wait_idle(qtbot, app)


def set_first_pin(app: App, qtbot) -> None:
    app.lock.start()
    wait_idle(qtbot, app)
    screen = app.lock.screen
    assert shows_lock(app) and screen.setting and screen.repeat_edit.isVisible()
    screen.pin_edit.setText(PIN)
    screen.repeat_edit.setText(PIN + "1")
    screen.button.click()
    wait_idle(qtbot, app)
    assert "không khớp" in screen.message.text() and shows_lock(app)
    screen.repeat_edit.setText(PIN)
    screen.button.click()
    wait_idle(qtbot, app)
    assert not shows_lock(app)


def test_first_start_sets_pin_then_lock_and_unlock(
    locked_app: App, qtbot, data_dir: Path, clock: FixedClock
) -> None:
    """A first PIN is asked for; Ctrl+L hides the data; a wrong PIN is refused, the right opens."""
    app, window = locked_app, locked_app.window
    set_first_pin(app, qtbot)
    assert window.stack.isVisible() and window.menuBar().isEnabled()
    check = Workspace.open(data_dir, clock=clock)
    assert PinLock(check.store).has_pin()
    check.close()
    assert app.lock.key is not None

    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert shows_lock(app)
    assert not app.lock.screen.setting and not app.lock.screen.repeat_edit.isVisible()
    assert not window.menuBar().isEnabled() and not window.find_action.isEnabled()
    enter(app, qtbot, "1111")
    assert app.lock.screen.message.text() == "Sai mã PIN. Hãy thử lại."
    assert shows_lock(app)
    enter(app, qtbot, PIN)
    assert not shows_lock(app) and window.find_action.isEnabled()


def test_locked_out_counts_down(locked_app: App, qtbot, clock: FixedClock) -> None:
    """Three wrong PINs: the core's wait is counted down and the PIN field is off until it ends."""
    app = locked_app
    set_first_pin(app, qtbot)
    app.window.lock_action.trigger()
    screen = app.lock.screen
    for _ in range(lock.FREE_ATTEMPTS):
        enter(app, qtbot, "0000")
    assert screen.message.text() == "Sai mã PIN nhiều lần. Hãy chờ 5 giây rồi thử lại."
    assert not screen.pin_edit.isEnabled() and screen.countdown.isActive()
    screen.tick()
    assert "Hãy chờ 4 giây" in screen.message.text()
    for _ in range(4):
        screen.tick()
    assert screen.pin_edit.isEnabled() and not screen.countdown.isActive()

    # The core's clock has not moved: even the right PIN meets its LockedOut, shown the same way.
    enter(app, qtbot, PIN)
    assert "Hãy chờ 5 giây" in screen.message.text() and shows_lock(app)
    clock.advance(seconds=6)
    for _ in range(5):
        screen.tick()
    enter(app, qtbot, PIN)
    assert not shows_lock(app)


def test_idle_timeout_locks_and_hides_dialogs(locked_app: App, qtbot) -> None:
    """Without input the window locks itself; an open dialog is hidden and comes back after."""
    app = locked_app
    set_first_pin(app, qtbot)
    app.window.new_household()
    dialog = app.window.dialog
    assert dialog is not None and dialog.isVisible()
    app.lock.idle_timer.setInterval(200)
    app.lock.idle_timer.start()
    qtbot.waitUntil(lambda: shows_lock(app), timeout=10000)
    assert not dialog.isVisible()
    enter(app, qtbot, PIN)
    assert not shows_lock(app) and dialog.isVisible()
    dialog.reject()


def test_start_of_day_logs_and_backs_up(app: App, qtbot, data_dir: Path) -> None:
    """At start the log goes to the data folder and the day's backup is made on the worker."""
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        start_day(app)
        wait_idle(qtbot, app)
        assert (data_dir / LOG_DIRNAME).is_dir()
        assert len(backups_in(data_dir / BACKUP_DIRNAME)) == 1
        assert "Đã sao lưu dữ liệu đầu ngày" in app.window.statusBar().currentMessage()
    finally:
        app.window.stop_watching_server()
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()


def test_backup_failure_is_shown_not_fatal(app: App, qtbot, data_dir: Path) -> None:
    """When the backup folder cannot be written, the agent is told and the app carries on."""
    (data_dir / BACKUP_DIRNAME).write_text("not a folder")
    backup_first_time(app)
    wait_idle(qtbot, app)
    assert "Chưa sao lưu được" in app.window.statusBar().currentMessage()
    assert app.ops.last_error
    app.window.focus_search()
    app.window.households.search_now()
    wait_idle(qtbot, app)
    assert app.window.households.model.rowCount() > 0
