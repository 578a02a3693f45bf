"""Contribution calculator for BHYT hộ gia đình and BHXH tự nguyện: pure functions over a Policy."""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from fieldapp.errors import Problem, ValidationError
from fieldapp.policy import LocalSupportLine, Policy
from sync.protocol.money import format_vnd, round_half_up

Scheme = Literal["bhyt_household", "bhxh_voluntary"]
Mode = Literal["periodic", "lump_sum", "back_payment"]

BHXH_GROUPS = ("poor", "near_poor", "ethnic_minority", "island", "other")
MIN_MEMBERS = 1
MAX_MEMBERS = 50

# Deadline of a BHXH tự nguyện period, counted in months from the start month (NĐ 159/2025):
# monthly within the month, 3-monthly within the 3 months, 6-monthly within the first 4,
# 12-monthly within the first 7.
_BHXH_DUE_MONTH = {1: 1, 3: 3, 6: 4, 12: 7}


@dataclass(frozen=True)
class ResultLine:
    """One detail line for display; amounts are rounded per line, totals are rounded once."""

    kind: str
    label_vi: str
    label_en: str
    monthly: int
    months: int
    total: int

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def exact(
        cls, kind: str, vi: str, en: str, *, monthly: Fraction, months: int, total: Fraction
    ) -> ResultLine:
        """A line from exact amounts, each rounded to đồng once."""
        return cls(kind, vi, en, round_half_up(monthly), months, round_half_up(total))


@dataclass(frozen=True)
class ContributionResult:
    """What a pledge costs: gross, the state's and the province's support, and what is payable."""

    scheme: Scheme
    mode: Mode
    on: date
    months: int
    gross: int
    central_support: int
    local_support: int
    payable: int
    policy_version: str
    lines: tuple[ResultLine, ...]
    notes: tuple[str, ...]
    notes_vi: tuple[str, ...] = ()
    # Policy items behind this result whose figures are unconfirmed, for the UI to mark.
    unconfirmed: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {
            "scheme": self.scheme,
            "mode": self.mode,
            "on": self.on.isoformat(),
            "months": self.months,
            "gross": self.gross,
            "central_support": self.central_support,
            "local_support": self.local_support,
            "payable": self.payable,
            "policy_version": self.policy_version,
            "lines": [line.as_dict() for line in self.lines],
            "notes": list(self.notes),
            "notes_vi": list(self.notes_vi),
            "unconfirmed": list(self.unconfirmed),
        }


class _Notes:
    """Collects bilingual notes and the unconfirmed items a result rests on."""

    def __init__(self) -> None:
        self.en: list[str] = []
        self.vi: list[str] = []
        self.unconfirmed: list[str] = []

    def add(self, vi: str, en: str) -> None:
        self.vi.append(vi)
        self.en.append(en)

    def check(self, policy: Policy, key: str, on: date, vi: str, en: str, group: str = "") -> None:
        if policy.is_unconfirmed(key, on, group or None):
            name = f"{key}.{group}" if group else key
            if name not in self.unconfirmed:
                self.unconfirmed.append(name)
                self.add(f"{vi} chưa được xác nhận", f"{en} is unconfirmed")


# How the support groups read on screen and on paper.
GROUP_NAMES: dict[str, tuple[str, str]] = {
    "poor": ("hộ nghèo", "poor household"),
    "near_poor": ("hộ cận nghèo", "near-poor household"),
    "ethnic_minority": ("người dân tộc thiểu số", "ethnic minority"),
    "island": ("người sống ở xã đảo, đặc khu", "island or special-zone resident"),
    "other": ("đối tượng khác", "other participants"),
    "student": ("học sinh, sinh viên", "student"),
    "agri_average": ("hộ nông nghiệp có mức sống trung bình", "average-income farming household"),
}


def group_name(group: str, lang: str = "vi") -> str:
    """The group's name in Vietnamese or English (the code itself when unknown)."""
    vi, en = GROUP_NAMES.get(group, (group, group))
    return en if lang == "en" else vi


def _refuse(field_name: str, code: str, vi: str, en: str) -> ValidationError:
    return ValidationError([Problem(field=field_name, code=code, vi=vi, en=en)])


