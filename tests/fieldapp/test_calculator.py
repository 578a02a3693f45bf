"""Tests for the contribution calculator: worked examples, refusals and properties."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import date
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldapp.calculator import (
    BHXH_GROUPS,
    BhytPerson,
    ContributionResult,
    bhxh_voluntary,
    bhyt_household,
    bhyt_people,
    bhyt_people_payable,
    due_date,
)
from fieldapp.errors import ValidationError
from fieldapp.policy import Policy, load_policy
from sync.protocol.errors import FieldappError
from tests.fieldapp.samples import local_line, with_local_lines

POLICY = load_policy()
MARCH_2026 = date(2026, 3, 1)
JULY_2026 = date(2026, 7, 1)


def local_policy() -> Policy:
    """The shipped tables plus three made-up provincial lines for province 04."""
    return Policy.from_dict(
        with_local_lines(
            "test-local",
            local_line(
                "bhxh_voluntary",
                "near_poor",
                to="2026-12-31",
                share_pct="10",
                source="NQ thử nghiệm 1",
                unconfirmed=False,
            ),
            local_line(
                "bhxh_voluntary", "all", amount=10_000, source="NQ thử nghiệm 2", unconfirmed=True
            ),
            local_line(
                "bhyt_household", "all", amount=20_000, source="NQ thử nghiệm 3", unconfirmed=False
            ),
        )
    )


# The case each BHYT and BHXH test starts from: three members for a year from July 2026, and a
# near-poor person paying one month at the floor from March 2026.
BHYT_CASE: dict[str, Any] = {"members": 3, "months": 12, "on": JULY_2026}
BHXH_CASE: dict[str, Any] = {
    "income": 1_500_000,
    "months": 1,
    "groups": ["near_poor"],
    "on": MARCH_2026,
}


def bhyt(policy: Policy = POLICY, **changes: Any) -> ContributionResult:
    """BHYT hộ gia đình for BHYT_CASE; keyword arguments change the case."""
    return bhyt_household(policy, **{**BHYT_CASE, **changes})


def bhxh(policy: Policy = POLICY, **changes: Any) -> ContributionResult:
    """BHXH tự nguyện for BHXH_CASE; keyword arguments change the case."""
    return bhxh_voluntary(policy, **{**BHXH_CASE, **changes})


def refused(
    calculate: Callable[..., ContributionResult], changes: dict[str, Any], field: str, fragment: str
) -> tuple[str, str]:
    """Check that a calculation is refused on the field, its English message saying the
    fragment; the Vietnamese and English messages."""
    with pytest.raises(ValidationError) as info:
        calculate(**changes)
    problem = info.value.problems[0]
    assert problem.field == field
    assert fragment in problem.en
    return problem.vi, problem.en


# BHYT hộ gia đình -----------------------------------------------------------------------------


def test_bhyt_worked_example() -> None:
    result = bhyt()
    assert result.gross == 3_142_260
    assert result.payable == 3_142_260
    assert result.central_support == result.local_support == 0
    assert result.scheme == "bhyt_household"
    assert result.mode == "periodic"
    assert result.policy_version == "vn-2026.12"
    assert bhyt(months=6).gross == 1_571_130


@pytest.mark.parametrize(
    ("on", "monthly", "yearly"),
    [
        (
            date(2025, 1, 1),
            [105_300, 73_710, 63_180, 52_650, 42_120, 42_120],
            [1_263_600, 884_520, 758_160, 631_800, 505_440, 505_440],
        ),
        (
            JULY_2026,
            [113_850, 79_695, 68_310, 56_925, 45_540, 45_540],
            [1_366_200, 956_340, 819_720, 683_100, 546_480, 546_480],
        ),
    ],
)
def test_bhyt_amount_per_position(on: date, monthly: list[int], yearly: list[int]) -> None:
    result = bhyt(members=6, on=on)
    assert [line.monthly for line in result.lines] == monthly
    assert [line.total for line in result.lines] == yearly
    assert result.gross == sum(yearly)
    assert all(line.kind == "member" for line in result.lines)


def test_bhyt_individual_group_pays_without_the_ladder_and_covered_members_are_noted() -> None:
    # Near-poor people each pay 4.5 % of the base with 70 % state support (confirmed), not
    # the household ladder (DOMAIN.md §2).
    result = bhyt(members=2, covered_elsewhere=1, support_group="near_poor")
    gross = 2 * 1_366_200
    assert result.gross == gross
    assert result.central_support == gross * 7 // 10
    assert result.payable == gross - gross * 7 // 10
    assert [p.position for p in result.people] == [None, None]
    assert "bhyt_household.support_pct.near_poor" not in result.unconfirmed
    assert any("1 member(s) covered" in note for note in result.notes)
    farming = bhyt(members=1, support_group="agri_average")
    assert "bhyt_household.support_pct.agri_average" in farming.unconfirmed
    assert any("chưa được xác nhận" in note for note in farming.notes_vi)


def test_bhyt_local_support_is_per_member_per_month() -> None:
    result = bhyt(local_policy(), province="04")
    assert result.local_support == 3 * 12 * 20_000
    assert result.payable == 3_142_260 - 720_000
    assert result.lines[-1].kind == "local_support"
    other = bhyt(local_policy(), province="08")
    assert other.local_support == 0


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"members": 0}, "members", "1 and 50"),
        ({"members": 51}, "members", "1 and 50"),
        ({"months": 2}, "months", "3, 6, 12"),
        ({"months": 1}, "months", "3, 6, 12"),
        ({"support_group": "poor"}, "support_group", "another group"),
        ({"support_group": "farmer"}, "support_group", "household, near_poor, student"),
        ({"covered_elsewhere": -1}, "covered_elsewhere", "negative"),
        ({"on": date(2019, 6, 30)}, "on", "2019-07-01"),
        ({"members": True}, "members", "whole number"),
    ],
)
def test_bhyt_refusals(kwargs: dict[str, Any], field: str, fragment: str) -> None:
    """Each argument out of its range is refused on its own field, in both languages."""
    vi, en = refused(bhyt, kwargs, field, fragment)
    assert vi and vi != en


# BHXH tự nguyện -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "payable", "support"),
    [
        (["near_poor"], 198_000, 132_000),
        (["poor"], 165_000, 165_000),
        (["island"], 165_000, 165_000),
        (["ethnic_minority"], 231_000, 99_000),
        (["other"], 264_000, 66_000),
        ([], 264_000, 66_000),
        (["near_poor", "ethnic_minority"], 198_000, 132_000),
        (["ethnic_minority", "near_poor", "other"], 198_000, 132_000),
    ],
)
def test_bhxh_worked_examples(groups: list[str], payable: int, support: int) -> None:
    result = bhxh(groups=groups)
    assert result.gross == 330_000
    assert result.central_support == support
    assert result.payable == payable
    assert result.local_support == 0
    assert result.mode == "periodic"


def test_bhxh_near_poor_year() -> None:
    result = bhxh(months=12)
    assert result.gross == 3_960_000
    assert result.payable == 2_376_000


def test_bhxh_lump_sum_worked_example() -> None:
    result = bhxh(months=60, groups=["other"], lump_years=5)
    assert result.gross == 18_098_148
    assert result.mode == "lump_sum"
    assert result.months == 60
    assert len([line for line in result.lines if line.kind == "month"]) == 60
    assert "bhxh_voluntary.monthly_return_pct" in result.unconfirmed
    r = Fraction(31, 10_000)
    support = sum(Fraction(66_000) / (1 + r) ** i for i in range(60))
    assert result.central_support == int(support + Fraction(1, 2))
    assert result.payable == result.gross - result.central_support


def test_bhxh_lump_sum_support_stops_at_the_cap() -> None:
    result = bhxh(months=24, lump_years=2, supported_months_used=110)
    r = Fraction(31, 10_000)
    support = sum(Fraction(132_000) / (1 + r) ** i for i in range(10))
    assert result.central_support == int(support + Fraction(1, 2))
    assert any("Only 10 of 24" in note for note in result.notes)


def test_bhxh_back_payment() -> None:
    result = bhxh(income=2_000_000, months=36, groups=["poor"], back_months=36)
    r = Fraction(31, 10_000)
    expected = sum(Fraction(440_000) * (1 + r) ** i for i in range(1, 37))
    assert result.gross == int(expected + Fraction(1, 2))
    assert result.gross > 36 * 440_000
    assert result.central_support == result.local_support == 0
    assert result.payable == result.gross
    assert result.mode == "back_payment"


def test_bhxh_supported_months_cap() -> None:
    partly = bhxh(months=3, supported_months_used=119)
    assert partly.central_support == 132_000
    exhausted = bhxh(months=3, supported_months_used=120)
    assert exhausted.central_support == 0
    assert exhausted.payable == exhausted.gross == 990_000


def test_bhxh_support_is_on_the_poverty_line_not_the_income() -> None:
    result = bhxh(income=10_000_000)
    assert result.gross == 2_200_000
    assert result.central_support == 132_000


def test_bhxh_local_support_from_a_fixture_policy() -> None:
    policy = local_policy()
    near_poor = bhxh(policy, province="04")
    # 10 % of 22 % × 1,500,000 = 33,000 beats the flat 10,000 line for everyone.
    assert near_poor.local_support == 33_000
    assert near_poor.payable == 198_000 - 33_000
    assert near_poor.policy_version == "test-local"
    assert any("NQ thử nghiệm 1" in note for note in near_poor.notes_vi)

    other = bhxh(policy, months=12, groups=["other"], province="04")
    assert other.local_support == 120_000
    assert any(name.startswith("local_support.04") for name in other.unconfirmed)

    after = bhxh(policy, income=2_200_000, on=date(2027, 2, 1), province="04")
    assert after.local_support == 10_000
    elsewhere = bhxh(policy, province="08")
    assert elsewhere.local_support == 0


def test_bhxh_lump_sum_discounts_local_support_too() -> None:
    result = bhxh(local_policy(), months=12, province="04", lump_years=1)
    r = Fraction(31, 10_000)
    weight = sum(1 / (1 + r) ** i for i in range(12))
    assert result.local_support == int(33_000 * weight + Fraction(1, 2))
    assert result.central_support == int(132_000 * weight + Fraction(1, 2))


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"income": 1_499_999}, "income", "1.500.000 đ – 46.800.000 đ"),
        ({"income": 46_800_001}, "income", "1.500.000 đ – 46.800.000 đ"),
        ({"income": 50_600_001, "on": JULY_2026}, "income", "1.500.000 đ – 50.600.000 đ"),
        ({"income": 2_000_000, "on": date(2027, 1, 1)}, "income", "2.200.000 đ – 50.600.000 đ"),
        ({"months": 2}, "months", "1, 3, 6, 12"),
        ({"months": 24}, "months", "1, 3, 6, 12"),
        ({"groups": ["farmer"]}, "groups", "poor, near_poor, ethnic_minority, island, other"),
        ({"groups": "poor"}, "groups", "must be a list"),
        ({"lump_years": 6, "months": 72}, "lump_years", "between 1 and 5"),
        ({"lump_years": 0, "months": 0}, "lump_years", "between 1 and 5"),
        ({"lump_years": 2, "months": 12}, "months", "must be 24"),
        ({"back_months": 61, "months": 61}, "back_months", "between 1 and 60"),
        ({"back_months": 10, "months": 1}, "months", "must be 10"),
        ({"back_months": 10, "lump_years": 1, "months": 12}, "lump_years", "cannot be combined"),
        ({"supported_months_used": 121}, "supported_months_used", "between 0 and 120"),
        ({"supported_months_used": -1}, "supported_months_used", "between 0 and 120"),
        ({"on": date(2025, 6, 30)}, "on", "from 2025-07-01"),
        ({"income": 1_500_000.0}, "income", "whole number"),
    ],
)
def test_bhxh_refusals(kwargs: dict[str, Any], field: str, fragment: str) -> None:
    """Each argument out of its range is refused on its own field; income ranges in đồng."""
    vi, _en = refused(bhxh, kwargs, field, fragment)
    if " đ – " in fragment:
        assert fragment in vi
        assert "Mức thu nhập" in vi


def test_as_dict_is_json_ready() -> None:
    data = bhxh(months=12).as_dict()
    assert json.loads(json.dumps(data)) == data
    for key in ("gross", "central_support", "local_support", "payable"):
        assert type(data[key]) is int
    assert data["policy_version"] == "vn-2026.12"
    assert data["on"] == "2026-03-01"


# Deadlines ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("months", "start", "due"),
    [
        (1, date(2026, 2, 10), date(2026, 2, 28)),
        (1, date(2028, 2, 1), date(2028, 2, 29)),
        (3, date(2026, 3, 1), date(2026, 5, 31)),
        (6, date(2026, 3, 1), date(2026, 6, 30)),
        (12, date(2026, 3, 1), date(2026, 9, 30)),
        (12, date(2026, 11, 15), date(2027, 5, 31)),
        (3, date(2026, 12, 1), date(2027, 2, 28)),
    ],
)
def test_bhxh_due_dates(months: int, start: date, due: date) -> None:
    assert due_date("bhxh_voluntary", months, start) == due


def test_other_due_dates() -> None:
    start = date(2026, 7, 1)
    assert due_date("bhyt_household", 12, start) == start
    assert due_date("bhxh_voluntary", 60, start, mode="lump_sum") == start
    assert due_date("bhxh_voluntary", 12, start, mode="back_payment") == start
    with pytest.raises(ValidationError):
        due_date("bhxh_voluntary", 2, start)
    with pytest.raises(ValidationError):
        due_date("pension", 1, start)
    with pytest.raises(ValidationError):
        due_date("bhxh_voluntary", 1, start, mode="weekly")


# Properties -----------------------------------------------------------------------------------

dates = st.dates(min_value=date(2025, 7, 1), max_value=date(2029, 12, 31))
group_lists = st.lists(st.sampled_from(BHXH_GROUPS), max_size=3)


def _check_invariants(result: ContributionResult) -> None:
    assert 0 <= result.payable <= result.gross
    assert result.central_support >= 0
    assert result.local_support >= 0
    assert result.gross == result.payable + result.central_support + result.local_support


@st.composite
def bhxh_cases(draw: st.DrawFn) -> dict[str, Any]:
    on = draw(dates)
    income = draw(st.integers(POLICY.rural_poverty_line(on), POLICY.bhxh_ceiling(on)) | st.just(0))
    args: dict[str, Any] = {
        "on": on,
        "income": income or POLICY.rural_poverty_line(on),
        "groups": draw(group_lists),
        "supported_months_used": draw(st.integers(0, 120)),
        "province": draw(st.sampled_from([None, "04", "08"])),
    }
    mode = draw(st.sampled_from(["periodic", "lump_sum", "back_payment"]))
    if mode == "periodic":
        args["months"] = draw(st.sampled_from([1, 3, 6, 12]))
    elif mode == "lump_sum":
        args["lump_years"] = draw(st.integers(1, 5))
        args["months"] = 12 * args["lump_years"]
    else:
        args["back_months"] = args["months"] = draw(st.integers(1, 60))
    return args


LOCAL_POLICY = local_policy()


@given(bhxh_cases())
def test_bhxh_properties(args: dict[str, Any]) -> None:
    result = bhxh_voluntary(LOCAL_POLICY, **args)
    _check_invariants(result)
    on, months = args["on"], args["months"]
    groups = args["groups"] or ["other"]
    share = max(POLICY.central_support_share(g, on) for g in groups)
    cap = share * Fraction(22, 100) * POLICY.rural_poverty_line(on) * months
    assert result.central_support <= cap
    plain = Fraction(22, 100) * args["income"] * months
    if result.mode == "periodic":
        assert result.gross == int(plain + Fraction(1, 2))
    elif result.mode == "lump_sum":
        assert result.gross <= plain
    else:
        assert result.gross >= plain
        assert result.central_support == 0


@given(
    on=st.dates(min_value=date(2019, 7, 1), max_value=date(2029, 12, 31)),
    members=st.integers(1, 49),
    months=st.sampled_from([3, 6, 12]),
    support_group=st.sampled_from([None, "near_poor", "student", "agri_average"]),
)
def test_bhyt_properties(on: date, members: int, months: int, support_group: str | None) -> None:
    result = bhyt_household(
        LOCAL_POLICY,
        members=members,
        months=months,
        on=on,
        support_group=support_group,
        province="04",
    )
    _check_invariants(result)
    monthly = [line.monthly for line in result.lines if line.kind == "member"]
    assert len(monthly) == members
    assert all(later <= earlier for earlier, later in itertools.pairwise(monthly))
    bigger = bhyt_household(LOCAL_POLICY, members=members + 1, months=months, on=on)
    smaller = bhyt_household(LOCAL_POLICY, members=members, months=months, on=on)
    assert bigger.gross >= smaller.gross
    assert bigger.payable >= smaller.payable


# The payable alone (Today's amounts) and the whole quote (the pledge form) --------------------

# Province 04 supports near-poor members by a share (with the state's 70 %, more than the
# gross: the province's part is cut to what is left) and everyone by a fixed amount.
PAYABLE_POLICY = Policy.from_dict(
    with_local_lines(
        "test-payable",
        local_line(
            "bhyt_household", "near_poor", share_pct="40", source="NQ thử 1", unconfirmed=True
        ),
        local_line("bhyt_household", "all", amount=15_000, source="NQ thử 2", unconfirmed=False),
    )
)
PAYING_GROUPS = ("household", *PAYABLE_POLICY.bhyt_support_groups())


@given(
    on=st.dates(min_value=date(2019, 7, 1), max_value=date(2029, 12, 31)),
    groups=st.lists(st.sampled_from(PAYING_GROUPS), min_size=1, max_size=9),
    already=st.integers(0, 6),
    months=st.sampled_from([3, 6, 12]),
    province=st.sampled_from([None, "04", "08"]),
)
def test_the_payable_alone_is_the_whole_quotes_payable(
    on: date, groups: list[str], already: int, months: int, province: str | None
) -> None:
    people = [BhytPerson(group=g, label=f"Người {n}") for n, g in enumerate(groups, 1)]
    case: dict[str, Any] = {
        "people": people,
        "months": months,
        "on": on,
        "already_enrolled": already,
        "province": province,
        "field_name": "member_ids",
    }
    whole = bhyt_people(PAYABLE_POLICY, **case)
    assert bhyt_people_payable(PAYABLE_POLICY, **case) == whole.payable


def test_the_payable_alone_cuts_the_provinces_part_as_the_whole_quote_does() -> None:
    # Near-poor: the state pays 70 %, the province 40 % of the same gross: 10 % is cut.
    case: dict[str, Any] = {
        "people": [BhytPerson(group="near_poor"), BhytPerson(group="household")],
        "months": 12,
        "on": date(2026, 12, 1),
        "province": "04",
    }
    whole = bhyt_people(PAYABLE_POLICY, **case)
    assert whole.local_support < whole.gross - whole.central_support
    assert bhyt_people_payable(PAYABLE_POLICY, **case) == whole.payable > 0


@pytest.mark.parametrize(
    "change",
    [
        {"people": []},
        {"people": [BhytPerson(group="poor")]},  # covered by the state: nothing to collect
        {"people": [BhytPerson(group="no_such_group")]},
        {"people": [BhytPerson()] * 51},
        {"months": 5},
        {"months": True},
        {"months": "12"},
        {"already_enrolled": -1},
        {"already_enrolled": 51},
        {"on": date(2019, 1, 1)},  # before the tables begin
    ],
    ids=lambda change: repr(change)[:40],
)
def test_the_payable_alone_refuses_what_the_whole_quote_refuses(change: dict[str, Any]) -> None:
    case: dict[str, Any] = {
        "people": [BhytPerson()],
        "months": 12,
        "on": date(2026, 12, 1),
        "province": "04",
        "field_name": "member_ids",
        **change,
    }
    with pytest.raises(FieldappError) as whole:
        bhyt_people(PAYABLE_POLICY, **case)
    with pytest.raises(FieldappError) as alone:
        bhyt_people_payable(PAYABLE_POLICY, **case)
    assert type(alone.value) is type(whole.value)
    assert (alone.value.vi, alone.value.en) == (whole.value.vi, whole.value.en)
