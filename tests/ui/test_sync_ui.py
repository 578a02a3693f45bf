"""The Sync area against the real provincial server on a loopback port, through the real window."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import QSettings, Qt

from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from tests.fieldapp.samples import new_household
from tests.sync.client_fixtures import COMMUNE, OTHER, ForwardingTransport, server_counts
from tests.sync.conftest import START, Server, server
from tests.ui.conftest import shown, wait_idle
from tests.ui.test_screenshots import _save, shot_folders
from ui.app import App, build
from ui.main_window import SYNC
from ui.visit_dialog import VisitDialog

__all__ = ["server"]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The server's database: a SQLite file (the sync tests run PostgreSQL as well)."""
    return f"sqlite:///{tmp_path / 'server.sqlite3'}"


def add_household(ws: Workspace, commune: str = COMMUNE, head: str = "Nguyễn Văn An") -> str:
    """A household in a commune of province 04, the one the test server's agent works in."""
    home = new_household(
        ws, province_code="04", commune_code=commune, village="Bản Phố", head_name=head
    )
    return home.id


@pytest.fixture
def laptop(qtbot, tmp_path: Path, server: Server) -> Iterator[App]:
    """The app on an empty store whose clock sits an hour after the server's."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    clock = FixedClock(START + dt.timedelta(hours=1))
    with shown(qtbot, build(settings, tmp_path / "data", clock=clock), timeout=30000) as built:
        yield built
        wait_idle(qtbot, built, timeout=30000)
        built.window.sync_page.stop_watching()


@pytest.fixture
def run(laptop: App, qtbot) -> Callable[[Callable[[Workspace], object]], object]:
    """Run a function on the app's own workspace (on its worker) and return what it gave."""

    def call(fn: Callable[[Workspace], object]) -> object:
        box: list[object] = []
        laptop.ops.run_op(None, fn, success=box.append)
        wait_idle(qtbot, laptop, timeout=30000)
        return box[0]

    return call


def enrol(app: App, qtbot, server: Server) -> None:
    page = app.window.sync_page
    app.window.nav.setCurrentRow(SYNC)
    wait_idle(qtbot, app)
    agent = server.add_agent("Lò Thị Mai", [COMMUNE])
    assert page.enrol_box.isVisible()
    page.enrol_url_edit.setText(server.base_url)
    page.enrol_code_edit.setText(server.enrol_code(agent))
    page.enrol_button.click()
    wait_idle(qtbot, app)
    assert "Lò Thị Mai" in page.result_label.text() and COMMUNE in page.result_label.text()
    assert "Lò Thị Mai" in page.agent_label.text()
    assert not page.enrol_box.isVisible()
    assert app.settings.value("server_url") == server.base_url


def test_enrol_visit_and_sync_now(laptop: App, qtbot, server: Server, run) -> None:
    """Enrol with a code, record a visit in its dialog, Sync now: pending 0 and plain counts."""
    enrol(laptop, qtbot, server)
    page = laptop.window.sync_page
    household_id = run(lambda ws: add_household(ws))
    laptop.window.record_visit(str(household_id))
    wait_idle(qtbot, laptop)
    dialog = laptop.window.dialog
    assert isinstance(dialog, VisitDialog)
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_2)
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, laptop)
    pending = run(lambda ws: ws.pending_sync())
    assert isinstance(pending, int) and pending >= 2

    laptop.window.nav.setCurrentRow(SYNC)
    wait_idle(qtbot, laptop)
    assert page.pending_label.text() == f"{pending} bản ghi chờ gửi"
    page.sync_button.click()
    assert page.syncing and page.cancel_button.isEnabled()
    wait_idle(qtbot, laptop, timeout=30000)
    text = page.result_label.text()
    assert text.startswith(f"Đã gửi {pending}, máy chủ nhận {pending}, từ chối 0; đã nhận ")
    assert "thành công" not in text
    assert page.pending_label.text() == "0 bản ghi chờ gửi"
    assert "xong" in page.last_label.text()
    assert server_counts(server)["visit"] == 1
    assert "Đồng bộ" in laptop.window.statusBar().currentMessage()


