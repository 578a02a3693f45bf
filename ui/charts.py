"""The month's targets as a chart: people covered against the target, and day by day against
the target pace. Drawn with QPainter; the figures and the pace come from the core."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from fieldapp.reports import TargetProgress
from sync.protocol.frozen import frozen
from sync.protocol.i18n import say
from sync.protocol.labels import scheme_label

# One colour per scheme, for its bar and its line; both readable on white and told apart
# without relying on red/green.
SCHEME_COLOURS = {"bhyt_household": QColor("#1565c0"), "bhxh_voluntary": QColor("#6a1b9a")}
OTHER_COLOUR = QColor("#37474f")
TARGET_COLOUR = QColor("#202124")
PACE_COLOUR = QColor("#757575")
TRACK_COLOUR = QColor("#e3e7ee")
GRID_COLOUR = QColor("#c9ced6")
TODAY_COLOUR = QColor("#9aa0a6")
TEXT_COLOUR = QColor("#202124")
MUTED_COLOUR = QColor("#5f6368")
OK_COLOUR = QColor("#1b5e20")
WARN_COLOUR = QColor("#8a5300")

_PAD = 6
_BAR_HEIGHT = 12
_PLOT_HEIGHT = 54
_PANEL_GAP = 8
# Room on the left of each line plot for its count labels.
_AXIS_WIDTH = 30


@frozen
class _Panel:
    """Where one scheme's drawing goes: its title line, pace line, bar and line plot."""

    title: QRectF
    status: QRectF
    bar: QRectF
    plot: QRectF


def scheme_colour(scheme: str) -> QColor:
    return SCHEME_COLOURS.get(scheme, OTHER_COLOUR)


def describe(progress: TargetProgress) -> str:
    """One scheme's figures in words, for the tooltip and screen readers."""
    label = scheme_label(progress.scheme)
    if not progress.target:
        return say(
            "{scheme}: {achieved} người, chưa có chỉ tiêu tháng.",
            "{scheme}: {achieved} people, no target for the month yet.",
        ).format(scheme=label, achieved=progress.achieved)
    text = say(
        "{scheme}: đạt {achieved}/{target} người ({percent}%).",
        "{scheme}: {achieved} of {target} people ({percent}%).",
    ).format(
        scheme=label,
        achieved=progress.achieved,
        target=progress.target,
        percent=progress.percent,
    )
    if progress.elapsed_days:
        pace = _pace(
            progress,
            "Theo tiến độ đều, đến ngày {day}/{days} cần {due} người: {state}.",
            "At an even pace, {due} people are due by day {day} of {days}: {state}.",
        )
        text = f"{text} {pace}"
    return text


def _pace(progress: TargetProgress, vi: str, en: str) -> str:
    """A sentence about the even pace: its placeholders are day, days, due and state."""
    on_pace = progress.on_pace
    return say(vi, en).format(
        day=progress.elapsed_days,
        days=progress.days_in_month,
        due=progress.expected_by_now,
        state=say("kịp tiến độ", "on pace")
        if on_pace
        else say("chậm hơn tiến độ", "behind the pace"),
    )


