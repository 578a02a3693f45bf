"""Calendar arithmetic for contribution periods and cards: months, not 30-day blocks."""

from __future__ import annotations

import calendar
import datetime as dt


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` months later, or the month's last day (31/01 + 1 → 28/02)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def period_end(start: dt.date, months: int) -> dt.date:
    """The last day covered by `months` months starting on `start` (01/12 + 12 → 30/11)."""
    return add_months(start, months) - dt.timedelta(days=1)


def month_end(day: dt.date) -> dt.date:
    """The last day of the month `day` falls in."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)
