"""New or edited household: address, head, phone, groups, best months, notes."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from fieldapp.model import HOUSEHOLD_GROUPS, Household
from sync.protocol.i18n import say
from sync.protocol.labels import group_label
from ui.labels import month_label
from ui.operations import Operations
from ui.record_dialog import RecordDialog


class HouseholdDialog(RecordDialog):
    """Saves through households.add/update; the core's refusals appear next to the fields."""

    def __init__(
        self,
        ops: Operations,
        *,
        household: Household | None = None,
        province_code: str = "",
        commune_code: str = "",
        villages: list[str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(ops, parent)
        self._household = household
        self.province_edit = QLineEdit(household.province_code if household else province_code)
        self.province_edit.setMaxLength(2)
        self.commune_edit = QLineEdit(household.commune_code if household else commune_code)
        self.commune_edit.setMaxLength(5)
        self.village_combo = QComboBox()
        self.village_combo.setEditable(True)
        self.village_combo.addItems(villages or [])
        self.village_combo.setCurrentText(household.village if household else "")
        if villages is None:
            # Not known yet (the search area has not been opened): the commune's villages are
            # read now and offered once they come.
            ops.run_op(self, lambda ws: ws.households.villages(), success=self._offer_villages)
        self.head_edit = QLineEdit(household.head_name if household else "")
        self.address_edit = QLineEdit(household.address if household else "")
        self.phone_edit = QLineEdit((household.phone or "") if household else "")
        self.group_boxes: dict[str, QCheckBox] = {}
        groups_widget = QWidget()
        groups_grid = QGridLayout(groups_widget)
        groups_grid.setContentsMargins(0, 0, 0, 0)
        for i, group in enumerate(HOUSEHOLD_GROUPS):
            box = QCheckBox()
            box.setChecked(bool(household and group in household.groups))
            self.group_boxes[group] = box
            groups_grid.addWidget(box, i // 3, i % 3)
        self.month_boxes: dict[int, QCheckBox] = {}
        months_widget = QWidget()
        months_grid = QGridLayout(months_widget)
        months_grid.setContentsMargins(0, 0, 0, 0)
        for month in range(1, 13):
            box = QCheckBox()
            box.setChecked(bool(household and month in household.best_months))
            self.month_boxes[month] = box
            months_grid.addWidget(box, 0, month - 1)
        self.notes_edit = QPlainTextEdit(household.notes if household else "")
        self.notes_edit.setTabChangesFocus(True)
        self.notes_edit.setFixedHeight(70)

        form = self.form(
            {
                "head_name": self.head_edit,
                "village": self.village_combo,
                "address": self.address_edit,
                "phone": self.phone_edit,
                "province_code": self.province_edit,
                "commune_code": self.commune_edit,
                "groups": groups_widget,
                "best_months": months_widget,
                "notes": self.notes_edit,
            }
        )
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problems.label("general"))
        layout.addWidget(self.buttons)
        self.resize(900, 560)
        self.retranslate()

    def _offer_villages(self, villages: list[str]) -> None:
        """Add the commune's villages to the list, leaving what is typed as it is."""
        typed = self.village_combo.currentText()
        self.village_combo.addItems([v for v in villages if self.village_combo.findText(v) < 0])
        self.village_combo.setCurrentText(typed)

    def values(self) -> dict[str, Any]:
        return {
            "province_code": self.province_edit.text(),
            "commune_code": self.commune_edit.text(),
            "village": self.village_combo.currentText(),
            "head_name": self.head_edit.text(),
            "address": self.address_edit.text(),
            "phone": self.phone_edit.text() or None,
            "groups": [g for g, box in self.group_boxes.items() if box.isChecked()],
            "best_months": [m for m, box in self.month_boxes.items() if box.isChecked()],
            "notes": self.notes_edit.toPlainText(),
        }

    def save(self) -> None:
        values = self.values()
        household = self._household
        if household is None:
            self.submit(lambda ws: ws.households.add(**values))
        else:
            self.submit(lambda ws: ws.households.update(household.id, **values))

    def retranslate(self) -> None:
        self.setWindowTitle(
            say("Hộ mới", "New household")
            if self._household is None
            else say("Sửa thông tin hộ", "Edit household")
        )
        self.retranslate_form(
            {
                "province_code": say("Mã tỉnh", "Province code"),
                "commune_code": say("Mã xã", "Commune code"),
                "village": say("&Thôn/bản", "&Village"),
                "head_name": say("&Chủ hộ", "Household &head"),
                "address": say("Đị&a chỉ", "&Address"),
                "phone": say("Điện &thoại", "&Phone"),
                "groups": say("Nhóm hộ", "Household groups"),
                "best_months": say("Tháng có thu nhập", "Income months"),
                "notes": say("Ghi chú", "Notes"),
            }
        )
        for group, box in self.group_boxes.items():
            box.setText(group_label(group))
        for month, box in self.month_boxes.items():
            box.setText(month_label(month))
