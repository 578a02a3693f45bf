"""The enrol form and a plain-HTTP server beyond this machine: the app explains the risk and
asks first; nothing is sent unless the agent agrees, and the answer is kept for that address."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from sync.client import PLAIN_HTTP_KEY
from tests.sync.client_fixtures import COMMUNE
from tests.sync.conftest import Server, server
from tests.sync.test_tls import Remote, as_remote
from tests.ui.conftest import wait_idle
from tests.ui.test_sync_ui import add_household, database_url, laptop, run
from ui.app import App
from ui.main_window import SYNC

__all__ = ["database_url", "laptop", "run", "server"]


def _ask_to_enrol(app: App, qtbot, server: Server) -> tuple[Remote, QMessageBox]:
    """Type the plain-HTTP address and a code, press Enrol: the question that opens."""
    remote = as_remote(server)
    page = app.window.sync_page
    page.client_options = {"transport": remote.transport}
    app.window.nav.setCurrentRow(SYNC)
    wait_idle(qtbot, app)
    page.enrol_url_edit.setText(remote.url)
    page.enrol_code_edit.setText(server.enrol_code(server.add_agent("Lò Thị Mai", [COMMUNE])))
    page.enrol_button.click()
    wait_idle(qtbot, app)
    box = page.plain_http_box
    assert box is not None and box.isVisible()
    return remote, box


def _button(box: QMessageBox, role: QMessageBox.ButtonRole):
    [button] = [b for b in box.buttons() if box.buttonRole(b) == role]
    return button


def test_the_question_explains_the_risk_and_cancel_sends_nothing(
    laptop: App, qtbot, server: Server, run
) -> None:
    """The dialog names the address and what would cross the network in clear; Cancel is the
    default; after it nothing was sent, nothing stored, and the form says why."""
    remote, box = _ask_to_enrol(laptop, qtbot, server)
    page = laptop.window.sync_page
    assert box.windowTitle() == "Kết nối không mã hoá"
    assert remote.url in box.text() and "không mã hoá" in box.text()
    words = box.informativeText()
    assert "Mã đăng ký" in words and "CCCD" in words and "https://" in words
    assert "mạng nội bộ tin cậy" in words
    stop = _button(box, QMessageBox.ButtonRole.RejectRole)
    assert box.defaultButton() is stop and box.escapeButton() is stop
    assert remote.transport.requests == []

    stop.click()
    wait_idle(qtbot, laptop)
    assert page.plain_http_box is None
    assert page.enrol_box.isVisible()
    assert "https://" in page.enrol_message.text()
    assert run(lambda ws: ws.store.meta("device_token")) is None
    assert run(lambda ws: ws.store.meta(PLAIN_HTTP_KEY)) is None
    assert remote.transport.requests == []
    assert server.count("devices") == 0


def test_agreeing_enrols_and_the_next_sync_does_not_ask(
    laptop: App, qtbot, server: Server, run
) -> None:
    """ "Use http:// anyway" enrols over the address; the core keeps the answer, so Sync now
    goes through without asking again."""
    remote, box = _ask_to_enrol(laptop, qtbot, server)
    page = laptop.window.sync_page
    _button(box, QMessageBox.ButtonRole.AcceptRole).click()
    wait_idle(qtbot, laptop)
    assert "Lò Thị Mai" in page.result_label.text()
    assert not page.enrol_box.isVisible()
    assert run(lambda ws: ws.store.meta(PLAIN_HTTP_KEY)) == remote.url
    assert server.count("devices") == 1

    run(lambda ws: add_household(ws))
    page.sync_now()
    wait_idle(qtbot, laptop, timeout=30000)
    assert page.plain_http_box is None
    assert page.result_label.text().startswith("Đã gửi 1, máy chủ nhận 1, từ chối 0")
    assert server.count("households") == 1


def test_a_sync_asks_when_the_address_was_never_agreed_to(
    laptop: App, qtbot, server: Server, run
) -> None:
    """A laptop enrolled over plain HTTP before the question existed: Sync now is refused
    before anything is sent, the same question opens, and agreeing syncs."""
    _remote, box = _ask_to_enrol(laptop, qtbot, server)
    _button(box, QMessageBox.ButtonRole.AcceptRole).click()
    wait_idle(qtbot, laptop)
    run(lambda ws: ws.store.set_meta(PLAIN_HTTP_KEY, ""))
    run(lambda ws: add_household(ws))
    page = laptop.window.sync_page
    page.sync_now()
    wait_idle(qtbot, laptop, timeout=30000)
    assert "không mã hoá" in page.result_label.text()
    assert server.count("households") == 0
    box = page.plain_http_box
    assert box is not None and box.isVisible()
    _button(box, QMessageBox.ButtonRole.AcceptRole).click()
    wait_idle(qtbot, laptop, timeout=30000)
    assert page.result_label.text().startswith("Đã gửi 1, máy chủ nhận 1, từ chối 0")
    assert server.count("households") == 1


def test_a_server_on_this_machine_never_asks(laptop: App, qtbot, server: Server) -> None:
    """http://127.0.0.1 is this machine: the form enrols at once, no question."""
    page = laptop.window.sync_page
    laptop.window.nav.setCurrentRow(SYNC)
    wait_idle(qtbot, laptop)
    page.enrol_url_edit.setText(server.base_url)
    page.enrol_code_edit.setText(server.enrol_code(server.add_agent("Lò Thị Mai", [COMMUNE])))
    page.enrol_button.click()
    wait_idle(qtbot, laptop)
    assert page.plain_http_box is None
    assert not page.enrol_box.isVisible()
    assert "Lò Thị Mai" in page.result_label.text()
