"""The Coverage area: per village, how many residents hold a valid BHYT card on a day, whose
card ends soon, who lapsed and who never joined, with the month's change and a bar chart of the
rates. A count opens the people behind it; a person opens their household.

Every figure comes from the core (fieldapp.coverage), read on the worker."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, QModelIndex, QStandardPaths, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fieldapp.coverage import PersonCoverage, VillageCoverage
from fieldapp.workspace import Workspace
from sync.protocol import i18n
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen
from sync.protocol.i18n import say
from ui.charts import CoverageBar, CoverageChart, percent_text
from ui.forms import ERROR_STYLE
from ui.labels import bhyt_group_text, date_text
from ui.operations import Operations

if TYPE_CHECKING:
    from fieldapp.coverage import CoverageChange

OK_STYLE = "color: #1b5e20;"
MUTED_STYLE = "color: #5f6368;"
# A card ending within this many days counts as expiring.
WITHIN = 30
# The people list shows at most this many; the workbook holds everyone.
PEOPLE_LIMIT = 500
# The widest a column of the people list opens (longer texts end in "…", the whole text in
# the cell's tooltip).
PEOPLE_COLUMN_WIDTH = 300
# The village table scrolls past this height, to leave room for the people list.
TABLE_MAX_HEIGHT = 420

# The columns of the village table.
(
    VILLAGE,
    RESIDENTS,
    INSURED,
    RATE,
    EXPIRING,
    LAPSED,
    NEVER,
    ELSEWHERE,
    CHANGE,
) = range(9)
# The people a count stands for: the core's status filter for each column (None: everyone).
COLUMN_STATUS: dict[int, str | None] = {
    VILLAGE: None,
    RESIDENTS: None,
    INSURED: "insured",
    RATE: "insured",
    EXPIRING: "expiring",
    LAPSED: "lapsed",
    NEVER: "never",
    ELSEWHERE: "covered_elsewhere",
    CHANGE: "insured",
}
# The tabs under the table.
CHART_TAB, PEOPLE_TAB = range(2)
# The columns of the people list.
P_NAME, P_HOUSEHOLD, P_VILLAGE, P_GROUP, P_STATUS, P_VALID_TO, P_DAYS = range(7)


@frozen
class CoverageData:
    """One day's coverage per village and for the commune, and the month's change."""

    day: dt.date
    rows: list[VillageCoverage]
    change: CoverageChange | None


@frozen
class PeopleData:
    """The people behind one count: at most PEOPLE_LIMIT of them, and whether there are more."""

    day: dt.date
    village: str | None
    status: str | None
    people: list[PersonCoverage]
    more: bool
    # Each listed household's head, by household id.
    heads: dict[str, str]


def load_coverage(ws: Workspace, day: dt.date | None) -> CoverageData:
    """Everything the area shows for a day (today when none), in one trip to the worker."""
    day = day or ws.today()
    rows = ws.coverage.by_village(day, within=WITHIN)
    # The change compares with the counts just made rather than counting again.
    return CoverageData(day, rows, ws.coverage.change(day, counts=rows))


def load_people(ws: Workspace, day: dt.date, village: str | None, status: str | None) -> PeopleData:
    """The first PEOPLE_LIMIT people of a village (or the commune) in a status, with their
    households' heads."""
    found = ws.coverage.people(
        day, village=village, within=WITHIN, status=status, limit=PEOPLE_LIMIT + 1
    )
    people = found[:PEOPLE_LIMIT]
    heads: dict[str, str] = {}
    for person in people:
        if person.household_id not in heads:
            heads[person.household_id] = ws.households.get(person.household_id).head_name
    return PeopleData(day, village, status, people, len(found) > PEOPLE_LIMIT, heads)


def village_text(village: str) -> str:
    """A village's name, or the commune's for the total row (village "")."""
    return village or say("Cả xã", "Whole commune")


def status_text(status: str | None) -> str:
    """What a status filter lists, for the people list's caption."""
    texts = {
        None: say("Tất cả cư dân", "All residents"),
        "insured": say("Có thẻ BHYT còn hạn", "Holding a valid BHYT card"),
        "expiring": say(
            "Thẻ hết hạn trong {n} ngày tới", "Card ending in the next {n} days"
        ).format(n=WITHIN),
        "lapsed": say("Thẻ đã hết hạn", "Card lapsed"),
        "never": say("Chưa tham gia BHYT", "Never insured"),
        "covered_elsewhere": say("Có thẻ do nơi khác đóng", "Card paid by another group"),
    }
    return texts.get(status, status or "")


