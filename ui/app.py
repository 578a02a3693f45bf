"""The one place where the desktop app is wired: Qt, fonts, settings, workspace, window."""

from __future__ import annotations

import functools
import gc
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings, QTimer, SignalInstance
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QApplication

import resources
from fieldapp.startcache import start_up_done
from fieldapp.workspace import Workspace
from sync.protocol import i18n
from sync.protocol.clock import Clock
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import kept_dataclass
from sync.protocol.i18n import say
from ui.lock import AppLock
from ui.main_window import MainWindow
from ui.operations import Operations

# Backups, the demo commune, imports, the log file, the settings dialog and the Qt dialog
# classes are imported where they are used: none of them is needed to show the window, and
# together they cost a good part of a start (PySide6 builds a Qt class's enums on first use).
if TYPE_CHECKING:
    from fieldapp.demo import DemoSummary
    from fieldapp.importer import ImportReport

log = logging.getLogger(__name__)

FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
# Tests and the self-test run without the PIN screen; the lock has tests of its own.
NO_LOCK_ENV = "FIELDAPP_NO_LOCK"
FONT_POINT_SIZE = 11
# The cycle collector comes back on when Today's first rows are painted, or after this.
COLLECT_AFTER_MS = 5000
STYLE_SHEET = """
QLabel[role="title"] { font-size: 15pt; font-weight: bold; padding: 4px 0; }
QListWidget#nav { font-size: 13pt; }
QListWidget#nav::item { padding: 10px 8px; }
QPushButton { padding: 6px 12px; }
QTableView { gridline-color: #d0d7de; }
QHeaderView::section { padding: 4px; font-weight: bold; }
"""


@kept_dataclass
class App:
    """What run() and the tests hold on to."""

    window: MainWindow
    ops: Operations
    settings: QSettings
    lock: AppLock
    data_dir: Path
    backed_up: bool = False

    def shutdown(self) -> None:
        self.lock.stop()
        self.window.stop_watching_server()
        self.window.stop_reading()
        self.window.close()
        self.ops.shutdown()


def setup_application(app: QApplication) -> str:
    """Register the shipped font (machines without system fonts show boxes otherwise)."""
    family = ""
    for name in FONT_FILES:
        font_id = QFontDatabase.addApplicationFont(str(resources.path("fonts", name)))
        if font_id < 0:
            log.warning("cannot load font %s", name)
        elif not family:
            family = QFontDatabase.applicationFontFamilies(font_id)[0]
    font = QFont(family) if family else app.font()
    font.setPointSize(FONT_POINT_SIZE)
    app.setFont(font)
    app.setStyleSheet(STYLE_SHEET)
    return family


def open_settings() -> QSettings:
    QCoreApplication.setOrganizationName("fieldapp")
    QCoreApplication.setApplicationName("fieldapp")
    return QSettings()


def lock_wanted(settings: QSettings) -> bool:
    """The PIN lock is on unless FIELDAPP_NO_LOCK=1 or the lock_enabled setting is false."""
    if os.environ.get(NO_LOCK_ENV) == "1":
        return False
    return str(settings.value("lock_enabled", "true")).lower() not in ("false", "0", "no")


def build(
    settings: QSettings,
    data_dir: Path | None = None,
    *,
    lock: bool | None = None,
    clock: Clock | None = None,
) -> App:
    """Open the workspace, start the worker, build the window and connect it up."""
    i18n.set_language(str(settings.value("language", "vi")))
    stored = str(settings.value("data_dir", "") or "")
    folder = data_dir or (Path(stored) if stored else None)
    workspace = Workspace.open(folder, clock=clock)
    ops = Operations(workspace)
    window = MainWindow(
        ops,
        province_code=str(settings.value("province_code", "")),
        commune_code=str(settings.value("commune_code", "")),
        agent_name=workspace.agent_name or str(settings.value("agent_name", "")),
        server_url=str(settings.value("server_url", "") or ""),
        communes=str(settings.value("communes", "") or ""),
    )
    app_lock = AppLock(ops, window, enabled=lock_wanted(settings) if lock is None else lock)
    app = App(window, ops, settings, app_lock, workspace.data_dir)
    window.language_changed.connect(lambda lang: settings.setValue("language", lang))
    window.language_changed.connect(lambda _lang: app_lock.retranslate())
    window.demo_requested.connect(lambda: create_demo_commune(app))
    window.import_requested.connect(lambda: import_resident_list(app))
    window.settings_requested.connect(lambda: edit_settings(app))
    window.lock_requested.connect(app_lock.request)
    window.lock_action.setEnabled(app_lock.enabled)
    window.enrolled.connect(lambda url, communes: remember_enrolment(app, url, communes))
    app_lock.unlocked.connect(lambda: backup_first_time(app))
    return app


def remember_enrolment(app: App, server_url: str, communes: str) -> None:
    app.settings.setValue("server_url", server_url)
    app.settings.setValue("communes", communes)
    app.window.update_status()


