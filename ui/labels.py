"""Display labels for the core's codes (groups, outcomes, schemes…) and date formats."""

from __future__ import annotations

import datetime as dt

from sync.protocol.clock import VIETNAM_TZ
from sync.protocol.i18n import say


def group_label(code: str) -> str:
    labels = {
        "poor": say("Hộ nghèo", "Poor household"),
        "near_poor": say("Hộ cận nghèo", "Near-poor household"),
        "ethnic_minority": say("Dân tộc thiểu số", "Ethnic minority"),
        "farmer": say("Nông dân", "Farmer"),
        "agri_average": say(
            "Nông, lâm, ngư nghiệp mức sống trung bình", "Average-income farming, forestry, fishing"
        ),
        "household_business": say("Hộ kinh doanh", "Household business"),
        "cooperative": say("Thành viên hợp tác xã", "Cooperative member"),
        "village_cadre": say("Cán bộ thôn/bản", "Village cadre"),
        "island": say("Xã đảo, đặc khu", "Island commune"),
        "student": say("Học sinh, sinh viên", "Student"),
        "young_migrant": say("Lao động trẻ đi làm xa", "Young migrant worker"),
        "other": say("Khác", "Other"),
    }
    return labels.get(code, code)


def outcome_label(code: str) -> str:
    labels = {
        "not_home": say("Không có nhà", "Not at home"),
        "consulted": say("Đã tư vấn", "Consulted"),
        "pledged": say("Đã cam kết", "Pledged"),
        "refused": say("Từ chối", "Refused"),
        "paid": say("Đã đóng tiền", "Paid"),
        "follow_up": say("Hẹn lại", "Follow up"),
    }
    return labels.get(code, code)


def scheme_label(code: str) -> str:
    labels = {
        "bhyt_household": say("BHYT hộ gia đình", "Household health insurance (BHYT)"),
        "bhxh_voluntary": say("BHXH tự nguyện", "Voluntary social insurance (BHXH)"),
    }
    return labels.get(code, code)


def status_label(code: str) -> str:
    labels = {
        "pledged": say("Đã cam kết", "Pledged"),
        "paid": say("Đã đóng", "Paid"),
        "cancelled": say("Đã huỷ", "Cancelled"),
    }
    return labels.get(code, code)


def sex_label(code: str | None) -> str:
    return {"male": say("Nam", "Male"), "female": say("Nữ", "Female")}.get(code or "", "")


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


def topic_label(text: str) -> str:
    """A listed visit topic or material in the current language; anything else as written."""
    labels = {
        "BHYT hộ gia đình": say("BHYT hộ gia đình", "Household health insurance (BHYT)"),
        "BHXH tự nguyện": say("BHXH tự nguyện", "Voluntary social insurance (BHXH)"),
        "Hỗ trợ của Nhà nước": say("Hỗ trợ của Nhà nước", "State support"),
        "Lương hưu": say("Lương hưu", "Pension"),
        "Đóng một lần 5 năm": say("Đóng một lần 5 năm", "Lump sum for 5 years"),
        "Tờ rơi BHYT": say("Tờ rơi BHYT", "BHYT flyer"),
        "Tờ rơi BHXH tự nguyện": say("Tờ rơi BHXH tự nguyện", "Voluntary BHXH flyer"),
        "Bảng mức đóng": say("Bảng mức đóng", "Contribution table"),
    }
    return labels.get(text, text)
