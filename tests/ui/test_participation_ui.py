"""Each member's participation through the real window, worker and store: the member form's
BHYT and BHXH fields, the pledge dialog's per-person quote, and re-quoting at payment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QWidget

from fieldapp.model import Household
from fieldapp.workspace import Workspace
from sync.protocol import i18n
from sync.protocol.clock import FixedClock
from sync.protocol.money import format_vnd
from tests.fieldapp.samples import new_household
from tests.ui.conftest import open_dialog, shown
from tests.ui.test_receipts_ui import SERIES, open_household, payment_dialog
from tests.ui.test_screenshots import _save, shot_folders
from ui.app import App, build
from ui.labels import date_text
from ui.member_dialog import MemberDialog
from ui.pledge_dialog import CARD, GROUP, LADDER, NAME, PAYABLE, SUPPORT, PledgeDialog
from ui.receipts import RequoteDialog

# 10:00 on 4 December 2026 in Vietnam: a 12-month BHXH payment reaches the 2027 income floor.
DECEMBER = dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.UTC)
# 10:00 on 10 July 2026: the base figure rose from 2,340,000 to 2,530,000 on 1 July.
JULY = dt.datetime(2026, 7, 10, 3, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(DECEMBER)


@pytest.fixture
def app(qtbot, settings: QSettings, data_dir: Path, clock: FixedClock) -> Iterator[App]:
    """The real app on a copy of the demo store, on a fixed clock, its window 1366×768."""
    i18n.set_language("vi")
    with shown(qtbot, build(settings, data_dir, clock=clock)) as built:
        yield built
    i18n.set_language("vi")


@pytest.fixture
def workspace(app: App, data_dir: Path, clock: FixedClock) -> Iterator[Workspace]:
    """A second connection to the same store, on the same clock, for the tests' own checks."""
    ws = Workspace.open(data_dir, clock=clock)
    yield ws
    ws.close()


def family(ws: Workspace) -> tuple[Household, dict[str, str]]:
    """A household of two household-group members, a near-poor daughter-in-law and a child
    under 6 whose card the state pays; their ids by role."""
    household = new_household(
        ws, head_name="Lò Văn Sáng", village="Bản Nà Phai", groups=["farmer", "ethnic_minority"]
    )
    ids = {
        "head": ws.members.add(
            household.id,
            full_name="Lò Văn Sáng",
            date_of_birth=dt.date(1970, 4, 2),
            sex="male",
            relation="Chủ hộ",
            ethnicity="Thái",
        ).id,
        "wife": ws.members.add(
            household.id,
            full_name="Nguyễn Thị Hoà",
            date_of_birth=dt.date(1974, 9, 12),
            sex="female",
            relation="Vợ",
            ethnicity="Kinh",
        ).id,
        "near_poor": ws.members.add(
            household.id,
            full_name="Lò Thị Ngọc",
            date_of_birth=dt.date(1996, 1, 20),
            sex="female",
            relation="Con",
            ethnicity="Thái",
            bhyt_group="near_poor",
        ).id,
        "child": ws.members.add(
            household.id,
            full_name="Lò Minh Đức",
            date_of_birth=dt.date(2023, 5, 1),
            sex="male",
            relation="Cháu",
            ethnicity="Thái",
            bhyt_group="child_under_6",
        ).id,
    }
    return household, ids


def row_of(dialog: PledgeDialog, member_id: str) -> int:
    table = dialog.bhyt_table
    for row in range(table.rowCount()):
        if table.item(row, NAME).data(Qt.ItemDataRole.UserRole) == member_id:
            return row
    raise AssertionError(f"no row for {member_id}")


def cell(dialog: PledgeDialog, member_id: str, column: int) -> str:
    return dialog.bhyt_table.item(row_of(dialog, member_id), column).text()


def shoot(widget: QWidget, tmp_path: Path, name: str) -> None:
    """Keep a screenshot in the test's folder (and /tmp/fieldapp-shots with FIELDAPP_SHOTS)."""
    _save(widget, shot_folders(tmp_path), name)


# -- the member form ----------------------------------------------------------------------------