def test_refused_record_shows_its_reason(
    laptop: App, qtbot, server: Server, run, tmp_path: Path
) -> None:
    """A household outside the assigned communes is refused and listed with its reason."""
    enrol(laptop, qtbot, server)
    page = laptop.window.sync_page
    run(lambda ws: add_household(ws, OTHER, head="Vàng Seo Páo"))
    page.sync_now()
    wait_idle(qtbot, laptop, timeout=30000)
    assert "từ chối 1" in page.result_label.text()
    assert "bị máy chủ từ chối" in page.result_label.text()
    assert page.refused_model.rowCount() == 1
    assert page.refused_model.data(page.refused_model.index(0, 1)) == "Vàng Seo Páo"
    reason = page.refused_model.data(page.refused_model.index(0, 2))
    assert OTHER in reason and reason == page.status.refused[0].vi

    # A screenshot of the area with a refusal and a record still pending.
    run(lambda ws: add_household(ws, head="Lò Văn Pẻng"))
    page.refresh()
    wait_idle(qtbot, laptop)
    assert laptop.window.width() == 1366
    for folder in shot_folders(tmp_path):
        _save(laptop.window, [folder], "14-sync")


def test_background_sync_after_a_successful_probe(
    laptop: App,
    qtbot,
    server: Server,
    run,
) -> None:
    """With records pending, a health probe that answers starts a sync without any dialog."""
    enrol(laptop, qtbot, server)
    page = laptop.window.sync_page
    page.stop_watching()  # the test drives the probe itself
    run(lambda ws: add_household(ws))
    page.reachable = None
    page.probe_now()
    qtbot.waitUntil(lambda: page.syncing or page.status.pending == 0, timeout=10000)
    wait_idle(qtbot, laptop, timeout=30000)
    assert page.reachable is True
    assert "kết nối được" in page.reach_label.text()
    assert page.status is not None and page.status.pending == 0
    assert laptop.window.dialog is None
    assert "Đồng bộ nền" in laptop.window.statusBar().currentMessage()
    assert server_counts(server)["household"] == 1

    # A server that does not answer: the probe says so and nothing starts.
    page.server_url = "http://127.0.0.1:9"
    run(lambda ws: add_household(ws, head="Lò Văn Pẻng"))
    page.probe_now()
    wait_idle(qtbot, laptop)
    assert page.reachable is False and not page.syncing
    assert "không kết nối được" in page.reach_label.text()


def test_cancel_mid_sync_loses_nothing(laptop: App, qtbot, server: Server, run) -> None:
    """Cancel after the first batch: it stays acknowledged, the rest stays pending, none lost."""
    enrol(laptop, qtbot, server)
    page = laptop.window.sync_page
    heads = ("Lò Văn Pao", "Sùng A Sử", "Hầu Thị Dợ", "Giàng A Chu", "Vàng Thị Mỷ", "Lý A Sình")
    for head in heads:
        run(lambda ws, head=head: add_household(ws, head=head))
    total = run(lambda ws: ws.pending_sync())
    first_batch_sent = threading.Event()
    release = threading.Event()

    def around(request: httpx.Request, forward: Callable[[], httpx.Response]) -> httpx.Response:
        response = forward()
        if request.url.path.endswith("/batches") and not first_batch_sent.is_set():
            first_batch_sent.set()
            release.wait(10)
        return response

    transport = ForwardingTransport(around)
    page.client_options = {"transport": transport, "batch_size": 2}
    page.sync_button.click()
    qtbot.waitUntil(first_batch_sent.is_set, timeout=10000)
    page.cancel_button.click()
    assert "Đang dừng" in page.result_label.text()
    release.set()
    wait_idle(qtbot, laptop, timeout=30000)
    text = page.result_label.text()
    assert "Đã dừng theo yêu cầu" in text and "không mất dữ liệu nào" in text
    assert "thành công" not in text
    pending = run(lambda ws: ws.pending_sync())
    on_server = server_counts(server)["household"]
    assert on_server == 2 and pending == total - 2
    assert page.pending_label.text() == f"{pending} bản ghi chờ gửi"

    page.client_options = {}
    page.sync_now()
    wait_idle(qtbot, laptop, timeout=30000)
    assert run(lambda ws: ws.pending_sync()) == 0
    assert server_counts(server)["household"] == 6
    transport.close()
