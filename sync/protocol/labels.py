"""What the codes the product stores are called, in Vietnamese and English: schemes, visit
outcomes, household groups, pledge states, sex, the listed visit topics and materials, flyer
audiences and the kinds of synced record.

One table per kind of code, used by the desktop app, the command line, the printed reports and
the supervisor pages alike. A code missing from its table is shown as it is.
"""

from __future__ import annotations

from collections.abc import Mapping

from sync.protocol.i18n import say

Pair = tuple[str, str]

SCHEMES: Mapping[str, Pair] = {
    "bhyt_household": ("BHYT hộ gia đình", "Household health insurance (BHYT)"),
    "bhxh_voluntary": ("BHXH tự nguyện", "Voluntary social insurance (BHXH)"),
}
OUTCOMES: Mapping[str, Pair] = {
    "not_home": ("Vắng nhà", "Not at home"),
    "consulted": ("Đã tư vấn", "Consulted"),
    "pledged": ("Đã cam kết", "Pledged"),
    "refused": ("Từ chối", "Refused"),
    "paid": ("Đã đóng tiền", "Paid"),
    "follow_up": ("Hẹn thăm lại", "Follow up"),
}
GROUPS: Mapping[str, Pair] = {
    "poor": ("Hộ nghèo", "Poor household"),
    "near_poor": ("Hộ cận nghèo", "Near-poor household"),
    "ethnic_minority": ("Dân tộc thiểu số", "Ethnic minority"),
    "farmer": ("Nông dân", "Farmer"),
    "agri_average": (
        "Nông, lâm, ngư nghiệp mức sống trung bình",
        "Average-income farming, forestry, fishing",
    ),
    "household_business": ("Hộ kinh doanh", "Household business"),
    "cooperative": ("Thành viên hợp tác xã", "Cooperative member"),
    "village_cadre": ("Cán bộ thôn/bản", "Village cadre"),
    "island": ("Xã đảo, đặc khu", "Island commune"),
    "student": ("Học sinh, sinh viên", "Student"),
    "young_migrant": ("Lao động trẻ đi làm xa", "Young migrant worker"),
    "other": ("Khác", "Other"),
}
PLEDGE_STATUSES: Mapping[str, Pair] = {
    "pledged": ("Đã cam kết", "Pledged"),
    "paid": ("Đã đóng", "Paid"),
    "cancelled": ("Đã huỷ", "Cancelled"),
    "superseded": ("Đã tính lại", "Re-quoted"),
}
# A person's BHYT participation group (sync.protocol.fields.BHYT_GROUPS).
BHYT_GROUP_LABELS: Mapping[str, Pair] = {
    "household": ("Hộ gia đình (GD)", "Household (GD)"),
    "near_poor": ("Cận nghèo (CN)", "Near-poor (CN)"),
    "student": ("Học sinh, sinh viên (HS/SV)", "Student (HS/SV)"),
    "agri_average": (
        "Hộ nông nghiệp mức sống trung bình (GB)",
        "Average-income farming household (GB)",
    ),
    "poor": ("Hộ nghèo (HN) – NSNN đóng", "Poor (HN) – state-paid"),
    "ethnic_minority": (
        "Dân tộc thiểu số vùng khó khăn (DT/DK) – NSNN đóng",
        "Ethnic minority, difficult area (DT/DK) – state-paid",
    ),
    "child_under_6": ("Trẻ em dưới 6 tuổi (TE) – NSNN đóng", "Child under 6 (TE) – state-paid"),
    "pensioner": ("Hưu trí (HT) – quỹ BHXH đóng", "Pensioner (HT) – paid by the fund"),
    "employee": ("Người lao động – đơn vị đóng", "Employee – paid by the employer"),
    "social_aid": ("Bảo trợ xã hội (BT) – NSNN đóng", "Social assistance (BT) – state-paid"),
    "merit": ("Người có công (CC/CK) – NSNN đóng", "Person of merit (CC/CK) – state-paid"),
    "other_covered": ("Có thẻ theo nhóm khác", "Covered by another group"),
}
SEXES: Mapping[str, Pair] = {"male": ("Nam", "Male"), "female": ("Nữ", "Female")}
# Visit topics and materials are stored as the Vietnamese text an agent ticks (free text is
# allowed too), so they are keyed by that text.
TOPICS: Mapping[str, Pair] = {
    "BHYT hộ gia đình": ("BHYT hộ gia đình", "Household health insurance (BHYT)"),
    "BHXH tự nguyện": ("BHXH tự nguyện", "Voluntary social insurance (BHXH)"),
    "Hỗ trợ của Nhà nước": ("Hỗ trợ của Nhà nước", "State support"),
    "Lương hưu": ("Lương hưu", "Pension"),
    "Đóng một lần 5 năm": ("Đóng một lần 5 năm", "Lump sum for 5 years"),
    "Tờ rơi BHYT": ("Tờ rơi BHYT", "BHYT flyer"),
    "Tờ rơi BHXH tự nguyện": ("Tờ rơi BHXH tự nguyện", "Voluntary BHXH flyer"),
    "Bảng mức đóng": ("Bảng mức đóng", "Contribution table"),
}


