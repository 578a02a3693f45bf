"""The agent's flows through the real window, worker and store."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt

from fieldapp.visits import suggest_next_visit
from fieldapp.workspace import Workspace
from sync.protocol.money import format_vnd
from ui.app import App, run
from ui.household_dialog import HouseholdDialog
from ui.main_window import HOUSEHOLD
from ui.member_dialog import MemberDialog
from ui.pledge_dialog import PledgeDialog
from ui.visit_dialog import VisitDialog


def _open_first_household(app: App, qtbot, idle) -> str:
    window = app.window
    window.focus_search()
    idle()
    qtbot.waitUntil(lambda: window.households.model.rowCount() > 0)
    household_id = window.households.model.hit(0).household_id
    window.open_household(household_id)
    idle()
    assert window.stack.currentIndex() == HOUSEHOLD
    return household_id


def test_create_household(app: App, qtbot, idle, workspace: Workspace, typing) -> None:
    """Ctrl+N opens the household form; saving stores the household and opens its page."""
    before = workspace.households.count()
    qtbot.keyClick(app.window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    dialog = app.window.dialog
    assert isinstance(dialog, HouseholdDialog)
    assert dialog.province_edit.text() == "15"
    dialog.village_combo.setCurrentText("Thôn Mới")
    typing(dialog.head_edit, "Sùng Seo Chứ")
    qtbot.keyClicks(dialog.phone_edit, "0912345678")
    dialog.group_boxes["farmer"].setChecked(True)
    dialog.month_boxes[8].setChecked(True)
    dialog.save()
    idle()
    qtbot.waitUntil(lambda: app.window.dialog is None)
    assert workspace.households.count() == before + 1
    created = [h for h in workspace.households.in_village("Thôn Mới")]
    assert [h.head_name for h in created] == ["Sùng Seo Chứ"]
    assert created[0].groups == ("farmer",) and created[0].best_months == (8,)
    idle()
    assert app.window.household.heading.text() == "Hộ Sùng Seo Chứ"


def test_invalid_cccd_is_refused(app: App, qtbot, idle, workspace: Workspace, typing) -> None:
    """A member with an 11-digit CCCD: the message shows under the field and nothing is stored."""
    household_id = _open_first_household(app, qtbot, idle)
    before = len(workspace.members.of_household(household_id))
    app.window.add_member(household_id)
    dialog = app.window.dialog
    assert isinstance(dialog, MemberDialog)
    typing(dialog.name_edit, "Hầu Thị Dợ")
    qtbot.keyClicks(dialog.dob_edit, "05/03/1990")
    qtbot.keyClicks(dialog.cccd_edit, "00119012345")
    dialog.save()
    idle()
    assert dialog.isVisible()
    assert dialog.problems.severity("cccd") == "error"
    assert "12 chữ số" in dialog.problems.text("cccd")
    assert len(workspace.members.of_household(household_id)) == before


def test_birth_year_mismatch_warns_and_saves(
    app: App, qtbot, idle, workspace: Workspace, typing
) -> None:
    """A CCCD whose year differs from the birth date warns in amber; the member is stored."""
    household_id = _open_first_household(app, qtbot, idle)
    app.window.add_member(household_id)
    dialog = app.window.dialog
    assert isinstance(dialog, MemberDialog)
    typing(dialog.name_edit, "Hầu Thị Dợ")
    qtbot.keyClicks(dialog.dob_edit, "05/03/1990")
    dialog.sex_combo.setCurrentIndex(dialog.sex_combo.findData("female"))
    qtbot.keyClicks(dialog.cccd_edit, "001185123456")
    qtbot.waitUntil(lambda: dialog.problems.severity("cccd") == "warning")
    assert "1985" in dialog.problems.text("cccd")
    assert dialog.problems.label("cccd").isVisible()
    dialog.save()
    idle()
    stored = [
        m for m in workspace.members.of_household(household_id) if m.full_name == "Hầu Thị Dợ"
    ]
    assert len(stored) == 1
    assert [w["code"] for w in stored[0].warnings] == ["cccd_year_mismatch"]
    idle()
    warned = [m for m in app.window.household.members_model.records() if m.warnings]
    assert [m.full_name for m in warned] == ["Hầu Thị Dợ"]


def test_record_visit_with_keyboard(app: App, qtbot, idle, workspace: Workspace, typing) -> None:
    """F2, the key 2 (consulted), Space on a topic, Ctrl+Enter: the visit is stored."""
    household_id = _open_first_household(app, qtbot, idle)
    before = len(workspace.visits.of_household(household_id))
    qtbot.keyClick(app.window, Qt.Key.Key_F2)
    idle()
    dialog = app.window.dialog
    assert isinstance(dialog, VisitDialog)
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_2)
    assert dialog.outcome() == "consulted"
    dialog.topics_list.setFocus()
    dialog.topics_list.setCurrentRow(0)
    qtbot.keyClick(dialog.topics_list, Qt.Key.Key_Space)
    qtbot.keyClick(dialog.topics_list, Qt.Key.Key_3)
    assert dialog.outcome() == "pledged"
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_2)
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    idle()
    visits = workspace.visits.of_household(household_id)
    assert len(visits) == before + 1
    visit = visits[0]
    household = workspace.households.get(household_id)
    today = workspace.store.clock.today()
    assert visit.outcome == "consulted"
    assert visit.topics == ("BHYT hộ gia đình",)
    assert visit.next_visit == suggest_next_visit(household.best_months, today).isoformat()
    qtbot.waitUntil(lambda: app.window.dialog is None)


def test_visit_without_an_outcome_is_refused_by_the_core(
    app: App, qtbot, idle, workspace: Workspace
) -> None:
    """Ctrl+Enter before choosing an outcome: the core's reason appears under the outcome
    buttons, the first of them takes the focus, the dialog stays open and nothing is stored."""
    household_id = _open_first_household(app, qtbot, idle)
    before = len(workspace.visits.of_household(household_id))
    qtbot.keyClick(app.window, Qt.Key.Key_F2)
    idle()
    dialog = app.window.dialog
    assert isinstance(dialog, VisitDialog) and dialog.outcome() is None
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    idle()
    assert "Chọn kết quả của lần thăm" in dialog.problems.text("outcome")
    assert dialog.problems.severity("outcome") == "error"
    assert dialog.isVisible() and dialog.buttons.isEnabled()
    assert dialog.focusWidget() is dialog.outcome_buttons[0]
    assert len(workspace.visits.of_household(household_id)) == before
    dialog.reject()


def _open_paying_household(app: App, idle, workspace: Workspace) -> str:
    """Open a demo household with members who pay for their BHYT through the household."""
    covered = workspace.policy.bhyt.covered_elsewhere_groups
    for village in workspace.households.villages():
        for household in workspace.households.in_village(village):
            members = workspace.members.of_household(household.id)
            if len(members) >= 2 and all(m.bhyt_group_effective not in covered for m in members):
                app.window.open_household(household.id)
                idle()
                assert app.window.stack.currentIndex() == HOUSEHOLD
                return household.id
    raise AssertionError("the demo has no household paying for its own BHYT")


def test_pledge_shows_calculator_payable(app: App, qtbot, idle, workspace: Workspace) -> None:
    """The pledge dialog shows the core's quote for the ticked members, an unconfirmed support
    share marks the payable, and saving a BHXH pledge stores the person's own quote."""
    household_id = _open_paying_household(app, idle, workspace)
    app.window.new_pledge(household_id)
    idle()
    dialog = app.window.dialog
    assert isinstance(dialog, PledgeDialog)
    members = workspace.members.of_household(household_id)
    today = workspace.today()
    assert dialog.bhyt_member_ids() == [m.id for m in members]
    expected = workspace.pledges.quote_household_bhyt(
        household_id, member_ids=[m.id for m in members], months=12, on=today
    )
    qtbot.waitUntil(lambda: dialog.result == expected)
    assert dialog.figures["payable"].text() == format_vnd(expected.payable)

    # The support share of average-income farming households is unconfirmed: the figure says so.
    dialog.bhyt_support.setCurrentIndex(dialog.bhyt_support.findData("agri_average"))
    supported = workspace.pledges.quote_household_bhyt(
        household_id,
        member_ids=[m.id for m in members],
        months=12,
        on=today,
        support_group="agri_average",
    )
    qtbot.waitUntil(lambda: dialog.result == supported)
    assert dialog.figures["payable"].text() == f"{format_vnd(supported.payable)}\n(chưa xác nhận)"

    dialog.bhxh_radio.setChecked(True)
    dialog.select_period(36, 3)
    dialog.income_spin.setValue(2_000_000)
    idle()
    qtbot.waitUntil(lambda: dialog.result is not None and dialog.result.scheme == "bhxh_voluntary")
    qtbot.waitUntil(lambda: dialog.result.months == 36)
    idle()
    quote = workspace.pledges.quote_member_bhxh(
        members[0].id, income=2_000_000, months=36, on=today, lump_years=3
    )
    assert dialog.figures["payable"].text().startswith(format_vnd(quote.payable))
    assert "đ" in dialog.figures["gross"].text()
    dialog.save()
    idle()
    assert dialog.saved_pledges
    saved = workspace.pledges.get(dialog.saved_pledges[0].id)
    assert saved.payable == quote.payable
    assert saved.params["groups"] == workspace.pledges.bhxh_groups(members[0].id)[0]
    assert "Đã cam kết" in dialog.history_label.text()


