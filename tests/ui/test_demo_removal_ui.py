"""File › Xoá dữ liệu mẫu…: the app asks first, then the core removes the demo commune whole and
the window shows what is left."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from fieldapp.demo import demo_household_count
from fieldapp.workspace import Workspace
from tests.fieldapp.samples import new_household
from tests.ui.conftest import wait_idle
from ui.app import App
from ui.main_window import HOUSEHOLD, HOUSEHOLDS


def _button(box: QMessageBox, role: QMessageBox.ButtonRole):
    [button] = [b for b in box.buttons() if box.buttonRole(b) == role]
    return button


def _ask(app: App) -> QMessageBox:
    app.window.remove_demo_action.trigger()
    box = app.window.remove_demo_box
    assert box is not None and box.isVisible()
    return box


def test_keeping_the_demo_removes_nothing(app: App, qtbot, workspace: Workspace) -> None:
    """The question says real data is not touched; "Không xoá" is the default and keeps all."""
    assert app.window.remove_demo_action.text() == "Xoá dữ liệu mẫu…"
    box = _ask(app)
    assert "xã mẫu" in box.text() and "Dữ liệu thật không bị động đến" in box.informativeText()
    keep = _button(box, QMessageBox.ButtonRole.RejectRole)
    assert box.defaultButton() is keep and box.escapeButton() is keep
    keep.click()
    wait_idle(qtbot, app)
    assert app.window.remove_demo_box is None
    assert demo_household_count(workspace) == 60


def test_removing_the_demo_leaves_the_real_household(app: App, qtbot, workspace: Workspace) -> None:
    """With a demo household open on its page: after "Xoá dữ liệu mẫu" the demo is gone, the
    real household stays, the window is back on the list with no error, and the status line
    says what was removed."""
    real = new_household(workspace, commune_code="04001", head_name="Hà Văn Dũng")
    demo_id = str(workspace.store.scalar("SELECT id FROM household WHERE demo = 1 LIMIT 1"))
    app.window.open_household(demo_id)
    wait_idle(qtbot, app)
    assert app.window.stack.currentIndex() == HOUSEHOLD

    _button(_ask(app), QMessageBox.ButtonRole.DestructiveRole).click()
    wait_idle(qtbot, app)
    wait_idle(qtbot, app)

    assert demo_household_count(workspace) == 0
    assert [h.id for h in workspace.households.in_village(real.village)] == [real.id]
    assert app.window.stack.currentIndex() == HOUSEHOLDS
    assert app.window.nav.item(HOUSEHOLD).isHidden()
    assert app.ops.last_error is None
    assert app.window.statusBar().currentMessage().startswith("Đã xoá dữ liệu mẫu: 60 hộ, ")
