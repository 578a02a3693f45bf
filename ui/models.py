"""Qt item models: the lazily paged search results, and small read-only record tables.

Nothing here names PySide6's Qt namespace when the module is imported or a table is first
painted: the first time it is touched PySide6 builds all of its 90-odd enum classes, a tenth
of a start. Roles are Qt's numbers (the test suite checks them against Qt.ItemDataRole).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6 import QtCore
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Signal
from PySide6.QtGui import QBrush, QColor, QStandardItem, QStandardItemModel

from fieldapp.search import SearchHit
from fieldapp.workspace import Workspace
from sync.protocol.frozen import frozen
from sync.protocol.i18n import say
from ui.labels import date_text
from ui.operations import Operations

PAGE_SIZE = 100
# Qt.ItemDataRole's DisplayRole, ToolTipRole and BackgroundRole.
DISPLAY_ROLE = 0
TOOLTIP_ROLE = 3
BACKGROUND_ROLE = 8
# The background of a highlighted row (a renewal on Today).
HIGHLIGHT = "#fff3cd"

Index = QModelIndex | QPersistentModelIndex


@frozen
class SearchQuery:
    """What the Households search asks for: typed text, a village, a group."""

    text: str = ""
    village: str | None = None
    group: str | None = None


@frozen
class _Page:
    """One page of search hits, where the next page starts, and whether there is none."""

    hits: list[SearchHit]
    next_offset: int
    exhausted: bool


def fetch_page(ws: Workspace, query: SearchQuery, offset: int) -> _Page:
    """One page of hits from offset; runs on the worker thread."""
    hits = ws.search.find(
        query.text, village=query.village, group=query.group, limit=PAGE_SIZE, offset=offset
    )
    # find() drops a household's own row when a member of it is on the page, so a short
    # page does not mean the end: only an empty one does.
    return _Page(hits, offset + PAGE_SIZE, exhausted=not hits)


class SearchResultsModel(QAbstractTableModel):
    """Search hits, loaded a page at a time through the worker as the view scrolls."""

    loading_changed = Signal(bool)

    def __init__(self, ops: Operations, parent: Any = None) -> None:
        super().__init__(parent)
        self._ops = ops
        self._query = SearchQuery()
        self._hits: list[SearchHit] = []
        self._next_offset = 0
        self._exhausted = True
        self._loading = False
        # Bumped on every new query so pages of an older query are dropped on arrival.
        self._generation = 0
        self.fetch_count = 0

    def headers(self) -> list[str]:
        return [
            say("Họ và tên", "Full name"),
            say("Chủ hộ", "Household head"),
            say("Thôn/bản", "Village"),
            say("Ngày sinh", "Date of birth"),
            say("CCCD", "ID card (CCCD)"),
            say("Điện thoại", "Phone"),
        ]

    @property
    def query(self) -> SearchQuery:
        return self._query

    @property
    def has_more(self) -> bool:
        return not self._exhausted

    @property
    def loading(self) -> bool:
        return self._loading

    def set_query(self, query: SearchQuery) -> None:
        """Start over with a new query and load its first page."""
        self._generation += 1
        self.beginResetModel()
        self._query = query
        self._hits = []
        self._next_offset = 0
        self._exhausted = False
        self._loading = False
        self.endResetModel()
        self.fetchMore(QModelIndex())

    def refresh(self) -> None:
        self.set_query(self._query)

    def hit(self, row: int) -> SearchHit:
        return self._hits[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._hits)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 6

    def canFetchMore(self, parent: Index) -> bool:
        # A view still on screen while the app shuts down must not ask for more pages.
        if parent.isValid() or self._exhausted or self._loading:
            return False
        return not self._ops.closed

    def fetchMore(self, parent: Index) -> None:
        if not self.canFetchMore(parent):
            return
        self.fetch_count += 1
        self._set_loading(True)
        generation = self._generation
        query, offset = self._query, self._next_offset
        self._ops.run_op(
            self,
            lambda ws: fetch_page(ws, query, offset),
            success=lambda page: self._add_page(generation, page),
            failure=lambda exc: self._failed(generation, exc),
        )

    def _add_page(self, generation: int, page: _Page) -> None:
        if generation != self._generation:
            return
        self._next_offset = page.next_offset
        self._exhausted = page.exhausted
        if page.hits:
            first = len(self._hits)
            self.beginInsertRows(QModelIndex(), first, first + len(page.hits) - 1)
            self._hits.extend(page.hits)
            self.endInsertRows()
        self._set_loading(False)

    def _failed(self, generation: int, exc: Exception) -> None:
        if generation == self._generation:
            self._exhausted = True
            self._set_loading(False)
        self._ops.show_error(None, exc)

    def _set_loading(self, loading: bool) -> None:
        self._loading = loading
        self.loading_changed.emit(loading)

    def data(self, index: Index, role: int = DISPLAY_ROLE) -> Any:
        if not index.isValid() or role != DISPLAY_ROLE:
            return None
        hit = self._hits[index.row()]
        values = (
            hit.full_name,
            hit.head_name,
            hit.village,
            date_text(hit.date_of_birth),
            hit.cccd or "",
            hit.phone or "",
        )
        return values[index.column()]

    def headerData(
        self, section: int, orientation: QtCore.Qt.Orientation, role: int = DISPLAY_ROLE
    ) -> Any:
        if orientation == QtCore.Qt.Orientation.Horizontal and role == DISPLAY_ROLE:
            return self.headers()[section]
        return None

    def retranslate(self) -> None:
        self.headerDataChanged.emit(QtCore.Qt.Orientation.Horizontal, 0, 5)


_ANSWERED = frozenset({DISPLAY_ROLE, TOOLTIP_ROLE, BACKGROUND_ROLE})


@frozen
class Column:
    """A column of a RecordsModel: its (translated at display time) title and cell text."""

    title: Callable[[], str]
    text: Callable[[Any], str]
    # The longer explanation shown when the pointer rests on the cell.
    tooltip: Callable[[Any], str] | None = None


class RecordsModel(QAbstractTableModel):
    """A small read-only table of records (members, visits, pledges, follow-ups)."""

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        highlight: Callable[[Any], bool] | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._records: list[Any] = []
        self._texts: dict[tuple[int, int], str] = {}
        self._highlight = highlight

    def set_records(self, records: Sequence[Any]) -> None:
        self.beginResetModel()
        self._records = list(records)
        self._texts = {}
        self.endResetModel()

    def record(self, row: int) -> Any:
        return self._records[row]

    def records(self) -> list[Any]:
        return list(self._records)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: Index, role: int = DISPLAY_ROLE) -> Any:
        # Asked for every role of every visible cell on each paint and size pass: roles this
        # model never answers return before anything else is looked at, and cell texts are
        # kept until the records or the language change.
        if role not in _ANSWERED or not index.isValid():
            return None
        row, col = index.row(), index.column()
        if role == DISPLAY_ROLE:
            key = (row, col)
            text = self._texts.get(key)
            if text is None:
                text = self._texts[key] = self._columns[col].text(self._records[row])
            return text
        record = self._records[row]
        column = self._columns[col]
        if role == TOOLTIP_ROLE and column.tooltip is not None:
            return column.tooltip(record)
        if role == BACKGROUND_ROLE and self._highlight and self._highlight(record):
            return QBrush(QColor(HIGHLIGHT))
        return None

    def headerData(
        self, section: int, orientation: QtCore.Qt.Orientation, role: int = DISPLAY_ROLE
    ) -> Any:
        if orientation == QtCore.Qt.Orientation.Horizontal and role == DISPLAY_ROLE:
            return self._columns[section].title()
        return None

    def retranslate(self) -> None:
        self._texts = {}
        self.headerDataChanged.emit(QtCore.Qt.Orientation.Horizontal, 0, len(self._columns) - 1)
        if self._records:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._records) - 1, len(self._columns) - 1)
            )


class RecordItemsModel(QStandardItemModel):
    """A RecordsModel for short lists shown at start (Today's): every cell, tooltip and
    header is made into a Qt item when the records are set, so Qt paints the table without
    calling back into Python. That is quicker to paint, and it keeps the first screen from
    loading PySide6's Qt namespace (a Python headerData() receives a Qt.Orientation). For
    long lists use RecordsModel: it makes only the cells that are painted."""

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        highlight: Callable[[Any], bool] | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(0, len(columns), parent)
        self._columns = list(columns)
        self._records: list[Any] = []
        self._highlight = highlight
        self._titles()

    def _titles(self) -> None:
        self.setHorizontalHeaderLabels([column.title() for column in self._columns])

    def set_records(self, records: Sequence[Any]) -> None:
        self._records = list(records)
        self.removeRows(0, self.rowCount())
        highlight = self._highlight
        # The colour as the role's value (Qt makes the brush): QBrush's constructor has
        # overloads that take Qt enums, and resolving them loads the Qt namespace.
        colour = QColor(HIGHLIGHT)
        for record in self._records:
            row = []
            lit = highlight is not None and highlight(record)
            for column in self._columns:
                item = QStandardItem(column.text(record))
                item.setEditable(False)
                if column.tooltip is not None:
                    item.setToolTip(column.tooltip(record))
                if lit:
                    item.setData(colour, BACKGROUND_ROLE)
                row.append(item)
            self.appendRow(row)

    def record(self, row: int) -> Any:
        return self._records[row]

    def records(self) -> list[Any]:
        return list(self._records)

    def retranslate(self) -> None:
        self._titles()
        if self._records:
            self.set_records(self._records)
