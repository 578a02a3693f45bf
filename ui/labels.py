"""Dates and months as the app shows them (the codes' names are in sync.protocol.labels)."""

from __future__ import annotations

import datetime as dt

from sync.protocol.clock import VIETNAM_TZ
from sync.protocol.i18n import say
from sync.protocol.labels import BHYT_GROUP_LABELS, label


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


def month_text(value: str | dt.date | None) -> str:
    """mm/yyyy from an ISO date (or date); empty for none: the month a BHXH payment reached."""
    if not value:
        return ""
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return day.strftime("%m/%Y")


def bhyt_group_text(code: str | None) -> str:
    """A person's BHYT participation group by name ("Cận nghèo (CN)")."""
    return label(BHYT_GROUP_LABELS, code)


def ladder_text(position: int | None) -> str:
    """A place on the household ladder: "Người thứ 4", or none for those outside it."""
    if position is None:
        return say("Không theo bậc", "Not on the ladder")
    return say("Người thứ {n}", "Member {n}").format(n=position)


def card_period_text(start: dt.date | None, end: dt.date | None) -> str:
    """dd/mm/yyyy – dd/mm/yyyy, or a dash when the policy gives no card dates."""
    if start is None or end is None:
        return "—"
    return f"{date_text(start)} – {date_text(end)}"


def card_rule_text(
    rule: str, *, wait_days: int | None = None, gap_months: int | None = None
) -> str:
    """A short word for how a card's first day was found (the numbers are the policy's)."""
    wait = "" if wait_days is None else str(wait_days)
    gap = "" if gap_months is None else str(gap_months)
    texts = {
        "first_time": say("lần đầu: sau {wait} ngày", "first card: after {wait} days"),
        "renewal": say("nối tiếp thẻ cũ", "continues the old card"),
        "short_gap": say(
            "gián đoạn dưới {gap} tháng: có giá trị ngay",
            "gap under {gap} months: valid at once",
        ),
        "long_gap": say(
            "gián đoạn từ {gap} tháng: sau {wait} ngày",
            "gap of {gap} months or more: after {wait} days",
        ),
        "unknown": say("chưa rõ ngày thẻ có giá trị", "card dates not known"),
    }
    return texts.get(rule, rule).format(wait=wait, gap=gap)