def _require_int(value: object, field_name: str, vi_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(
            field_name,
            "not_integer",
            f"{vi_name} phải là số nguyên",
            f"{field_name} must be a whole number",
        )
    return value


def _require_in(value: int, allowed: Sequence[int], field_name: str, vi_name: str) -> None:
    if value not in allowed:
        listed = ", ".join(str(a) for a in allowed)
        raise _refuse(
            field_name,
            "not_allowed",
            f"{vi_name} phải là một trong: {listed} (nhận được {value})",
            f"{field_name} must be one of: {listed} (got {value})",
        )


def _require_between(value: int, low: int, high: int, field_name: str, vi_name: str) -> None:
    if not low <= value <= high:
        raise _refuse(
            field_name,
            "out_of_range",
            f"{vi_name} phải từ {low} đến {high} (nhận được {value})",
            f"{field_name} must be between {low} and {high} (got {value})",
        )


def _pct(share: Fraction) -> str:
    """A share for labels: 7/10 → "70", 9/200 → "4.5"."""
    pct = share * 100
    if pct.denominator == 1:
        return str(pct.numerator)
    return format(Decimal(pct.numerator) / Decimal(pct.denominator), "f").rstrip("0")


def _best_local_line(
    lines: Sequence[LocalSupportLine], base: Fraction
) -> tuple[LocalSupportLine | None, Fraction]:
    # Like the central rule, a person in several supported groups gets the highest line.
    best: LocalSupportLine | None = None
    best_amount = Fraction(0)
    for line in lines:
        amount = line.share * base if line.share is not None else Fraction(line.amount or 0)
        if best is None or amount > best_amount:
            best, best_amount = line, amount
    return best, best_amount


def _local_note(notes: _Notes, line: LocalSupportLine) -> None:
    notes.add(
        f"Hỗ trợ của địa phương (tỉnh {line.province}): {line.source}",
        f"Local support (province {line.province}): {line.source}",
    )
    if line.unconfirmed:
        name = f"local_support.{line.province}.{line.scheme}.{line.group}"
        notes.unconfirmed.append(name)
        notes.add(
            f"Mức hỗ trợ của tỉnh {line.province} chưa được xác nhận",
            f"Local support of province {line.province} is unconfirmed",
        )


# BHYT hộ gia đình ---------------------------------------------------------------------------


def bhyt_household(
    policy: Policy,
    *,
    members: int,
    months: int,
    on: date,
    covered_elsewhere: int = 0,
    support_group: str | None = None,
    province: str | None = None,
) -> ContributionResult:
    """BHYT for the members of a household who join through it, for a 3, 6 or 12-month period.

    Members whose card another group already pays for are not counted in `members`;
    `covered_elsewhere` only records how many there are.
    """
    members = _require_int(members, "members", "Số người tham gia")
    months = _require_int(months, "months", "Số tháng đóng")
    covered_elsewhere = _require_int(covered_elsewhere, "covered_elsewhere", "Số người đã có thẻ")
    _require_between(members, MIN_MEMBERS, MAX_MEMBERS, "members", "Số người tham gia")
    if covered_elsewhere < 0:
        raise _refuse(
            "covered_elsewhere",
            "out_of_range",
            "Số người đã có thẻ BHYT ở nhóm khác không được âm",
            "covered_elsewhere must not be negative",
        )
    _require_in(months, policy.bhyt_periods(on), "months", "Số tháng đóng")
    share = Fraction(0)
    if support_group is not None:
        if support_group in policy.bhyt.covered_elsewhere_groups:
            raise _refuse(
                "support_group",
                "covered_elsewhere",
                f"Nhóm '{support_group}' được cấp thẻ BHYT theo nhóm khác, không tham gia "
                "theo hộ gia đình",
                f"Group '{support_group}' is covered by another group and does not join "
                "through the household",
            )
        share = policy.bhyt_support_share(support_group, on)

    notes = _Notes()
    base = policy.base_figure(on)
    rate = policy.bhyt_rate(on)
    ladder = policy.bhyt_ladder(on)
    notes.check(policy, "base_figure", on, "Lương cơ sở", "The base figure")
    notes.check(policy, "bhyt_household.rate_pct", on, "Tỷ lệ đóng BHYT", "The BHYT rate")
    notes.check(policy, "bhyt_household.ladder_pct", on, "Mức giảm theo thứ tự", "The ladder")

    lines: list[ResultLine] = []
    exact_monthly: list[Fraction] = []
    for position in range(1, members + 1):
        step = ladder[min(position, len(ladder)) - 1]
        monthly = step * rate * base
        exact_monthly.append(monthly)
        lines.append(
            ResultLine.exact(
                "member",
                f"Người thứ {position} ({_pct(step)}% × {_pct(rate)}% lương cơ sở)",
                f"Member {position} ({_pct(step)}% × {_pct(rate)}% of the base figure)",
                monthly=monthly,
                months=months,
                total=monthly * months,
            )
        )
    gross_exact = sum(exact_monthly, Fraction(0)) * months
    gross = round_half_up(gross_exact)

    central_exact = share * gross_exact
    if support_group is not None:
        notes.check(
            policy,
            "bhyt_household.support_pct",
            on,
            f"Mức hỗ trợ cho nhóm {group_name(support_group)}",
            f"The support share for {group_name(support_group, 'en')}",
            group=support_group,
        )
        lines.append(
            ResultLine.exact(
                "central_support",
                f"Ngân sách nhà nước hỗ trợ {_pct(share)}% ({group_name(support_group)})",
                f"State support {_pct(share)}% ({group_name(support_group, 'en')})",
                monthly=share * sum(exact_monthly, Fraction(0)),
                months=months,
                total=central_exact,
            )
        )

    local_exact = Fraction(0)
    if province is not None:
        groups = [support_group] if support_group is not None else []
        candidates = [
            line
            for line in policy.local_support_lines(province, "bhyt_household", on)
            if line.covers(groups)
        ]
        local_exact = _bhyt_local(candidates, exact_monthly, months, notes, lines)
    # The province cannot pay more than what is left after the central support.
    local_exact = min(local_exact, gross_exact - central_exact)

    if covered_elsewhere:
        notes.add(
            f"{covered_elsewhere} người đã có thẻ BHYT theo nhóm khác, không tính trong hộ",
            f"{covered_elsewhere} member(s) covered by another group, not counted",
        )
    return _result(
        "bhyt_household",
        "periodic",
        policy,
        on,
        months,
        gross,
        central_exact,
        local_exact,
        lines,
        notes,
    )


def _bhyt_local(
    candidates: Sequence[LocalSupportLine],
    exact_monthly: Sequence[Fraction],
    months: int,
    notes: _Notes,
    lines: list[ResultLine],
) -> Fraction:
    if not candidates:
        return Fraction(0)
    # A share is of each member's own amount, a fixed sum is per member per month.
    best: LocalSupportLine | None = None
    best_total = Fraction(0)
    for line in candidates:
        if line.share is not None:
            total = line.share * sum(exact_monthly, Fraction(0)) * months
        else:
            total = sum((min(Fraction(line.amount or 0), m) for m in exact_monthly), Fraction(0))
            total *= months
        if best is None or total > best_total:
            best, best_total = line, total
    assert best is not None
    _local_note(notes, best)
    lines.append(
        ResultLine.exact(
            "local_support",
            f"Địa phương hỗ trợ (tỉnh {best.province})",
            f"Local support (province {best.province})",
            monthly=best_total / months,
            months=months,
            total=best_total,
        )
    )
    return best_total


# BHXH tự nguyện -----------------------------------------------------------------------------


def bhxh_voluntary(
    policy: Policy,
    *,
    income: int,
    months: int,
    groups: Sequence[str],
    on: date,
    province: str | None = None,
    lump_years: int | None = None,
    back_months: int | None = None,
    supported_months_used: int = 0,
) -> ContributionResult:
    """BHXH tự nguyện on a chosen income: periodic, lump sum for future years, or back-payment.

    For a lump sum `months` must equal 12 × lump_years, for a back-payment back_months.
    """
    income = _require_int(income, "income", "Mức thu nhập")
    months = _require_int(months, "months", "Số tháng đóng")
    supported_months_used = _require_int(
        supported_months_used, "supported_months_used", "Số tháng đã được hỗ trợ"
    )
    chosen_groups = _check_groups(groups)
    _check_income(policy, income, on)
    max_supported = policy.max_supported_months(on)
    _require_between(
        supported_months_used, 0, max_supported, "supported_months_used", "Số tháng đã được hỗ trợ"
    )

    mode: Mode = "periodic"
    if lump_years is not None and back_months is not None:
        raise _refuse(
            "lump_years",
            "conflicting_modes",
            "Không thể vừa đóng một lần cho các năm về sau vừa đóng bù cho các tháng còn thiếu",
            "A lump sum for future years and a back-payment cannot be combined",
        )
    if lump_years is not None:
        mode = "lump_sum"
        lump_years = _require_int(lump_years, "lump_years", "Số năm đóng một lần")
        max_years = policy.lump_sum_max_years(on)
        _require_between(lump_years, 1, max_years, "lump_years", "Số năm đóng một lần")
        _require_consistent(months, 12 * lump_years)
    elif back_months is not None:
        mode = "back_payment"
        back_months = _require_int(back_months, "back_months", "Số tháng đóng bù")
        max_back = policy.back_payment_max_months(on)
        _require_between(back_months, 1, max_back, "back_months", "Số tháng đóng bù")
        _require_consistent(months, back_months)
    else:
        _require_in(months, policy.bhxh_periods(on), "months", "Số tháng đóng")

    notes = _Notes()
    rate = policy.bhxh_rate(on)
    poverty_line = policy.rural_poverty_line(on)
    notes.check(policy, "bhxh_voluntary.rate_pct", on, "Tỷ lệ đóng BHXH", "The BHXH rate")
    contribution = rate * income
    support_base = rate * poverty_line

    top_group = max(chosen_groups, key=lambda g: policy.central_support_share(g, on))
    share = policy.central_support_share(top_group, on)
    notes.check(
        policy,
        "bhxh_voluntary.central_support_pct",
        on,
        f"Mức hỗ trợ cho nhóm {group_name(top_group)}",
        f"The support share for {group_name(top_group, 'en')}",
        group=top_group,
    )
    central_monthly = share * support_base

    local_line: LocalSupportLine | None = None
    local_monthly = Fraction(0)
    if province is not None and mode != "back_payment":
        candidates = [
            line
            for line in policy.local_support_lines(province, "bhxh_voluntary", on)
            if line.covers(chosen_groups)
        ]
        local_line, local_monthly = _best_local_line(candidates, support_base)
    # Total support never exceeds the contribution itself.
    local_monthly = min(local_monthly, contribution - central_monthly)

    supported = min(months, max_supported - supported_months_used)
    if mode == "back_payment":
        supported = 0
        notes.add(
            "Đóng bù cho các tháng còn thiếu không được nhà nước hỗ trợ",
            "A back-payment for missing months gets no state support",
        )
    elif supported < months:
        notes.add(
            f"Chỉ {supported} trong {months} tháng được hỗ trợ (tối đa {max_supported} tháng)",
            f"Only {supported} of {months} months are supported (at most {max_supported})",
        )

    if mode == "periodic":
        weights = [Fraction(1)] * months
    else:
        r = policy.monthly_return_rate(on)
        notes.check(
            policy,
            "bhxh_voluntary.monthly_return_pct",
            on,
            f"Lãi suất đầu tư quỹ bình quân tháng ({_pct(r)}%)",
            f"The fund's monthly return ({_pct(r)}%)",
        )
        if mode == "lump_sum":
            # Paying ahead: month i is discounted back to the day of payment.
            weights = [1 / (1 + r) ** (i - 1) for i in range(1, months + 1)]
        else:
            # Paying late: month i carries the return the fund missed since then.
            weights = [(1 + r) ** i for i in range(1, months + 1)]

    gross_exact = contribution * sum(weights, Fraction(0))
    supported_weight = sum(weights[:supported], Fraction(0))
    central_exact = central_monthly * supported_weight
    local_exact = local_monthly * supported_weight

    lines = _bhxh_lines(mode, rate, income, months, weights, contribution)
    if central_exact:
        lines.append(
            ResultLine.exact(
                "central_support",
                (
                    f"Nhà nước hỗ trợ {_pct(share)}% × {_pct(rate)}% × "
                    f"{format_vnd(poverty_line)} ({group_name(top_group)})"
                ),
                (
                    f"State support {_pct(share)}% × {_pct(rate)}% × "
                    f"{format_vnd(poverty_line)} ({group_name(top_group, 'en')})"
                ),
                monthly=central_monthly,
                months=supported,
                total=central_exact,
            )
        )
    if local_exact and local_line is not None:
        _local_note(notes, local_line)
        lines.append(
            ResultLine.exact(
                "local_support",
                f"Địa phương hỗ trợ (tỉnh {local_line.province})",
                f"Local support (province {local_line.province})",
                monthly=local_monthly,
                months=supported,
                total=local_exact,
            )
        )
    return _result(
        "bhxh_voluntary",
        mode,
        policy,
        on,
        months,
        round_half_up(gross_exact),
        central_exact,
        local_exact,
        lines,
        notes,
    )


def _bhxh_lines(
    mode: Mode,
    rate: Fraction,
    income: int,
    months: int,
    weights: Sequence[Fraction],
    contribution: Fraction,
) -> list[ResultLine]:
    if mode == "periodic":
        return [
            ResultLine.exact(
                "contribution",
                f"Đóng {_pct(rate)}% × {format_vnd(income)}",
                f"Contribution {_pct(rate)}% × {format_vnd(income)}",
                monthly=contribution,
                months=months,
                total=contribution * months,
            )
        ]
    word_vi = "chiết khấu" if mode == "lump_sum" else "cộng lãi"
    word_en = "discounted" if mode == "lump_sum" else "with interest"
    return [
        ResultLine.exact(
            "month",
            f"Tháng {i} ({word_vi})",
            f"Month {i} ({word_en})",
            monthly=contribution * weight,
            months=1,
            total=contribution * weight,
        )
        for i, weight in enumerate(weights, start=1)
    ]


def _check_groups(groups: Sequence[str]) -> list[str]:
    allowed = ", ".join(BHXH_GROUPS)
    # A bare string is a Sequence[str] too; "poor" would otherwise read as four groups.
    if isinstance(groups, str) or not all(isinstance(g, str) for g in groups):
        raise _refuse(
            "groups",
            "not_a_list",
            f"Nhóm đối tượng phải là một danh sách gồm: {allowed}",
            f"groups must be a list of: {allowed}",
        )
    unknown = [g for g in groups if g not in BHXH_GROUPS]
    if unknown:
        raise _refuse(
            "groups",
            "unknown_group",
            f"Nhóm không hợp lệ: {', '.join(unknown)}; các nhóm được phép: {allowed}",
            f"Unknown group(s): {', '.join(unknown)}; allowed groups: {allowed}",
        )
    # Everyone belongs to "other" at least, so an empty list is the general case.
    return list(dict.fromkeys(groups)) or ["other"]


def _check_income(policy: Policy, income: int, on: date) -> None:
    floor = policy.rural_poverty_line(on)
    ceiling = policy.bhxh_ceiling(on)
    if not floor <= income <= ceiling:
        span = f"{format_vnd(floor)} – {format_vnd(ceiling)}"
        raise _refuse(
            "income",
            "income_out_of_range",
            f"Mức thu nhập làm căn cứ đóng phải trong khoảng {span} (nhận được "
            f"{format_vnd(income)})",
            f"The income must be within {span} (got {format_vnd(income)})",
        )


def _require_consistent(months: int, implied: int) -> None:
    if months != implied:
        raise _refuse(
            "months",
            "months_inconsistent",
            f"Số tháng đóng phải là {implied} cho cách đóng này (nhận được {months})",
            f"months must be {implied} for this way of paying (got {months})",
        )


def _result(
    scheme: Scheme,
    mode: Mode,
    policy: Policy,
    on: date,
    months: int,
    gross: int,
    central_exact: Fraction,
    local_exact: Fraction,
    lines: list[ResultLine],
    notes: _Notes,
) -> ContributionResult:
    central = round_half_up(central_exact)
    local = min(round_half_up(local_exact), gross - central)
    return ContributionResult(
        scheme=scheme,
        mode=mode,
        on=on,
        months=months,
        gross=gross,
        central_support=central,
        local_support=local,
        payable=gross - central - local,
        policy_version=policy.version,
        lines=tuple(lines),
        notes=tuple(notes.en),
        notes_vi=tuple(notes.vi),
        unconfirmed=tuple(notes.unconfirmed),
    )


# Deadlines ----------------------------------------------------------------------------------


def due_date(scheme: str, months: int, start: date, *, mode: str = "periodic") -> date:
    """The last day to pay a period that starts on `start`."""
    if scheme == "bhyt_household":
        return start
    if scheme != "bhxh_voluntary":
        raise _refuse(
            "scheme",
            "unknown_scheme",
            f"Loại bảo hiểm không hợp lệ: '{scheme}' (bhyt_household, bhxh_voluntary)",
            f"Unknown scheme '{scheme}' (bhyt_household, bhxh_voluntary)",
        )
    if mode in ("lump_sum", "back_payment"):
        return start
    if mode != "periodic":
        raise _refuse(
            "mode",
            "unknown_mode",
            f"Cách đóng không hợp lệ: '{mode}' (periodic, lump_sum, back_payment)",
            f"Unknown mode '{mode}' (periodic, lump_sum, back_payment)",
        )
    _require_in(months, tuple(_BHXH_DUE_MONTH), "months", "Số tháng đóng")
    month_index = start.month - 1 + _BHXH_DUE_MONTH[months] - 1
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])
