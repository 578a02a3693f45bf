"""Pledge: BHYT hộ gia đình or BHXH tự nguyện, with the calculator's figures live."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from PySide6.QtCore import QLocale, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from fieldapp.calculator import BHXH_GROUPS, ContributionResult
from fieldapp.model import Household, Member, Pledge
from fieldapp.pledges import bhxh_groups_of
from fieldapp.workspace import Workspace
from sync.protocol import i18n
from sync.protocol.errors import FieldappError
from sync.protocol.i18n import say
from sync.protocol.labels import group_label, scheme_label, status_label
from sync.protocol.money import format_vnd
from ui.labels import moment_text
from ui.operations import Operations

QUOTE_DELAY_MS = 120


@dataclass(frozen=True)
class PledgeContext:
    """What the dialog needs from the store and the policy in force today."""

    household: Household
    members: list[Member]
    today: dt.date
    bhyt_periods: tuple[int, ...]
    bhxh_periods: tuple[int, ...]
    lump_max_years: int
    income_floor: int
    income_ceiling: int
    default_groups: list[str]
    bhyt_support_groups: tuple[str, ...] = ()


def load_pledge_context(ws: Workspace, household_id: str) -> PledgeContext:
    household = ws.households.get(household_id)
    today = ws.today()
    policy = ws.policy
    return PledgeContext(
        household=household,
        members=ws.members.of_household(household_id),
        today=today,
        bhyt_periods=policy.bhyt_periods(today),
        bhxh_periods=policy.bhxh_periods(today),
        lump_max_years=policy.lump_sum_max_years(today),
        income_floor=policy.rural_poverty_line(today),
        income_ceiling=policy.bhxh_ceiling(today),
        default_groups=bhxh_groups_of(household.groups),
        bhyt_support_groups=policy.bhyt_support_groups(),
    )


def _affected(unconfirmed: tuple[str, ...]) -> set[str]:
    """Which figures rest on an unconfirmed policy item, by the item's name."""
    figures: set[str] = set()
    for key in unconfirmed:
        if "local" in key:
            figures.add("local_support")
        elif "support" in key:
            figures.add("central_support")
        elif "return" not in key:
            figures.add("gross")
    if figures:
        figures.add("payable")
    return figures