class TargetChart(QWidget):
    """For each scheme: a bar of the people covered with the target marked, and their number
    day by day (solid) against the even pace that reaches the target at the month's end (dashed).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("targetChart")
        self.progress: tuple[TargetProgress, ...] = ()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(260)
        self.retranslate()

    # -- data -----------------------------------------------------------------------------

    def set_progress(self, progress: Sequence[TargetProgress]) -> None:
        self.progress = tuple(progress)
        self.updateGeometry()
        self.retranslate()
        self.update()

    def description(self) -> str:
        """Every scheme's figures in words, one line each."""
        if not self.progress:
            return say("Chưa có số liệu chỉ tiêu tháng.", "No target figures for the month yet.")
        return "\n".join(describe(p) for p in self.progress)

    def retranslate(self) -> None:
        text = self.description()
        self.setToolTip(text)
        self.setAccessibleName(say("Biểu đồ chỉ tiêu tháng", "Monthly target chart"))
        self.setAccessibleDescription(text)
        self.update()

    # -- size -----------------------------------------------------------------------------

    def _line(self) -> int:
        return QFontMetrics(self.font()).height()

    def _small_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() - 2, 7.0))
        return font

    def _small_line(self) -> int:
        return QFontMetrics(self._small_font()).height()

    def _panel_height(self) -> int:
        small = self._small_line()
        return self._line() + small + 4 + _BAR_HEIGHT + 5 + _PLOT_HEIGHT + small + 2

    def sizeHint(self) -> QSize:
        panels = max(len(self.progress), 1)
        height = 2 * _PAD + panels * self._panel_height() + (panels - 1) * _PANEL_GAP
        small = QFontMetrics(self._small_font()).height()
        return QSize(360, height + small + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(260, self.sizeHint().height())

    def areas(self) -> dict[str, tuple[QRectF, QRectF]]:
        """Where each scheme's bar and line plot are drawn, by scheme."""
        return {
            p.scheme: (panel.bar, panel.plot)
            for p, panel in zip(self.progress, self._panels(), strict=True)
        }

    def _panels(self) -> list[_Panel]:
        width = self.width() - 2 * _PAD
        line = self._line()
        top = _PAD + QFontMetrics(self._small_font()).height() + 4
        out = []
        inner = width - _AXIS_WIDTH - _PAD
        for _ in self.progress:
            title = QRectF(_PAD, top, width - _PAD, line)
            status = QRectF(_PAD, title.bottom(), width - _PAD, self._small_line())
            bar = QRectF(_PAD + _AXIS_WIDTH, status.bottom() + 4, inner, _BAR_HEIGHT)
            plot = QRectF(_PAD + _AXIS_WIDTH, bar.bottom() + 5, inner, _PLOT_HEIGHT)
            out.append(_Panel(title, status, bar, plot))
            top += self._panel_height() + _PANEL_GAP
        return out

    # -- drawing --------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.fillRect(self.rect(), QColor("white"))
            if not self.progress:
                painter.setPen(MUTED_COLOUR)
                painter.drawText(
                    QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter, self.description()
                )
                return
            self._legend(painter)
            for progress, panel in zip(self.progress, self._panels(), strict=True):
                self._title(painter, progress, panel.title, panel.status)
                self._bar(painter, progress, panel.bar)
                self._plot(painter, progress, panel.plot)
        finally:
            painter.end()

    def _legend(self, painter: QPainter) -> None:
        """What the solid and the dashed lines mean, once above the panels."""
        painter.setFont(self._small_font())
        metrics = QFontMetrics(painter.font())
        y = _PAD + metrics.ascent()
        x = float(_PAD + _AXIS_WIDTH)
        middle = _PAD + metrics.height() / 2
        for text, pen in (
            (say("đã đạt, cộng dồn", "achieved, running total"), QPen(TEXT_COLOUR, 2)),
            (say("tiến độ đều", "even pace"), QPen(PACE_COLOUR, 1.5, Qt.PenStyle.DashLine)),
            (say("hôm nay", "today"), QPen(TODAY_COLOUR, 1.5, Qt.PenStyle.DotLine)),
        ):
            painter.setPen(pen)
            painter.drawLine(QPointF(x, middle), QPointF(x + 14, middle))
            painter.setPen(MUTED_COLOUR)
            painter.drawText(QPointF(x + 18, y), text)
            x += 18 + metrics.horizontalAdvance(text) + 10

    def _title(
        self, painter: QPainter, progress: TargetProgress, rect: QRectF, status: QRectF
    ) -> None:
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(scheme_colour(progress.scheme))
        left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(rect, left, scheme_label(progress.scheme))
        painter.setFont(self.font())
        painter.setPen(TEXT_COLOUR)
        if progress.target:
            figures = say(
                "{achieved}/{target} người ({percent}%)", "{achieved}/{target} people ({percent}%)"
            ).format(achieved=progress.achieved, target=progress.target, percent=progress.percent)
        else:
            figures = say("{achieved} người", "{achieved} people").format(
                achieved=progress.achieved
            )
        painter.drawText(rect, right, figures)
        painter.setFont(self._small_font())
        if not progress.target:
            painter.setPen(MUTED_COLOUR)
            line = say("Chưa có chỉ tiêu tháng", "No target for the month yet")
        elif not progress.elapsed_days:
            painter.setPen(MUTED_COLOUR)
            line = say("Tháng chưa bắt đầu", "The month has not started")
        else:
            painter.setPen(OK_COLOUR if progress.on_pace else WARN_COLOUR)
            line = _pace(
                progress,
                "Đến ngày {day}/{days} cần {due} người: {state}",
                "By day {day} of {days}, {due} people due: {state}",
            )
        painter.drawText(status, left, line)

    @staticmethod
    def _top(progress: TargetProgress) -> int:
        """The largest count either drawing has to hold."""
        return max(progress.target or 0, progress.achieved, 1)

    def _bar(self, painter: QPainter, progress: TargetProgress, rect: QRectF) -> None:
        painter.fillRect(rect, TRACK_COLOUR)
        if not progress.target:
            # Nothing to measure against: the number is in the title and the line below.
            return
        # A little room past the target, so the target line and an overshoot both show.
        scale = max(progress.target, progress.achieved) * 1.1
        filled = QRectF(rect)
        filled.setWidth(rect.width() * progress.achieved / scale)
        painter.fillRect(filled, scheme_colour(progress.scheme))
        x = rect.left() + rect.width() * progress.target / scale
        painter.setPen(QPen(TARGET_COLOUR, 2))
        painter.drawLine(QPointF(x, rect.top() - 3), QPointF(x, rect.bottom() + 3))

    def _plot(self, painter: QPainter, progress: TargetProgress, rect: QRectF) -> None:
        days = progress.days_in_month
        top = self._top(progress)

        def point(day: float, count: float) -> QPointF:
            return QPointF(
                rect.left() + rect.width() * day / days,
                rect.bottom() - rect.height() * count / top,
            )

        # Axes with the first, middle and last day, and zero and the top count.
        painter.setPen(QPen(GRID_COLOUR, 1))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        painter.drawLine(rect.bottomLeft(), rect.topLeft())
        painter.drawLine(point(0, top), point(days, top))
        small = self._small_font()
        painter.setFont(small)
        metrics = QFontMetrics(small)
        painter.setPen(MUTED_COLOUR)
        for count in (0, top):
            y = rect.bottom() - rect.height() * count / top
            label = str(count)
            painter.drawText(
                QPointF(
                    rect.left() - 4 - metrics.horizontalAdvance(label), y + metrics.ascent() / 2
                ),
                label,
            )
        for day in sorted({1, (days + 1) // 2, days}):
            label = str(day)
            width = metrics.horizontalAdvance(label)
            x = min(point(day, 0).x() - width / 2, rect.right() - width)
            painter.drawText(QPointF(x, rect.bottom() + 2 + metrics.ascent()), label)

        if progress.elapsed_days and progress.elapsed_days < days:
            today = point(progress.elapsed_days, 0).x()
            painter.setPen(QPen(TODAY_COLOUR, 1, Qt.PenStyle.DotLine))
            painter.drawLine(QPointF(today, rect.top()), QPointF(today, rect.bottom()))

        if progress.target:
            painter.setPen(QPen(PACE_COLOUR, 1.5, Qt.PenStyle.DashLine))
            painter.drawLine(point(0, 0), point(days, progress.pace(days) or 0))

        shown = progress.cumulative[: progress.elapsed_days]
        if shown:
            points = [point(0, 0)]
            points += [point(day, count) for day, count in enumerate(shown, start=1)]
            colour = scheme_colour(progress.scheme)
            painter.setPen(QPen(colour, 2.5))
            painter.drawPolyline(QPolygonF(points))
            painter.setBrush(colour)
            painter.drawEllipse(points[-1], 3.0, 3.0)
            painter.setBrush(Qt.BrushStyle.NoBrush)


# -- coverage per village ---------------------------------------------------------------------

COVERAGE_COLOUR = QColor("#1565c0")
COMMUNE_COLOUR = QColor("#202124")
_COVERAGE_ROW = 8
# The village names take at most this share of the width; longer ones are elided.
_NAME_SHARE = 0.38


def percent_text(value: float) -> str:
    """A share in percent with one decimal; Vietnamese writes a decimal comma (73,8%)."""
    text = f"{value:.1f}%"
    return say(text.replace(".", ","), text)


@frozen
class CoverageBar:
    """One village's bar: its name and its coverage rate in percent."""

    village: str
    rate: float


class CoverageChart(QWidget):
    """A horizontal bar per village of the share of residents holding a valid BHYT card, on a
    0–100% scale, with the commune's rate marked across all bars (dashed)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("coverageChart")
        self.villages: tuple[CoverageBar, ...] = ()
        self.commune: float | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(260)
        self.retranslate()

    # -- data -----------------------------------------------------------------------------

    def set_rates(self, villages: Sequence[CoverageBar], commune: float | None) -> None:
        self.villages = tuple(villages)
        self.commune = commune
        self.updateGeometry()
        self.retranslate()

    def description(self) -> str:
        """Every village's rate in words, one line each, then the commune's."""
        if not self.villages:
            return say("Chưa có số liệu độ bao phủ.", "No coverage figures yet.")
        lines = [f"{bar.village}: {percent_text(bar.rate)}" for bar in self.villages]
        if self.commune is not None:
            lines.append(
                say("Cả xã: {rate}", "Commune: {rate}").format(rate=percent_text(self.commune))
            )
        return "\n".join(lines)

    def retranslate(self) -> None:
        text = self.description()
        self.setToolTip(text)
        self.setAccessibleName(
            say("Biểu đồ tỷ lệ có thẻ BHYT theo thôn", "BHYT coverage rate by village chart")
        )
        self.setAccessibleDescription(text)
        self.update()

    # -- size -----------------------------------------------------------------------------

    def _line(self) -> int:
        return QFontMetrics(self.font()).height()

    def _small_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() - 1, 7.0))
        return font

    def _row_height(self) -> float:
        """Each village's row: at least a line of text and its gap, taller (up to two lines)
        when the widget has the room."""
        least = self._line() + _COVERAGE_ROW
        axis = QFontMetrics(self._small_font()).height() + 6
        room = (self.height() - self._top() - axis - _PAD) / max(len(self.villages), 1)
        return max(float(least), min(room, 2.0 * self._line()))

    def _top(self) -> int:
        """Where the first bar's row starts: below the two legend lines."""
        return _PAD + 2 * QFontMetrics(self._small_font()).height() + 6

    def sizeHint(self) -> QSize:
        rows = max(len(self.villages), 1)
        axis = QFontMetrics(self._small_font()).height() + 6
        least = self._line() + _COVERAGE_ROW
        return QSize(420, self._top() + rows * least + axis + _PAD)

    def minimumSizeHint(self) -> QSize:
        return QSize(260, min(self.sizeHint().height(), 160))

    def _columns(self) -> tuple[float, float, float]:
        """The left edge of the bars, their full (100%) width, and the name column's width."""
        metrics = QFontMetrics(self.font())
        widest = max((metrics.horizontalAdvance(bar.village) for bar in self.villages), default=0)
        # A few pixels to spare: elidedText measures a little wider than horizontalAdvance.
        names = min(float(widest + 6), (self.width() - 2 * _PAD) * _NAME_SHARE)
        value = metrics.horizontalAdvance(percent_text(100.0)) + 8
        left = _PAD + names + 8
        return left, max(self.width() - _PAD - value - left, 10.0), names

    def bars(self) -> list[QRectF]:
        """Where each village's bar is drawn, in the order of the villages (a village at 0%
        has a bar of no width)."""
        left, full, _names = self._columns()
        row = self._row_height()
        # As thick as a line of text at most, in the middle of its row.
        thickness = min(row - _COVERAGE_ROW, float(self._line()))
        out = []
        for index, bar in enumerate(self.villages):
            top = self._top() + index * row + (row - thickness) / 2
            rate = min(max(bar.rate, 0.0), 100.0)
            out.append(QRectF(left, top, full * rate / 100, thickness))
        return out

    def tracks(self) -> list[QRectF]:
        """The 0–100% track behind each village's bar."""
        _left, full, _names = self._columns()
        return [QRectF(bar.left(), bar.top(), full, bar.height()) for bar in self.bars()]

    # -- drawing --------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.fillRect(self.rect(), QColor("white"))
            if not self.villages:
                painter.setPen(MUTED_COLOUR)
                painter.drawText(
                    QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter, self.description()
                )
                return
            self._draw(painter)
        finally:
            painter.end()

    def _draw(self, painter: QPainter) -> None:
        left, full, names = self._columns()
        metrics = QFontMetrics(self.font())
        small = self._small_font()
        small_metrics = QFontMetrics(small)
        bars, tracks = self.bars(), self.tracks()
        bottom = self._top() + len(self.villages) * self._row_height()

        # The grid: 0, 25, 50, 75 and 100%, labelled under the last bar.
        painter.setFont(small)
        for step in (0, 25, 50, 75, 100):
            x = left + full * step / 100
            painter.setPen(QPen(GRID_COLOUR, 1))
            painter.drawLine(QPointF(x, self._top()), QPointF(x, bottom))
            label = f"{step}%"
            width = small_metrics.horizontalAdvance(label)
            painter.setPen(MUTED_COLOUR)
            painter.drawText(QPointF(x - width / 2, bottom + 2 + small_metrics.ascent()), label)

        painter.setFont(self.font())
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        left_align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        row = self._row_height()
        for index, (village, bar, track) in enumerate(
            zip(self.villages, bars, tracks, strict=True)
        ):
            top = self._top() + index * row
            painter.setPen(TEXT_COLOUR)
            name = metrics.elidedText(village.village, Qt.TextElideMode.ElideRight, int(names))
            painter.drawText(QRectF(_PAD, top, names, row), right, name)
            painter.fillRect(track, TRACK_COLOUR)
            if bar.width() > 0:
                painter.fillRect(bar, COVERAGE_COLOUR)
            painter.setPen(TEXT_COLOUR)
            painter.drawText(
                QRectF(track.right() + 6, top, self.width() - track.right() - 6, row),
                left_align,
                percent_text(village.rate),
            )

        # The legend (what the bars are; the dashed line), and the commune's rate across
        # every bar.
        painter.setFont(small)
        y = _PAD + small_metrics.ascent()
        painter.setPen(MUTED_COLOUR)
        caption = say(
            "Tỷ lệ cư dân có thẻ BHYT còn hạn", "Share of residents with a valid BHYT card"
        )
        painter.drawText(QPointF(_PAD, y), caption)
        if self.commune is not None:
            x = left + full * min(max(self.commune, 0.0), 100.0) / 100
            painter.setPen(QPen(COMMUNE_COLOUR, 1.5, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(x, self._top()), QPointF(x, bottom))
            legend_x = float(_PAD)
            y += small_metrics.height()
            middle = y - small_metrics.ascent() + small_metrics.height() / 2
            painter.drawLine(QPointF(legend_x, middle), QPointF(legend_x + 14, middle))
            painter.setPen(MUTED_COLOUR)
            painter.drawText(
                QPointF(legend_x + 18, y),
                say("cả xã {rate}", "commune {rate}").format(rate=percent_text(self.commune)),
            )
