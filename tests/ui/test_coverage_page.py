"""The Coverage area through the real window, worker and store: the counts per village against a
hand count, the people behind each count, the month's change, the workbook, and the chart."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from PySide6.QtCore import QDate, QRect, QRectF, QSettings, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from fieldapp.workspace import Workspace
from sync.protocol import i18n
from sync.protocol.clock import FixedClock
from sync.protocol.errors import FieldappError
from tests.fieldapp.samples import new_household
from tests.ui.conftest import shown
from tests.ui.test_screenshots import _save, shot_folders
from ui import coverage_page
from ui.app import App, build
from ui.charts import COVERAGE_COLOUR, CoverageBar, CoverageChart
from ui.coverage_page import (
    CHANGE,
    ELSEWHERE,
    EXPIRING,
    INSURED,
    LAPSED,
    NEVER,
    P_DAYS,
    P_GROUP,
    P_HOUSEHOLD,
    P_NAME,
    P_STATUS,
    P_VALID_TO,
    RATE,
    RESIDENTS,
    VILLAGE,
    CoveragePage,
)
from ui.forms import ERROR_STYLE
from ui.main_window import COVERAGE, HOUSEHOLD

# 10:00 on 4 December 2026 in Vietnam.
DECEMBER = dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.UTC)
ON = dt.date(2026, 12, 4)

# Each resident with the status counted by hand on 4 December 2026 (a card ending by 3 January
# is expiring), whether another group pays for the card, and what the core is given.
PEOPLE = [
    ("Bản Phố", "Vàng Seo Chứ", "insured", False, {"bhyt_expiry": "2027-06-30"}),
    ("Bản Phố", "Vàng Thị Say", "expiring", False, {"bhyt_expiry": "2026-12-20"}),
    ("Bản Phố", "Vàng A Dình", "insured", True,
     {"bhyt_card": "TE1151598765432", "bhyt_expiry": "2027-09-30"}),
    ("Bản Phố", "Vàng Seo Lử", "lapsed", False, {"bhyt_expiry": "2026-10-31"}),
    ("Bản Phố", "Vàng Thị Mỷ", "lapsed", False, {"bhyt_expiry": "2026-08-31"}),
    ("Bản Phố", "Vàng A Páo", "never", False, {}),
    # Paid, the card starts in January: not insured yet.
    ("Bản Phố", "Vàng Thị Dợ", "never", False,
     {"bhyt_valid_from": "2027-01-03", "bhyt_expiry": "2028-01-02"}),
    ("Thôn Đồi Chè", "Lò Văn Pọm", "expiring", False, {"bhyt_expiry": "2026-12-05"}),
    ("Thôn Đồi Chè", "Lò Thị Ín", "never", False, {"bhyt_group": "near_poor"}),
    ("Bản Nà Phai", "Lò Văn Sáng", "insured", False, {"bhyt_expiry": "2027-03-31"}),
]  # fmt: skip
VILLAGES = sorted({village for village, *_ in PEOPLE})
INSURED_STATUSES = ("insured", "expiring")


def hand_count(village: str | None) -> dict[int, int]:
    """The village's (None: the commune's) counts by column, from the hand statuses."""
    people = [p for p in PEOPLE if village is None or p[0] == village]
    statuses = Counter(status for _v, _n, status, _e, _f in people)
    return {
        RESIDENTS: len(people),
        INSURED: statuses["insured"] + statuses["expiring"],
        EXPIRING: statuses["expiring"],
        LAPSED: statuses["lapsed"],
        NEVER: statuses["never"],
        ELSEWHERE: sum(1 for p in people if p[3] and p[2] in INSURED_STATUSES),
    }


def names(status: str | None, village: str | None) -> set[str]:
    """Whom the hand statuses put behind a count."""
    return {
        name
        for v, name, hand, elsewhere, _f in PEOPLE
        if (village is None or v == village)
        and (
            status is None
            or hand == status
            or (status == "insured" and hand in INSURED_STATUSES)
            or (status == "covered_elsewhere" and elsewhere and hand in INSURED_STATUSES)
        )
    }


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(DECEMBER)


@pytest.fixture
def commune(tmp_path: Path, clock: FixedClock) -> Path:
    """Three villages with people in every status; the store's folder. One household per
    village (the head is its first person), and a removed member who is not counted."""
    folder = tmp_path / "commune"
    with Workspace.open(folder, clock=clock) as ws:
        homes = {}
        for village, name, _status, _elsewhere, fields in PEOPLE:
            if village not in homes:
                homes[village] = new_household(ws, village=village, head_name=name)
            ws.members.add(homes[village].id, full_name=name, **fields)
        gone = ws.members.add(homes["Bản Phố"].id, full_name="Vàng A Tủa", bhyt_expiry="2027-01-01")
        ws.members.remove(gone.id)
    return folder


@pytest.fixture
def app(qtbot, settings: QSettings, commune: Path, clock: FixedClock) -> Iterator[App]:
    i18n.set_language("vi")
    with shown(qtbot, build(settings, commune, clock=clock)) as built:
        yield built
    i18n.set_language("vi")


@pytest.fixture
def workspace(app: App, commune: Path, clock: FixedClock) -> Iterator[Workspace]:
    ws = Workspace.open(commune, clock=clock)
    yield ws
    ws.close()


def open_page(app: App, qtbot) -> CoveragePage:
    """Bring the Coverage area to the front and wait for its figures."""
    app.window.coverage_area_action.trigger()
    page = app.window.coverage_page
    assert app.window.stack.currentWidget() is page
    qtbot.waitUntil(lambda: page.data is not None and not page.loading, timeout=10000)
    return page


def row_of(page: CoveragePage, village: str) -> int:
    for row in range(page.table.rowCount()):
        if page.table.item(row, VILLAGE).data(Qt.ItemDataRole.UserRole) == village:
            return row
    raise AssertionError(f"no row for {village!r}")


def cell(page: CoveragePage, village: str, column: int) -> str:
    return page.table.item(row_of(page, village), column).text()


def drill(page: CoveragePage, qtbot, village: str, column: int) -> list[str]:
    """Enter on a count: the names listed for it."""
    before = page.people
    page.table.setFocus()
    page.table.setCurrentCell(row_of(page, village), column)
    qtbot.keyClick(page.table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.people is not before, timeout=10000)
    return [page.people_table.item(r, P_NAME).text() for r in range(page.people_table.rowCount())]


def test_counts_match_the_hand_count(app: App, qtbot) -> None:
    """Every village's row and the commune's (bold, last) show the hand-counted figures."""
    page = open_page(app, qtbot)
    assert page.data is not None and page.data.day == ON
    assert page.day_edit.date() == QDate(2026, 12, 4)
    shown_villages = [
        page.table.item(r, VILLAGE).data(Qt.ItemDataRole.UserRole)
        for r in range(page.table.rowCount())
    ]
    assert sorted(shown_villages[:-1]) == VILLAGES and shown_villages[-1] == ""
    assert page.table.item(page.table.rowCount() - 1, VILLAGE).text() == "Cả xã"
    for village in [*VILLAGES, None]:
        key = village or ""
        expected = hand_count(village)
        for column, value in expected.items():
            assert cell(page, key, column) == str(value), (village, column)
        rate = round(100 * expected[INSURED] / expected[RESIDENTS], 1)
        assert cell(page, key, RATE) == f"{rate:.1f}%".replace(".", ",")
        bold = page.table.item(row_of(page, key), RESIDENTS).font().bold()
        assert bold == (village is None)
    # 42,9% in Bản Phố: 3 of 7 insured.
    assert cell(page, "Bản Phố", RATE) == "42,9%"
    # No day before this one was counted: nothing to compare with.
    assert page.data.change is None
    assert "chưa có số liệu đầu tháng" in page.change_label.text()
    assert cell(page, "", CHANGE) == "—"


def test_drill_down_lists_exactly_the_people_and_opens_the_household(
    app: App, qtbot, workspace: Workspace
) -> None:
    page = open_page(app, qtbot)
    for village, column, status in (
        ("Bản Phố", LAPSED, "lapsed"),
        ("Bản Phố", NEVER, "never"),
        ("Bản Phố", ELSEWHERE, "covered_elsewhere"),
        ("Bản Phố", INSURED, "insured"),
        ("Bản Phố", RESIDENTS, None),
        ("", EXPIRING, "expiring"),
        ("", NEVER, "never"),
        ("Thôn Đồi Chè", EXPIRING, "expiring"),
    ):
        listed = drill(page, qtbot, village, column)
        assert sorted(listed) == sorted(names(status, village or None)), (village, status)
    # One person's row in full: household head, group, status, card end, days left.
    listed = drill(page, qtbot, "Bản Phố", LAPSED)
    row = listed.index("Vàng Seo Lử")
    people = page.people_table

    def text(column: int) -> str:
        return people.item(row, column).text()

    assert text(P_HOUSEHOLD) == "Vàng Seo Chứ"
    assert text(P_GROUP) == "Hộ gia đình (GD)"
    assert text(P_STATUS) == "Đã hết hạn"
    assert text(P_VALID_TO) == "31/10/2026"
    assert text(P_DAYS) == str((dt.date(2026, 10, 31) - ON).days)
    assert "Bản Phố" in page.people_caption.text() and "2 người" in page.people_caption.text()
    # The long lapse (ended 31 August) is told apart.
    assert people.item(listed.index("Vàng Thị Mỷ"), P_STATUS).text() == (
        "Đã hết hạn (gián đoạn lâu)"
    )
    drill(page, qtbot, "Bản Phố", ELSEWHERE)
    assert people.item(0, P_GROUP).text().startswith("Trẻ em dưới 6 tuổi (TE)")
    assert people.item(0, P_STATUS).text() == "Có thẻ (nơi khác đóng)"

    # Enter on a person opens their household in the window.
    listed = drill(page, qtbot, "Thôn Đồi Chè", NEVER)
    assert listed == ["Lò Thị Ín"]
    expected = {h.head_name: h.id for h in workspace.households.in_village("Thôn Đồi Chè")}
    people.setFocus()
    people.setCurrentCell(0, P_NAME)
    with qtbot.waitSignal(page.open_household, timeout=5000) as signal:
        qtbot.keyClick(people, Qt.Key.Key_Return)
    assert signal.args == [expected["Lò Văn Pọm"]]
    qtbot.waitUntil(lambda: app.window.stack.currentIndex() == HOUSEHOLD, timeout=5000)
    qtbot.waitUntil(
        lambda: app.window.household.household_id == expected["Lò Văn Pọm"], timeout=5000
    )

    # A double click on a count works like Enter.
    app.window.coverage_area_action.trigger()
    qtbot.waitUntil(lambda: not page.loading, timeout=10000)
    before = page.people
    index = page.table.model().index(row_of(page, "Bản Nà Phai"), INSURED)
    rect = page.table.visualRect(index)
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: page.people is not before, timeout=10000)
    assert page.people is not None and [p.full_name for p in page.people.people] == ["Lò Văn Sáng"]


def test_another_day_and_the_month_change(
    app: App, qtbot, workspace: Workspace, clock: FixedClock
) -> None:
    """Seen today, the day's counts are kept; a day later the change since is shown. An earlier
    day from the picker shows that day's counts."""
    page = open_page(app, qtbot)
    assert page.data is not None and page.data.change is None
    home = workspace.households.in_village("Bản Nà Phai")[0]
    workspace.members.add(home.id, full_name="Lò Thị Hoa", bhyt_expiry="2027-12-31")
    workspace.members.add(home.id, full_name="Lò Văn Nhất", bhyt_expiry="2027-11-30")
    clock.advance(days=1)
    page.refresh()
    qtbot.waitUntil(lambda: page.data is not None and page.data.day == ON + dt.timedelta(days=1))
    qtbot.waitUntil(lambda: not page.loading)
    core = workspace.coverage.change(ON + dt.timedelta(days=1))
    assert core is not None and core.since == ON
    # Two more insured in Bản Nà Phai; on 5 December Lò Văn Pọm's card ends that very day, so
    # he is still insured: the commune gains two.
    assert core.insured[""] == 2
    assert page.change_label.text() == "Số người có thẻ: +2 kể từ 04/12"
    assert cell(page, "Bản Nà Phai", CHANGE) == "+2"
    assert cell(page, "Bản Phố", CHANGE) == "0"

    # 1 January 2027: Vàng Thị Say's card (to 20 December) has lapsed.
    page.day_edit.setDate(QDate(2027, 1, 1))
    qtbot.waitUntil(lambda: page.data is not None and page.data.day == dt.date(2027, 1, 1))
    qtbot.waitUntil(lambda: not page.loading)
    assert cell(page, "Bản Phố", LAPSED) == str(hand_count("Bản Phố")[LAPSED] + 1)


