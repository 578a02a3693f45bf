"""The month's targets chart: drawn with QPainter, numbers in the tooltip, used by End of day."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, QRectF
from PySide6.QtGui import QColor, QImage

from fieldapp.reports import TargetProgress
from fieldapp.workspace import Workspace
from sync.protocol import i18n
from tests.ui.test_day_report_ui import open_day, pull_bhyt_target
from tests.ui.test_receipts_ui import issued_receipt
from ui.app import App
from ui.charts import PACE_COLOUR, SCHEME_COLOURS, TARGET_COLOUR, TargetChart

SCREENSHOT = Path("/tmp/fieldapp-target-chart.png")


def _daily(days: int, counts: dict[int, int]) -> tuple[int, ...]:
    return tuple(counts.get(day, 0) for day in range(1, days + 1))


BHYT = TargetProgress(
    "bhyt_household",
    "2026-11",
    60,
    33,
    _daily(30, {1: 2, 3: 3, 5: 1, 8: 4, 9: 2, 12: 3, 14: 1, 16: 5, 19: 3, 20: 2, 22: 4, 23: 3}),
    23,
)
BHXH = TargetProgress("bhxh_voluntary", "2026-11", None, 3, _daily(30, {4: 1, 11: 1, 20: 1}), 23)


def _image(chart: TargetChart) -> QImage:
    return chart.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)


def _count(image: QImage, colour: QColor, area: QRectF | None = None) -> int:
    """Pixels painted exactly in this colour, in the whole image or inside an area."""
    box = QRect(0, 0, image.width(), image.height()) if area is None else area.toRect()
    wanted = colour.rgb()
    return sum(
        1
        for y in range(box.top(), box.bottom() + 1)
        for x in range(box.left(), box.right() + 1)
        if image.pixel(x, y) == wanted
    )


def test_chart_draws_bars_lines_and_pace(qtbot) -> None:
    """Each scheme's colour fills its bar and draws its line; the pace is drawn dashed."""
    chart = TargetChart()
    qtbot.addWidget(chart)
    chart.set_progress([BHYT, BHXH])
    chart.resize(380, chart.sizeHint().height())
    chart.show()
    qtbot.waitExposed(chart)
    image = _image(chart)
    assert not image.isNull() and image.width() == 380
    blue, purple = SCHEME_COLOURS["bhyt_household"], SCHEME_COLOURS["bhxh_voluntary"]
    areas = chart.areas()
    bhyt_bar, bhyt_plot = areas["bhyt_household"]
    bhxh_bar, bhxh_plot = areas["bhxh_voluntary"]
    # BHYT's bar is filled to 33 of 66 (the scale leaves room past the target of 60).
    filled = _count(image, blue, bhyt_bar) / (bhyt_bar.width() * bhyt_bar.height())
    assert 0.45 < filled < 0.55
    assert _count(image, TARGET_COLOUR, bhyt_bar) >= bhyt_bar.height()
    assert _count(image, blue, bhyt_plot) > 30
    assert _count(image, PACE_COLOUR, bhyt_plot) > 20
    # BHXH has no target: no fill, no target mark, no pace; its line is drawn all the same.
    assert _count(image, purple, bhxh_bar) == 0
    assert _count(image, TARGET_COLOUR, bhxh_bar) == 0
    assert _count(image, PACE_COLOUR, bhxh_plot) == 0
    assert _count(image, purple, bhxh_plot) > 30
    assert chart.grab().save(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 1000


def test_tooltip_and_accessible_text_carry_the_numbers(qtbot) -> None:
    """Achieved, target, percent and the pace due by today, in Vietnamese and in English."""
    chart = TargetChart()
    qtbot.addWidget(chart)
    chart.set_progress([BHYT, BHXH])
    tip = chart.toolTip()
    assert "BHYT hộ gia đình: đạt 33/60 người (55.0%)." in tip
    assert "đến ngày 23/30 cần 46 người: chậm hơn tiến độ" in tip
    assert "BHXH tự nguyện: 3 người, chưa có chỉ tiêu tháng." in tip
    assert chart.accessibleDescription() == tip
    assert chart.accessibleName() == "Biểu đồ chỉ tiêu tháng"
    try:
        i18n.set_language("en")
        chart.retranslate()
        assert "33 of 60 people (55.0%)." in chart.toolTip()
        assert "46 people are due by day 23 of 30: behind the pace" in chart.toolTip()
    finally:
        i18n.set_language("vi")


def test_empty_chart_says_so(qtbot) -> None:
    """Before any figures arrive the chart says there are none, and paints no scheme colour."""
    chart = TargetChart()
    qtbot.addWidget(chart)
    chart.resize(300, 200)
    assert chart.toolTip() == "Chưa có số liệu chỉ tiêu tháng."
    image = _image(chart)
    assert all(_count(image, colour) == 0 for colour in SCHEME_COLOURS.values())


def test_end_of_day_shows_the_core_figures_in_the_chart(
    app: App, idle, workspace: Workspace, qtbot
) -> None:
    """The End of day chart draws the core's month progress, target pulled from the server, and
    once the page is laid out again the chart has the height its two schemes need."""
    month = pull_bhyt_target(workspace, 400)
    issued_receipt(workspace)
    page = open_day(app, idle)
    chart = page.target_chart
    core = workspace.reports.month_progress(month)
    assert chart.progress == tuple(core)
    bhyt = core[0]
    assert bhyt.scheme == "bhyt_household" and bhyt.achieved >= 1
    assert f"đạt {bhyt.achieved}/400 người" in chart.toolTip()
    assert chart.isVisible()
    # Qt lays a page out again on the event loop's next turn after a widget asks for more room
    # (updateGeometry posts the request): checking at once raced with it and failed at random.
    qtbot.waitUntil(lambda: chart.height() >= chart.sizeHint().height(), timeout=10000)
    assert chart.geometry().bottom() < page.targets_box.height()
    image = _image(chart)
    assert _count(image, SCHEME_COLOURS["bhyt_household"]) > 0