def person_status_text(person: PersonCoverage) -> str:
    """One person's card on the day, in words."""
    if person.status == "lapsed":
        if person.long_lapse:
            return say("Đã hết hạn (gián đoạn lâu)", "Lapsed (long gap)")
        return say("Đã hết hạn", "Lapsed")
    if person.status == "never":
        return say("Chưa tham gia", "Never insured")
    text = (
        say("Sắp hết hạn", "Ending soon")
        if person.status == "expiring"
        else say("Có thẻ", "Insured")
    )
    if person.covered_elsewhere:
        text = say("{status} (nơi khác đóng)", "{status} (paid elsewhere)").format(status=text)
    return text


def change_text(value: int) -> str:
    """A change in the number insured: +12, −3, 0."""
    if value > 0:
        return f"+{value}"
    if value < 0:
        return f"−{-value}"
    return "0"


def _number(value: object) -> QTableWidgetItem:
    item = QTableWidgetItem(str(value))
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _error_text(exc: Exception) -> str | None:
    """The core's own words for an error it raised, or None for an unexpected one."""
    if isinstance(exc, FieldappError):
        return exc.message(i18n.language())
    if isinstance(exc, OSError):
        return str(exc.strerror or exc)
    return None


class CoveragePage(QWidget):
    """The villages' coverage on a day (today by default), their chart, and the people behind
    each count. Enter or a double click on a count lists its people; on a person it opens the
    household."""

    open_household = Signal(str)

    def __init__(self, ops: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ops = ops
        self.data: CoverageData | None = None
        self.people: PeopleData | None = None
        self.day: dt.date | None = None
        # The drill-down on show (village, status), kept when the day changes.
        self._selection: tuple[str | None, str | None] | None = None
        # Only the latest request's answer is shown: an older one may arrive after it.
        self._request = 0
        self._people_request = 0

        self.heading = QLabel()
        self.heading.setProperty("role", "title")
        self.day_caption = QLabel()
        self.day_edit = QDateEdit()
        self.day_edit.setCalendarPopup(True)
        self.day_edit.setDisplayFormat("dd/MM/yyyy")
        self.day_edit.dateChanged.connect(self._day_chosen)
        self.day_caption.setBuddy(self.day_edit)
        self.change_label = QLabel()
        self.change_label.setObjectName("coverageChange")
        self.export_button = QPushButton()
        self.export_button.clicked.connect(self.choose_export_file)
        top = QHBoxLayout()
        top.addWidget(self.heading)
        top.addSpacing(12)
        top.addWidget(self.day_caption)
        top.addWidget(self.day_edit)
        top.addSpacing(12)
        top.addWidget(self.change_label, 1)
        # In the heading's line, so that the page does not move while it loads.
        self.loading_label = QLabel()
        self.loading_label.setObjectName("coverageLoading")
        self.loading_label.setStyleSheet(MUTED_STYLE)
        self.loading_label.hide()
        top.addWidget(self.loading_label)
        top.addWidget(self.export_button)

        self.status_label = QLabel()
        self.status_label.setObjectName("coverageStatus")
        self.status_label.setWordWrap(True)
        self.status_label.hide()

        self.table = QTableWidget(0, CHANGE + 1)
        self.table.setObjectName("coverageTable")
        self._setup_table(self.table)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(VILLAGE, QHeaderView.ResizeMode.Stretch)
        self.table.activated.connect(self._village_activated)

        self.chart = CoverageChart()

        self.people_caption = QLabel()
        self.people_caption.setObjectName("peopleCaption")
        self.people_caption.setWordWrap(True)
        self.people_table = QTableWidget(0, P_DAYS + 1)
        self.people_table.setObjectName("coveragePeople")
        self._setup_table(self.people_table)
        self.people_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        people_header = self.people_table.horizontalHeader()
        people_header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        people_header.setStretchLastSection(True)
        self.people_table.activated.connect(self._person_activated)
        people_box = QWidget()
        people_layout = QVBoxLayout(people_box)
        people_layout.setContentsMargins(4, 4, 4, 4)
        people_layout.addWidget(self.people_caption)
        people_layout.addWidget(self.people_table, 1)

        # Below the counts, full width: the chart, or the people behind a count.
        self.tabs = QTabWidget()
        self.tabs.setObjectName("coverageTabs")
        self.tabs.addTab(self.chart, "")
        self.tabs.addTab(people_box, "")

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status_label)
        self.retranslate()

    @staticmethod
    def _setup_table(table: QTableWidget) -> None:
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        table.verticalHeader().hide()
        table.setTabKeyNavigation(False)

    # -- loading --------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the day's figures (one trip to the worker), and the open list of people."""
        day = self.day
        self._request += 1
        request = self._request
        self.loading_label.setText(say("Đang tải số liệu…", "Loading the figures…"))
        self.loading_label.show()
        self._ops.run_op(
            self,
            lambda ws: load_coverage(ws, day),
            success=lambda data: self._loaded(request, data),
            failure=lambda exc: self._load_failed(request, exc),
        )

    @property
    def loading(self) -> bool:
        """Whether a refresh is waiting for the worker."""
        return not self.loading_label.isHidden()

    def _loaded(self, request: int, data: CoverageData) -> None:
        if request != self._request:
            return
        self.loading_label.hide()
        if self.status_label.styleSheet() == ERROR_STYLE:
            self.status_label.hide()
        self._show(data)
        if self._selection is not None:
            self.show_people(*self._selection, reveal=False)

    def _load_failed(self, request: int, exc: Exception) -> None:
        if request != self._request:
            return
        self.loading_label.hide()
        text = _error_text(exc)
        if text is None:
            self._ops.show_error(self, exc)
            text = say("lỗi không mong muốn", "unexpected error")
        self._say(
            say(
                "Không đọc được số liệu độ bao phủ: {error}", "Could not read coverage: {error}"
            ).format(error=text),
            ERROR_STYLE,
        )

    def _day_chosen(self, date: QDate) -> None:
        chosen = dt.date(date.year(), date.month(), date.day())
        if self.data is not None and chosen != self.data.day:
            self.day = chosen
            self.refresh()

    def _show(self, data: CoverageData) -> None:
        self.data = data
        self.day_edit.blockSignals(True)
        self.day_edit.setDate(QDate(data.day.year, data.day.month, data.day.day))
        self.day_edit.blockSignals(False)
        change = data.change
        self.table.setRowCount(len(data.rows))
        bold = QFont(self.table.font())
        bold.setBold(True)
        for row, counts in enumerate(data.rows):
            name = QTableWidgetItem(village_text(counts.village))
            name.setData(Qt.ItemDataRole.UserRole, counts.village)
            difference = (
                _number(change_text(change.insured.get(counts.village, 0)))
                if change is not None
                else _number("—")
            )
            items = [
                name,
                _number(counts.residents),
                _number(counts.insured),
                _number(percent_text(counts.rate_percent)),
                _number(counts.expiring_30d),
                _number(counts.lapsed),
                _number(counts.uninsured),
                _number(counts.covered_elsewhere),
                difference,
            ]
            for column, item in enumerate(items):
                if not counts.village:
                    item.setFont(bold)
                self.table.setItem(row, column, item)
        self._fit_table()
        villages = [r for r in data.rows if r.village]
        total = next((r for r in data.rows if not r.village), None)
        self.chart.set_rates(
            [CoverageBar(r.village, r.rate_percent) for r in villages],
            total.rate_percent if total is not None else None,
        )
        self.change_label.setText(self._change_summary(data))

    def _fit_table(self) -> None:
        """The village table as tall as its rows (the lower half gets the rest)."""
        height = self.table.horizontalHeader().height() + 2 * self.table.frameWidth()
        for row in range(self.table.rowCount()):
            height += self.table.rowHeight(row)
        self.table.setFixedHeight(min(height + 2, TABLE_MAX_HEIGHT))

    @staticmethod
    def _change_summary(data: CoverageData) -> str:
        change = data.change
        if change is None:
            return say(
                "Thay đổi trong tháng: chưa có số liệu đầu tháng",
                "Change this month: no figures for the start of the month yet",
            )
        return say(
            "Số người có thẻ: {change} kể từ {since}", "People insured: {change} since {since}"
        ).format(
            change=change_text(change.insured.get("", 0)), since=change.since.strftime("%d/%m")
        )

    # -- the people behind a count --------------------------------------------------------

    def _village_activated(self, index: QModelIndex) -> None:
        item = self.table.item(index.row(), VILLAGE)
        if item is None:
            return
        village = item.data(Qt.ItemDataRole.UserRole) or None
        self.show_people(village, COLUMN_STATUS.get(index.column()))

    def show_people(self, village: str | None, status: str | None, *, reveal: bool = True) -> None:
        """List the people of a village (None: the commune) in a status (None: everyone);
        reveal: bring the list to the front."""
        if self.data is None:
            return
        day = self.data.day
        self._selection = (village, status)
        self._people_request += 1
        request = self._people_request
        self.people_caption.setStyleSheet(MUTED_STYLE)
        self.people_caption.setText(say("Đang tải danh sách…", "Loading the list…"))
        if reveal:
            self.tabs.setCurrentIndex(PEOPLE_TAB)
        self._ops.run_op(
            self,
            lambda ws: load_people(ws, day, village, status),
            success=lambda data: self._people_loaded(request, data),
            failure=lambda exc: self._people_failed(request, exc),
        )

    def _people_loaded(self, request: int, data: PeopleData) -> None:
        if request != self._people_request:
            return
        self.people = data
        table = self.people_table
        table.setRowCount(len(data.people))
        for row, person in enumerate(data.people):
            name = QTableWidgetItem(person.full_name)
            name.setData(Qt.ItemDataRole.UserRole, person.household_id)
            days = "" if person.days_left is None else str(person.days_left)
            items = [
                name,
                QTableWidgetItem(data.heads.get(person.household_id, "")),
                QTableWidgetItem(person.village),
                QTableWidgetItem(bhyt_group_text(person.group)),
                QTableWidgetItem(person_status_text(person)),
                QTableWidgetItem(date_text(person.card_valid_to)),
                _number(days),
            ]
            for column, item in enumerate(items):
                item.setToolTip(item.text())
                table.setItem(row, column, item)
        # One village's list need not repeat its name on every row.
        table.setColumnHidden(P_VILLAGE, data.village is not None)
        table.resizeColumnsToContents()
        for column in range(table.columnCount()):
            if table.columnWidth(column) > PEOPLE_COLUMN_WIDTH:
                table.setColumnWidth(column, PEOPLE_COLUMN_WIDTH)
        self._caption_people(data)
        if data.people:
            table.setCurrentCell(0, P_NAME)

    def _caption_people(self, data: PeopleData) -> None:
        self.people_caption.setStyleSheet("")
        where = village_text(data.village or "")
        text = say(
            "{village} · {status}: {n} người (ngày {day})", "{village} · {status}: {n} (on {day})"
        ).format(
            village=where,
            status=status_text(data.status),
            n=len(data.people),
            day=date_text(data.day),
        )
        if data.more:
            text = say(
                "{village} · {status}: {n} người đầu tiên (ngày {day}) — xuất Excel để xem đủ",
                "{village} · {status}: the first {n} (on {day}) — export to Excel for all",
            ).format(
                village=where,
                status=status_text(data.status),
                n=len(data.people),
                day=date_text(data.day),
            )
        if not data.people:
            text = say(
                "{village} · {status}: không có ai (ngày {day})",
                "{village} · {status}: nobody (on {day})",
            ).format(village=where, status=status_text(data.status), day=date_text(data.day))
        self.people_caption.setText(text)

    def _people_failed(self, request: int, exc: Exception) -> None:
        if request != self._people_request:
            return
        text = _error_text(exc)
        if text is None:
            self._ops.show_error(self, exc)
            text = say("lỗi không mong muốn", "unexpected error")
        self.people_caption.setStyleSheet(ERROR_STYLE)
        self.people_caption.setText(
            say("Không đọc được danh sách: {error}", "Could not read the list: {error}").format(
                error=text
            )
        )

    def _person_activated(self, index: QModelIndex) -> None:
        item = self.people_table.item(index.row(), P_NAME)
        if item is not None:
            self.open_household.emit(str(item.data(Qt.ItemDataRole.UserRole)))

    # -- the workbook ---------------------------------------------------------------------

    def choose_export_file(self) -> None:
        if self.data is None:
            return
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        day = self.data.day.isoformat()
        path, _filter = QFileDialog.getSaveFileName(
            self,
            say("Xuất độ bao phủ ra Excel", "Export coverage to Excel"),
            str(Path(folder) / f"do-bao-phu-{day}.xlsx"),
            say("Bảng tính Excel (*.xlsx)", "Excel workbook (*.xlsx)"),
        )
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        """Write the day's coverage to a workbook, on the worker."""
        if self.data is None:
            return
        if path.suffix.lower() != ".xlsx":
            path = path.with_name(path.name + ".xlsx")
        day = self.data.day

        def work(ws: Workspace) -> Path:
            from fieldapp.coverage import export_coverage

            return export_coverage(ws, path, day)

        self.export_button.setEnabled(False)
        self._say(say("Đang xuất ra Excel…", "Exporting to Excel…"), MUTED_STYLE)
        self._ops.run_op(self, work, success=self._exported, failure=self._export_failed)

    def _exported(self, path: Path) -> None:
        self.export_button.setEnabled(True)
        self._say(
            say("Đã xuất độ bao phủ ra {path}", "Coverage exported to {path}").format(path=path),
            OK_STYLE,
        )

    def _export_failed(self, exc: Exception) -> None:
        self.export_button.setEnabled(True)
        text = _error_text(exc)
        if text is None:
            self._ops.show_error(self, exc)
            text = say("lỗi không mong muốn", "unexpected error")
        self._say(
            say(
                "Không xuất được tệp Excel: {error}", "Could not export the workbook: {error}"
            ).format(error=text),
            ERROR_STYLE,
        )

    def _say(self, text: str, style: str) -> None:
        self.status_label.setStyleSheet(style)
        self.status_label.setText(text)
        self.status_label.show()

    # -- language -------------------------------------------------------------------------

    def retranslate(self) -> None:
        self.heading.setText(say("Độ bao phủ BHYT", "BHYT coverage"))
        self.day_caption.setText(say("&Ngày:", "&Day:"))
        self.export_button.setText(say("Xuất Excel…", "Export to Excel…"))
        self.table.setHorizontalHeaderLabels(
            [
                say("Thôn/bản", "Village"),
                say("Cư dân", "Residents"),
                say("Có thẻ", "Insured"),
                say("Tỷ lệ %", "Rate %"),
                say("Hết hạn trong\n{n} ngày", "Ending in\n{n} days").format(n=WITHIN),
                say("Đã hết\nhạn", "Lapsed"),
                say("Chưa\ntham gia", "Never\ninsured"),
                say("Nơi khác\nđóng", "Paid\nelsewhere"),
                say("Thay đổi\ntrong tháng", "Change\nthis month"),
            ]
        )
        self.table.setToolTip(
            say(
                "Enter hoặc nhấp đúp vào một ô để xem danh sách người.",
                "Press Enter or double-click a cell to list the people.",
            )
        )
        self.people_table.setHorizontalHeaderLabels(
            [
                say("Họ tên", "Name"),
                say("Chủ hộ", "Head of household"),
                say("Thôn/bản", "Village"),
                say("Nhóm BHYT", "BHYT group"),
                say("Tình trạng", "Status"),
                say("Thẻ có giá\ntrị đến", "Card\nvalid to"),
                say("Số ngày\ncòn lại", "Days\nleft"),
            ]
        )
        self.people_table.setToolTip(
            say(
                "Enter hoặc nhấp đúp để mở hộ gia đình.",
                "Press Enter or double-click to open the household.",
            )
        )
        self.tabs.setTabText(CHART_TAB, say("Biểu đồ tỷ lệ theo thôn", "Rate by village chart"))
        self.tabs.setTabText(PEOPLE_TAB, say("Danh sách người", "People"))
        self.chart.retranslate()
        if self.data is not None:
            self._show(self.data)
        if self.people is not None:
            self._people_loaded(self._people_request, self.people)
        else:
            self.people_caption.setText(
                say(
                    "Chọn một ô trong bảng (Enter hoặc nhấp đúp) để xem danh sách người.",
                    "Choose a cell in the table (Enter or double-click) to list the people.",
                )
            )
