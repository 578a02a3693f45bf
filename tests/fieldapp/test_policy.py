"""Tests for the versioned policy tables: the shipped file, lookups by date, validation."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from fieldapp.errors import NotFoundError, ValidationError
from fieldapp.policy import Policy, PolicyFormatError, PolicySet, load_policy
from sync.protocol.errors import FieldappError
from tests.fieldapp.samples import (
    SHIPPED_POLICY,
    local_line,
    shipped_policy_dict,
    with_local_lines,
)


def two_local_lines() -> dict[str, Any]:
    """The shipped tables with one BHXH share and one BHYT amount for province 04."""
    return with_local_lines(
        "test-2026.12",
        local_line(
            "bhxh_voluntary",
            "near_poor",
            to="2026-12-31",
            share_pct="10",
            source="NQ thử nghiệm",
            unconfirmed=False,
        ),
        local_line("bhyt_household", "all", amount=20000, source="NQ thử nghiệm", unconfirmed=True),
    )


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def test_shipped_policy_is_the_default(policy: Policy) -> None:
    assert policy.version == "vn-2026.12"
    assert policy.published == date(2026, 12, 1)
    assert policy.country == "VN"
    assert load_policy(SHIPPED_POLICY) == policy


def test_shipped_file_has_no_binary_floats() -> None:
    def walk(value: object) -> None:
        assert not isinstance(value, Decimal), value
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(json.loads(SHIPPED_POLICY.read_text(encoding="utf-8"), parse_float=Decimal))


@pytest.mark.parametrize(
    ("on", "base"),
    [
        (date(2019, 7, 1), 1_490_000),
        (date(2023, 6, 30), 1_490_000),
        (date(2023, 7, 1), 1_800_000),
        (date(2024, 7, 1), 2_340_000),
        (date(2026, 6, 30), 2_340_000),
        (date(2026, 7, 1), 2_530_000),
        (date(2030, 1, 1), 2_530_000),
    ],
)
def test_base_figure_history(policy: Policy, on: date, base: int) -> None:
    assert policy.base_figure(on) == base


def test_poverty_line_and_ceiling(policy: Policy) -> None:
    assert policy.rural_poverty_line(date(2022, 1, 1)) == 1_500_000
    assert policy.rural_poverty_line(date(2026, 12, 31)) == 1_500_000
    assert policy.rural_poverty_line(date(2027, 1, 1)) == 2_200_000
    assert policy.bhxh_ceiling(date(2026, 6, 30)) == 46_800_000
    assert policy.bhxh_ceiling(date(2026, 7, 1)) == 50_600_000


def test_rates_and_shares_are_exact(policy: Policy) -> None:
    on = date(2026, 3, 1)
    assert policy.monthly_return_rate(on) == Fraction(31, 10_000)
    assert policy.bhxh_rate(on) == Fraction(22, 100)
    assert policy.bhyt_rate(on) == Fraction(45, 1000)
    assert policy.bhyt_ladder(on) == tuple(Fraction(p, 100) for p in (100, 70, 60, 50, 40))
    assert policy.bhyt_periods(on) == (3, 6, 12)
    assert policy.bhxh_periods(on) == (1, 3, 6, 12)
    assert policy.max_supported_months(on) == 120
    assert policy.lump_sum_max_years(on) == 5
    assert policy.back_payment_max_months(on) == 60
    shares = {g: policy.central_support_share(g, on) for g in policy.central_support_groups()}
    assert shares == {
        "poor": Fraction(1, 2),
        "island": Fraction(1, 2),
        "near_poor": Fraction(2, 5),
        "ethnic_minority": Fraction(3, 10),
        "other": Fraction(1, 5),
    }
    assert policy.bhyt_support_share("near_poor", on) == Fraction(7, 10)
    # Students: at least 30 % until 30/6/2025, at least 50 % from 1/7/2025 (Law 51/2024).
    assert policy.bhyt_support_share("student", date(2025, 6, 30)) == Fraction(3, 10)
    assert policy.bhyt_support_share("student", date(2025, 7, 1)) == Fraction(1, 2)
    assert policy.bhyt_support_share("student", on) == Fraction(1, 2)
    assert policy.bhyt_support_share("agri_average", on) == Fraction(3, 10)
    assert "poor" in policy.bhyt.covered_elsewhere_groups
    # A first card waits 30 days; a gap of 3 months or more makes a card new again.
    assert policy.card_rule(on) == (30, 3)


def test_unconfirmed_items_are_marked(policy: Policy) -> None:
    on = date(2026, 3, 1)
    # The near-poor 70 % is confirmed (NĐ 188/2025); the farming households' 30 % is not.
    assert not policy.is_unconfirmed("bhyt_household.support_pct", on, "near_poor")
    assert policy.is_unconfirmed("bhyt_household.support_pct", on, "agri_average")
    assert policy.is_unconfirmed("bhxh_voluntary.monthly_return_pct", on)
    assert policy.is_unconfirmed("bhxh_voluntary.monthly_return_pct", date(2025, 8, 1))
    assert not policy.is_unconfirmed("base_figure", on)
    assert not policy.is_unconfirmed("bhxh_voluntary.central_support_pct", on, "near_poor")
    assert not policy.is_unconfirmed("bhxh_voluntary.ceiling", on)
    assert set(policy.unconfirmed_on(on)) == {
        "bhyt_household.support_pct.agri_average",
        "bhxh_voluntary.monthly_return_pct",
    }
    entry = policy.entry("base_figure", date(2026, 7, 1))
    assert entry.source == "NĐ 161/2026/NĐ-CP"
    assert entry.value == 2_530_000


def test_unknown_item_key_is_refused(policy: Policy) -> None:
    with pytest.raises(ValidationError) as info:
        policy.entry("base_figures", date(2026, 1, 1))
    assert "rural_poverty_line" in info.value.en


def test_date_before_history_is_refused_with_the_covered_range(policy: Policy) -> None:
    with pytest.raises(ValidationError) as info:
        policy.base_figure(date(2019, 6, 30))
    assert "01/07/2019" in info.value.vi
    assert "2019-07-01" in info.value.en
    assert info.value.problems[0].field == "on"
    with pytest.raises(ValidationError) as info:
        policy.bhxh_rate(date(2025, 6, 30))
    assert "from 2025-07-01" in info.value.en


def test_date_after_a_closed_history_is_refused() -> None:
    data = shipped_policy_dict()
    data["rural_poverty_line"] = data["rural_poverty_line"][:1]
    policy = Policy.from_dict(data)
    with pytest.raises(ValidationError) as info:
        policy.rural_poverty_line(date(2027, 1, 1))
    assert "2022-01-01 to 2026-12-31" in info.value.en
    assert "từ 01/01/2022 đến 31/12/2026" in info.value.vi


def test_unknown_group_names_the_allowed_ones(policy: Policy) -> None:
    with pytest.raises(ValidationError) as info:
        policy.central_support_share("farmer", date(2026, 1, 1))
    for group in ("poor", "near_poor", "ethnic_minority", "island", "other"):
        assert group in info.value.en
        assert group in info.value.vi


def test_local_support_lines_are_filtered_by_province_scheme_and_date() -> None:
    policy = Policy.from_dict(two_local_lines())
    on = date(2026, 5, 1)
    bhxh = policy.local_support_lines("04", "bhxh_voluntary", on)
    assert len(bhxh) == 1
    assert bhxh[0].share == Fraction(1, 10)
    assert bhxh[0].amount is None
    assert bhxh[0].covers(["near_poor", "other"])
    assert not bhxh[0].covers(["other"])
    bhyt = policy.local_support_lines("04", "bhyt_household", on)
    assert bhyt[0].amount == 20_000
    assert bhyt[0].covers([])
    assert policy.local_support_lines("08", "bhxh_voluntary", on) == ()
    assert policy.local_support_lines("04", "bhxh_voluntary", date(2027, 1, 1)) == ()
    assert policy.local_support_lines("04", "bhxh_voluntary", date(2025, 12, 31)) == ()
    assert load_policy().local_support == ()


def test_policy_set_picks_the_latest_and_replaces_by_version(tmp_path: Path) -> None:
    newer = shipped_policy_dict()
    newer["version"] = "vn-2027.01"
    newer["published"] = "2027-01-05"
    (tmp_path / "vn-2026.12.json").write_text(SHIPPED_POLICY.read_text(encoding="utf-8"), "utf-8")
    (tmp_path / "vn-2027.01.json").write_text(json.dumps(newer), "utf-8")
    policies = PolicySet.from_directory(tmp_path)
    assert policies.versions() == ("vn-2026.12", "vn-2027.01")
    assert policies.latest().version == "vn-2027.01"
    assert load_policy(tmp_path).version == "vn-2027.01"
    assert policies.get("vn-2026.12").published == date(2026, 12, 1)
    with pytest.raises(NotFoundError):
        policies.get("vn-1999.01")

    shipped = PolicySet((load_policy(),))
    grown = shipped.with_policy(Policy.from_dict(newer))
    assert grown.latest().version == "vn-2027.01"
    assert grown.with_policy(load_policy()).versions() == grown.versions()


def test_policy_set_refuses_duplicates_and_emptiness() -> None:
    policy = load_policy()
    with pytest.raises(FieldappError) as info:
        PolicySet((policy, policy))
    assert "vn-2026.12" in info.value.en
    with pytest.raises(FieldappError):
        PolicySet(())


def _broken(path: list[str | int], value: object = None, *, delete: bool = False) -> Any:
    data = copy.deepcopy(shipped_policy_dict())
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (_broken(["version"], delete=True), "version"),
        (_broken(["base_figure"], delete=True), "base_figure"),
        (_broken(["bhyt_household", "rate_pct"], delete=True), "bhyt_household.rate_pct"),
        (
            _broken(["bhxh_voluntary", "monthly_return_pct", 0, "source"], delete=True),
            "bhxh_voluntary.monthly_return_pct[0].source",
        ),
        (_broken(["base_figure", 1, "from"], "2023-13-01"), "base_figure[1].from"),
        (_broken(["base_figure", 1, "from"], "1/7/2023"), "base_figure[1].from"),
        (_broken(["published"], "2026-02-30"), "published"),
        (_broken(["base_figure", 2, "from"], "2020-01-01"), "base_figure[2].from"),
        (_broken(["base_figure", 0, "value"], 1490000.0), "base_figure[0].value"),
        (_broken(["base_figure", 0, "value"], "1490000"), "base_figure[0].value"),
        (_broken(["bhyt_household", "rate_pct", 0, "value"], 4.5), "bhyt_household.rate_pct"),
        (_broken(["bhyt_household", "rate_pct", 0, "value"], 45), "bhyt_household.rate_pct"),
        (_broken(["bhyt_household", "rate_pct", 0, "value"], "101"), "bhyt_household.rate_pct"),
        (
            _broken(["bhyt_household", "ladder_pct", 0, "value"], ["100", "60", "70"]),
            "bhyt_household.ladder_pct[0].value",
        ),
        (_broken(["base_figure", 0, "unconfirmed"], "no"), "base_figure[0].unconfirmed"),
        (_broken(["base_figure", 0, "form"], "2019-07-01"), "base_figure[0].form"),
        (_broken(["format"], 2), "format"),
        (_broken(["base_figure"], []), "base_figure"),
        (_broken(["bhxh_voluntary", "central_support_pct"], {}), "central_support_pct"),
        (
            _broken(["rural_poverty_line", 0, "to"], "2021-12-31"),
            "rural_poverty_line[0].to",
        ),
        (
            _broken(["local_support"], [{"province": "4", "scheme": "bhxh_voluntary"}]),
            "local_support[0].province",
        ),
        (
            _broken(
                ["local_support"],
                [
                    local_line(
                        "bhxh_voluntary",
                        "near_poor",
                        share_pct="10",
                        amount=10000,
                        source="x",
                        unconfirmed=False,
                    )
                ],
            ),
            "local_support[0].share_pct",
        ),
        (
            _broken(
                ["local_support"],
                [
                    local_line(
                        "bhxh_voluntary", "student", amount=10000, source="x", unconfirmed=False
                    )
                ],
            ),
            "local_support[0].group",
        ),
    ],
)
def test_malformed_policy_names_the_key(data: Any, key: str) -> None:
    with pytest.raises(PolicyFormatError) as info:
        Policy.from_dict(data)
    assert key in info.value.en
    assert key in info.value.vi
    assert info.value.vi.startswith("Tệp chính sách không hợp lệ")
    assert isinstance(info.value, FieldappError)


def test_malformed_file_names_the_file_and_key(tmp_path: Path) -> None:
    text = SHIPPED_POLICY.read_text(encoding="utf-8").replace('"value": "4.5"', '"value": 4.5')
    bad = tmp_path / "vn-bad.json"
    bad.write_text(text, "utf-8")
    with pytest.raises(PolicyFormatError) as info:
        load_policy(bad)
    assert "vn-bad.json" in info.value.en
    assert "bhyt_household.rate_pct[0].value" in info.value.en

    (tmp_path / "broken.json").write_text("{not json", "utf-8")
    with pytest.raises(PolicyFormatError) as info:
        load_policy(tmp_path / "broken.json")
    assert "line 1" in info.value.en
    assert "dòng 1" in info.value.vi


def test_card_rule_keys_go_together_and_older_tables_have_none() -> None:
    lone = shipped_policy_dict()
    del lone["bhyt_household"]["card_gap_months"]
    with pytest.raises(PolicyFormatError) as info:
        Policy.from_dict(lone)
    assert "card_wait_days and card_gap_months go together" in info.value.en
    older = shipped_policy_dict()
    del older["bhyt_household"]["card_gap_months"]
    del older["bhyt_household"]["card_wait_days"]
    assert Policy.from_dict(older).card_rule(date(2026, 12, 4)) is None