def test_export_writes_a_workbook_that_reads_back(app: App, qtbot, tmp_path: Path) -> None:
    page = open_page(app, qtbot)
    page.export_to(tmp_path / "bao-phu")
    qtbot.waitUntil(lambda: page.export_button.isEnabled(), timeout=10000)
    path = tmp_path / "bao-phu.xlsx"
    assert page.status_label.text() == f"Đã xuất độ bao phủ ra {path}"
    book = openpyxl.load_workbook(path, read_only=True)
    rows = [
        tuple(c for c in row)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
    ]
    by_name = {row[0]: row for row in rows if row and row[0] in [*VILLAGES, "Cả xã"]}
    for village in VILLAGES:
        assert by_name[village][1] == hand_count(village)[RESIDENTS]
        assert by_name[village][2] == hand_count(village)[INSURED]
    assert by_name["Cả xã"][1] == len(PEOPLE)
    listed = {row[0] for row in rows} & {name for _v, name, *_ in PEOPLE}
    assert listed == {name for _v, name, *_ in PEOPLE}
    book.close()

    # Into a folder that cannot exist: said in Vietnamese, nothing written, no crash.
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    page.export_to(blocker / "bao-phu.xlsx")
    qtbot.waitUntil(lambda: page.export_button.isEnabled(), timeout=10000)
    assert page.status_label.text().startswith("Không xuất được tệp Excel:")
    assert page.status_label.styleSheet() == ERROR_STYLE
    assert app.window.dialog is None


