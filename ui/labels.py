"""Display labels for the core's codes (groups, outcomes, schemes…) and date formats."""

from __future__ import annotations

import datetime as dt

from fieldapp.clock import VIETNAM_TZ
from ui.i18n import tr


def group_label(code: str) -> str:
    labels = {
        "poor": tr("Hộ nghèo"),
        "near_poor": tr("Hộ cận nghèo"),
        "ethnic_minority": tr("Dân tộc thiểu số"),
        "farmer": tr("Nông dân"),
        "agri_average": tr("Nông, lâm, ngư nghiệp mức sống trung bình"),
        "household_business": tr("Hộ kinh doanh"),
        "cooperative": tr("Thành viên hợp tác xã"),
        "village_cadre": tr("Cán bộ thôn/bản"),
        "island": tr("Xã đảo, đặc khu"),
        "student": tr("Học sinh, sinh viên"),
        "young_migrant": tr("Lao động trẻ đi làm xa"),
        "other": tr("Khác"),
    }
    return labels.get(code, code)


def outcome_label(code: str) -> str:
    labels = {
        "not_home": tr("Không có nhà"),
        "consulted": tr("Đã tư vấn"),
        "pledged": tr("Đã cam kết"),
        "refused": tr("Từ chối"),
        "paid": tr("Đã đóng tiền"),
        "follow_up": tr("Hẹn lại"),
    }
    return labels.get(code, code)


def scheme_label(code: str) -> str:
    labels = {
        "bhyt_household": tr("BHYT hộ gia đình"),
        "bhxh_voluntary": tr("BHXH tự nguyện"),
    }
    return labels.get(code, code)


def status_label(code: str) -> str:
    labels = {
        "pledged": tr("Đã cam kết"),
        "paid": tr("Đã đóng"),
        "cancelled": tr("Đã huỷ"),
    }
    return labels.get(code, code)


def sex_label(code: str | None) -> str:
    return {"male": tr("Nam"), "female": tr("Nữ")}.get(code or "", "")


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
    return tr("Th{n}").format(n=month)
