"""Dates and months as the app shows them (the codes' names are in sync.protocol.labels)."""

from __future__ import annotations

import datetime as dt

from sync.protocol.clock import VIETNAM_TZ
from sync.protocol.i18n import say


def date_text(value: str | dt.date | None) -> str:
    """dd/mm/yyyy from an ISO date (or date); empty for none."""
    if not value:
        return ""
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return day.strftime("%d/%m/%Y")


def moment_text(value: str | None) -> str:
    """dd/mm/yyyy HH:MM in Vietnam time from a UTC ISO timestamp."""
    if not value:
        return ""
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M")


def month_label(month: int) -> str:
    return say("Th{n}", "M{n}").format(n=month)
