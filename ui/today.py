"""Today: the day's work in order (renewals, BHXH periods ending, appointments, households with
money this month and someone uninsured), recent visits, and what is still waiting to be synced.

Enter on a renewal row opens the household with the renewal pledge filled in."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from fieldapp.agenda import Agenda, AgendaItem, DuePerson, day_agenda
from fieldapp.model import Household, Visit
from fieldapp.workspace import Workspace
from sync.protocol.frozen import frozen
from sync.protocol.i18n import say
from sync.protocol.labels import outcome_label
from sync.protocol.money import format_vnd
from ui.labels import date_text, moment_text
from ui.models import Column, RecordItemsModel
from ui.operations import Operations

# Names shown in the "who" cell; the tooltip lists everyone.
SHOWN_PEOPLE = 3
# Rows of the day's work listed, and how many of them come first (more than a screen holds).
ROWS = 200
FIRST_ROWS = 15
# The whole list starts once the first rows are painted, or after this when nothing paints.
WHOLE_AFTER_MS = 300


@frozen
class RecentVisit:
    """A recent visit with its household, as Today lists it."""

    visit: Visit
    household: Household


@frozen
class TodayData:
    """What the Today page shows, read in one trip to the worker."""

    agenda: Agenda
    recent: list[RecentVisit]
    pending_sync: int
    today: str


class _Table(QTableView):
    """A table that says when it has painted its rows."""

    painted = Signal()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        self.painted.emit()


def load_today(
    ws: Workspace, progress: Callable[[int, int], None] | None = None, *, first: bool = False
) -> TodayData:
    """Everything the Today page shows, read in one trip to the worker. `first` reads only
    the first screen of rows, with no totals: on a large commune it comes at once, and the
    whole list with its totals follows."""
    households: dict[str, Household] = {}
    recent = []
    for visit in ws.visits.recent(15):
        if visit.household_id not in households:
            households[visit.household_id] = ws.households.get(visit.household_id)
        recent.append(RecentVisit(visit, households[visit.household_id]))
    return TodayData(
        agenda=day_agenda(
            ws, limit=FIRST_ROWS if first else ROWS, count=not first, progress=progress
        ),
        recent=recent,
        pending_sync=ws.pending_sync(),
        today=ws.today().isoformat(),
    )


def _reason(item: AgendaItem) -> str:
    """The reason in a few words; `_why` gives the whole sentence as a tooltip."""
    if item.kind == "renew":
        return say("Thẻ sắp hết hạn", "Card ending")
    if item.kind == "renew_lapsed":
        return say("Thẻ vừa hết hạn", "Card just lapsed")
    if item.kind == "bhxh":
        return say("Hết kỳ BHXH", "BHXH period ends")
    if item.kind == "visit_due":
        return say("Đến hẹn", "Visit due")
    return say("Mùa có thu nhập", "Income month")


def _why(item: AgendaItem) -> str:
    n = len(item.people)
    if item.kind == "renew":
        return say(
            "Thẻ BHYT của {n} người hết hạn trong 30 ngày tới", "{n} BHYT cards end within 30 days"
        ).format(n=n)
    if item.kind == "renew_lapsed":
        return say(
            "Thẻ BHYT của {n} người đã hết hạn chưa quá 3 tháng — gia hạn ngay thì không phải "
            "chờ 30 ngày",
            "{n} BHYT cards lapsed less than 3 months ago — renew now, no 30-day wait",
        ).format(n=n)
    if item.kind == "bhxh":
        return say(
            "Kỳ đóng BHXH tự nguyện của {n} người hết trong tháng này",
            "{n} voluntary BHXH periods end this month",
        ).format(n=n)
    if item.kind == "visit_due":
        return say("Đã hẹn thăm lại vào ngày này", "A return visit was agreed for this day")
    return say(
        "Hộ đang vào mùa có thu nhập, {n} người chưa có thẻ BHYT",
        "The household's income month; {n} people without a BHYT card",
    ).format(n=n)


def _person(item: AgendaItem, person: DuePerson) -> str:
    if person.ends_on and item.kind != "income_month":
        return f"{person.full_name} ({date_text(person.ends_on)})"
    return person.full_name


def _people_all(item: AgendaItem) -> str:
    return "\n".join(_person(item, person) for person in item.people)


def _people(item: AgendaItem) -> str:
    """Who the row is about, with each card's (or BHXH period's) last day."""
    parts = [_person(item, person) for person in item.people[:SHOWN_PEOPLE]]
    if len(item.people) > SHOWN_PEOPLE:
        parts.append(
            say("và {n} người khác", "and {n} more").format(n=len(item.people) - SHOWN_PEOPLE)
        )
    return ", ".join(parts)


def _cost(item: AgendaItem) -> str:
    if item.amount is not None:
        if item.months:
            return say("{amount} / {months} tháng", "{amount} / {months} months").format(
                amount=format_vnd(item.amount), months=item.months
            )
        return format_vnd(item.amount)
    if item.quote_problem:
        return say("Chưa tính được", "Cannot quote")
    return ""


def _due(item: AgendaItem) -> str:
    return date_text(item.due_on)


def _title(label: QLabel) -> QLabel:
    label.setProperty("role", "title")
    return label


class TodayView(QWidget):
    """The agent's day: who to visit now, what was done lately."""

    open_household = Signal(str)
    # A renewal row: the household, the scheme to pledge for and the members to fill in.
    renew = Signal(str, str, list)
    # The pending-sync count read with the day's data (the status line shows it too).
    pending_changed = Signal(int)
    # The day's rows were shown: the first screen, then the whole list.
    loaded = Signal()
    # The list of the day's work was painted with the rows read (the agent sees them).
    rows_painted = Signal()

    def __init__(self, ops: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ops = ops
        self._data: TodayData | None = None
        self._full_op: int | None = None
        self._whole_pending = False
        self._painted_rows = False
        self.heading = _title(QLabel())
        self.sync_label = QLabel()
        self.sync_label.setObjectName("syncLabel")
        self.follow_label = QLabel()
        self.follow_model = RecordItemsModel(
            [
                Column(lambda: say("Lý do", "Reason"), _reason, _why),
                Column(lambda: say("Chủ hộ", "Household head"), lambda i: i.household.head_name),
                Column(lambda: say("Thôn/bản", "Village"), lambda i: i.household.village),
                Column(lambda: say("Hạn", "Due"), _due),
                Column(lambda: say("Gia hạn / số tiền", "Renewal cost"), _cost),
                Column(
                    lambda: say("Lần thăm trước", "Last visit"),
                    lambda i: moment_text(i.last_visit_at),
                ),
                Column(lambda: say("Điện thoại", "Phone"), lambda i: i.household.phone or ""),
                # Last, and as wide as the window leaves: a long list is cut short with "…" and
                # shown whole as a tooltip.
                Column(lambda: say("Ai (hạn thẻ)", "Who (card ends)"), _people, _people_all),
            ],
            highlight=lambda i: i.kind in ("renew", "renew_lapsed"),
            parent=self,
        )
        self.follow_table = self._table(self.follow_model)
        self.follow_table.horizontalHeader().setSectionResizeMode(
            self.follow_model.columnCount() - 1, QHeaderView.ResizeMode.Stretch
        )
        self.follow_table.activated.connect(lambda index: self.act_on(index.row()))
        self.recent_label = QLabel()
        self.recent_model = RecordItemsModel(
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

    def _table(self, model: RecordItemsModel) -> QTableView:
        table = _Table(self)
        table.painted.connect(self._painted)
        table.setModel(model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().hide()
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setAlternatingRowColors(True)
        return table

    def act_on(self, row: int) -> None:
        """Enter on a row: a renewal opens the household with its pledge filled in; any
        other row opens the household."""
        if not 0 <= row < self.follow_model.rowCount():
            return
        item: AgendaItem = self.follow_model.record(row)
        if item.kind in ("renew", "renew_lapsed"):
            self.renew.emit(item.household.id, "bhyt_household", list(item.member_ids))
        elif item.kind == "bhxh":
            self.renew.emit(item.household.id, "bhxh_voluntary", list(item.member_ids))
        else:
            self.open_household.emit(item.household.id)

    def refresh(self) -> None:
        """Read the first screen, then the whole list with its totals."""
        self._ops.run_op(self, lambda ws: load_today(ws, first=True), success=self._show_first)

    @property
    def complete(self) -> bool:
        """The whole list and its totals are shown (not only the first screen)."""
        return self._data is not None and bool(self._data.agenda.totals)

    def _show_first(self, data: TodayData) -> None:
        self._show(data)
        if not data.agenda.totals:
            # The whole list waits until the first rows are painted: read alongside, its
            # Python holds the interpreter and the first paint waited a third of a second
            # for it. A page that is not on screen is not painted: it starts after a moment.
            self._whole_pending = True
            QTimer.singleShot(WHOLE_AFTER_MS, self._load_whole)

    def _painted(self) -> None:
        if self._data is not None and not self._painted_rows:
            self._painted_rows = True
            self.rows_painted.emit()
        if self._whole_pending:
            # After this paint has finished, not inside it.
            QTimer.singleShot(0, self._load_whole)

    def _load_whole(self) -> None:
        if not self._whole_pending:
            return
        self._whole_pending = False
        if self._ops.closed:
            # The app is closing: first rows that arrived after the worker was shut down
            # still start this timer, and there is no one left to read the whole list.
            return
        # In the background: stop_loading() ends it at its next step (it only reads).
        self._full_op = self._ops.run_op(
            self, load_today, success=self._show, on_progress=lambda _done, _total: None
        )

    def stop_loading(self) -> None:
        """Stop reading the whole list (closing the app does not wait for it)."""
        self._whole_pending = False
        if self._full_op is not None and self._ops.running(self._full_op):
            self._ops.cancel(self._full_op)
        self._full_op = None

    def _show(self, data: TodayData) -> None:
        self._data = data
        self.follow_model.set_records(data.agenda.items)
        self.recent_model.set_records(data.recent)
        # Painted again even when the list stays empty (a new store, a day with nothing due):
        # the first rows count as seen once this paint is done. (doItemsLayout() asks for the
        # paint; reaching the viewport from Python would build some 60 Qt enum classes.)
        self.follow_table.doItemsLayout()
        # The models were just reset: only the labels need the new figures.
        self._show_labels()
        self.pending_changed.emit(data.pending_sync)
        self.loaded.emit()

    @property
    def shown(self) -> bool:
        """The day's rows (at least the first screen) are on the page."""
        return self._data is not None

    @property
    def painted(self) -> bool:
        """The day's rows (at least the first screen) have been painted on the screen."""
        return self._painted_rows

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
            self.follow_label.setText(say("Việc hôm nay", "Today's work"))
        else:
            totals = data.agenda.totals
            self.sync_label.setText(
                say("Chưa đồng bộ: {n} thay đổi", "Not synced yet: {n} changes").format(
                    n=data.pending_sync
                )
                if data.pending_sync
                else say("Mọi thay đổi đã được đồng bộ.", "All changes are synced.")
            )
            if not totals:
                self.follow_label.setText(
                    say(
                        "Việc hôm nay: đang đếm… (hiện {n} dòng đầu)",
                        "Today's work: counting… (first {n} rows shown)",
                    ).format(n=len(data.agenda.items))
                )
                self.recent_label.setText(say("Lần thăm gần đây", "Recent visits"))
                return
            text = say(
                "Việc hôm nay: {renew} hộ có thẻ sắp hết hạn, {lapsed} hộ có thẻ vừa hết hạn, "
                "{bhxh} hộ hết kỳ BHXH, {due} hộ đến hẹn, {income} hộ đang mùa có thu nhập",
                "Today: {renew} households with cards ending, {lapsed} with cards just lapsed, "
                "{bhxh} with a BHXH period ending, {due} appointments, {income} in their "
                "income month",
            ).format(
                renew=totals.get("renew", 0),
                lapsed=totals.get("renew_lapsed", 0),
                bhxh=totals.get("bhxh", 0),
                due=totals.get("visit_due", 0),
                income=totals.get("income_month", 0),
            )
            if len(data.agenda.items) < sum(totals.values()):
                text += say(" (hiện {n} dòng đầu)", " (first {n} rows shown)").format(
                    n=len(data.agenda.items)
                )
            self.follow_label.setText(text)
        self.recent_label.setText(say("Lần thăm gần đây", "Recent visits"))