# The groups a flyer speaks to (resources/flyers/*.json).
AUDIENCES: Mapping[str, Pair] = {
    "agri_household": ("Hộ nông, lâm, ngư nghiệp", "Farming, forestry and fishing households"),
    "household_business": ("Hộ kinh doanh", "Household business"),
    "cooperative": ("Thành viên hợp tác xã", "Cooperative member"),
    "village_cadre": ("Cán bộ thôn/bản", "Village cadre"),
    "poor_near_poor": ("Hộ nghèo, cận nghèo", "Poor and near-poor households"),
    "young_migrant": ("Lao động trẻ đi làm xa", "Young migrant worker"),
}
# The kinds of record a laptop sends (sync.protocol.wire.ENTITIES).
ENTITIES: Mapping[str, Pair] = {
    "household": ("Hộ gia đình", "Household"),
    "member": ("Thành viên", "Member"),
    "visit": ("Lần thăm", "Visit"),
    "pledge": ("Cam kết", "Pledge"),
    "pledge_event": ("Trạng thái cam kết", "Pledge status"),
    "receipt": ("Biên lai", "Receipt"),
    "receipt_void": ("Huỷ biên lai", "Receipt void"),
    "cash_handover": ("Nộp tiền", "Cash handover"),
    "receipt_book": ("Quyển biên lai", "Receipt book"),
}


def label(table: Mapping[str, Pair], code: str | None, *, lang: str | None = None) -> str:
    """The code's name from its table in the current language (or `lang`); unknown codes as
    they are, none as an empty text."""
    pair = table.get(code or "")
    if pair is None:
        return code or ""
    return say(*pair, lang=lang)


def scheme_label(code: str, *, lang: str | None = None) -> str:
    return label(SCHEMES, code, lang=lang)


def outcome_label(code: str, *, lang: str | None = None) -> str:
    return label(OUTCOMES, code, lang=lang)


def group_label(code: str, *, lang: str | None = None) -> str:
    return label(GROUPS, code, lang=lang)


def status_label(code: str, *, lang: str | None = None) -> str:
    return label(PLEDGE_STATUSES, code, lang=lang)


def sex_label(code: str | None, *, lang: str | None = None) -> str:
    return label(SEXES, code, lang=lang)


def topic_label(text: str, *, lang: str | None = None) -> str:
    return label(TOPICS, text, lang=lang)


def audience_label(code: str, *, lang: str | None = None) -> str:
    return label(AUDIENCES, code, lang=lang)


def entity_label(code: str, *, lang: str | None = None) -> str:
    return label(ENTITIES, code, lang=lang)