def test_search_without_accents(app: App, qtbot, idle) -> None:
    """Typing "dang" finds people named Đặng."""
    view = app.window.households
    app.window.focus_search()
    qtbot.keyClicks(view.search_edit, "dang")
    qtbot.waitUntil(lambda: view.model.query.text == "dang", timeout=10000)
    idle()
    names = [view.model.hit(r).full_name for r in range(view.model.rowCount())]
    assert names and any(n.startswith("Đặng") for n in names)


def test_switch_language(app: App, qtbot, idle) -> None:
    """Switching to English relabels navigation, columns and menus without a restart."""
    window = app.window
    assert window.nav.item(1).text() == "Hộ gia đình"
    window.en_action.trigger()
    assert window.nav.item(0).text() == "Today"
    assert window.nav.item(1).text() == "Households"
    model = window.households.model
    assert model.headerData(0, Qt.Orientation.Horizontal) == "Full name"
    assert window.households.search_label.text() == "&Search"
    assert app.settings.value("language") == "en"
    window.vi_action.trigger()
    assert window.nav.item(0).text() == "Hôm nay"


def test_lazy_model_fetches_on_scroll(app: App, qtbot, idle) -> None:
    """Scrolling to the end of the list fetches the next page through the worker."""
    view = app.window.households
    app.window.focus_search()
    view.search_now()
    idle()
    model = view.model
    assert model.rowCount() == 100
    fetched = model.fetch_count
    view.table.scrollToBottom()
    qtbot.waitUntil(lambda: model.fetch_count > fetched)
    idle()
    assert model.rowCount() > 100


