"""Fixtures for the desktop app tests: offscreen Qt, a demo store built once and copied."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

# Must be set before Qt is imported anywhere: there is no display on CI machines.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
# The PIN screen would cover every window; the lock tests switch it on for themselves.
os.environ["FIELDAPP_NO_LOCK"] = "1"

import pytest
from PySide6.QtCore import QSettings

from fieldapp.demo import DEMO_COMMUNE, DEMO_PROVINCE, create_demo
from fieldapp.store import STORE_FILENAME
from fieldapp.workspace import Workspace
from sync.protocol import i18n
from ui.app import App, build, setup_application

T = TypeVar("T")


@pytest.fixture(scope="session", autouse=True)
def _qt_setup(qapp, tmp_path_factory):
    """One QApplication with the shipped font; QSettings kept out of the user's home."""
    folder = tmp_path_factory.mktemp("qsettings")
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    setup_application(qapp)
    return qapp


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo commune, built once per test run; tests get copies."""
    folder = tmp_path_factory.mktemp("demo")
    ws = Workspace.open(folder)
    create_demo(ws, households=60)
    ws.close()
    return folder / STORE_FILENAME


@pytest.fixture
def data_dir(tmp_path: Path, demo_store: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(demo_store, folder / STORE_FILENAME)
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("province_code", DEMO_PROVINCE)
    s.setValue("commune_code", DEMO_COMMUNE)
    s.setValue("agent_name", "Lò Thị Mai")
    return s


@contextmanager
def shown(qtbot, built: App, *, timeout: int = 10000) -> Iterator[App]:
    """A built app with its window shown at 1366×768 and its worker idle; at the end the
    worker is let finish (within the timeout) and shut down."""
    qtbot.addWidget(built.window)
    built.window.resize(1366, 768)
    built.window.show()
    wait_idle(qtbot, built)
    yield built
    wait_idle(qtbot, built, timeout=timeout)
    built.ops.shutdown()


@pytest.fixture
def app(qtbot, settings: QSettings, data_dir: Path) -> Iterator[App]:
    """The real app on a copy of the demo store, its window 1366×768."""
    i18n.set_language("vi")
    with shown(qtbot, build(settings, data_dir)) as built:
        yield built
    i18n.set_language("vi")


@pytest.fixture
def workspace(app: App, data_dir: Path) -> Iterator[Workspace]:
    """A second connection to the same store, for the tests' own checks."""
    ws = Workspace.open(data_dir)
    yield ws
    ws.close()


def wait_idle(qtbot, app: App, timeout: int = 10000) -> None:
    """Wait until the worker has answered everything that was asked of it."""
    qtbot.waitUntil(lambda: not app.ops.busy, timeout=timeout)


@pytest.fixture
def idle(qtbot, app: App):
    """Call to wait for the worker to go quiet."""
    return lambda: wait_idle(qtbot, app)


def open_dialog(app: App, kind: type[T]) -> T:
    """The dialog the window has open, checked to be of this kind."""
    dialog = app.window.dialog
    assert isinstance(dialog, kind), dialog
    return dialog


def type_text(widget, text: str) -> None:
    """Type text the way a Vietnamese input method delivers it: as committed strings.

    QTest can only synthesise ASCII key presses; Unikey and ibus commit whole syllables.
    """
    from PySide6.QtGui import QInputMethodEvent
    from PySide6.QtWidgets import QApplication

    widget.setFocus()
    event = QInputMethodEvent()
    event.setCommitString(text)
    QApplication.sendEvent(widget, event)


@pytest.fixture
def typing():
    return type_text