class PledgeDialog(QDialog):
    """Every change asks the calculator again (through the worker); Save records the pledge."""

    saved = Signal(object)

    def __init__(
        self, ops: Operations, context: PledgeContext, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._ops = ops
        self._context = context
        self._quote_generation = 0
        self.result: ContributionResult | None = None
        self.saved_pledges: list[Pledge] = []

        self.heading = QLabel()
        self.heading.setProperty("role", "title")
        self.bhyt_radio = QRadioButton()
        self.bhxh_radio = QRadioButton()
        self.scheme_group = QButtonGroup(self)
        self.scheme_group.addButton(self.bhyt_radio, 0)
        self.scheme_group.addButton(self.bhxh_radio, 1)
        self.bhyt_radio.setChecked(True)

        # BHYT hộ gia đình: who joins, for how long.
        self.bhyt_members_label = QLabel()
        self.bhyt_members = QListWidget()
        for member in context.members:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, member.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Unchecked if member.covered_by else Qt.CheckState.Checked
            )
            self.bhyt_members.addItem(item)
        self.bhyt_months_label = QLabel()
        self.bhyt_months = QComboBox()
        for months in context.bhyt_periods:
            self.bhyt_months.addItem("", months)
        self.bhyt_months.setCurrentIndex(self.bhyt_months.count() - 1)
        # The agent picks the support group: which card group applies is their judgement.
        self.bhyt_support_label = QLabel()
        self.bhyt_support = QComboBox()
        self.bhyt_support.addItem("", None)
        for group in context.bhyt_support_groups:
            self.bhyt_support.addItem("", group)
        bhyt_page = QWidget()
        bhyt_form = QFormLayout(bhyt_page)
        bhyt_form.addRow(self.bhyt_members_label, self.bhyt_members)
        bhyt_form.addRow(self.bhyt_months_label, self.bhyt_months)
        bhyt_form.addRow(self.bhyt_support_label, self.bhyt_support)

        # BHXH tự nguyện: one member, an income, support groups, a period or a lump sum.
        self.bhxh_member_label = QLabel()
        self.bhxh_member = QComboBox()
        for member in context.members:
            self.bhxh_member.addItem(member.full_name, member.id)
        self.income_label = QLabel()
        self.income_spin = QSpinBox()
        self.income_spin.setRange(context.income_floor, context.income_ceiling)
        self.income_spin.setSingleStep(50_000)
        self.income_spin.setGroupSeparatorShown(True)
        # Dots between thousands, as format_vnd writes amounts everywhere else.
        self.income_spin.setLocale(QLocale(QLocale.Language.Vietnamese, QLocale.Country.Vietnam))
        self.income_spin.setSuffix(" đ")
        self.income_spin.setValue(context.income_floor)
        self.groups_label = QLabel()
        self.group_boxes: dict[str, QCheckBox] = {}
        groups_widget = QWidget()
        groups_grid = QGridLayout(groups_widget)
        groups_grid.setContentsMargins(0, 0, 0, 0)
        for i, group in enumerate(BHXH_GROUPS):
            box = QCheckBox()
            box.setChecked(group in context.default_groups)
            self.group_boxes[group] = box
            groups_grid.addWidget(box, i // 3, i % 3)
        self.period_label = QLabel()
        self.period_combo = QComboBox()
        # (months, lump-sum years) per entry; Qt would turn tuples into lists as item data.
        self.periods: list[tuple[int, int | None]] = [(m, None) for m in context.bhxh_periods]
        self.periods += [(12 * y, y) for y in range(1, context.lump_max_years + 1)]
        for _period in self.periods:
            self.period_combo.addItem("")
        self.select_period(12, None)
        bhxh_page = QWidget()
        bhxh_form = QFormLayout(bhxh_page)
        bhxh_form.addRow(self.bhxh_member_label, self.bhxh_member)
        bhxh_form.addRow(self.income_label, self.income_spin)
        bhxh_form.addRow(self.groups_label, groups_widget)
        bhxh_form.addRow(self.period_label, self.period_combo)

        self.pages = QStackedWidget()
        self.pages.addWidget(bhyt_page)
        self.pages.addWidget(bhxh_page)

        # The calculator's answer.
        self.figure_captions = {
            key: QLabel() for key in ("gross", "central_support", "local_support", "payable")
        }
        self.figures = {key: QLabel() for key in self.figure_captions}
        for label in self.figures.values():
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.figures["payable"].setObjectName("payable")
        self.figures["payable"].setStyleSheet("font-size: 16pt; font-weight: bold;")
        self.figure_captions["payable"].setStyleSheet("font-size: 13pt; font-weight: bold;")
        self.period_note = QLabel()
        self.lines_label = QLabel()
        self.notes_label = QLabel()
        self.notes_label.setWordWrap(True)
        self.notes_label.setStyleSheet("color: #8a5300;")
        self.version_label = QLabel()
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.history_label = QLabel()
        self.history_label.setObjectName("history")
        self.history_label.setWordWrap(True)
        self.history_label.setStyleSheet("color: #1b5e20;")
        figures = QGridLayout()
        for row, key in enumerate(self.figures):
            figures.addWidget(self.figure_captions[key], row, 0)
            figures.addWidget(self.figures[key], row, 1)
        figures.setColumnStretch(0, 1)
        result_box = QVBoxLayout()
        result_box.addLayout(figures)
        result_box.addWidget(self.period_note)
        result_box.addWidget(self.lines_label)
        result_box.addWidget(self.notes_label)
        result_box.addWidget(self.version_label)
        result_box.addWidget(self.error_label)
        result_box.addWidget(self.history_label)
        result_box.addStretch(1)
        result_widget = QWidget()
        result_widget.setLayout(result_box)
        result_widget.setObjectName("resultPanel")
        result_widget.setStyleSheet("#resultPanel { background: #f4f7fb; border-radius: 6px; }")

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

        schemes = QHBoxLayout()
        schemes.addWidget(self.bhyt_radio)
        schemes.addWidget(self.bhxh_radio)
        schemes.addStretch(1)
        left = QVBoxLayout()
        left.addLayout(schemes)
        left.addWidget(self.pages, 1)
        body = QHBoxLayout()
        # A fixed width keeps the figures whole whatever the length of the detail lines.
        result_widget.setFixedWidth(520)
        body.addLayout(left, 1)
        body.addWidget(result_widget)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(body, 1)
        layout.addWidget(self.buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(QUOTE_DELAY_MS)
        self._timer.timeout.connect(self.quote_now)
        self.scheme_group.idToggled.connect(self._scheme_toggled)
        self.bhyt_members.itemChanged.connect(lambda _item: self._timer.start())
        self.bhyt_months.currentIndexChanged.connect(lambda _i: self._timer.start())
        self.bhyt_support.currentIndexChanged.connect(lambda _i: self._timer.start())
        self.bhxh_member.currentIndexChanged.connect(lambda _i: self._timer.start())
        self.income_spin.valueChanged.connect(lambda _v: self._timer.start())
        self.period_combo.currentIndexChanged.connect(lambda _i: self._timer.start())
        for box in self.group_boxes.values():
            box.toggled.connect(lambda _on: self._timer.start())
        self.resize(1160, 640)
        self.retranslate()
        self.quote_now()

    def scheme(self) -> str:
        return "bhxh_voluntary" if self.bhxh_radio.isChecked() else "bhyt_household"

    def _scheme_toggled(self, _id: int, checked: bool) -> None:
        if checked:
            self.pages.setCurrentIndex(self.scheme_group.checkedId())
            self._timer.start()

    def period(self) -> tuple[int, int | None]:
        return self.periods[max(0, self.period_combo.currentIndex())]

    def select_period(self, months: int, lump_years: int | None) -> None:
        if (months, lump_years) in self.periods:
            self.period_combo.setCurrentIndex(self.periods.index((months, lump_years)))

    def bhyt_member_ids(self) -> list[str]:
        return [
            self.bhyt_members.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.bhyt_members.count())
            if self.bhyt_members.item(i).checkState() == Qt.CheckState.Checked
        ]

    def bhxh_groups(self) -> list[str]:
        return [g for g, box in self.group_boxes.items() if box.isChecked()]

    def quote_now(self) -> None:
        """Ask the calculator for the current choices; older answers are dropped."""
        self._timer.stop()
        self._quote_generation += 1
        generation = self._quote_generation
        context = self._context
        province = context.household.province_code
        if self.scheme() == "bhyt_household":
            count = len(self.bhyt_member_ids())
            months = int(self.bhyt_months.currentData())
            support_group = self.bhyt_support.currentData()

            def quote(ws: Workspace) -> ContributionResult:
                return ws.pledges.quote_bhyt(
                    members=count,
                    months=months,
                    on=context.today,
                    province=province,
                    support_group=support_group,
                )

        else:
            income = self.income_spin.value()
            months, lump_years = self.period()
            groups = self.bhxh_groups()

            def quote(ws: Workspace) -> ContributionResult:
                return ws.pledges.quote_bhxh(
                    income=income,
                    months=months,
                    groups=groups,
                    on=context.today,
                    province=province,
                    lump_years=lump_years,
                )

        self._ops.run_op(
            self,
            quote,
            success=lambda result: self._show_result(generation, result),
            failure=lambda exc: self._show_refusal(generation, exc),
        )

    def _show_result(self, generation: int, result: ContributionResult) -> None:
        if generation != self._quote_generation:
            return
        self.result = result
        self.error_label.clear()
        if not self.saved_pledges:
            self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(True)
        self._render_result()

    def _show_refusal(self, generation: int, exc: Exception) -> None:
        if generation != self._quote_generation:
            return
        if not isinstance(exc, FieldappError):
            self._ops.show_error(self, exc)
            return
        self.result = None
        self._render_result()
        self.error_label.setText(exc.message(i18n.language()))
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(False)

    def _render_result(self) -> None:
        result = self.result
        if result is None:
            for label in self.figures.values():
                label.setText("—")
            self.period_note.clear()
            self.lines_label.clear()
            self.notes_label.clear()
            self.version_label.clear()
            return
        marked = _affected(result.unconfirmed)
        unconfirmed = say("(chưa xác nhận)", "(unconfirmed)")
        for key, label in self.figures.items():
            text = format_vnd(getattr(result, key))
            if key in marked:
                # The large payable figure has no room beside it: the mark goes below.
                text += ("\n" if key == "payable" else " ") + unconfirmed
            label.setText(text)
        if result.mode == "lump_sum":
            self.period_note.setText(
                say("Đóng một lần cho {months} tháng", "One payment for {months} months").format(
                    months=result.months
                )
            )
        else:
            self.period_note.setText(
                say("Mỗi kỳ {months} tháng", "Per period of {months} months").format(
                    months=result.months
                )
            )
        english = i18n.language() == "en"
        self.lines_label.setText(
            "\n".join(
                f"• {line.label_en if english else line.label_vi}\n"
                f"   {format_vnd(line.monthly)} × {line.months} = {format_vnd(line.total)}"
                for line in result.lines
            )
        )
        notes = result.notes if english else result.notes_vi
        self.notes_label.setText("\n".join(f"⚠ {n}" for n in notes))
        self.version_label.setText(
            say("Theo chính sách {version}", "Policy {version}").format(
                version=result.policy_version
            )
        )

    def save(self) -> None:
        if self.result is None or self.saved_pledges:
            return
        context = self._context
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(False)
        if self.scheme() == "bhyt_household":
            member_ids = self.bhyt_member_ids()
            months = int(self.bhyt_months.currentData())
            support_group = self.bhyt_support.currentData()

            def pledge(ws: Workspace) -> list[Pledge]:
                return ws.pledges.pledge_bhyt_household(
                    context.household.id,
                    member_ids=member_ids,
                    months=months,
                    start=context.today,
                    support_group=support_group,
                )

        else:
            member_id = self.bhxh_member.currentData()
            income = self.income_spin.value()
            months, lump_years = self.period()
            groups = self.bhxh_groups()

            def pledge(ws: Workspace) -> list[Pledge]:
                return [
                    ws.pledges.pledge_bhxh(
                        member_id,
                        income=income,
                        months=months,
                        start=context.today,
                        groups=groups,
                        lump_years=lump_years,
                    )
                ]

        self._ops.run_op(self, pledge, success=self._saved, failure=self._save_refused)

    def _saved(self, pledges: list[Pledge]) -> None:
        self.saved_pledges = pledges
        self._render_history()
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setFocus()
        self.saved.emit(pledges)

    def _save_refused(self, exc: Exception) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(True)
        if isinstance(exc, FieldappError):
            self.error_label.setText(exc.message(i18n.language()))
        else:
            self._ops.show_error(self, exc)

    def _render_history(self) -> None:
        if not self.saved_pledges:
            self.history_label.clear()
            return
        names = {m.id: m.full_name for m in self._context.members}
        lines = [say("Đã lưu cam kết:", "Pledge saved:")]
        for pledge in self.saved_pledges:
            history = " → ".join(
                f"{status_label(e.status)} {moment_text(e.at)}" for e in pledge.history
            )
            lines.append(
                f"• {names.get(pledge.member_id, '')}: {format_vnd(pledge.payable)} – {history}"
            )
        self.history_label.setText("\n".join(lines))

    def retranslate(self) -> None:
        household = self._context.household
        self.setWindowTitle(say("Cam kết tham gia", "Pledge"))
        self.heading.setText(
            say("Cam kết – hộ {head}, {village}", "Pledge – household of {head}, {village}").format(
                head=household.head_name, village=household.village
            )
        )
        self.bhyt_radio.setText(scheme_label("bhyt_household"))
        self.bhxh_radio.setText(scheme_label("bhxh_voluntary"))
        self.bhyt_members_label.setText(say("Thành viên tham gia", "Members joining"))
        for member, i in zip(self._context.members, range(self.bhyt_members.count()), strict=True):
            text = member.full_name
            if member.covered_by:
                text += " " + say("(đã có thẻ: {group})", "(already covered: {group})").format(
                    group=member.covered_by
                )
            self.bhyt_members.item(i).setText(text)
        self.bhyt_months_label.setText(say("Thời hạn", "Period"))
        self.bhyt_support_label.setText(say("Nhóm được hỗ trợ", "Support groups"))
        self.bhyt_support.setItemText(0, say("(không có)", "(none)"))
        for i in range(1, self.bhyt_support.count()):
            self.bhyt_support.setItemText(i, group_label(self.bhyt_support.itemData(i)))
        for i in range(self.bhyt_months.count()):
            self.bhyt_months.setItemText(
                i,
                say("{months} tháng", "{months} months").format(
                    months=self.bhyt_months.itemData(i)
                ),
            )
        self.bhxh_member_label.setText(say("Người tham gia", "Participant"))
        self.income_label.setText(say("Thu nhập chọn đóng (tháng)", "Chosen monthly income"))
        self.groups_label.setText(say("Nhóm được hỗ trợ", "Support groups"))
        for group, box in self.group_boxes.items():
            box.setText(group_label(group))
        self.period_label.setText(say("Phương thức đóng", "Payment period"))
        for i, (months, years) in enumerate(self.periods):
            text = (
                say("Đóng một lần {years} năm", "Lump sum for {years} years").format(years=years)
                if years
                else say("{months} tháng một lần", "Every {months} months").format(months=months)
            )
            self.period_combo.setItemText(i, text)
        captions = {
            "gross": say("Tổng mức đóng", "Gross contribution"),
            "central_support": say("Ngân sách trung ương hỗ trợ", "Central support"),
            "local_support": say("Địa phương hỗ trợ", "Local support"),
            "payable": say("Người dân đóng", "Payable"),
        }
        for key, text in captions.items():
            self.figure_captions[key].setText(text)
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setText(
            say("Lưu cam kết", "Save pledge")
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setText(say("Đóng", "Close"))
        self._render_result()
        self._render_history()