def test_a_failed_read_is_said_clearly(app: App, qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    """The core refusing (or failing) to count: the reason shows, the old figures stay, the
    next good read clears it."""
    page = open_page(app, qtbot)

    def refused(ws: Workspace, day: dt.date | None) -> None:
        raise FieldappError("Ổ đĩa không đọc được", "The disk cannot be read", code="disk")

    monkeypatch.setattr(coverage_page, "load_coverage", refused)
    page.day_edit.setDate(QDate(2026, 11, 1))
    qtbot.waitUntil(lambda: not page.loading and page.status_label.isVisible(), timeout=10000)
    assert page.status_label.text() == ("Không đọc được số liệu độ bao phủ: Ổ đĩa không đọc được")
    assert page.status_label.styleSheet() == ERROR_STYLE
    assert page.data is not None and page.data.day == ON
    assert page.table.rowCount() == len(VILLAGES) + 1
    assert app.window.dialog is None

    def broken(ws: Workspace, day: dt.date | None) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(coverage_page, "load_coverage", broken)
    page.refresh()
    qtbot.waitUntil(lambda: not page.loading, timeout=10000)
    assert page.status_label.text().endswith("lỗi không mong muốn")
    assert app.ops.last_error is not None and "không mong muốn" in app.ops.last_error

    monkeypatch.undo()
    page.refresh()
    qtbot.waitUntil(lambda: not page.loading and page.status_label.isHidden(), timeout=10000)
    assert page.data.day == dt.date(2026, 11, 1)


def test_language_switch_retranslates(app: App, qtbot) -> None:
    page = open_page(app, qtbot)
    drill(page, qtbot, "Bản Phố", LAPSED)
    app.window.en_action.trigger()
    try:
        assert page.table.horizontalHeaderItem(VILLAGE).text() == "Village"
        assert page.table.horizontalHeaderItem(EXPIRING).text() == "Ending in\n30 days"
        assert cell(page, "", VILLAGE) == "Whole commune"
        assert cell(page, "Bản Phố", RATE) == "42.9%"
        assert "no figures for the start of the month" in page.change_label.text()
        assert page.export_button.text() == "Export to Excel…"
        assert page.people_table.item(0, P_STATUS).text().startswith("Lapsed")
        assert page.people_caption.text().startswith("Bản Phố · Card lapsed: 2")
        assert app.window.nav.item(COVERAGE).text() == "Coverage"
    finally:
        app.window.vi_action.trigger()
    assert page.table.horizontalHeaderItem(VILLAGE).text() == "Thôn/bản"


# -- the chart ---------------------------------------------------------------------------------


def _image(chart: CoverageChart) -> QImage:
    return chart.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)


