"""Contribution calculator for BHYT hộ gia đình and BHXH tự nguyện: pure functions over a Policy."""

from __future__ import annotations

import calendar
import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Literal, NamedTuple

from fieldapp.errors import Problem, ValidationError
from fieldapp.periods import add_months, month_start, period_end
from fieldapp.policy import LocalSupportLine, Policy
from sync.protocol.frozen import frozen
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


@frozen
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


@frozen
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
    # BHYT: each person's amounts and card period, in the order asked.
    people: tuple[PersonQuote, ...] = field(default=())
    # BHXH: months whose income floor is higher than the chosen income, and the months the
    # state supports (the rest hit the lifetime cap).
    floor_changes: tuple[FloorChange, ...] = field(default=())
    supported_months: int = 0

    @property
    def card_valid_from(self) -> date | None:
        """The earliest first valid day of the cards paid for (None when not computed)."""
        days = [p.card_valid_from for p in self.people if p.card_valid_from is not None]
        return min(days) if days else None

    @property
    def card_valid_to(self) -> date | None:
        days = [p.card_valid_to for p in self.people if p.card_valid_to is not None]
        return max(days) if days else None

    def as_dict(self) -> dict[str, object]:
        extra: dict[str, object] = {}
        if self.scheme == "bhyt_household":
            extra = {
                "card_valid_from": _iso(self.card_valid_from),
                "card_valid_to": _iso(self.card_valid_to),
                "people": [p.as_dict() for p in self.people],
            }
        else:
            extra = {
                "supported_months": self.supported_months,
                "floor_changes": [f.as_dict() for f in self.floor_changes],
            }
        return extra | {
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


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


CardRule = Literal["first_time", "renewal", "short_gap", "long_gap", "unknown"]


@frozen
class BhytPerson:
    """One person a BHYT quote is for: their group and, for a renewal, their card's last day."""

    group: str = "household"
    previous_expiry: date | None = None
    label: str = ""


@frozen
class PersonQuote:
    """One person's part of a BHYT quote; amounts add up to the result's totals exactly."""

    index: int
    label: str
    group: str
    # Place on the household ladder (counting those already enrolled); None outside it.
    position: int | None
    monthly: int
    gross: int
    central_support: int
    local_support: int
    payable: int
    card_valid_from: date | None
    card_valid_to: date | None
    card_rule: CardRule

    def as_dict(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["card_valid_from"] = _iso(self.card_valid_from)
        data["card_valid_to"] = _iso(self.card_valid_to)
        return data


@frozen
class FloorChange:
    """From `start`, the income floor is `floor`, above the chosen income, for `months` months."""

    start: date
    floor: int
    months: int

    def as_dict(self) -> dict[str, object]:
        return {"from": self.start.isoformat(), "floor": self.floor, "months": self.months}


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
    return _percent(share.numerator, share.denominator)


@functools.lru_cache(maxsize=256)
def _percent(numerator: int, denominator: int) -> str:
    # Kept by numerator and denominator (hashing a Fraction costs more than the label): a
    # quote labels the same few shares (the rate, the ladder's steps, the support shares).
    pct = Fraction(numerator * 100, denominator)
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


def card_period(
    policy: Policy, *, paid_on: date, months: int, previous_expiry: date | None
) -> tuple[date | None, date | None, CardRule]:
    """The period a card paid on `paid_on` is valid for (DOMAIN.md §2).

    First time, or after a gap of the policy's gap months or more: valid the policy's wait
    days after payment. A renewal paid before the old card ends continues from the day after
    its expiry; one paid after a shorter gap is valid from the day of payment.
    """
    rule = policy.card_rule(paid_on)
    if rule is None:
        return None, None, "unknown"
    wait_days, gap_months = rule
    kind: CardRule
    if previous_expiry is None:
        start, kind = paid_on + timedelta(days=wait_days), "first_time"
    elif paid_on <= previous_expiry:
        start, kind = previous_expiry + timedelta(days=1), "renewal"
    elif paid_on >= add_months(previous_expiry + timedelta(days=1), gap_months):
        start, kind = paid_on + timedelta(days=wait_days), "long_gap"
    else:
        start, kind = paid_on, "short_gap"
    return start, period_end(start, months), kind


def bhyt_household(
    policy: Policy,
    *,
    members: int,
    months: int,
    on: date,
    covered_elsewhere: int = 0,
    support_group: str | None = None,
    province: str | None = None,
    already_enrolled: int = 0,
    previous_expiry: date | None = None,
) -> ContributionResult:
    """BHYT for `members` people of one group (the household group unless `support_group`).

    Household-group members pay on the ladder after `already_enrolled` others of the same
    household; near-poor people, students and average-income farming households each pay the
    full rate with their own state support, without the ladder. Members covered by another
    group are not counted in `members`; `covered_elsewhere` only records how many there are.
    """
    members = _require_int(members, "members", "Số người tham gia")
    _require_between(members, MIN_MEMBERS, MAX_MEMBERS, "members", "Số người tham gia")
    covered_elsewhere = _require_int(covered_elsewhere, "covered_elsewhere", "Số người đã có thẻ")
    if covered_elsewhere < 0:
        raise _refuse(
            "covered_elsewhere",
            "out_of_range",
            "Số người đã có thẻ BHYT ở nhóm khác không được âm",
            "covered_elsewhere must not be negative",
        )
    group = "household" if support_group is None else support_group
    people = [BhytPerson(group=group, previous_expiry=previous_expiry)] * members
    result = bhyt_people(
        policy,
        people=people,
        months=months,
        on=on,
        already_enrolled=already_enrolled,
        province=province,
        field_name="support_group",
    )
    if not covered_elsewhere:
        return result
    return dataclasses.replace(
        result,
        notes=(
            *result.notes,
            f"{covered_elsewhere} member(s) covered by another group, not counted",
        ),
        notes_vi=(
            *result.notes_vi,
            f"{covered_elsewhere} người đã có thẻ BHYT theo nhóm khác, không tính trong hộ",
        ),
    )


def bhyt_people(
    policy: Policy,
    *,
    people: Sequence[BhytPerson],
    months: int,
    on: date,
    already_enrolled: int = 0,
    province: str | None = None,
    field_name: str = "group",
) -> ContributionResult:
    """BHYT for the given people of one household, paid on `on`, each by their own group."""
    months = _bhyt_checked(policy, people, months, on, already_enrolled, field_name)
    notes = _Notes()
    notes.check(policy, "base_figure", on, "Lương cơ sở", "The base figure")
    notes.check(policy, "bhyt_household.rate_pct", on, "Tỷ lệ đóng BHYT", "The BHYT rate")
    shares = _bhyt_shares(policy, people, months, on, already_enrolled, province, notes)
    rate = policy.bhyt_rate(on)
    lines: list[ResultLine] = []
    for person, one in zip(people, shares, strict=True):
        who = f"{person.label}: " if person.label else ""
        if one.step is not None:
            vi = f"{who}Người thứ {one.position} ({_pct(one.step)}% × {_pct(rate)}% lương cơ sở)"
            en = (
                f"{who}Member {one.position} ({_pct(one.step)}% × {_pct(rate)}% of the base figure)"
            )
        else:
            vi = (
                f"{who}{group_name(person.group).capitalize()} ({_pct(rate)}% lương cơ sở, "
                f"NSNN hỗ trợ {_pct(one.share)}%)"
            )
            en = (
                f"{who}{group_name(person.group, 'en').capitalize()} ({_pct(rate)}% of the "
                f"base figure, state support {_pct(one.share)}%)"
            )
        lines.append(
            ResultLine.exact("member", vi, en, monthly=one.monthly, months=months, total=one.gross)
        )
    if already_enrolled:
        notes.add(
            f"{already_enrolled} người trong hộ đã tham gia trong năm: người tiếp theo tính từ "
            f"người thứ {already_enrolled + 1}",
            f"{already_enrolled} member(s) of the household already enrolled this year: the "
            f"next one counts from member {already_enrolled + 1}",
        )

    exact = [(one.gross, one.central, one.local) for one in shares]
    central_exact = sum((c for _, c, _ in exact), Fraction(0))
    local_exact = sum((lo for _, _, lo in exact), Fraction(0))
    if central_exact:
        lines.append(
            ResultLine.exact(
                "central_support",
                "Ngân sách nhà nước hỗ trợ",
                "State support",
                monthly=central_exact / months,
                months=months,
                total=central_exact,
            )
        )
    if local_exact:
        lines.append(
            ResultLine.exact(
                "local_support",
                f"Địa phương hỗ trợ (tỉnh {province})",
                f"Local support (province {province})",
                monthly=local_exact / months,
                months=months,
                total=local_exact,
            )
        )
    positions = [one.position for one in shares]
    quotes = _person_quotes(policy, people, positions, exact, months, on)
    result = _result(
        "bhyt_household",
        "periodic",
        policy,
        on,
        months,
        round_half_up(sum((g for g, _, _ in exact), Fraction(0))),
        central_exact,
        local_exact,
        lines,
        notes,
    )
    if any(q.card_rule == "unknown" for q in quotes):
        notes.add(
            "Bảng chính sách không có quy định về ngày thẻ có giá trị",
            "The policy tables do not say when cards become valid",
        )
        result = dataclasses.replace(result, notes=tuple(notes.en), notes_vi=tuple(notes.vi))
    return dataclasses.replace(result, people=tuple(quotes))


def bhyt_people_payable(
    policy: Policy,
    *,
    people: Sequence[BhytPerson],
    months: int,
    on: date,
    already_enrolled: int = 0,
    province: str | None = None,
    field_name: str = "group",
) -> int:
    """What the household pays for these people: `bhyt_people(...).payable`, with the same
    checks and refusals, computed without the lines, notes and card periods a list of amounts
    does not show."""
    months = _bhyt_checked(policy, people, months, on, already_enrolled, field_name)
    shares = _bhyt_shares(policy, people, months, on, already_enrolled, province, None)
    gross = round_half_up(sum((one.gross for one in shares), Fraction(0)))
    central = sum((one.central for one in shares), Fraction(0))
    local = sum((one.local for one in shares), Fraction(0))
    return _payable(gross, central, local)[2]


def _bhyt_checked(
    policy: Policy,
    people: Sequence[BhytPerson],
    months: int,
    on: date,
    already_enrolled: int,
    field_name: str,
) -> int:
    """The checks of a BHYT quote for these people; the number of months."""
    months = _require_int(months, "months", "Số tháng đóng")
    already_enrolled = _require_int(already_enrolled, "already_enrolled", "Số người đã tham gia")
    _require_between(
        already_enrolled, 0, MAX_MEMBERS, "already_enrolled", "Số người đã tham gia trong năm"
    )
    _require_between(len(people), MIN_MEMBERS, MAX_MEMBERS, "members", "Số người tham gia")
    _require_in(months, policy.bhyt_periods(on), "months", "Số tháng đóng")
    paying = ("household", *policy.bhyt_support_groups())
    for person in people:
        _check_bhyt_group(policy, person, paying, field_name)
    return months


class _Share(NamedTuple):
    """One person's exact amounts in a BHYT quote, and what their line says."""

    position: int | None  # place on the ladder (household group only)
    step: Fraction | None  # the ladder's share for that place
    share: Fraction  # the state's support share (other groups)
    monthly: Fraction
    gross: Fraction
    central: Fraction
    local: Fraction


def _bhyt_shares(
    policy: Policy,
    people: Sequence[BhytPerson],
    months: int,
    on: date,
    already_enrolled: int,
    province: str | None,
    notes: _Notes | None,
) -> list[_Share]:
    """Each person's exact amounts: household-group members on the ladder after those already
    enrolled, the others at the full rate with their group's state support, each with the
    province's best local line. With `notes`, the unconfirmed tables and local lines used are
    noted, in the order the people come."""
    base = policy.base_figure(on)
    rate = policy.bhyt_rate(on)
    ladder = policy.bhyt_ladder(on)
    local_lines = (
        policy.local_support_lines(province, "bhyt_household", on) if province is not None else ()
    )
    shares: list[_Share] = []
    position = already_enrolled
    for person in people:
        if person.group == "household":
            if notes is not None:
                notes.check(
                    policy, "bhyt_household.ladder_pct", on, "Mức giảm theo thứ tự", "The ladder"
                )
            position += 1
            rung = ladder[min(position, len(ladder)) - 1]
            monthly = rung * rate * base
            share = Fraction(0)
            step: Fraction | None = rung
            place: int | None = position
        else:
            step, place = None, None
            monthly = rate * base
            share = policy.bhyt_support_share(person.group, on)
            if notes is not None:
                notes.check(
                    policy,
                    "bhyt_household.support_pct",
                    on,
                    f"Mức hỗ trợ cho nhóm {group_name(person.group)}",
                    f"The support share for {group_name(person.group, 'en')}",
                    group=person.group,
                )
        gross = monthly * months
        central = share * gross
        local = _bhyt_person_local(local_lines, person.group, monthly, months, notes)
        shares.append(
            _Share(place, step, share, monthly, gross, central, min(local, gross - central))
        )
    return shares


def _check_bhyt_group(
    policy: Policy, person: BhytPerson, paying: Sequence[str], field_name: str
) -> None:
    who = f"{person.label}: " if person.label else ""
    if person.group in policy.bhyt.covered_elsewhere_groups:
        raise _refuse(
            field_name,
            "covered_elsewhere",
            f"{who}nhóm '{group_name(person.group)}' đã được cấp thẻ BHYT theo nhóm khác "
            "(ngân sách, quỹ hoặc đơn vị đóng), không thu tiền qua hộ gia đình",
            f"{who}group '{group_name(person.group, 'en')}' is covered by another group (the "
            "state, the fund or an employer pays); nothing is collected through the household",
        )
    if person.group not in paying:
        raise _refuse(
            field_name,
            "not_allowed",
            f"{who}nhóm không hợp lệ '{person.group}'; các nhóm: {', '.join(paying)}",
            f"{who}unknown group '{person.group}'; groups: {', '.join(paying)}",
        )


def _bhyt_person_local(
    lines: Sequence[LocalSupportLine],
    group: str,
    monthly: Fraction,
    months: int,
    notes: _Notes | None,
) -> Fraction:
    """The province's support for one person: the best line covering their group (noted in
    `notes` when given)."""
    best: LocalSupportLine | None = None
    best_total = Fraction(0)
    for line in lines:
        if not line.covers([group]):
            continue
        if line.share is not None:
            total = line.share * monthly * months
        else:
            total = min(Fraction(line.amount or 0), monthly) * months
        if best is None or total > best_total:
            best, best_total = line, total
    if notes is not None and best is not None and best_total:
        note = f"Hỗ trợ của địa phương (tỉnh {best.province}): {best.source}"
        if note not in notes.vi:
            _local_note(notes, best)
    return best_total


def _person_quotes(
    policy: Policy,
    people: Sequence[BhytPerson],
    positions: Sequence[int | None],
    exact: Sequence[tuple[Fraction, Fraction, Fraction]],
    months: int,
    on: date,
) -> list[PersonQuote]:
    """Each person's amounts, rounded so that they add up to the rounded totals exactly.

    A person's amount is the rounded running total after them less the one before them, so
    no đồng is lost or invented between the people and the household's total.
    """
    quotes: list[PersonQuote] = []
    running = [Fraction(0)] * 3
    rounded_before = [0, 0, 0]
    for index, (person, position, amounts) in enumerate(
        zip(people, positions, exact, strict=True), start=1
    ):
        parts = []
        for k in range(3):
            running[k] += amounts[k]
            now = round_half_up(running[k])
            parts.append(now - rounded_before[k])
            rounded_before[k] = now
        gross, central, local = parts
        local = min(local, gross - central)
        valid_from, valid_to, rule = card_period(
            policy, paid_on=on, months=months, previous_expiry=person.previous_expiry
        )
        quotes.append(
            PersonQuote(
                index=index,
                label=person.label,
                group=person.group,
                position=position,
                monthly=round_half_up(amounts[0] / months),
                gross=gross,
                central_support=central,
                local_support=local,
                payable=gross - central - local,
                card_valid_from=valid_from,
                card_valid_to=valid_to,
                card_rule=rule,
            )
        )
    return quotes


# BHXH tự nguyện -----------------------------------------------------------------------------


def bhxh_voluntary(
    policy: Policy,
    *,
    income: int,
    months: int | None = None,
    groups: Sequence[str],
    on: date,
    province: str | None = None,
    lump_years: int | None = None,
    back_months: int | None = None,
    supported_months_used: int = 0,
    period_start: date | None = None,
) -> ContributionResult:
    """BHXH tự nguyện on a chosen income: periodic, lump sum for future years, or back-payment.

    For a lump sum `months` is 12 × lump_years, for a back-payment back_months (inferred when
    not given). The months paid for start in the month of `period_start` (default: `on`);
    the rules are those in force on `on`, the day of payment, and a month whose income floor
    is above the chosen income is named in a warning.
    """
    income = _require_int(income, "income", "Mức thu nhập")
    if months is None:
        if lump_years is not None and back_months is None:
            months = 12 * _require_int(lump_years, "lump_years", "Số năm đóng một lần")
        elif back_months is not None and lump_years is None:
            months = _require_int(back_months, "back_months", "Số tháng đóng bù")
        else:
            raise _refuse(
                "months",
                "months_required",
                "Cần số tháng đóng (1, 3, 6, 12), số năm đóng một lần hoặc số tháng đóng bù",
                "Give the months (1, 3, 6, 12), the lump-sum years or the months to back-pay",
            )
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

    floor_changes: tuple[FloorChange, ...] = ()
    if mode != "back_payment":
        floor_changes = _floor_changes(policy, income, period_start or on, months)
        for change in floor_changes:
            notes.add(
                f"Từ {change.start:%d/%m/%Y} mức thu nhập tối thiểu là "
                f"{format_vnd(change.floor)}: {change.months} tháng từ {change.start:%m/%Y} "
                f"cần thu nhập ít nhất {format_vnd(change.floor)}/tháng (đang chọn "
                f"{format_vnd(income)})",
                f"From {change.start:%d/%m/%Y} the income floor is {format_vnd(change.floor)}: "
                f"{change.months} month(s) from {change.start:%m/%Y} need an income of at least "
                f"{format_vnd(change.floor)} a month (chosen: {format_vnd(income)})",
            )

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
    result = _result(
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
    return dataclasses.replace(result, floor_changes=floor_changes, supported_months=supported)


def _floor_changes(
    policy: Policy, income: int, start: date, months: int
) -> tuple[FloorChange, ...]:
    """Where the income floor of the months paid for rises above the chosen income.

    The floor applies month by month (DOMAIN.md §3): a 12-month payment in December 2026 at
    1,500,000 covers months from 2027-01-01, when the floor is 2,200,000.
    """
    first = month_start(start)
    changes: list[FloorChange] = []
    for i in range(months):
        month = add_months(first, i)
        try:
            floor = policy.rural_poverty_line(month)
        except ValidationError:
            break  # past the policy's history: nothing known to warn about
        if floor <= income:
            continue
        if changes and changes[-1].floor == floor:
            last = changes[-1]
            changes[-1] = FloorChange(last.start, floor, last.months + 1)
        else:
            changes.append(FloorChange(month, floor, 1))
    return tuple(changes)


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


def _payable(gross: int, central_exact: Fraction, local_exact: Fraction) -> tuple[int, int, int]:
    """The state's and the province's support, rounded, and what is left to pay of `gross`
    (the province never pays more than the state leaves)."""
    central = round_half_up(central_exact)
    local = min(round_half_up(local_exact), gross - central)
    return central, local, gross - central - local


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
    central, local, payable = _payable(gross, central_exact, local_exact)
    return ContributionResult(
        scheme=scheme,
        mode=mode,
        on=on,
        months=months,
        gross=gross,
        central_support=central,
        local_support=local,
        payable=payable,
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
