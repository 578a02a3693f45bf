"""Pledge: BHYT hộ gia đình or BHXH tự nguyện, with the calculator's figures live."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import field

from PySide6.QtCore import QLocale, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fieldapp.calculator import BHXH_GROUPS, ContributionResult, PersonQuote
from fieldapp.model import Household, Member, Pledge
from fieldapp.workspace import Workspace
from sync.protocol import i18n
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen
from sync.protocol.i18n import say
from sync.protocol.labels import group_label, scheme_label, status_label
from sync.protocol.money import format_vnd
from ui.forms import WARNING_STYLE
from ui.labels import (
    bhyt_group_text,
    card_period_text,
    card_rule_text,
    ladder_text,
    moment_text,
    month_text,
)
from ui.operations import Operations

QUOTE_DELAY_MS = 120
# Columns of the BHYT table: one row per member of the household.
NAME, GROUP, LADDER, PAYABLE, SUPPORT, CARD = range(6)
DISABLED_STYLE = "QTableWidget::item:disabled { color: #777; }"


@frozen
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
    # Each member's BHYT group as the core counts it, and the groups someone else pays for.
    bhyt_groups: dict[str, str] = field(default_factory=dict)
    covered_groups: tuple[str, ...] = ()
    # (days a new card waits, months of gap that make a card new); None: no card rule.
    card_rule: tuple[int, int] | None = None
    # Each member's own BHXH support groups, and whether the ethnic group was assumed.
    bhxh_groups: dict[str, tuple[list[str], bool]] = field(default_factory=dict)
    max_supported_months: int = 0


def load_pledge_context(ws: Workspace, household_id: str) -> PledgeContext:
    household = ws.households.get(household_id)
    members = ws.members.of_household(household_id)
    today = ws.today()
    policy = ws.policy
    own = {m.id: ws.pledges.bhxh_groups(m.id) for m in members}
    return PledgeContext(
        household=household,
        members=members,
        today=today,
        bhyt_periods=policy.bhyt_periods(today),
        bhxh_periods=policy.bhxh_periods(today),
        lump_max_years=policy.lump_sum_max_years(today),
        income_floor=policy.rural_poverty_line(today),
        income_ceiling=policy.bhxh_ceiling(today),
        default_groups=own[members[0].id][0] if members else ["other"],
        bhyt_support_groups=policy.bhyt_support_groups(),
        bhyt_groups={m.id: m.bhyt_group_effective for m in members},
        covered_groups=tuple(policy.bhyt.covered_elsewhere_groups),
        card_rule=policy.card_rule(today),
        bhxh_groups=own,
        max_supported_months=policy.max_supported_months(today),
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


def _person_affected(unconfirmed: Sequence[str], person: PersonQuote) -> set[str]:
    """Which of one person's figures rest on an unconfirmed item: a support share only for
    its own group, the ladder only for those on it, the base figure and rate for everyone."""
    figures: set[str] = set()
    for key in unconfirmed:
        own_group = key.rsplit(".", 1)[-1] == person.group
        if "local" in key:
            if own_group:
                figures.add("local_support")
        elif "support" in key:
            if own_group:
                figures.add("central_support")
        elif "ladder" in key:
            if person.position is not None:
                figures.add("gross")
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
        # The members the BHYT result is for, in the order of result.people.
        self.quoted_ids: list[str] = []
        self.saved_pledges: list[Pledge] = []

        self.heading = QLabel()
        self.heading.setProperty("role", "title")
        self.bhyt_radio = QRadioButton()
        self.bhxh_radio = QRadioButton()
        self.scheme_group = QButtonGroup(self)
        self.scheme_group.addButton(self.bhyt_radio, 0)
        self.scheme_group.addButton(self.bhxh_radio, 1)
        self.bhyt_radio.setChecked(True)

        # BHYT hộ gia đình: who joins, each by their own group, for how long.
        self.bhyt_table = QTableWidget(len(context.members), 6)
        self.bhyt_table.setObjectName("bhytPeople")
        self.bhyt_table.verticalHeader().hide()
        self.bhyt_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.bhyt_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.bhyt_table.setWordWrap(False)
        self.bhyt_table.setStyleSheet(DISABLED_STYLE)
        for row, member in enumerate(context.members):
            name = QTableWidgetItem(member.full_name)
            name.setData(Qt.ItemDataRole.UserRole, member.id)
            if self.is_covered(member.id):
                # Someone else pays for this card: shown, never ticked.
                name.setFlags(Qt.ItemFlag.NoItemFlags)
            else:
                name.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                name.setCheckState(Qt.CheckState.Checked)
            self.bhyt_table.setItem(row, NAME, name)
            for column in range(GROUP, CARD + 1):
                item = QTableWidgetItem()
                item.setFlags(
                    Qt.ItemFlag.NoItemFlags
                    if self.is_covered(member.id)
                    else Qt.ItemFlag.ItemIsEnabled
                )
                if column in (PAYABLE, SUPPORT):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.bhyt_table.setItem(row, column, item)
            if self.is_covered(member.id):
                self.bhyt_table.setSpan(row, LADDER, 1, CARD - LADDER + 1)
        header = self.bhyt_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.bhyt_months_label = QLabel()
        self.bhyt_months = QComboBox()
        for months in context.bhyt_periods:
            self.bhyt_months.addItem("", months)
        self.bhyt_months.setCurrentIndex(self.bhyt_months.count() - 1)
        # Each member counts in their own group; the agent may put everyone in one group.
        self.bhyt_support_label = QLabel()
        self.bhyt_support = QComboBox()
        self.bhyt_support.addItem("", None)
        for group in context.bhyt_support_groups:
            self.bhyt_support.addItem("", group)
        bhyt_page = QWidget()
        bhyt_column = QVBoxLayout(bhyt_page)
        bhyt_column.setContentsMargins(0, 0, 0, 0)
        bhyt_column.addWidget(self.bhyt_table, 1)
        bhyt_choices = QHBoxLayout()
        bhyt_choices.addWidget(self.bhyt_months_label)
        bhyt_choices.addWidget(self.bhyt_months)
        bhyt_choices.addSpacing(24)
        bhyt_choices.addWidget(self.bhyt_support_label)
        bhyt_choices.addWidget(self.bhyt_support)
        bhyt_choices.addStretch(1)
        bhyt_column.addLayout(bhyt_choices)

        # BHXH tự nguyện: one member, an income, support groups, a period or a lump sum.
        self.bhxh_member_label = QLabel()
        self.bhxh_member = QComboBox()
        for member in context.members:
            self.bhxh_member.addItem(member.full_name, member.id)
        self.own_groups_label = QLabel()
        self.own_groups = QLabel()
        self.own_groups.setObjectName("ownGroups")
        self.own_groups.setWordWrap(True)
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
        # The months whose income floor is above the chosen income, and the support cap.
        self.floor_warning = QLabel()
        self.floor_warning.setObjectName("floorWarning")
        self.floor_warning.setWordWrap(True)
        self.floor_warning.setStyleSheet(WARNING_STYLE)
        self.floor_warning.hide()
        self.raise_income_button = QPushButton()
        self.raise_income_button.hide()
        self.raise_income_button.clicked.connect(self._raise_income)
        self.supported_warning = QLabel()
        self.supported_warning.setObjectName("supportedWarning")
        self.supported_warning.setWordWrap(True)
        self.supported_warning.setStyleSheet(WARNING_STYLE)
        self.supported_warning.hide()
        # Fields as wide as their content needs, not the whole dialog.
        for wide in (self.bhxh_member, self.income_spin, self.period_combo):
            wide.setMaximumWidth(460)
        groups_widget.setMaximumWidth(760)
        bhxh_page = QWidget()
        bhxh_form = QFormLayout(bhxh_page)
        bhxh_form.setContentsMargins(0, 0, 0, 0)
        bhxh_form.addRow(self.bhxh_member_label, self.bhxh_member)
        bhxh_form.addRow(self.own_groups_label, self.own_groups)
        bhxh_form.addRow(self.income_label, self.income_spin)
        bhxh_form.addRow(self.groups_label, groups_widget)
        bhxh_form.addRow(self.period_label, self.period_combo)
        floor_row = QHBoxLayout()
        floor_row.addWidget(self.floor_warning, 1)
        floor_row.addWidget(self.raise_income_button, 0, Qt.AlignmentFlag.AlignTop)
        bhxh_form.addRow(floor_row)
        bhxh_form.addRow(self.supported_warning)

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
        self.lines_label.setWordWrap(True)
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
        figures.addWidget(self.period_note, len(self.figures), 0, 1, 2)
        figures.addWidget(self.version_label, len(self.figures) + 1, 0, 1, 2)
        figures.setColumnStretch(0, 1)
        figures.setRowStretch(len(self.figures) + 2, 1)
        figures_widget = QWidget()
        figures_widget.setLayout(figures)
        # A fixed width keeps the figures whole whatever the length of the notes beside them.
        figures_widget.setFixedWidth(440)
        details = QVBoxLayout()
        details.addWidget(self.lines_label)
        details.addWidget(self.notes_label)
        details.addWidget(self.error_label)
        details.addWidget(self.history_label)
        details.addStretch(1)
        result_box = QHBoxLayout()
        result_box.addWidget(figures_widget)
        result_box.addSpacing(16)
        result_box.addLayout(details, 1)
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
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(schemes)
        layout.addWidget(self.pages, 1)
        layout.addWidget(result_widget)
        layout.addWidget(self.buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(QUOTE_DELAY_MS)
        self._timer.timeout.connect(self.quote_now)
        self.scheme_group.idToggled.connect(self._scheme_toggled)
        self.bhyt_table.itemChanged.connect(self._bhyt_item_changed)
        self.bhyt_months.currentIndexChanged.connect(lambda _i: self._timer.start())
        self.bhyt_support.currentIndexChanged.connect(lambda _i: self._timer.start())
        self.bhxh_member.currentIndexChanged.connect(lambda _i: self._bhxh_member_changed())
        self.income_spin.valueChanged.connect(lambda _v: self._timer.start())
        self.period_combo.currentIndexChanged.connect(lambda _i: self._timer.start())
        for box in self.group_boxes.values():
            box.toggled.connect(lambda _on: self._timer.start())
        self._set_own_groups()
        self.resize(1280, 660)
        self.retranslate()
        self.quote_now()

    # -- choices --------------------------------------------------------------------------

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

    def is_covered(self, member_id: str) -> bool:
        """Whether someone else pays for this member's card (the core refuses to quote them)."""
        return self._context.bhyt_groups.get(member_id) in self._context.covered_groups

    def bhyt_member_ids(self) -> list[str]:
        ids = []
        for row in range(self.bhyt_table.rowCount()):
            item = self.bhyt_table.item(row, NAME)
            if item.checkState() == Qt.CheckState.Checked:
                ids.append(str(item.data(Qt.ItemDataRole.UserRole)))
        return ids

    def set_bhyt_member(self, member_id: str, joining: bool) -> None:
        """Tick or untick a member in the BHYT table (members covered elsewhere stay out)."""
        for row in range(self.bhyt_table.rowCount()):
            item = self.bhyt_table.item(row, NAME)
            if item.data(Qt.ItemDataRole.UserRole) == member_id and not self.is_covered(member_id):
                item.setCheckState(Qt.CheckState.Checked if joining else Qt.CheckState.Unchecked)

    def prefill(self, scheme: str, member_ids: list[str]) -> None:
        """A renewal: BHYT for exactly these members, or BHXH for the first of them; the
        period stays the dialog's default (a year where the rules offer one)."""
        if scheme == "bhxh_voluntary" and member_ids:
            self.bhxh_radio.setChecked(True)
            index = self.bhxh_member.findData(member_ids[0])
            if index >= 0:
                self.bhxh_member.setCurrentIndex(index)
            return
        self.bhyt_radio.setChecked(True)
        wanted = set(member_ids)
        for row in range(self.bhyt_table.rowCount()):
            member_id = str(self.bhyt_table.item(row, NAME).data(Qt.ItemDataRole.UserRole))
            self.set_bhyt_member(member_id, member_id in wanted)

    def _bhyt_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == NAME:
            self._timer.start()

    def bhxh_groups(self) -> list[str]:
        return [g for g, box in self.group_boxes.items() if box.isChecked()]

    def own_bhxh_groups(self) -> tuple[list[str], bool]:
        member_id = self.bhxh_member.currentData()
        return self._context.bhxh_groups.get(str(member_id), (self._context.default_groups, False))

    def chosen_bhxh_groups(self) -> list[str] | None:
        """The ticked groups, or None when they are the person's own (the core's default)."""
        groups = self.bhxh_groups()
        return None if set(groups) == set(self.own_bhxh_groups()[0]) else groups

    def _set_own_groups(self) -> None:
        own, _assumed = self.own_bhxh_groups()
        for group, box in self.group_boxes.items():
            box.blockSignals(True)
            box.setChecked(group in own)
            box.blockSignals(False)
        self._render_own_groups()

    def _bhxh_member_changed(self) -> None:
        self._set_own_groups()
        self._timer.start()

    def _raise_income(self) -> None:
        """Choose the highest income floor of the months paid for."""
        if self.result is not None and self.result.floor_changes:
            self.income_spin.setValue(max(c.floor for c in self.result.floor_changes))

    # -- quotes ---------------------------------------------------------------------------

    def quote_now(self) -> None:
        """Ask the calculator for the current choices; older answers are dropped."""
        self._timer.stop()
        self._quote_generation += 1
        generation = self._quote_generation
        context = self._context
        member_ids: list[str] = []
        if self.scheme() == "bhyt_household":
            member_ids = self.bhyt_member_ids()
            months = int(self.bhyt_months.currentData())
            support_group = self.bhyt_support.currentData()

            def quote(ws: Workspace) -> ContributionResult:
                return ws.pledges.quote_household_bhyt(
                    context.household.id,
                    member_ids=member_ids,
                    months=months,
                    on=context.today,
                    support_group=support_group,
                )

        else:
            member_id = str(self.bhxh_member.currentData())
            income = self.income_spin.value()
            months, lump_years = self.period()
            groups = self.chosen_bhxh_groups()

            def quote(ws: Workspace) -> ContributionResult:
                return ws.pledges.quote_member_bhxh(
                    member_id,
                    income=income,
                    months=months,
                    on=context.today,
                    groups=groups,
                    lump_years=lump_years,
                )

        self._ops.run_op(
            self,
            quote,
            success=lambda result: self._show_result(generation, result, member_ids),
            failure=lambda exc: self._show_refusal(generation, exc),
        )

    def _show_result(
        self, generation: int, result: ContributionResult, member_ids: list[str]
    ) -> None:
        if generation != self._quote_generation:
            return
        self.result = result
        self.quoted_ids = member_ids
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
        self.quoted_ids = []
        self._render_result()
        self.error_label.setText(exc.message(i18n.language()))
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(False)

    # -- showing the answer ---------------------------------------------------------------

    def person_quote(self, member_id: str) -> PersonQuote | None:
        """The member's part of the current BHYT quote; None when not in it."""
        result = self.result
        if result is None or result.scheme != "bhyt_household":
            return None
        for quoted, person in zip(self.quoted_ids, result.people, strict=False):
            if quoted == member_id:
                return person
        return None

    def _render_people(self) -> None:
        """One row per member: group, ladder place, amounts and card period, or why not."""
        table, context = self.bhyt_table, self._context
        unconfirmed = say("(chưa xác nhận)", "(unconfirmed)")
        rule = context.card_rule
        wait, gap = (rule[0], rule[1]) if rule else (None, None)
        table.blockSignals(True)
        try:
            for row, member in enumerate(context.members):
                cells = {c: table.item(row, c) for c in range(GROUP, CARD + 1)}
                group = context.bhyt_groups.get(member.id)
                if self.is_covered(member.id):
                    cells[GROUP].setText(bhyt_group_text(group))
                    cells[LADDER].setText(
                        say(
                            "Không thu qua hộ: đã có thẻ theo nhóm này",
                            "Nothing to collect: covered by this group",
                        )
                    )
                    continue
                person = self.person_quote(member.id)
                if person is None:
                    override = self.bhyt_support.currentData()
                    cells[GROUP].setText(bhyt_group_text(override or group))
                    for column in (LADDER, PAYABLE, SUPPORT, CARD):
                        cells[column].setText("")
                    continue
                marks = _person_affected(self.result.unconfirmed if self.result else (), person)
                support = person.central_support + person.local_support
                cells[GROUP].setText(bhyt_group_text(person.group))
                cells[LADDER].setText(ladder_text(person.position))
                cells[PAYABLE].setText(
                    format_vnd(person.payable) + (f" {unconfirmed}" if "payable" in marks else "")
                )
                cells[SUPPORT].setText(
                    format_vnd(support)
                    + (f" {unconfirmed}" if {"central_support", "local_support"} & marks else "")
                )
                cells[CARD].setText(
                    f"{card_period_text(person.card_valid_from, person.card_valid_to)} "
                    f"({card_rule_text(person.card_rule, wait_days=wait, gap_months=gap)})"
                )
        finally:
            table.blockSignals(False)
        table.resizeColumnsToContents()
        table.resizeRowsToContents()

    def _render_own_groups(self) -> None:
        own, assumed = self.own_bhxh_groups()
        text = ", ".join(group_label(g) for g in own)
        if assumed:
            text += " " + say(
                "(chưa ghi dân tộc của người này: theo hộ)",
                "(this person's ethnicity is not recorded: from the household)",
            )
        member = self._selected_bhxh_member()
        if member is not None and member.bhxh_supported_months:
            text += " · " + say(
                "đã được hỗ trợ {used} tháng", "{used} supported months used"
            ).format(used=member.bhxh_supported_months)
        if member is not None and member.bhxh_paid_through:
            text += " · " + say("đã đóng đến tháng {month}", "paid through {month}").format(
                month=month_text(member.bhxh_paid_through)
            )
        self.own_groups.setText(text)

    def _selected_bhxh_member(self) -> Member | None:
        member_id = self.bhxh_member.currentData()
        return next((m for m in self._context.members if m.id == member_id), None)

    def _render_bhxh_warnings(self) -> None:
        result = self.result
        if result is None or result.scheme != "bhxh_voluntary":
            self.floor_warning.hide()
            self.raise_income_button.hide()
            self.supported_warning.hide()
            return
        income = format_vnd(self.income_spin.value())
        lines = [
            say(
                "⚠ Từ tháng {month}, thu nhập tối thiểu là {floor}/tháng, cao hơn mức đang chọn "
                "({income}): {months} tháng của kỳ này cần ít nhất mức đó.",
                "⚠ From {month} the income floor is {floor} a month, above the chosen income "
                "({income}): {months} month(s) of this period need at least that.",
            ).format(
                month=f"{change.start:%m/%Y}",
                floor=format_vnd(change.floor),
                income=income,
                months=change.months,
            )
            for change in result.floor_changes
        ]
        self.floor_warning.setText("\n".join(lines))
        self.floor_warning.setVisible(bool(lines))
        floors = [c.floor for c in result.floor_changes if c.floor <= self.income_spin.maximum()]
        self.raise_income_button.setVisible(bool(floors))
        if floors:
            self.raise_income_button.setText(
                say("Chọn {floor}", "Choose {floor}").format(floor=format_vnd(max(floors)))
            )
        capped = result.mode != "back_payment" and result.supported_months < result.months
        if capped:
            self.supported_warning.setText(
                say(
                    "⚠ Nhà nước chỉ hỗ trợ {supported} trong {months} tháng: người này sắp "
                    "dùng hết {cap} tháng được hỗ trợ trong đời; các tháng còn lại không được "
                    "hỗ trợ.",
                    "⚠ The state supports only {supported} of {months} months: this person "
                    "reaches the {cap} supported months of a lifetime; the other months get no "
                    "support.",
                ).format(
                    supported=result.supported_months,
                    months=result.months,
                    cap=self._context.max_supported_months,
                )
            )
        self.supported_warning.setVisible(capped)

    def _render_result(self) -> None:
        self._render_people()
        self._render_bhxh_warnings()
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
        # BHYT's lines are the table's rows; BHXH's explain the figures.
        lines = result.lines if result.scheme == "bhxh_voluntary" else ()
        self.lines_label.setText(
            "\n".join(
                f"• {line.label_en if english else line.label_vi}: "
                f"{format_vnd(line.monthly)} × {line.months} = {format_vnd(line.total)}"
                for line in lines
            )
        )
        notes = result.notes if english else result.notes_vi
        self.notes_label.setText("\n".join(f"⚠ {n}" for n in notes))
        self.version_label.setText(
            say("Theo chính sách {version}", "Policy {version}").format(
                version=result.policy_version
            )
        )

    # -- saving ---------------------------------------------------------------------------

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
            groups = self.chosen_bhxh_groups()

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
        self.bhyt_table.setHorizontalHeaderLabels(
            [
                say("Thành viên tham gia", "Member joining"),
                say("Nhóm BHYT", "BHYT group"),
                say("Thứ tự", "Ladder place"),
                say("Phải đóng", "Payable"),
                say("Ngân sách hỗ trợ", "State support"),
                say("Thẻ có giá trị", "Card valid"),
            ]
        )
        self.bhyt_months_label.setText(say("Thời hạn", "Period"))
        self.bhyt_support_label.setText(say("Nhóm được hỗ trợ", "Support group"))
        self.bhyt_support.setItemText(0, say("Theo nhóm của từng người", "Each member's own group"))
        for i in range(1, self.bhyt_support.count()):
            self.bhyt_support.setItemText(
                i,
                say("Tất cả theo nhóm: {group}", "Everyone as: {group}").format(
                    group=bhyt_group_text(self.bhyt_support.itemData(i))
                ),
            )
        for i in range(self.bhyt_months.count()):
            self.bhyt_months.setItemText(
                i,
                say("{months} tháng", "{months} months").format(
                    months=self.bhyt_months.itemData(i)
                ),
            )
        self.bhxh_member_label.setText(say("Người tham gia", "Participant"))
        self.own_groups_label.setText(say("Nhóm của người này", "This person's groups"))
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
        self._render_own_groups()
        self._render_result()
        self._render_history()
