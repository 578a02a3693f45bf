"""Add or edit a member, with the core's checks shown live next to each field."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QLocale, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fieldapp.errors import Problem
from fieldapp.model import Member
from fieldapp.participation import BHYT_GROUPS, bhyt_group_of, group_from_card
from fieldapp.validation import DateParseError, parse_date
from sync.protocol.i18n import say
from ui.forms import WARNING_STYLE
from ui.labels import bhyt_group_text, date_text, month_text
from ui.operations import Operations
from ui.record_dialog import RecordDialog

if TYPE_CHECKING:
    from fieldapp.workspace import Workspace

CHECK_DELAY_MS = 200
RELATIONS = ("Chủ hộ", "Vợ", "Chồng", "Con", "Bố", "Mẹ", "Ông", "Bà", "Cháu", "Anh", "Chị", "Em")
# The largest income the field takes; the core says what it accepts.
_INCOME_WIDGET_MAX = 1_000_000_000
_MONTH = re.compile(r"(\d{1,2})\s*[/.\-]\s*(\d{4})")


def parse_month(text: str) -> dt.date:
    """The first day of a month written "12/2026" (or a full date in that month)."""
    value = text.strip()
    if match := _MONTH.fullmatch(value):
        month, year = int(match.group(1)), int(match.group(2))
        if 1 <= month <= 12:
            return dt.date(year, month, 1)
    try:
        return parse_date(value).replace(day=1)
    except DateParseError:
        raise DateParseError(
            f"Không đọc được tháng “{value}”: hãy viết dạng tháng/năm, ví dụ 12/2026",
            f"Cannot read the month “{value}”: write it as month/year, e.g. 12/2026",
        ) from None


def check_member(ws: Workspace, member_id: str | None, values: dict[str, Any]) -> list[Problem]:
    """What the core says about the form (errors and warnings), without saving."""
    return ws.members.check(member_id, **values)


def save_member(
    ws: Workspace, household_id: str, member_id: str | None, values: dict[str, Any]
) -> Member:
    """Add or update the member."""
    if member_id is None:
        return ws.members.add(household_id, **values)
    return ws.members.update(member_id, **values)


class MemberDialog(RecordDialog):
    """Errors block saving with the message under the field; warnings are shown and saved."""

    def __init__(
        self,
        ops: Operations,
        *,
        household_id: str,
        member: Member | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(ops, parent)
        self._household_id = household_id
        self._member = member
        self._check_generation = 0
        self._date_problems: list[Problem] = []
        m = member
        self.name_edit = QLineEdit(m.full_name if m else "")
        self.dob_edit = QLineEdit(date_text(m.date_of_birth) if m else "")
        self.sex_combo = QComboBox()
        for code in ("", "male", "female"):
            self.sex_combo.addItem("", code)
        self.sex_combo.setCurrentIndex(max(0, self.sex_combo.findData(m.sex if m else "")))
        self.relation_combo = QComboBox()
        self.relation_combo.setEditable(True)
        self.relation_combo.addItems(RELATIONS)
        self.relation_combo.setCurrentText(m.relation if m else "")
        self.cccd_edit = QLineEdit((m.cccd or "") if m else "")
        self.old_id_edit = QLineEdit((m.old_id or "") if m else "")
        self.old_id_edit.setMaxLength(20)
        self.bhxh_edit = QLineEdit((m.bhxh_code or "") if m else "")
        self.phone_edit = QLineEdit((m.phone or "") if m else "")
        self.phone_edit.setMaxLength(32)
        self.ethnicity_edit = QLineEdit(m.ethnicity if m else "")

        # Participation: the BHYT group and card, the BHXH state.
        self.card_edit = QLineEdit((m.bhyt_card or "") if m else "")
        self.group_combo = QComboBox()
        self.group_combo.addItem("", None)
        for group in BHYT_GROUPS:
            self.group_combo.addItem("", group)
        self.group_combo.setCurrentIndex(
            max(0, self.group_combo.findData(m.bhyt_group)) if m and m.bhyt_group else 0
        )
        self.group_hint = QLabel()
        self.group_hint.setObjectName("groupHint")
        self.group_hint.setWordWrap(True)
        group_widget = QWidget()
        group_column = QVBoxLayout(group_widget)
        group_column.setContentsMargins(0, 0, 0, 0)
        group_column.setSpacing(2)
        group_column.addWidget(self.group_combo)
        group_column.addWidget(self.group_hint)
        self.valid_from_edit = QLineEdit(date_text(m.bhyt_valid_from) if m else "")
        self.expiry_edit = QLineEdit(date_text(m.bhyt_expiry) if m else "")
        self.covered_edit = QLineEdit((m.covered_by or "") if m else "")
        self.participating_box = QCheckBox()
        self.participating_box.setChecked(bool(m and m.bhxh_participating))
        self.income_spin = QSpinBox()
        self.income_spin.setRange(0, _INCOME_WIDGET_MAX)
        self.income_spin.setSingleStep(50_000)
        self.income_spin.setGroupSeparatorShown(True)
        # Dots between thousands, as format_vnd writes amounts everywhere else.
        self.income_spin.setLocale(QLocale(QLocale.Language.Vietnamese, QLocale.Country.Vietnam))
        self.income_spin.setSuffix(" đ")
        self.income_spin.setValue((m.bhxh_income or 0) if m else 0)
        self.paid_through_edit = QLineEdit(month_text(m.bhxh_paid_through) if m else "")
        self.supported_spin = QSpinBox()
        # A spin box needs some range; the core refuses past the policy's cap, with the reason.
        self.supported_spin.setRange(0, 1200)
        self.supported_spin.setValue(m.bhxh_supported_months if m else 0)

        identity = self.form(
            {
                "full_name": self.name_edit,
                "date_of_birth": self.dob_edit,
                "sex": self.sex_combo,
                "relation": self.relation_combo,
                "cccd": self.cccd_edit,
                "old_id": self.old_id_edit,
                "bhxh_code": self.bhxh_edit,
                "phone": self.phone_edit,
                "ethnicity": self.ethnicity_edit,
            }
        )
        bhyt_form = self.form(
            {
                "bhyt_card": self.card_edit,
                "bhyt_group": group_widget,
                "bhyt_valid_from": self.valid_from_edit,
                "bhyt_expiry": self.expiry_edit,
                "covered_by": self.covered_edit,
            }
        )
        # The combo, not its box with the hint, takes the focus from the caption's shortcut.
        self.captions["bhyt_group"].setBuddy(self.group_combo)
        bhxh_form = self.form(
            {
                "bhxh_participating": self.participating_box,
                "bhxh_income": self.income_spin,
                "bhxh_paid_through": self.paid_through_edit,
                "bhxh_supported_months": self.supported_spin,
            }
        )
        self.bhyt_heading = QLabel()
        self.bhxh_heading = QLabel()
        for heading in (self.bhyt_heading, self.bhxh_heading):
            heading.setStyleSheet("font-weight: bold;")
        self.participation_box = QGroupBox()
        participation = QVBoxLayout(self.participation_box)
        participation.addWidget(self.bhyt_heading)
        participation.addLayout(bhyt_form)
        participation.addWidget(self.bhxh_heading)
        participation.addLayout(bhxh_form)
        participation.addStretch(1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self.check_now)
        for edit in (
            self.name_edit,
            self.dob_edit,
            self.cccd_edit,
            self.old_id_edit,
            self.bhxh_edit,
            self.phone_edit,
            self.card_edit,
            self.valid_from_edit,
            self.expiry_edit,
            self.paid_through_edit,
        ):
            edit.textEdited.connect(lambda _text: self._timer.start())
        self.sex_combo.currentIndexChanged.connect(lambda _i: self._timer.start())
        self.group_combo.currentIndexChanged.connect(lambda _i: self._timer.start())
        self.supported_spin.valueChanged.connect(lambda _v: self._timer.start())
        self.income_spin.valueChanged.connect(lambda _v: self._timer.start())
        self.card_edit.textChanged.connect(lambda _text: self._render_group_hint())
        self.covered_edit.textChanged.connect(lambda _text: self._render_group_hint())
        self.group_combo.currentIndexChanged.connect(lambda _i: self._render_group_hint())

        self.identity_box = QGroupBox()
        left = QVBoxLayout(self.identity_box)
        left.addLayout(identity)
        left.addStretch(1)
        columns = QHBoxLayout()
        columns.addWidget(self.identity_box, 1)
        columns.addWidget(self.participation_box, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(columns)
        layout.addWidget(self.problems.label("general"))
        layout.addWidget(self.buttons)
        # Two columns side by side: everything stays within a 1366×768 screen.
        self.resize(1180, 520)
        self.retranslate()

    def values(self) -> dict[str, Any]:
        """The form as the core's keyword arguments; dates read day-first as agents write them."""
        self._date_problems = []
        values: dict[str, Any] = {
            "full_name": self.name_edit.text(),
            "sex": self.sex_combo.currentData() or None,
            "relation": self.relation_combo.currentText(),
            # Before the CCCD: a 9-digit number typed as the CCCD is moved here by the core.
            "old_id": self.old_id_edit.text() or None,
            "cccd": self.cccd_edit.text() or None,
            "bhxh_code": self.bhxh_edit.text() or None,
            "phone": self.phone_edit.text() or None,
            "ethnicity": self.ethnicity_edit.text(),
            "bhyt_card": self.card_edit.text() or None,
            "bhyt_group": self.group_combo.currentData() or None,
            "covered_by": self.covered_edit.text() or None,
            "bhxh_participating": self.participating_box.isChecked(),
            "bhxh_income": self.income_spin.value() or None,
            "bhxh_supported_months": self.supported_spin.value(),
        }
        edits = (
            ("date_of_birth", self.dob_edit),
            ("bhyt_valid_from", self.valid_from_edit),
            ("bhyt_expiry", self.expiry_edit),
        )
        for key, edit in edits:
            text = edit.text().strip()
            if not text:
                values[key] = None
                continue
            try:
                values[key] = parse_date(text)
            except DateParseError as exc:
                self._date_problems.append(Problem(key, "bad_date", exc.vi, exc.en))
        month = self.paid_through_edit.text().strip()
        values["bhxh_paid_through"] = None
        if month:
            try:
                values["bhxh_paid_through"] = parse_month(month)
            except DateParseError as exc:
                self._date_problems.append(
                    Problem("bhxh_paid_through", "bad_month", exc.vi, exc.en)
                )
        return values

    def check_now(self) -> None:
        """Ask the core what it thinks of the form as it stands, without saving."""
        self._timer.stop()
        values = self.values()
        date_problems = list(self._date_problems)
        member_id = self._member.id if self._member else None
        self._check_generation += 1
        generation = self._check_generation
        self._ops.run_op(
            self,
            lambda ws: check_member(ws, member_id, values),
            success=lambda problems: self._show_check(generation, date_problems + problems),
        )

    def _show_check(self, generation: int, problems: list[Problem]) -> None:
        if generation == self._check_generation:
            self.problems.show(problems)

    def save(self) -> None:
        values = self.values()
        if self._date_problems:
            self.problems.show(self._date_problems)
            return
        self._check_generation += 1  # a live check still in flight must not overwrite this
        member_id = self._member.id if self._member else None
        household_id = self._household_id
        self.submit(lambda ws: save_member(ws, household_id, member_id, values))

    def _render_group_hint(self) -> None:
        """What the card number says of the group, when the agent has not chosen one."""
        chosen = self.group_combo.currentData()
        from_card = group_from_card(self.card_edit.text())
        self.group_hint.setStyleSheet("color: #555;")
        if chosen is None and from_card is not None:
            text = say("Theo mã thẻ: {group}", "From the card number: {group}").format(
                group=bhyt_group_text(from_card)
            )
        elif chosen is None:
            counted = bhyt_group_of(
                bhyt_group=None, bhyt_card=None, covered_by=self.covered_edit.text() or None
            )
            text = say(
                "Mã thẻ không cho biết nhóm: tính là {group}",
                "The card number does not give the group: counted as {group}",
            ).format(group=bhyt_group_text(counted))
        elif from_card is not None and from_card != chosen:
            self.group_hint.setStyleSheet(WARNING_STYLE)
            text = say(
                "⚠ Mã thẻ ghi nhóm khác: {group}", "⚠ The card number says another group: {group}"
            ).format(group=bhyt_group_text(from_card))
        else:
            text = ""
        self.group_hint.setText(text)
        self.group_hint.setVisible(bool(text))

    def retranslate(self) -> None:
        self.setWindowTitle(
            say("Thêm thành viên", "Add member")
            if self._member is None
            else say("Sửa thành viên", "Edit member")
        )
        self.retranslate_form(
            {
                "full_name": say("&Họ và tên", "&Full name"),
                "date_of_birth": say(
                    "Ngày &sinh (ngày/tháng/năm)", "Date of &birth (day/month/year)"
                ),
                "sex": say("&Giới tính", "&Sex"),
                "relation": say("&Quan hệ với chủ hộ", "&Relation to head"),
                "cccd": say("Số &CCCD", "&ID card (CCCD)"),
                "old_id": say("Số CMND cũ (9 số)", "Old ID card (9-digit CMND)"),
                "bhxh_code": say("Mã số &BHXH", "Social insurance &code"),
                "phone": say("Số điện thoại riêng", "Own phone number"),
                "ethnicity": say("&Dân tộc", "&Ethnicity"),
                "bhyt_card": say("Mã thẻ BHYT", "Health card number"),
                "bhyt_group": say("&Nhóm tham gia BHYT", "BHYT &group"),
                "bhyt_valid_from": say("Thẻ có giá trị từ ngày", "Card valid from"),
                "bhyt_expiry": say("Thẻ có giá trị đến ngày", "Card valid to"),
                "covered_by": say(
                    "Đã có thẻ theo nhóm (ghi chú)", "Covered by another group (note)"
                ),
                "bhxh_participating": say("Tình trạng", "Status"),
                "bhxh_income": say("&Thu nhập chọn đóng (tháng)", "Chosen monthly &income"),
                "bhxh_paid_through": say(
                    "Đã đóng đến tháng (tháng/năm)", "Paid through (month/year)"
                ),
                "bhxh_supported_months": say(
                    "Số tháng NSNN đã hỗ trợ", "Months of state support used"
                ),
            }
        )
        self.identity_box.setTitle(say("Thông tin cá nhân", "Personal details"))
        self.participation_box.setTitle(say("Tham gia BHYT / BHXH", "BHYT / BHXH participation"))
        self.bhyt_heading.setText(say("Bảo hiểm y tế (BHYT)", "Health insurance (BHYT)"))
        self.bhxh_heading.setText(
            say("Bảo hiểm xã hội tự nguyện (BHXH)", "Voluntary social insurance (BHXH)")
        )
        self.participating_box.setText(say("Đang đóng BHXH tự nguyện", "Paying voluntary BHXH"))
        self.group_combo.setItemText(0, say("Chưa rõ — theo mã thẻ", "Unknown — from the card"))
        for i in range(1, self.group_combo.count()):
            self.group_combo.setItemText(i, bhyt_group_text(self.group_combo.itemData(i)))
        self.income_spin.setSpecialValueText(say("(chưa chọn)", "(not chosen)"))
        self.supported_spin.setSuffix(say(" tháng", " months"))
        self.supported_spin.setToolTip(
            say(
                "Số tháng người này đã được nhà nước hỗ trợ tiền đóng BHXH tự nguyện "
                "(có giới hạn trong đời).",
                "Months in which the state already supported this person's voluntary BHXH "
                "(limited over a lifetime).",
            )
        )
        placeholder = say("ví dụ 05/03/1975", "e.g. 05/03/1975")
        self.dob_edit.setPlaceholderText(placeholder)
        for edit in (self.valid_from_edit, self.expiry_edit):
            edit.setPlaceholderText(say("ngày/tháng/năm, để trống nếu chưa rõ", "day/month/year"))
        self.paid_through_edit.setPlaceholderText(say("ví dụ 12/2026", "e.g. 12/2026"))
        self.phone_edit.setPlaceholderText(say("ví dụ 0912 345 678", "e.g. 0912 345 678"))
        self.old_id_edit.setPlaceholderText(
            say("chỉ khi chưa có CCCD", "only when there is no CCCD")
        )
        self.sex_combo.setItemText(0, say("(chưa rõ)", "(unknown)"))
        self.sex_combo.setItemText(1, say("Nam", "Male"))
        self.sex_combo.setItemText(2, say("Nữ", "Female"))
        self._render_group_hint()
        # Messages already shown came in the old language; ask again in the new one.
        if any(self.problems.text(k) for k in (*self.editors, "general")):
            self.check_now()
