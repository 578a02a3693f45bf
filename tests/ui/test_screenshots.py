"""Screenshots of the main screens at 1366×768, for looking at (set FIELDAPP_SHOTS to keep)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget

from fieldapp.workspace import Workspace
from tests.ui.conftest import open_dialog
from tests.ui.test_receipts_ui import bhyt_household, issued_receipt, select_rows
from ui.app import App
from ui.main_window import HOUSEHOLD, PRINT
from ui.member_dialog import MemberDialog
from ui.pledge_dialog import PledgeDialog
from ui.printing import DocumentDialog
from ui.receipts import PaymentDialog
from ui.visit_dialog import VisitDialog


def shot_folders(tmp_path: Path) -> list[Path]:
    """Where screenshots go: the test's folder, and /tmp/fieldapp-shots with FIELDAPP_SHOTS."""
    folders = [tmp_path]
    if os.environ.get("FIELDAPP_SHOTS"):
        folders.append(Path("/tmp/fieldapp-shots"))
        folders[-1].mkdir(parents=True, exist_ok=True)
    return folders


def _save(widget: QWidget, folders: list[Path], name: str) -> None:
    # Layouts settle on posted events; grab only after they have run.
    for _ in range(3):
        QApplication.processEvents()
    image = widget.grab()
    assert not image.isNull()
    for folder in folders:
        assert image.save(str(folder / f"{name}.png"))


def test_screenshots(app: App, qtbot, idle, tmp_path: Path, workspace: Workspace) -> None:
    """Today, Households, a household page, the dialogs, payment, receipts and the Print area."""
    folders = shot_folders(tmp_path)
    window = app.window

    def shot(widget: QWidget, name: str) -> None:
        idle()
        _save(widget, folders, name)

    shot(window, "1-today")

    window.focus_search()
    window.households.search_edit.setText("nguyen")
    window.households.search_now()
    idle()
    window.households.table.selectRow(0)
    shot(window, "2-households")

    window.open_household(window.households.model.hit(0).household_id)
    idle()
    assert window.stack.currentIndex() == HOUSEHOLD
    shot(window, "3-household")

    window.add_member(window.household.household_id or "")
    member = open_dialog(app, MemberDialog)
    member.name_edit.setText("Hầu Thị Dợ")
    member.dob_edit.setText("05/03/1990")
    member.cccd_edit.setText("001185123456")
    member.check_now()
    qtbot.waitUntil(lambda: member.problems.severity("cccd") == "warning")
    shot(member, "3b-member-warning")
    member.reject()
    idle()

    window.record_visit_here()
    idle()
    visit = open_dialog(app, VisitDialog)
    shot(visit, "4-visit")
    visit.reject()

    household_id = window.household.household_id
    assert household_id is not None
    window.new_pledge(household_id)
    idle()
    pledge = open_dialog(app, PledgeDialog)
    qtbot.waitUntil(lambda: pledge.result is not None)
    pledge.bhyt_support.setCurrentIndex(pledge.bhyt_support.findData("near_poor"))
    qtbot.waitUntil(lambda: pledge.result is not None and pledge.result.central_support > 0)
    shot(pledge, "5-pledge")
    pledge.bhxh_radio.setChecked(True)
    qtbot.waitUntil(lambda: pledge.result is not None and pledge.result.scheme == "bhxh_voluntary")
    shot(pledge, "6-pledge-bhxh")
    pledge.reject()

    workspace.receipts.add_book(series="LC-NTA-26", first=1, last=50)
    paying, pledge_ids = bhyt_household(workspace)
    window.open_household(paying)
    idle()
    page = window.household
    page.tabs.setCurrentIndex(2)
    select_rows(page.pledges_table, page.pledges_model, set(pledge_ids))
    shot(window, "8-household-pledges")
    page.take_payment()
    idle()
    payment = open_dialog(app, PaymentDialog)
    shot(payment, "8b-payment")
    payment.confirm()
    shot(payment, "8c-payment-issued")
    payment.print_button.click()
    idle()
    preview = open_dialog(app, DocumentDialog)
    shot(preview, "8d-receipt-preview")
    preview.reject()
    shot(window, "9-household-receipts")

    window.print_area_action.trigger()
    idle()
    assert window.stack.currentIndex() == PRINT
    shot(window, "10-print")

    window.en_action.trigger()
    window.nav.setCurrentRow(0)
    shot(window, "7-today-en")
    assert len(list(tmp_path.glob("*.png"))) == 14


def test_screenshots_end_of_day_and_lock(
    qtbot, settings, data_dir: Path, tmp_path: Path, workspace: Workspace, app: App, idle
) -> None:
    """The End of day area with a short handover, and the lock screen (set PIN, then unlock)."""
    folders = shot_folders(tmp_path)
    household_id, _receipt = issued_receipt(workspace)
    for outcome in ("consulted", "pledged", "not_home"):
        workspace.visits.record(household_id, outcome=outcome)
    window = app.window
    window.day_area_action.trigger()
    idle()
    page = window.day_page
    page.amount_edit.setText("3.800.000")
    page.handover_button.click()
    idle()
    assert window.width() == 1366, "the area must fit a 1366×768 screen"
    _save(window, folders, "11-end-of-day")

    def enter_pin(pin: str, *, repeat: bool) -> None:
        screen = app.lock.screen
        screen.pin_edit.setText(pin)
        if repeat:
            screen.repeat_edit.setText(pin)
        screen.button.click()
        idle()

    app.lock.enabled = True
    window.lock_action.setEnabled(True)
    app.lock.start()
    idle()
    enter_pin("12", repeat=True)
    _save(window, folders, "12-lock-set-pin")
    enter_pin("2468", repeat=True)
    window.lock_action.trigger()
    enter_pin("1111", repeat=False)
    assert window.width() == 1366
    _save(window, folders, "13-lock-wrong-pin")
    app.lock.stop()
    assert len(list(tmp_path.glob("1[123]-*.png"))) == 3


def test_screenshot_coverage(app: App, qtbot, idle, tmp_path: Path) -> None:
    """The Coverage area of the demo commune at 1280×800, with one village's lapsed cards
    listed, in Vietnamese and in English."""
    from ui.coverage_page import LAPSED

    folders = shot_folders(tmp_path)
    window = app.window
    window.resize(1280, 800)
    window.coverage_area_action.trigger()
    page = window.coverage_page
    qtbot.waitUntil(lambda: page.data is not None and not page.loading, timeout=10000)
    assert len(page.chart.bars()) == page.table.rowCount() - 1 >= 2
    assert window.width() == 1280
    _save(window, folders, "14-coverage")
    page.table.setFocus()
    page.table.setCurrentCell(0, LAPSED)
    page.show_people(page.data.rows[0].village, "lapsed")
    qtbot.waitUntil(lambda: page.people is not None, timeout=10000)
    idle()
    _save(window, folders, "14b-coverage-people")
    window.en_action.trigger()
    page.tabs.setCurrentIndex(0)
    _save(window, folders, "15-coverage-en")
    window.vi_action.trigger()
    assert len(list(tmp_path.glob("1[45]*-*.png"))) == 3
