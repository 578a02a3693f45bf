"""Acting on refused records from the Sync page: the real window, the real provincial server on a
loopback port, and the agent's clicks."""

from __future__ import annotations

from PySide6.QtWidgets import QDialogButtonBox

from fieldapp.visits import Visits
from fieldapp.workspace import Workspace
from tests.sync.client_fixtures import COMMUNE, OTHER, server_counts
from tests.sync.conftest import Server, server
from tests.ui.conftest import wait_idle
from tests.ui.test_sync_ui import add_household, database_url, enrol, laptop, run
from ui.app import App
from ui.main_window import SYNC
from ui.sync_page import RefusalDialog, SyncPage

__all__ = ["database_url", "laptop", "run", "server"]


def _sync(page: SyncPage, qtbot, app: App) -> None:
    page.sync_button.click()
    wait_idle(qtbot, app, timeout=30000)


def _select(page: SyncPage, name: str) -> None:
    """Select the refused record shown under this name."""
    names = [
        page.refused_model.data(page.refused_model.index(row, 1))
        for row in range(page.refused_model.rowCount())
    ]
    page.refused_table.selectRow(names.index(name))


def _stale_visit(ws: Workspace) -> str:
    """A visit naming the laptop's own id as its agent, as work from before enrolment does."""
    home = add_household(ws, head="Hờ A Chá")
    visit = Visits(ws.store, agent_id=ws.store.device_id).record(home, outcome="consulted")
    return visit.id


def test_restamp_button_fixes_an_agent_mismatch(laptop: App, qtbot, server: Server, run) -> None:
    """A visit refused as another agent's: only re-stamp and discard are offered; clicking
    "Ghi lại cho nhân viên đã đăng ký" and syncing takes the row off the refused list."""
    enrol(laptop, qtbot, server)
    page = laptop.window.sync_page
    run(_stale_visit)
    _sync(page, qtbot, laptop)
    # The household went through; the visit was refused.
    assert page.refused_model.rowCount() == 1
    assert page.status is not None and page.status.refused[0].code == "agent_mismatch"
    assert not page.restamp_button.isEnabled()  # nothing selected yet
    page.refused_table.selectRow(0)
    assert page.restamp_button.isEnabled() and page.discard_button.isEnabled()
    assert not page.move_button.isEnabled()
    assert page.restamp_button.text() == "Ghi lại cho nhân viên đã đăng ký"

    page.restamp_button.click()
    wait_idle(qtbot, laptop)
    assert page.refused_model.rowCount() == 0
    assert page.pending_label.text() == "1 bản ghi chờ gửi"
    # The re-stamp is in the log the page shows.
    assert not page.restamp_label.isHidden()
    assert page.restamp_label.text().startswith("1 bản ghi")
    _sync(page, qtbot, laptop)
    assert page.refused_model.rowCount() == 0
    assert "từ chối 0" in page.result_label.text()
    assert server_counts(server)["visit"] == 1


def test_move_and_discard_from_the_sync_page(laptop: App, qtbot, server: Server, run) -> None:
    """A household in a commune not assigned is moved to the assigned one through the dialog
    and accepted on the next sync; another is discarded, which needs a reason."""
    enrol(laptop, qtbot, server)
    page = laptop.window.sync_page
    run(lambda ws: add_household(ws, OTHER, head="Vàng Seo Páo"))
    run(lambda ws: add_household(ws, OTHER, head="Giàng A Lử"))
    _sync(page, qtbot, laptop)
    assert page.refused_model.rowCount() == 2

    _select(page, "Vàng Seo Páo")
    assert page.move_button.isEnabled() and not page.restamp_button.isEnabled()
    page.move_button.click()
    wait_idle(qtbot, laptop)
    dialog = page.action_dialog
    assert isinstance(dialog, RefusalDialog) and dialog.commune_box is not None
    assert dialog.commune_code == COMMUNE
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    wait_idle(qtbot, laptop)
    assert page.refused_model.rowCount() == 1
    assert "Đã chuyển hộ sang xã" in page.result_label.text()

    _select(page, "Giàng A Lử")
    page.discard_button.click()
    dialog = page.action_dialog
    assert isinstance(dialog, RefusalDialog) and dialog.reason_edit is not None
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()  # a reason is required
    dialog.reason_edit.setText("Hộ ở xã khác, do cán bộ xã đó phụ trách")
    assert ok.isEnabled()
    ok.click()
    wait_idle(qtbot, laptop)
    assert page.refused_model.rowCount() == 0

    _sync(page, qtbot, laptop)
    assert page.refused_model.rowCount() == 0
    assert page.pending_label.text() == "0 bản ghi chờ gửi"
    assert server_counts(server)["household"] == 1
    kept = run(lambda ws: [(d.reason, d.refusal_code) for d in ws.refusals.discarded()])
    assert kept == [("Hộ ở xã khác, do cán bộ xã đó phụ trách", "out_of_scope")]


def test_enrolment_says_what_it_restamped(laptop: App, qtbot, server: Server, run) -> None:
    """A visit recorded before enrolment: after enrolling on the Sync page, the page says it now
    carries the agent (the line stays), and the sync is accepted whole."""
    run(lambda ws: ws.visits.record(add_household(ws), outcome="consulted"))
    page = laptop.window.sync_page
    laptop.window.nav.setCurrentRow(SYNC)
    wait_idle(qtbot, laptop)
    assert page.restamp_label.isHidden()
    page.enrol_url_edit.setText(server.base_url)
    page.enrol_code_edit.setText(server.enrol_code(server.add_agent("Lò Thị Mai", [COMMUNE])))
    page.enrol_button.click()
    wait_idle(qtbot, laptop, timeout=30000)
    # Whatever the result line says next (a background sync may start at once), the page
    # keeps saying it.
    assert not page.restamp_label.isHidden()
    assert page.restamp_label.text() == (
        "1 bản ghi làm trước khi đăng ký đã được ghi lại cho nhân viên đã đăng ký."
    )
    _sync(page, qtbot, laptop)
    assert page.refused_model.rowCount() == 0
    assert not page.restamp_label.isHidden()
    assert "từ chối 0" in page.result_label.text()
    assert server_counts(server)["visit"] == 1