def test_member_dialog_saves_participation(
    app: App, qtbot, idle, workspace: Workspace, typing, tmp_path: Path
) -> None:
    """Group, card dates, BHXH state and the old CMND are stored as typed and read back into
    the form; choosing "Chưa rõ" again clears the group."""
    household, _ids = family(workspace)
    open_household(app, idle, household.id)
    app.window.add_member(household.id)
    dialog = open_dialog(app, MemberDialog)
    typing(dialog.name_edit, "Lò Thị Mai")
    dialog.dob_edit.setText("05/03/1990")
    dialog.sex_combo.setCurrentIndex(dialog.sex_combo.findData("female"))
    # The card says household (GD) until a group is chosen.
    dialog.card_edit.setText("GD4151512345678")
    assert dialog.group_hint.text() == "Theo mã thẻ: Hộ gia đình (GD)"
    dialog.group_combo.setCurrentIndex(dialog.group_combo.findData("student"))
    assert "Mã thẻ ghi nhóm khác" in dialog.group_hint.text()
    dialog.valid_from_edit.setText("01/01/2026")
    dialog.expiry_edit.setText("31/12/2026")
    dialog.participating_box.setChecked(True)
    dialog.income_spin.setValue(2_000_000)
    dialog.paid_through_edit.setText("11/2026")
    dialog.supported_spin.setValue(24)
    dialog.old_id_edit.setText("012345678")
    dialog.check_now()
    idle()
    assert dialog.problems.severity("bhyt_valid_from") == ""
    shoot(dialog, tmp_path, "20-member-participation")
    dialog.save()
    idle()
    qtbot.waitUntil(lambda: app.window.dialog is None)

    stored = next(
        m for m in workspace.members.of_household(household.id) if m.full_name == "Lò Thị Mai"
    )
    member = workspace.members.get(stored.id)
    assert member.bhyt_card == "GD4151512345678"
    assert member.bhyt_group == "student"
    assert member.bhyt_valid_from == "2026-01-01"
    assert member.bhyt_expiry == "2026-12-31"
    assert member.bhxh_participating is True
    assert member.bhxh_income == 2_000_000
    assert member.bhxh_paid_through == "2026-11-30"
    assert member.bhxh_supported_months == 24
    assert member.old_id == "012345678"
    idle()
    page = app.window.household
    row = next(r for r, m in enumerate(page.members_model.records()) if m.id == member.id)
    shown_row = [page.members_model.data(page.members_model.index(row, c)) for c in (5, 6, 7)]
    assert shown_row == [
        "GD4151512345678 (đến 31/12/2026)",
        "Học sinh, sinh viên (HS/SV)",
        "Đã đóng đến 11/2026",
    ]

    # The form shows what is stored; the group goes back to "unknown, from the card".
    app.window.edit_member(member)
    edit = open_dialog(app, MemberDialog)
    assert edit.group_combo.currentData() == "student"
    assert edit.valid_from_edit.text() == "01/01/2026"
    assert edit.expiry_edit.text() == "31/12/2026"
    assert edit.participating_box.isChecked()
    assert edit.income_spin.value() == 2_000_000
    assert edit.paid_through_edit.text() == "11/2026"
    assert edit.supported_spin.value() == 24
    assert edit.old_id_edit.text() == "012345678"
    edit.group_combo.setCurrentIndex(0)
    assert edit.group_combo.currentText() == "Chưa rõ — theo mã thẻ"
    edit.save()
    idle()
    qtbot.waitUntil(lambda: app.window.dialog is None)
    assert workspace.members.get(member.id).bhyt_group is None
    assert workspace.members.get(member.id).bhyt_group_effective == "household"


