"""The small record tables: the item-backed one Today uses and the lazy one the other areas use
show the same texts, tooltips, highlight and headers, in the language of the moment."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor

from fieldapp.workspace import Workspace
from sync.protocol import i18n
from sync.protocol.i18n import say
from tests.ui.conftest import wait_idle
from ui import models
from ui.app import App
from ui.household_dialog import HouseholdDialog
from ui.models import Column, RecordItemsModel, RecordsModel


@dataclass(frozen=True)
class Person:
    name: str
    village: str
    due: bool


PEOPLE = [
    Person("Giàng Seo Sử", "Bản Phố", True),
    Person("Lò Thị Hoa", "Thôn Na Hối", False),
    Person("Nguyễn Văn Đức", "Bản Phố", True),
]
COLUMNS = [
    Column(lambda: say("Họ và tên", "Full name"), lambda p: p.name),
    Column(
        lambda: say("Thôn/bản", "Village"),
        lambda p: p.village,
        lambda p: say("Sống ở {v}", "Lives in {v}").format(v=p.village),
    ),
    Column(lambda: say("Đến hạn", "Due"), lambda p: say("Có", "Yes") if p.due else ""),
]


@pytest.fixture(autouse=True)
def _vietnamese():
    before = i18n.language()
    i18n.set_language("vi")
    yield
    i18n.set_language(before)


def test_the_role_numbers_are_qts() -> None:
    assert Qt.ItemDataRole.DisplayRole.value == models.DISPLAY_ROLE
    assert Qt.ItemDataRole.ToolTipRole.value == models.TOOLTIP_ROLE
    assert Qt.ItemDataRole.BackgroundRole.value == models.BACKGROUND_ROLE


def _background(model, row: int, col: int) -> QColor | None:
    value = model.data(model.index(row, col), Qt.ItemDataRole.BackgroundRole)
    if value is None:
        return None
    return value.color() if isinstance(value, QBrush) else QColor(value)


@pytest.mark.parametrize("kind", [RecordItemsModel, RecordsModel])
def test_both_tables_show_the_same_cells(kind) -> None:
    model = kind(COLUMNS, highlight=lambda p: p.due)
    assert model.rowCount() == 0 and model.columnCount() == 3
    model.set_records(PEOPLE)
    assert model.rowCount() == 3
    cells = [[model.data(model.index(r, c)) for c in range(3)] for r in range(3)]
    assert cells == [
        ["Giàng Seo Sử", "Bản Phố", "Có"],
        ["Lò Thị Hoa", "Thôn Na Hối", ""],
        ["Nguyễn Văn Đức", "Bản Phố", "Có"],
    ]
    titles = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(3)]
    assert titles == ["Họ và tên", "Thôn/bản", "Đến hạn"]
    tip = model.data(model.index(1, 1), Qt.ItemDataRole.ToolTipRole)
    assert tip == "Sống ở Thôn Na Hối"
    assert not model.data(model.index(1, 0), Qt.ItemDataRole.ToolTipRole)
    # Rows the highlight picks are tinted in every cell; the others are not.
    assert _background(model, 0, 2) == QColor(models.HIGHLIGHT)
    assert _background(model, 2, 0) == QColor(models.HIGHLIGHT)
    assert _background(model, 1, 0) is None
    assert model.record(2) is PEOPLE[2]
    assert model.records() == PEOPLE


@pytest.mark.parametrize("kind", [RecordItemsModel, RecordsModel])
def test_new_records_replace_the_rows(kind) -> None:
    model = kind(COLUMNS)
    model.set_records(PEOPLE)
    model.set_records(PEOPLE[1:2])
    assert model.rowCount() == 1
    assert model.data(model.index(0, 0)) == "Lò Thị Hoa"
    model.set_records([])
    assert model.rowCount() == 0 and model.records() == []


@pytest.mark.parametrize("kind", [RecordItemsModel, RecordsModel])
def test_switching_language_retranslates_cells_and_headers(kind) -> None:
    model = kind(COLUMNS)
    model.set_records(PEOPLE)
    i18n.set_language("en")
    model.retranslate()
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(3)] == [
        "Full name",
        "Village",
        "Due",
    ]
    assert model.data(model.index(0, 2)) == "Yes"
    assert model.data(model.index(0, 1), Qt.ItemDataRole.ToolTipRole) == "Lives in Bản Phố"


def test_a_new_household_is_offered_the_communes_villages(
    app: App, qtbot, workspace: Workspace
) -> None:
    """Opened before the search area (which used to supply them), the dialog reads the
    villages itself and keeps what the agent has already typed."""
    wait_idle(qtbot, app)
    villages = workspace.households.villages()
    assert len(villages) >= 2
    dialog = HouseholdDialog(app.ops, province_code="15", commune_code="99001")
    qtbot.addWidget(dialog)
    dialog.village_combo.setCurrentText("Bản Mới")
    wait_idle(qtbot, app)
    offered = [dialog.village_combo.itemText(i) for i in range(dialog.village_combo.count())]
    assert offered == villages
    assert dialog.village_combo.currentText() == "Bản Mới"


def test_villages_already_known_are_not_read_again(app: App, qtbot) -> None:
    wait_idle(qtbot, app)
    dialog = HouseholdDialog(app.ops, villages=["Bản Phố"])
    qtbot.addWidget(dialog)
    wait_idle(qtbot, app)
    assert [dialog.village_combo.itemText(i) for i in range(dialog.village_combo.count())] == [
        "Bản Phố"
    ]
