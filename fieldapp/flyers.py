"""Personalised flyers: each household's own amounts, computed by the calculator, per audience."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from fieldapp.calculator import bhxh_voluntary, bhyt_household
from fieldapp.errors import ValidationError
from fieldapp.model import Household
from fieldapp.pledges import bhxh_groups_of
from fieldapp.workspace import Workspace
from sync.protocol.errors import FieldappError
from sync.protocol.labels import AUDIENCES as AUDIENCE_NAMES
from sync.protocol.money import format_vnd

# The flyer layout (and reportlab with it) is imported when flyers are made: the desktop app
# imports this module for its buttons, long before anyone prints.
if TYPE_CHECKING:
    from fieldapp.documents.flyer import FlyerData

# Which flyer speaks to a household, by its recorded groups (first match wins).
_AUDIENCE_BY_GROUP = (
    ("village_cadre", "village_cadre"),
    ("poor", "poor_near_poor"),
    ("near_poor", "poor_near_poor"),
    ("household_business", "household_business"),
    ("cooperative", "cooperative"),
    ("young_migrant", "young_migrant"),
    ("farmer", "agri_household"),
    ("agri_average", "agri_household"),
)
# The groups a flyer speaks to (the flyer templates have a text for each).
AUDIENCES = tuple(AUDIENCE_NAMES)


def audience_of(household: Household) -> str:
    for group, audience in _AUDIENCE_BY_GROUP:
        if group in household.groups:
            return audience
    return "agri_household"


def flyer_for(
    ws: Workspace, household: Household, *, language: str = "vi", on: dt.date | None = None
) -> FlyerData:
    """The flyer data of one household, with amounts from the policy in force on `on`."""
    from fieldapp.documents.flyer import BhxhOption, FlyerData

    on = on or ws.store.clock.today()
    policy = ws.policy
    members = ws.members.of_household(household.id)
    joining = [m for m in members if not m.covered_by]
    bhyt = (
        {
            months: bhyt_household(
                policy,
                members=len(joining),
                months=months,
                on=on,
                covered_elsewhere=len(members) - len(joining),
                province=household.province_code,
            ).payable
            for months in policy.bhyt_periods(on)
        }
        if joining
        else {}
    )
    groups = bhxh_groups_of(household.groups)
    floor = policy.rural_poverty_line(on)
    # One higher income than the floor, so people see what a better pension costs.
    options = []
    for income in (floor, 2 * floor):
        monthly = bhxh_voluntary(
            policy, income=income, months=1, groups=groups, on=on, province=household.province_code
        )
        yearly = bhxh_voluntary(
            policy, income=income, months=12, groups=groups, on=on, province=household.province_code
        )
        lump = bhxh_voluntary(
            policy,
            income=income,
            months=60,
            lump_years=5,
            groups=groups,
            on=on,
            province=household.province_code,
        )
        options.append(
            BhxhOption(
                label=format_vnd(income),
                monthly_payable=monthly.payable,
                yearly_payable=yearly.payable,
                lump_5y_payable=lump.payable,
            )
        )
    visits = ws.visits.of_household(household.id)
    # Only an appointment still to come is worth printing.
    next_visit = visits[0].next_visit if visits else None
    if next_visit is not None and next_visit < on.isoformat():
        next_visit = None
    return FlyerData(
        household_head=household.head_name,
        village=household.village,
        commune_name=ws.store.meta("commune_name") or "",
        group=audience_of(household),
        language=language,
        members=[m.full_name for m in members],
        bhyt_amounts=bhyt,
        bhxh_options=options,
        agent_name=ws.agent_name,
        agent_phone=ws.store.meta("agent_phone") or "",
        next_visit=dt.date.fromisoformat(next_visit) if next_visit else None,
        # Households with harvest months earn in seasons: show the 5-year lump sum.
        seasonal_income=bool(household.best_months),
    )


def village_flyers(
    ws: Workspace,
    *,
    village: str,
    group: str | None = None,
    language: str = "vi",
    on_progress: Callable[[int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> bytes:
    """One PDF with a flyer for every household of a village (optionally one audience only)."""
    if group is not None and group not in AUDIENCES:
        raise FieldappError(
            f"Nhóm tờ rơi không hợp lệ: {group}. Các nhóm: {', '.join(AUDIENCES)}.",
            f"Unknown flyer group: {group}. Groups: {', '.join(AUDIENCES)}.",
            code="bad_audience",
        )
    households = [
        h for h in ws.households.in_village(village) if group is None or audience_of(h) == group
    ]
    if not households:
        raise FieldappError(
            f"Không có hộ nào ở {village}" + (f" thuộc nhóm {group}." if group else "."),
            f"No households in {village}" + (f" in group {group}." if group else "."),
            code="no_households",
        )
    from fieldapp.documents.flyer import render_flyers

    return render_flyers(
        [_checked(ws, h, language) for h in households],
        on_progress=on_progress,
        should_cancel=should_cancel,
    )


def household_flyers(ws: Workspace, household_ids: Sequence[str], *, language: str = "vi") -> bytes:
    from fieldapp.documents.flyer import render_flyers

    return render_flyers([_checked(ws, ws.households.get(h), language) for h in household_ids])


def _checked(ws: Workspace, household: Household, language: str) -> FlyerData:
    try:
        return flyer_for(ws, household, language=language)
    except ValidationError as exc:
        raise FieldappError(
            f"Không tính được số tiền cho hộ {household.head_name}: {exc.vi}",
            f"Cannot compute amounts for household {household.head_name}: {exc.en}",
            code="flyer_amounts",
        ) from exc