def test_member_dialog_refuses_bad_participation(
    app: App, qtbot, idle, workspace: Workspace, typing
) -> None:
    """A card valid from after its end, or 500 supported months, is explained under the field
    and nothing is stored; an unreadable month is refused before the core is asked."""
    household, _ids = family(workspace)
    before = len(workspace.members.of_household(household.id))
    open_household(app, idle, household.id)
    app.window.add_member(household.id)
    dialog = open_dialog(app, MemberDialog)
    typing(dialog.name_edit, "Lò Thị Mai")
    dialog.valid_from_edit.setText("01/02/2027")
    dialog.expiry_edit.setText("31/12/2026")
    dialog.save()
    idle()
    assert dialog.isVisible() and dialog.buttons.isEnabled()
    assert dialog.problems.severity("bhyt_valid_from") == "error"
    assert "ngày bắt đầu phải trước ngày hết hạn" in dialog.problems.text("bhyt_valid_from")
    assert len(workspace.members.of_household(household.id)) == before

    dialog.valid_from_edit.setText("01/01/2026")
    dialog.supported_spin.setValue(500)
    dialog.save()
    idle()
    assert dialog.isVisible()
    assert dialog.problems.severity("bhxh_supported_months") == "error"
    assert "từ 0 đến 120" in dialog.problems.text("bhxh_supported_months")
    assert dialog.problems.text("bhyt_valid_from") == ""
    assert len(workspace.members.of_household(household.id)) == before

    dialog.supported_spin.setValue(0)
    dialog.paid_through_edit.setText("tháng mười")
    dialog.save()
    idle()
    assert dialog.problems.severity("bhxh_paid_through") == "error"
    assert "tháng/năm" in dialog.problems.text("bhxh_paid_through")
    assert len(workspace.members.of_household(household.id)) == before
    dialog.reject()


def test_nine_digit_cccd_is_kept_as_old_id(
    app: App, qtbot, idle, workspace: Workspace, typing
) -> None:
    """A 9-digit number typed as the CCCD: the core's warning shows, and it is stored as the
    old ID."""
    household, _ids = family(workspace)
    open_household(app, idle, household.id)
    app.window.add_member(household.id)
    dialog = open_dialog(app, MemberDialog)
    typing(dialog.name_edit, "Lò Văn Tú")
    qtbot.keyClicks(dialog.cccd_edit, "012345678")
    qtbot.waitUntil(lambda: dialog.problems.severity("cccd") == "warning")
    assert "CMND 9 số" in dialog.problems.text("cccd")
    dialog.save()
    idle()
    qtbot.waitUntil(lambda: app.window.dialog is None)
    stored = next(
        m for m in workspace.members.of_household(household.id) if m.full_name == "Lò Văn Tú"
    )
    assert stored.cccd is None and stored.old_id == "012345678"


# -- the pledge dialog --------------------------------------------------------------------------


def test_pledge_dialog_quotes_each_person(
    app: App, qtbot, idle, workspace: Workspace, tmp_path: Path
) -> None:
    """One row per member: the near-poor member has no ladder place, the household members are
    1st and 2nd, amounts and card periods are the core's; the child the state pays for is shown
    but cannot be ticked; unticking a member quotes again."""
    household, ids = family(workspace)
    open_household(app, idle, household.id)
    app.window.new_pledge(household.id)
    idle()
    dialog = open_dialog(app, PledgeDialog)
    joining = [ids["head"], ids["wife"], ids["near_poor"]]
    assert sorted(dialog.bhyt_member_ids()) == sorted(joining)
    today = workspace.today()
    qtbot.waitUntil(lambda: dialog.result is not None)
    expected = workspace.pledges.quote_household_bhyt(
        household.id, member_ids=dialog.quoted_ids, months=12, on=today
    )
    assert dialog.result == expected
    assert dialog.figures["payable"].text() == format_vnd(expected.payable)

    people = dict(zip(dialog.quoted_ids, expected.people, strict=True))
    near_poor = people[ids["near_poor"]]
    assert near_poor.position is None
    assert cell(dialog, ids["near_poor"], LADDER) == "Không theo bậc"
    assert cell(dialog, ids["near_poor"], GROUP) == "Cận nghèo (CN)"
    assert near_poor.central_support > 0
    assert sorted(cell(dialog, ids[k], LADDER) for k in ("head", "wife")) == [
        "Người thứ 1",
        "Người thứ 2",
    ]
    for member_id, person in people.items():
        assert cell(dialog, member_id, PAYABLE) == format_vnd(person.payable)
        support = person.central_support + person.local_support
        assert cell(dialog, member_id, SUPPORT) == format_vnd(support)
        period = f"{date_text(person.card_valid_from)} – {date_text(person.card_valid_to)}"
        assert cell(dialog, member_id, CARD) == f"{period} (lần đầu: sau 30 ngày)"
    assert sum(p.payable for p in people.values()) == expected.payable

    child = dialog.bhyt_table.item(row_of(dialog, ids["child"]), NAME)
    assert not child.flags() & Qt.ItemFlag.ItemIsUserCheckable
    assert not child.flags() & Qt.ItemFlag.ItemIsEnabled
    assert "Trẻ em dưới 6 tuổi" in cell(dialog, ids["child"], GROUP)
    assert cell(dialog, ids["child"], LADDER).startswith("Không thu qua hộ")
    dialog.set_bhyt_member(ids["child"], True)
    assert ids["child"] not in dialog.bhyt_member_ids()
    shoot(dialog, tmp_path, "21-pledge-people")

    # Without the head, the wife is the first on the ladder.
    dialog.set_bhyt_member(ids["head"], False)
    qtbot.waitUntil(lambda: dialog.result is not None and len(dialog.result.people) == 2)
    assert cell(dialog, ids["wife"], LADDER) == "Người thứ 1"
    assert cell(dialog, ids["head"], PAYABLE) == ""
    dialog.save()
    idle()
    saved = {p.member_id: p for p in dialog.saved_pledges}
    assert set(saved) == {ids["wife"], ids["near_poor"]}
    assert saved[ids["near_poor"]].params["group"] == "near_poor"
    assert saved[ids["near_poor"]].params["position"] is None


