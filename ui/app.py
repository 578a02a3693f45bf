"""The one place where the desktop app is wired: Qt, fonts, settings, workspace, window."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QElapsedTimer, QSettings
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLineEdit,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

import resources
from fieldapp.demo import DEMO_COMMUNE, DEMO_PROVINCE, DemoSummary, create_demo
from fieldapp.errors import FieldappError
from fieldapp.importer import ImportReport, import_residents
from fieldapp.workspace import Workspace
from ui import i18n
from ui.i18n import tr
from ui.main_window import MainWindow
from ui.operations import Operations

log = logging.getLogger(__name__)

FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
FONT_POINT_SIZE = 11
STYLE_SHEET = """
QLabel[role="title"] { font-size: 15pt; font-weight: bold; padding: 4px 0; }
QListWidget#nav { font-size: 13pt; }
QListWidget#nav::item { padding: 10px 8px; }
QPushButton { padding: 6px 12px; }
QTableView { gridline-color: #d0d7de; }
QHeaderView::section { padding: 4px; font-weight: bold; }
"""


@dataclass
class App:
    """What run() and the tests hold on to."""

    window: MainWindow
    ops: Operations
    settings: QSettings

    def shutdown(self) -> None:
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


def build(settings: QSettings, data_dir: Path | None = None) -> App:
    """Open the workspace, start the worker, build the window and connect it up."""
    i18n.set_language(str(settings.value("language", "vi")))
    stored = str(settings.value("data_dir", "") or "")
    folder = data_dir or (Path(stored) if stored else None)
    workspace = Workspace.open(folder)
    ops = Operations(workspace)
    window = MainWindow(
        ops,
        province_code=str(settings.value("province_code", "")),
        commune_code=str(settings.value("commune_code", "")),
        agent_name=str(settings.value("agent_name", "")) or workspace.agent_name,
    )
    app = App(window, ops, settings)
    window.language_changed.connect(lambda lang: settings.setValue("language", lang))
    window.demo_requested.connect(lambda: create_demo_commune(app))
    window.import_requested.connect(lambda: import_resident_list(app))
    window.settings_requested.connect(lambda: edit_settings(app))
    return app


# -- first start, demo, import --------------------------------------------------------------


def offer_first_start(app: App) -> None:
    """On an empty store, offer the demo commune or a resident list."""

    def ask(empty: bool) -> None:
        if not empty:
            return
        box = QMessageBox(app.window)
        box.setWindowTitle(tr("Bắt đầu"))
        box.setText(
            tr(
                "Máy này chưa có dữ liệu hộ gia đình. Tạo một xã mẫu để làm quen, "
                "hay nhập danh sách cư dân của xã?"
            )
        )
        demo = box.addButton(tr("Tạo xã mẫu"), QMessageBox.ButtonRole.AcceptRole)
        imported = box.addButton(tr("Nhập danh sách cư dân…"), QMessageBox.ButtonRole.ActionRole)
        box.addButton(tr("Để sau"), QMessageBox.ButtonRole.RejectRole)

        def chosen(button: Any) -> None:
            if button is demo:
                create_demo_commune(app)
            elif button is imported:
                import_resident_list(app)

        box.buttonClicked.connect(chosen)
        box.open()

    app.ops.run_op(app.window, lambda ws: ws.is_empty(), success=ask)


def create_demo_commune(app: App) -> None:
    households = int(str(app.settings.value("demo_households", 60)))

    def done(summary: DemoSummary) -> None:
        app.settings.setValue("province_code", DEMO_PROVINCE)
        app.settings.setValue("commune_code", DEMO_COMMUNE)
        app.window.province_code, app.window.commune_code = DEMO_PROVINCE, DEMO_COMMUNE
        app.window.refresh_all()
        app.window.statusBar().showMessage(
            tr("Đã tạo xã mẫu: {households} hộ, {members} người.").format(
                households=summary.households, members=summary.members
            ),
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
        progress=tr("Đang tạo xã mẫu…"),
    )


def import_resident_list(app: App) -> None:
    path, _filter = QFileDialog.getOpenFileName(
        app.window,
        tr("Chọn danh sách cư dân"),
        "",
        tr("Bảng tính hoặc CSV (*.xlsx *.csv)"),
    )
    if not path:
        return
    province = str(app.settings.value("province_code", "")) or None
    commune = str(app.settings.value("commune_code", "")) or None

    def done(report: ImportReport) -> None:
        app.window.refresh_all()
        box = QMessageBox(app.window)
        box.setWindowTitle(tr("Kết quả nhập danh sách"))
        box.setText(report.summary(i18n.language()))
        if report.refused:
            box.setDetailedText(
                "\n".join(f"{tr('Dòng')} {r['row']}: {r['reason']}" for r in report.refused)
            )
        box.open()

    app.ops.run_op(
        app.window,
        lambda ws, _progress: import_residents(
            ws, Path(path), province_code=province, commune_code=commune
        ),
        success=done,
        progress=tr("Đang nhập danh sách cư dân…"),
        cancellable=False,
    )


class SettingsDialog(QDialog):
    """The settings the agent may change; the data folder applies at the next start."""

    KEYS = ("agent_name", "province_code", "commune_code", "server_url", "data_dir")

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.edits = {key: QLineEdit(str(settings.value(key, ""))) for key in self.KEYS}
        form = QFormLayout()
        captions = {
            "agent_name": tr("Tên nhân viên thu"),
            "province_code": tr("Mã tỉnh"),
            "commune_code": tr("Mã xã"),
            "server_url": tr("Địa chỉ máy chủ tỉnh"),
            "data_dir": tr("Thư mục dữ liệu (áp dụng khi mở lại)"),
        }
        for key in self.KEYS:
            form.addRow(captions[key], self.edits[key])
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Save).setText(tr("Lưu"))
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(tr("Huỷ"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.setWindowTitle(tr("Cài đặt"))
        self.resize(640, 300)

    def accept(self) -> None:
        for key, edit in self.edits.items():
            self.settings.setValue(key, edit.text().strip())
        super().accept()


def edit_settings(app: App) -> None:
    dialog = SettingsDialog(app.settings, app.window)

    def saved() -> None:
        app.window.agent_name = str(app.settings.value("agent_name", ""))
        app.window.province_code = str(app.settings.value("province_code", ""))
        app.window.commune_code = str(app.settings.value("commune_code", ""))
        app.window.update_status()

    dialog.accepted.connect(saved)
    dialog.open()


# -- entry point ------------------------------------------------------------------------------


def run_self_test(app: App, *, timeout_ms: int = 15000) -> int:
    """Open the main window, search through the model, and say whether it worked."""
    window = app.window
    window.resize(1366, 768)
    window.show()
    window.households.search_edit.setText("a")
    window.focus_search()
    window.households.search_now()
    model = window.households.model
    clock = QElapsedTimer()
    clock.start()
    while model.loading and clock.elapsed() < timeout_ms:
        QApplication.processEvents()
    if model.loading or app.ops.last_error:
        print(
            tr("Tự kiểm tra thất bại: {error}").format(error=app.ops.last_error or "timeout"),
            file=sys.stderr,
        )
        return 1
    print(tr("Tự kiểm tra: tìm thấy {n} kết quả.").format(n=model.rowCount()))
    return 0


def run(*, data_dir: Path | None, self_test: bool = False) -> int:
    """Start the desktop app (or its self-test) and return the exit code."""
    if self_test:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(qt_app, QApplication)
    setup_application(qt_app)
    settings = open_settings()
    try:
        app = build(settings, data_dir)
    except FieldappError as exc:
        print(exc.message(i18n.language()), file=sys.stderr)
        return 1
    try:
        if self_test:
            return run_self_test(app)
        app.window.resize(1366, 768)
        app.window.show()
        offer_first_start(app)
        return int(qt_app.exec())
    finally:
        app.shutdown()
        # Tear the widgets down while Qt is still whole: left to the interpreter's exit,
        # PySide6 may destroy them after QApplication and abort the process.
        app.window.deleteLater()
        QApplication.sendPostedEvents(None, 0)
        del app