def _share(image: QImage, colour: QColor, area: QRectF) -> float:
    """The share of the pixels inside an area painted exactly in this colour."""
    box = area.toAlignedRect() & QRect(0, 0, image.width(), image.height())
    if box.isEmpty():
        return 0.0
    wanted = colour.rgb()
    hits = sum(
        1
        for y in range(box.top(), box.bottom() + 1)
        for x in range(box.left(), box.right() + 1)
        if image.pixel(x, y) == wanted
    )
    return hits / (box.width() * box.height())


def test_chart_draws_one_bar_per_village_to_its_rate(qtbot) -> None:
    chart = CoverageChart()
    qtbot.addWidget(chart)
    rates = [
        CoverageBar("Bản Nà Phai", 100.0),
        CoverageBar("Bản Phố", 42.9),
        CoverageBar("Thôn Đồi Chè", 0.0),
    ]
    chart.set_rates(rates, 50.0)
    chart.resize(500, chart.sizeHint().height())
    image = _image(chart)
    assert image.width() == 500
    bars, tracks = chart.bars(), chart.tracks()
    assert len(bars) == len(tracks) == 3
    for bar, track, rate in zip(bars, tracks, rates, strict=True):
        assert bar.width() == pytest.approx(track.width() * rate.rate / 100)
        inside = bar.adjusted(1, 1, -1, -1)
        if rate.rate:
            assert _share(image, COVERAGE_COLOUR, inside) > 0.9
        # Past the bar, on the track, no bar colour.
        rest = QRectF(bar.right() + 2, track.top() + 1, track.right() - bar.right() - 4, 4)
        if rest.width() > 2:
            assert _share(image, COVERAGE_COLOUR, rest) == 0
    assert chart.toolTip().splitlines() == [
        "Bản Nà Phai: 100,0%",
        "Bản Phố: 42,9%",
        "Thôn Đồi Chè: 0,0%",
        "Cả xã: 50,0%",
    ]


def test_empty_chart_says_so(qtbot) -> None:
    chart = CoverageChart()
    qtbot.addWidget(chart)
    chart.resize(300, 200)
    assert chart.toolTip() == "Chưa có số liệu độ bao phủ."
    image = _image(chart)
    assert _share(image, COVERAGE_COLOUR, QRectF(0, 0, 300, 200)) == 0


def test_page_chart_has_a_bar_per_village(app: App, qtbot, tmp_path: Path) -> None:
    page = open_page(app, qtbot)
    chart = page.chart
    assert [bar.village for bar in chart.villages] == [
        page.table.item(r, VILLAGE).text() for r in range(page.table.rowCount() - 1)
    ]
    assert len(chart.bars()) == len(VILLAGES)
    assert chart.commune == pytest.approx(50.0)
    for _ in range(3):
        QApplication.processEvents()
    assert chart.isVisible() and chart.height() > 0
    image = _image(chart)
    full = chart.bars()[[b.village for b in chart.villages].index("Bản Nà Phai")]
    assert _share(image, COVERAGE_COLOUR, full.adjusted(1, 1, -1, -1)) > 0.9
    _save(app.window, shot_folders(tmp_path), "coverage-small-commune")