# -- start of day -----------------------------------------------------------------------------


def start_day(app: App) -> None:
    """Logs into the data folder, the PIN lock, the day's backup, and watching for the server.

    With the lock on, the backup waits for the PIN: it is encrypted with the PIN's key.
    """
    from fieldapp.logs import setup_logging

    setup_logging(app.data_dir)
    if app.lock.enabled:
        app.lock.start()
    else:
        backup_first_time(app)
    app.window.watch_server()


def backup_first_time(app: App) -> None:
    """The day's automatic backup (once a day, once a session); a failure is shown, not fatal."""
    if app.backed_up:
        return
    app.backed_up = True
    key = app.lock.key

    def done(path: Path | None) -> None:
        if path is not None:
            app.window.statusBar().showMessage(
                say(
                    "Đã sao lưu dữ liệu đầu ngày: {name}", "Start-of-day backup made: {name}"
                ).format(name=path.name),
                10000,
            )

    def failed(exc: Exception) -> None:
        log.error("start-of-day backup failed", exc_info=exc)
        app.window.statusBar().showMessage(
            say(
                "Chưa sao lưu được dữ liệu đầu ngày.", "The start-of-day backup could not be made."
            ),
            30000,
        )
        app.ops.show_error(app.window, exc)

    app.ops.run_op(
        app.window, lambda ws: ws.backups.start_of_day(key=key), success=done, failure=failed
    )


# -- first start, demo, import --------------------------------------------------------------


def offer_first_start(app: App) -> None:
    """On an empty store, offer the demo commune or a resident list."""

    def ask(empty: bool) -> None:
        if not empty:
            return
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(app.window)
        box.setWindowTitle(say("Bắt đầu", "Getting started"))
        box.setText(
            say(
                "Máy này chưa có dữ liệu hộ gia đình. Tạo một xã mẫu để làm quen, hay nhập danh "
                "sách cư dân của xã?",
                "This computer has no household data yet. Create a demo commune to get to know "
                "the app, or import the commune's resident list?",
            )
        )
        demo = box.addButton(
            say("Tạo xã mẫu", "Create a demo commune"), QMessageBox.ButtonRole.AcceptRole
        )
        imported = box.addButton(
            say("Nhập danh sách cư dân…", "Import a resident list…"),
            QMessageBox.ButtonRole.ActionRole,
        )
        box.addButton(say("Để sau", "Later"), QMessageBox.ButtonRole.RejectRole)

        def chosen(button: Any) -> None:
            if button is demo:
                create_demo_commune(app)
            elif button is imported:
                import_resident_list(app)

        box.buttonClicked.connect(chosen)
        box.open()

    app.ops.run_op(app.window, lambda ws: ws.is_empty(), success=ask)


def create_demo_commune(app: App) -> None:
    from fieldapp.demo import DEMO_COMMUNE, DEMO_PROVINCE, create_demo

    households = int(str(app.settings.value("demo_households", 60)))

    def done(summary: DemoSummary) -> None:
        app.settings.setValue("province_code", DEMO_PROVINCE)
        app.settings.setValue("commune_code", DEMO_COMMUNE)
        app.window.province_code, app.window.commune_code = DEMO_PROVINCE, DEMO_COMMUNE
        app.window.refresh_all()
        app.window.statusBar().showMessage(
            say(
                "Đã tạo xã mẫu: {households} hộ, {members} người.",
                "Demo commune created: {households} households, {members} people.",
            ).format(households=summary.households, members=summary.members),
            10000,
        )

    def failed(exc: Exception) -> None:
        # What was written before a cancel or an error is whole households: show it.
        app.window.refresh_all()
        app.ops.show_error(app.window, exc)

    app.ops.run_op(
        app.window,
        lambda ws, progress: create_demo(ws, households=households, on_progress=progress),
        success=done,
        failure=failed,
        progress=say("Đang tạo xã mẫu…", "Creating the demo commune…"),
    )


def import_resident_list(app: App) -> None:
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    path, _filter = QFileDialog.getOpenFileName(
        app.window,
        say("Chọn danh sách cư dân", "Choose a resident list"),
        "",
        say("Bảng tính hoặc CSV (*.xlsx *.csv)", "Spreadsheet or CSV (*.xlsx *.csv)"),
    )
    if not path:
        return
    from fieldapp.importer import import_residents

    province = str(app.settings.value("province_code", "")) or None
    commune = str(app.settings.value("commune_code", "")) or None

    def done(report: ImportReport) -> None:
        app.window.refresh_all()
        box = QMessageBox(app.window)
        box.setWindowTitle(say("Kết quả nhập danh sách", "Import result"))
        box.setText(report.summary(i18n.language()))
        row = say("Dòng", "Row")
        lines = [f"{row} {r['row']}: {r['reason']}" for r in report.refused]
        if report.refused_not_listed:
            lines.append(
                say("… và {n} dòng bị từ chối khác", "… and {n} more refused rows").format(
                    n=report.refused_not_listed
                )
            )
        # Values the store keeps because its card or payment is newer than the list's.
        lines += report.kept_lines(i18n.language())
        if lines:
            box.setDetailedText("\n".join(lines))
        box.open()

    # One transaction: a cancel leaves the store as it was before the import.
    app.ops.run_op(
        app.window,
        lambda ws, progress: import_residents(
            ws, Path(path), province_code=province, commune_code=commune, progress=progress
        ),
        success=done,
        progress=say("Đang nhập danh sách cư dân…", "Importing the resident list…"),
        cancellable=True,
    )


