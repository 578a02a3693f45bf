"""The settings dialog: the agent's name and phone go to the store, the rest to QSettings."""

from __future__ import annotations

from fieldapp.workspace import Workspace
from ui.app import App
from ui.settings_dialog import SettingsDialog


def test_settings_store_agent_and_switch_language(
    app: App, qtbot, idle, workspace: Workspace, typing
) -> None:
    """Saving writes agent name/phone through the core, the server address, and the language."""
    app.window.settings_action.trigger()
    idle()
    dialog = app.window.dialog
    assert isinstance(dialog, SettingsDialog)
    assert dialog.name_edit.text() == workspace.agent_name
    dialog.name_edit.clear()
    typing(dialog.name_edit, "Hầu Thị Dợ")
    dialog.phone_edit.setText("0987 654 321")
    dialog.edits["server_url"].setText("https://bhxh-tinh.example.vn")
    dialog.language_combo.setCurrentIndex(dialog.language_combo.findData("en"))
    dialog.accept()
    idle()
    qtbot.waitUntil(lambda: app.window.dialog is None)
    assert (workspace.agent_name, workspace.agent_phone) == ("Hầu Thị Dợ", "0987 654 321")
    assert app.settings.value("server_url") == "https://bhxh-tinh.example.vn"
    assert app.window.sync_page.server_url == "https://bhxh-tinh.example.vn"
    assert app.settings.value("language") == "en"
    assert app.window.nav.item(4).text() == "Sync"
    idle()
    assert "Hầu Thị Dợ" in app.window.status_label.text()