def test_self_test_returns_zero(data_dir, capsys) -> None:
    """`fieldapp gui --self-test` opens the window on Today, waits for its rows, exits 0."""
    assert run(data_dir=data_dir, self_test=True) == 0
    assert "dòng việc đầu tiên" in capsys.readouterr().out


def test_today_lists_the_days_work_in_order(app: App, qtbot, idle, workspace: Workspace) -> None:
    """Today shows the core's agenda — renewals, BHXH, appointments, income months, in that
    order — and the pending-sync count."""
    from fieldapp.agenda import KINDS, day_agenda

    today = app.window.today
    # The first screen comes first; the whole list follows after the first paint (or a timer
    # when nothing paints): wait for it, not only for the worker to be idle once.
    qtbot.waitUntil(lambda: today.complete, timeout=10000)
    idle()
    expected = day_agenda(workspace, limit=200).items
    shown = today.follow_model.records()
    assert [(i.kind, i.household.id) for i in shown] == [(i.kind, i.household.id) for i in expected]
    assert any(i.kind == "renew" for i in shown)
    kinds = [i.kind for i in shown]
    assert kinds == sorted(kinds, key=KINDS.index)
    # A demo commune's changes stay on the laptop: nothing waits for the sync.
    assert workspace.pending_sync() == 0
    assert today.sync_label.text() == "Mọi thay đổi đã được đồng bộ."
    assert dt.date.today().strftime("/%Y") in today.heading.text()
    assert "hộ có thẻ sắp hết hạn" in today.follow_label.text()
    # The row says why in a few words (the whole sentence as a tooltip) and what renewing costs.
    row = kinds.index("renew")
    item = shown[row]
    model = today.follow_model

    def cell(column: int, role: Qt.ItemDataRole = Qt.ItemDataRole.DisplayRole) -> str:
        return model.data(model.index(row, column), role)

    assert cell(0) == "Thẻ sắp hết hạn"
    assert "hết hạn trong 30 ngày" in cell(0, Qt.ItemDataRole.ToolTipRole)
    assert item.amount and format_vnd(item.amount) in cell(4)
    assert item.people[0].full_name in cell(7)
    assert all(p.full_name in cell(7, Qt.ItemDataRole.ToolTipRole) for p in item.people)


def test_enter_on_a_renewal_opens_the_household_with_the_pledge_filled_in(
    app: App, qtbot, idle, workspace: Workspace
) -> None:
    """One key press on a renewal row: the household page, and the pledge dialog with exactly
    the members whose cards end ticked, quoted for a year."""
    idle()
    today = app.window.today
    row = next(n for n, i in enumerate(today.follow_model.records()) if i.kind == "renew")
    item = today.follow_model.record(row)
    today.follow_table.setFocus()
    today.follow_table.setCurrentIndex(today.follow_model.index(row, 0))
    qtbot.keyClick(today.follow_table, Qt.Key.Key_Return)
    idle()
    qtbot.waitUntil(lambda: isinstance(app.window.dialog, PledgeDialog))
    dialog = app.window.dialog
    assert app.window.stack.currentIndex() == HOUSEHOLD
    assert app.window.household.household_id == item.household.id
    assert dialog.scheme() == "bhyt_household"
    members = workspace.members.of_household(item.household.id)
    assert dialog.bhyt_member_ids() == [m.id for m in members if m.id in item.member_ids]
    qtbot.waitUntil(lambda: set(dialog.quoted_ids) == set(item.member_ids))
    idle()
    assert dialog.result.payable == item.amount
    dialog.reject()