def edit_settings(app: App) -> None:
    from ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(app.settings, app.ops, app.window)

    def saved() -> None:
        window = app.window
        window.agent_name = dialog.name_edit.text().strip()
        window.province_code = str(app.settings.value("province_code", ""))
        window.commune_code = str(app.settings.value("commune_code", ""))
        if dialog.language != i18n.language():
            window.set_language(dialog.language)
        window.update_status()
        window.set_server(str(app.settings.value("server_url", "") or ""))

    dialog.accepted.connect(saved)
    app.window.present(dialog)


# -- entry point ------------------------------------------------------------------------------


def offer_once(app: App, offered: list[bool]) -> None:
    if not offered:
        offered.append(True)
        offer_first_start(app)


def _wait_for(done: Callable[[], bool], signal: SignalInstance, timeout_ms: int) -> bool:
    """Run the event loop until `done()` holds (checked whenever `signal` fires) or time is up.

    Waiting in an event loop, as the app does: a polling loop would keep the interpreter from
    the worker."""
    loop = QEventLoop()
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.quit)
    deadline.start(timeout_ms)
    signal.connect(loop.quit)
    try:
        # done() is asked as soon as the loop stops, before anything else queued runs: the
        # caller acts on the moment the signal fired, not after the work it set off.
        while not done() and deadline.isActive():
            loop.exec()
        return done()
    finally:
        signal.disconnect(loop.quit)
        deadline.stop()


def run_self_test(app: App, *, timeout_ms: int = 15000) -> int:
    """Open the main window on Today, its first view, wait until the day's first rows (the
    agent's first screen) are painted and say whether they came. The search has its own
    checks; Today's first rows already take the whole path: store, worker thread, core, view
    and paint."""
    window = app.window
    window.resize(1366, 768)
    window.show()
    today = window.today
    came = _wait_for(
        lambda: today.painted or bool(app.ops.last_error), today.rows_painted, timeout_ms
    )
    if not came or app.ops.last_error:
        return _self_test_failed(app)
    print(
        say(
            "Tự kiểm tra: trang Hôm nay hiện {rows} dòng việc đầu tiên.",
            "Self-test: Today shows its first {rows} rows.",
        ).format(rows=today.follow_model.rowCount())
    )
    return 0


def _self_test_failed(app: App) -> int:
    print(
        say("Tự kiểm tra thất bại: {error}", "Self-test failed: {error}").format(
            error=app.ops.last_error or "timeout"
        ),
        file=sys.stderr,
    )
    return 1


def _started() -> None:
    """The start is over: collect cycles again, and keep no more modules as a start's."""
    gc.enable()
    start_up_done()


def run(*, data_dir: Path | None, self_test: bool = False) -> int:
    """Start the desktop app (or its self-test) and return the exit code."""
    if self_test:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from fieldapp.logs import setup_console_logging

    setup_console_logging()
    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(qt_app, QApplication)
    setup_application(qt_app)
    settings = open_settings()
    try:
        app = build(settings, data_dir, lock=False if self_test else None)
    except FieldappError as exc:
        print(exc.message(i18n.language()), file=sys.stderr)
        return 1
    # The cycle collector is off while the app starts (fieldapp.cli.gui.launch); on again once
    # the first rows are painted, or after a while when they never are. (Today, the area in
    # front, is built here rather than when the window is first shown; it reads nothing yet.)
    app.window.today.rows_painted.connect(_started)
    QTimer.singleShot(COLLECT_AFTER_MS, _started)
    try:
        if self_test:
            return run_self_test(app)
        app.window.resize(1366, 768)
        app.window.show()
        start_day(app)
        if app.lock.enabled:
            # The first-start question waits for the PIN: nothing shows over the lock screen.
            app.lock.unlocked.connect(functools.partial(offer_once, app, []))
        else:
            offer_first_start(app)
        return int(qt_app.exec())
    finally:
        gc.enable()
        app.shutdown()
        # Tear the widgets down while Qt is still whole: left to the interpreter's exit,
        # PySide6 may destroy them after QApplication and abort the process.
        app.window.deleteLater()
        QApplication.sendPostedEvents(None, 0)
        del app
