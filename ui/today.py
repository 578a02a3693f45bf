"""Today: follow-ups that are due, recent visits and what is still waiting to be synced."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from fieldapp.model import Household, Visit
from fieldapp.visits import FollowUp
from fieldapp.workspace import Workspace
from sync.protocol.i18n import say
from sync.protocol.labels import outcome_label
from ui.labels import date_text, moment_text
from ui.models import Column, RecordsModel
from ui.operations import Operations


@dataclass(frozen=True)
class RecentVisit:
    visit: Visit
    household: Household


@dataclass(frozen=True)
class TodayData:
    follow_ups: list[FollowUp]
    recent: list[RecentVisit]
    pending_sync: int
    today: str


def load_today(ws: Workspace) -> TodayData:
    """Everything the Today page shows, read in one trip to the worker."""
    households: dict[str, Household] = {}
    recent = []
    for visit in ws.visits.recent(15):
        if visit.household_id not in households:
            households[visit.household_id] = ws.households.get(visit.household_id)
        recent.append(RecentVisit(visit, households[visit.household_id]))
    return TodayData(
        follow_ups=ws.visits.follow_ups(limit=200),
        recent=recent,
        pending_sync=ws.pending_sync(),
        today=ws.today().isoformat(),
    )


def _reason(item: FollowUp) -> str:
    if item.reason == "due":
        return say("Đến hẹn thăm lại", "Visit due")
    return say("Tháng thu hoạch", "Harvest month")


def _title(label: QLabel) -> QLabel:
    label.setProperty("role", "title")
    return label


class TodayView(QWidget):
    """The agent's day: who to visit now, what was done lately."""

    open_household = Signal(str)
    # The pending-sync count read with the day's data (the status line shows it too).
    pending_changed = Signal(int)

    def __init__(self, ops: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ops = ops
        self._data: TodayData | None = None
        self.heading = _title(QLabel())
        self.sync_label = QLabel()
        self.sync_label.setObjectName("syncLabel")
        self.follow_label = QLabel()
        self.follow_model = RecordsModel(
            [
                Column(lambda: say("Chủ hộ", "Household head"), lambda f: f.household.head_name),
                Column(lambda: say("Thôn/bản", "Village"), lambda f: f.household.village),
                Column(lambda: say("Lý do", "Reason"), _reason),
                Column(lambda: say("Hẹn ngày", "Due on"), lambda f: date_text(f.due_on)),
                Column(
                    lambda: say("Lần thăm trước", "Last visit"),
                    lambda f: moment_text(f.last_visit_at),
                ),
                Column(lambda: say("Điện thoại", "Phone"), lambda f: f.household.phone or ""),
            ],
            highlight=lambda f: f.reason == "due",
            parent=self,
        )
        self.follow_table = self._table(self.follow_model)
        self.follow_table.activated.connect(
            lambda index: self.open_household.emit(
                self.follow_model.record(index.row()).household.id
            )
        )
        self.recent_label = QLabel()
        self.recent_model = RecordsModel(
            [
                Column(lambda: say("Lúc", "When"), lambda r: moment_text(r.visit.at)),
                Column(lambda: say("Chủ hộ", "Household head"), lambda r: r.household.head_name),
                Column(lambda: say("Thôn/bản", "Village"), lambda r: r.household.village),
                Column(lambda: say("Kết quả", "Outcome"), lambda r: outcome_label(r.visit.outcome)),
                Column(
                    lambda: say("Hẹn thăm lại", "Next visit"),
                    lambda r: date_text(r.visit.next_visit),
                ),
            ],
            parent=self,
        )
        self.recent_table = self._table(self.recent_model)
        self.recent_table.activated.connect(
            lambda index: self.open_household.emit(
                self.recent_model.record(index.row()).household.id
            )
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.sync_label)
        layout.addWidget(self.follow_label)
        layout.addWidget(self.follow_table, 3)
        layout.addWidget(self.recent_label)
        layout.addWidget(self.recent_table, 2)
        self.retranslate()

    def _table(self, model: RecordsModel) -> QTableView:
        table = QTableView(self)
        table.setModel(model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().hide()
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setAlternatingRowColors(True)
        return table

    def refresh(self) -> None:
        self._ops.run_op(self, load_today, success=self._show)

    def _show(self, data: TodayData) -> None:
        self._data = data
        self.follow_model.set_records(data.follow_ups)
        self.recent_model.set_records(data.recent)
        # The models were just reset: only the labels need the new figures.
        self._show_labels()
        self.pending_changed.emit(data.pending_sync)

    def retranslate(self) -> None:
        self._show_labels()
        self.follow_model.retranslate()
        self.recent_model.retranslate()

    def _show_labels(self) -> None:
        data = self._data
        day = date_text(data.today) if data else ""
        self.heading.setText(say("Hôm nay {day}", "Today {day}").format(day=day))
        if data is None:
            self.sync_label.setText(say("Đang tải…", "Loading…"))
            self.follow_label.setText(say("Cần thăm", "To visit"))
        else:
            due = sum(1 for f in data.follow_ups if f.reason == "due")
            self.sync_label.setText(
                say("Chưa đồng bộ: {n} thay đổi", "Not synced yet: {n} changes").format(
                    n=data.pending_sync
                )
                if data.pending_sync
                else say("Mọi thay đổi đã được đồng bộ.", "All changes are synced.")
            )
            self.follow_label.setText(
                say(
                    "Cần thăm: {due} đến hẹn, {best} đang mùa thu hoạch",
                    "To visit: {due} due, {best} in their harvest month",
                ).format(due=due, best=len(data.follow_ups) - due)
            )
        self.recent_label.setText(say("Lần thăm gần đây", "Recent visits"))
