"""Households: search as you type over all people, with village and group filters."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from fieldapp.model import HOUSEHOLD_GROUPS
from sync.protocol.i18n import say
from sync.protocol.labels import group_label
from ui.models import SearchQuery, SearchResultsModel
from ui.operations import Operations

SEARCH_DELAY_MS = 150


class HouseholdsView(QWidget):
    """Type part of a name, CCCD, phone or village; Enter opens the household."""

    open_household = Signal(str)

    def __init__(self, ops: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ops = ops
        self.title = QLabel()
        self.title.setProperty("role", "title")
        self.search_edit = QLineEdit()
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.installEventFilter(self)
        self.village_combo = QComboBox()
        self.village_combo.setMinimumContentsLength(16)
        self.group_combo = QComboBox()
        self.group_combo.setMinimumContentsLength(16)
        self.status_label = QLabel()
        self.model = SearchResultsModel(ops, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((230, 210, 170, 120, 150)):
            header.resizeSection(column, width)
        self.table.activated.connect(
            lambda index: self.open_household.emit(self.model.hit(index.row()).household_id)
        )

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.search_now)
        self.search_edit.textChanged.connect(lambda _text: self._timer.start())
        self.search_edit.returnPressed.connect(self._open_first)
        self.village_combo.currentIndexChanged.connect(lambda _i: self.search_now())
        self.group_combo.currentIndexChanged.connect(lambda _i: self.search_now())
        self.model.loading_changed.connect(lambda _loading: self._update_status())
        self.model.rowsInserted.connect(lambda *_args: self._update_status())
        self.model.modelReset.connect(self._update_status)

        filters = QHBoxLayout()
        self.search_label = QLabel()
        self.search_label.setBuddy(self.search_edit)
        filters.addWidget(self.search_label)
        filters.addWidget(self.search_edit, 3)
        self.village_label = QLabel()
        self.village_label.setBuddy(self.village_combo)
        filters.addWidget(self.village_label)
        filters.addWidget(self.village_combo, 1)
        self.group_label = QLabel()
        self.group_label.setBuddy(self.group_combo)
        filters.addWidget(self.group_label)
        filters.addWidget(self.group_combo, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status_label)
        self.setTabOrder(self.search_edit, self.village_combo)
        self.setTabOrder(self.village_combo, self.group_combo)
        self.setTabOrder(self.group_combo, self.table)
        self._fill_groups()
        self.retranslate()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Down arrow from the search box goes to the results, so no mouse is needed.
        if (
            watched is self.search_edit
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Down
            and self.model.rowCount() > 0
        ):
            self.table.setFocus()
            self.table.selectRow(0)
            return True
        return super().eventFilter(watched, event)

    def _fill_groups(self) -> None:
        current = self.group_combo.currentData()
        self.group_combo.blockSignals(True)
        self.group_combo.clear()
        self.group_combo.addItem(say("Mọi nhóm", "All groups"), None)
        for group in HOUSEHOLD_GROUPS:
            self.group_combo.addItem(group_label(group), group)
        self.group_combo.setCurrentIndex(max(0, self.group_combo.findData(current)))
        self.group_combo.blockSignals(False)

    def set_villages(self, villages: list[str]) -> None:
        current = self.village_combo.currentData()
        self.village_combo.blockSignals(True)
        self.village_combo.clear()
        self.village_combo.addItem(say("Mọi thôn/bản", "All villages"), None)
        for village in villages:
            self.village_combo.addItem(village, village)
        self.village_combo.setCurrentIndex(max(0, self.village_combo.findData(current)))
        self.village_combo.blockSignals(False)

    def refresh(self) -> None:
        """Reload the current results and the villages (after data changed).

        The search goes first: the worker runs one thing at a time, and the results are what
        the agent is waiting for.
        """
        self.search_now()
        self._ops.run_op(self, lambda ws: ws.households.villages(), success=self.set_villages)

    def search_now(self) -> None:
        self._timer.stop()
        self.model.set_query(
            SearchQuery(
                text=self.search_edit.text(),
                village=self.village_combo.currentData(),
                group=self.group_combo.currentData(),
            )
        )

    def focus_search(self) -> None:
        self.search_edit.setFocus()
        self.search_edit.selectAll()

    def _open_first(self) -> None:
        index = self.table.currentIndex()
        row = index.row() if index.isValid() else 0
        if self.model.rowCount() > row:
            self.open_household.emit(self.model.hit(row).household_id)

    def _update_status(self) -> None:
        rows = self.model.rowCount()
        if self.model.loading:
            self.status_label.setText(
                say("Đang tìm… ({n} kết quả)", "Searching… ({n} results)").format(n=rows)
            )
        elif rows == 0:
            self.status_label.setText(say("Không có kết quả.", "No results."))
        elif self.model.has_more:
            self.status_label.setText(
                say(
                    "{n} kết quả, cuộn xuống để xem thêm", "{n} results, scroll down for more"
                ).format(n=rows)
            )
        else:
            self.status_label.setText(say("{n} kết quả", "{n} results").format(n=rows))

    def retranslate(self) -> None:
        self.title.setText(say("Hộ gia đình", "Households"))
        self.search_label.setText(say("&Tìm", "&Search"))
        self.search_edit.setPlaceholderText(
            say(
                "Họ tên (có dấu hay không dấu), CCCD, số điện thoại… (Ctrl+F)",
                "Name (with or without accents), ID card, phone… (Ctrl+F)",
            )
        )
        self.village_label.setText(say("Thôn/&bản", "&Village"))
        self.group_label.setText(say("&Nhóm", "&Group"))
        if self.village_combo.count():
            self.village_combo.setItemText(0, say("Mọi thôn/bản", "All villages"))
        self._fill_groups()
        self.model.retranslate()
        self._update_status()