def test_pledge_dialog_bhxh_warns_of_floor_and_cap(
    app: App, qtbot, idle, workspace: Workspace, tmp_path: Path
) -> None:
    """A Kinh wife in an ethnic-minority household: her own groups (no minority share), the
    2027 floor above the chosen income as a warning with a button to meet it, and only the
    support months left under the lifetime cap."""
    household, ids = family(workspace)
    workspace.members.update(ids["wife"], bhxh_supported_months=115)
    open_household(app, idle, household.id)
    app.window.new_pledge(household.id)
    idle()
    dialog = open_dialog(app, PledgeDialog)
    dialog.bhxh_radio.setChecked(True)
    dialog.bhxh_member.setCurrentIndex(dialog.bhxh_member.findData(ids["wife"]))
    qtbot.waitUntil(lambda: dialog.result is not None and dialog.result.scheme == "bhxh_voluntary")
    idle()
    assert dialog.bhxh_groups() == ["other"]
    assert dialog.own_groups.text().startswith("Khác")
    assert "đã được hỗ trợ 115 tháng" in dialog.own_groups.text()
    expected = workspace.pledges.quote_member_bhxh(
        ids["wife"], income=1_500_000, months=12, on=workspace.today()
    )
    assert dialog.result == expected
    assert dialog.floor_warning.isVisible()
    assert "Từ tháng 01/2027, thu nhập tối thiểu là 2.200.000 đ/tháng" in (
        dialog.floor_warning.text()
    )
    assert "11 tháng" in dialog.floor_warning.text()
    assert dialog.supported_warning.isVisible()
    assert "chỉ hỗ trợ 5 trong 12 tháng" in dialog.supported_warning.text()
    shoot(dialog, tmp_path, "22-pledge-bhxh-floor")

    # The head is Thái: his own groups carry the minority share.
    dialog.bhxh_member.setCurrentIndex(dialog.bhxh_member.findData(ids["head"]))
    assert dialog.bhxh_groups() == ["ethnic_minority"]
    dialog.raise_income_button.click()
    assert dialog.income_spin.value() == 2_200_000
    qtbot.waitUntil(lambda: dialog.result is not None and not dialog.result.floor_changes)
    idle()
    assert not dialog.floor_warning.isVisible()
    assert not dialog.supported_warning.isVisible()
    dialog.save()
    idle()
    (pledge,) = dialog.saved_pledges
    assert pledge.params["groups"] == ["ethnic_minority"]
    assert pledge.params["income"] == 2_200_000


# -- re-quoting at payment ----------------------------------------------------------------------


