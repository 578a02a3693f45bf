"""Add or edit a member, with the core's checks shown live next to each field."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from fieldapp.errors import Problem
from fieldapp.model import Member
from fieldapp.validation import DateParseError, parse_date
from sync.protocol.i18n import say
from ui.labels import date_text
from ui.operations import Operations
from ui.record_dialog import RecordDialog

CHECK_DELAY_MS = 200
RELATIONS = ("Chủ hộ", "Vợ", "Chồng", "Con", "Bố", "Mẹ", "Ông", "Bà", "Cháu", "Anh", "Chị", "Em")
_DATE_FIELDS = ("date_of_birth", "bhyt_expiry")


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
        self.bhxh_edit = QLineEdit((m.bhxh_code or "") if m else "")
        self.ethnicity_edit = QLineEdit(m.ethnicity if m else "")
        self.card_edit = QLineEdit((m.bhyt_card or "") if m else "")
        self.expiry_edit = QLineEdit(date_text(m.bhyt_expiry) if m else "")
        self.covered_edit = QLineEdit((m.covered_by or "") if m else "")
        form = self.form(
            {
                "full_name": self.name_edit,
                "date_of_birth": self.dob_edit,
                "sex": self.sex_combo,
                "relation": self.relation_combo,
                "cccd": self.cccd_edit,
                "bhxh_code": self.bhxh_edit,
                "ethnicity": self.ethnicity_edit,
                "bhyt_card": self.card_edit,
                "bhyt_expiry": self.expiry_edit,
                "covered_by": self.covered_edit,
            }
        )

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self.check_now)
        for edit in (
            self.name_edit,
            self.dob_edit,
            self.cccd_edit,
            self.bhxh_edit,
            self.card_edit,
            self.expiry_edit,
        ):
            edit.textEdited.connect(lambda _text: self._timer.start())
        self.sex_combo.currentIndexChanged.connect(lambda _i: self._timer.start())

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problems.label("general"))
        layout.addWidget(self.buttons)
        self.resize(760, 620)
        self.retranslate()

    def values(self) -> dict[str, Any]:
        """The form as the core's keyword arguments; dates read day-first as agents write them."""
        self._date_problems = []
        values: dict[str, Any] = {
            "full_name": self.name_edit.text(),
            "sex": self.sex_combo.currentData() or None,
            "relation": self.relation_combo.currentText(),
            "cccd": self.cccd_edit.text() or None,
            "bhxh_code": self.bhxh_edit.text() or None,
            "ethnicity": self.ethnicity_edit.text(),
            "bhyt_card": self.card_edit.text() or None,
            "covered_by": self.covered_edit.text() or None,
        }
        for key, edit in (("date_of_birth", self.dob_edit), ("bhyt_expiry", self.expiry_edit)):
            text = edit.text().strip()
            if not text:
                values[key] = None
                continue
            try:
                values[key] = parse_date(text)
            except DateParseError as exc:
                self._date_problems.append(Problem(key, "bad_date", exc.vi, exc.en))
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
            lambda ws: ws.members.check(member_id, **values),
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
        member, household_id = self._member, self._household_id
        if member is None:
            self.submit(lambda ws: ws.members.add(household_id, **values))
        else:
            self.submit(lambda ws: ws.members.update(member.id, **values))

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
                "bhxh_code": say("Mã số &BHXH", "Social insurance &code"),
                "ethnicity": say("&Dân tộc", "&Ethnicity"),
                "bhyt_card": say("Mã thẻ BHYT", "Health card number"),
                "bhyt_expiry": say("Hạn thẻ BHYT", "Health card expiry"),
                "covered_by": say(
                    "Đã có thẻ theo nhóm (mã nhóm)", "Covered by another group (group code)"
                ),
            }
        )
        self.dob_edit.setPlaceholderText(say("ví dụ 05/03/1975", "e.g. 05/03/1975"))
        self.sex_combo.setItemText(0, say("(chưa rõ)", "(unknown)"))
        self.sex_combo.setItemText(1, say("Nam", "Male"))
        self.sex_combo.setItemText(2, say("Nữ", "Female"))
        # Messages already shown came in the old language; ask again in the new one.
        if any(self.problems.text(k) for k in (*self.editors, "general")):
            self.check_now()