@pytest.mark.parametrize("clock", [FixedClock(JULY)])
def test_payment_requotes_under_the_new_base_figure(
    app: App, qtbot, idle, workspace: Workspace, tmp_path: Path
) -> None:
    """Pledged in June, paid in July after the base figure rose: the payment shows old → new
    for each member; "Không thu" stores nothing, "Tính lại và thu tiền" stores one receipt at
    the new amount and the old pledges read "Đã tính lại"."""
    household, ids = family(workspace)
    workspace.receipts.add_book(series=SERIES, first=1, last=50)
    joining = [ids["head"], ids["wife"], ids["near_poor"]]
    pledges = workspace.pledges.pledge_bhyt_household(
        household.id, member_ids=joining, months=12, start=dt.date(2026, 6, 15)
    )
    old = {p.member_id: p.payable for p in pledges}
    # Base 2,340,000 in June: 1st 1,263,600, 2nd 884,520, near-poor 30 % of 1,263,600.
    assert sorted(old.values()) == [379_080, 884_520, 1_263_600]
    page = open_household(app, idle, household.id)
    dialog = payment_dialog(app, idle, page, [p.id for p in pledges])
    assert dialog.amount_label.text() == format_vnd(2_527_200)

    dialog.confirm()
    idle()
    requote = dialog.requote_dialog
    assert isinstance(requote, RequoteDialog) and requote.isVisible()
    assert requote.table.rowCount() == 3
    new = {r.pledge.member_id: r.new["payable"] for r in requote.requotes}
    assert sorted(new.values()) == [409_860, 956_340, 1_366_200]
    rows = {r.pledge.member_id: row for row, r in enumerate(requote.requotes)}
    head_row = rows[ids["head"]]
    assert requote.table.item(head_row, 0).text() == "Lò Văn Sáng"
    assert requote.table.item(head_row, 2).text() == "1.263.600 đ"
    assert requote.table.item(head_row, 3).text() == "1.366.200 đ"
    assert requote.table.item(head_row, 4).text() == "+102.600 đ"
    assert requote.total_label.text() == "Tổng cộng: 2.527.200 đ → 2.732.400 đ"
    assert "10/07/2026" in requote.explanation.text()
    assert "15/06/2026" in requote.explanation.text()
    assert requotes_version(requote) in requote.explanation.text()
    assert requote.requote_button.text() == "Tính lại và thu tiền"
    assert requote.decline_button.text() == "Không thu"
    shoot(requote, tmp_path, "23-requote")

    requote.decline_button.click()
    idle()
    assert dialog.requote_dialog is None and dialog.receipt is None
    assert "Chưa thu tiền" in dialog.error_label.text()
    assert workspace.receipts.issued(household_id=household.id) == []
    assert {workspace.pledges.get(p.id).status for p in pledges} == {"pledged"}

    # The rules change between the check and the payment: the core's refusal asks the same.
    dialog.issue()
    idle()
    assert isinstance(dialog.requote_dialog, RequoteDialog)
    assert workspace.receipts.issued(household_id=household.id) == []
    dialog.requote_dialog.requote_button.click()
    idle()
    assert dialog.receipt is not None
    assert dialog.receipt.amount == 2_732_400
    assert dialog.amount_label.text() == format_vnd(2_732_400)
    receipts = workspace.receipts.issued(household_id=household.id)
    assert [r.amount for r in receipts] == [2_732_400]
    assert "thẻ có giá trị từ ngày" in receipts[0].description
    assert {workspace.pledges.get(p.id).status for p in pledges} == {"superseded"}
    assert {workspace.pledges.get(p).status for p in receipts[0].pledge_ids} == {"paid"}

    dialog.reject()
    page.refresh()
    idle()
    statuses = {
        p.id: page.pledges_model.data(page.pledges_model.index(row, 5))
        for row, p in enumerate(page.pledges_model.records())
    }
    assert {statuses[p.id] for p in pledges} == {"Đã tính lại"}
    assert {statuses[p] for p in receipts[0].pledge_ids} == {"Đã đóng"}
    page.tabs.setCurrentIndex(2)
    shoot(app.window, tmp_path, "24-household-requoted")


def requotes_version(dialog: RequoteDialog) -> str:
    (version,) = {r.policy_version for r in dialog.requotes}
    return version
