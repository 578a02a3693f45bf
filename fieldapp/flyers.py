"""Personalised flyers: each household's own amounts, computed by the calculator, per audience;
and BHYT renewal reminders for the households whose cards end or have just ended."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from fieldapp.calculator import bhxh_voluntary, bhyt_household
from fieldapp.errors import ValidationError
from fieldapp.model import Household
from fieldapp.pledges import bhxh_groups_of
from fieldapp.workspace import Workspace
from sync.protocol.coverage import EXPIRING_DAYS
from sync.protocol.errors import FieldappError
from sync.protocol.labels import AUDIENCES as AUDIENCE_NAMES
from sync.protocol.money import format_vnd

# The flyer layout (and reportlab with it) is imported when flyers are made: the desktop app
# imports this module for its buttons, long before anyone prints.
if TYPE_CHECKING:
    from fieldapp.coverage import PersonCoverage
    from fieldapp.documents.flyer import FlyerData
    from fieldapp.documents.reminder import ReminderData

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
# Which households of a village to print for: those with someone not insured on the day
# (a flyer), or those with a card to renew now (a renewal reminder instead of a flyer).
ONLY = ("uninsured", "expiring")


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
    only: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> bytes:
    """One PDF with a page for every household of a village (optionally one audience only).

    only="uninsured" keeps the households where someone holds no valid BHYT card today (a
    flyer each); only="expiring" keeps those with a card on the renewal list and gives each a
    renewal reminder instead of a flyer. Raises FieldappError when no household is left.
    """
    if group is not None and group not in AUDIENCES:
        raise FieldappError(
            f"Nhóm tờ rơi không hợp lệ: {group}. Các nhóm: {', '.join(AUDIENCES)}.",
            f"Unknown flyer group: {group}. Groups: {', '.join(AUDIENCES)}.",
            code="bad_audience",
        )
    if only is not None and only not in ONLY:
        raise FieldappError(
            f"Lựa chọn hộ không hợp lệ: {only}. Chọn một trong: {', '.join(ONLY)}.",
            f"Unknown household choice: {only}. Choose one of: {', '.join(ONLY)}.",
            code="bad_only",
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
    if only == "expiring":
        on = ws.today()
        due = renewals_by_household(ws, [h.id for h in households], on=on)
        chosen = [h for h in households if h.id in due]
        if not chosen:
            raise _nobody(ws, village, only, on)
        from fieldapp.documents.reminder import render_reminders

        return render_reminders(
            [_checked_reminder(ws, h, due[h.id], language, on) for h in chosen],
            on_progress=on_progress,
            should_cancel=should_cancel,
        )
    if only == "uninsured":
        on = ws.today()
        # The stored spelling of the village (the one typed may differ in spaces or accents).
        people = ws.coverage.people(on, village=households[0].village)
        uninsured = {p.household_id for p in people if not p.insured}
        households = [h for h in households if h.id in uninsured]
        if not households:
            raise _nobody(ws, village, only, on)
    from fieldapp.documents.flyer import render_flyers

    return render_flyers(
        [_checked(ws, h, language) for h in households],
        on_progress=on_progress,
        should_cancel=should_cancel,
    )


def renewals_by_household(
    ws: Workspace, household_ids: Sequence[str], *, on: dt.date
) -> dict[str, list[PersonCoverage]]:
    """The people of these households on the renewal list of `on`, in the list's order."""
    wanted = set(household_ids)
    due: dict[str, list[PersonCoverage]] = {}
    for person, _amount in ws.coverage.renewals(on, quote=False):
        if person.household_id in wanted:
            due.setdefault(person.household_id, []).append(person)
    return due


def renewal_months(ws: Workspace, on: dt.date) -> int:
    """The card period a reminder quotes: a year where the policy offers it, else the longest."""
    periods = ws.policy.bhyt_periods(on)
    return 12 if 12 in periods else max(periods)


def reminder_for(
    ws: Workspace,
    household: Household,
    people: Sequence[PersonCoverage],
    *,
    language: str = "vi",
    on: dt.date,
) -> ReminderData:
    """A household's renewal reminder: one quote for all its people due, so the household
    ladder (the second person on pays less) applies as at the counter."""
    from fieldapp.documents.reminder import ReminderData, ReminderPerson

    if not people:
        raise ValueError("a renewal reminder names at least one person")
    months = renewal_months(ws, on)
    quote = ws.pledges.quote_household_bhyt(
        household.id, member_ids=[p.member_id for p in people], months=months, on=on
    )
    rule = ws.policy.card_rule(on)
    if rule is None:
        raise FieldappError(
            "Bảng chính sách không có quy định về thời gian chờ của thẻ BHYT",
            "The policy tables do not say how long a new BHYT card waits",
            code="policy_lacks_card_rule",
        )
    return ReminderData(
        household_head=household.head_name,
        village=household.village,
        commune_name=ws.store.meta("commune_name") or "",
        language=language,
        people=[
            ReminderPerson(
                name=p.full_name,
                card_valid_to=p.card_valid_to,
                lapsed=p.status == "lapsed",
            )
            for p in people
            if p.card_valid_to is not None
        ],
        months=months,
        amount=quote.payable,
        agent_name=ws.agent_name,
        agent_phone=ws.store.meta("agent_phone") or "",
        wait_days=rule[0],
    )


def _checked_reminder(
    ws: Workspace,
    household: Household,
    people: Sequence[PersonCoverage],
    language: str,
    on: dt.date,
) -> ReminderData:
    try:
        return reminder_for(ws, household, people, language=language, on=on)
    except ValidationError as exc:
        raise FieldappError(
            f"Không tính được số tiền gia hạn cho hộ {household.head_name}: {exc.vi}",
            f"Cannot compute the renewal amount for household {household.head_name}: {exc.en}",
            code="flyer_amounts",
        ) from exc


def _nobody(ws: Workspace, village: str, only: str, on: dt.date) -> FieldappError:
    day = on.strftime("%d/%m/%Y")
    if only == "uninsured":
        return FieldappError(
            f"Không có hộ nào ở {village} có người chưa có thẻ BHYT còn hạn ngày {day}: "
            "không in tờ rơi nào.",
            f"No household in {village} has anyone without a valid BHYT card on {day}: "
            "no flyers printed.",
            code="no_matching_households",
        )
    rule = ws.policy.card_rule(on)
    gap = f" {rule[1]}" if rule else ""
    return FieldappError(
        f"Không có hộ nào ở {village} có thẻ BHYT cần gia hạn ngày {day} (hết hạn trong "
        f"{EXPIRING_DAYS} ngày tới hoặc đã hết hạn chưa quá{gap} tháng): không in tờ nhắc nào.",
        f"No household in {village} has a BHYT card to renew on {day} (ending within "
        f"{EXPIRING_DAYS} days or ended less than{gap} months ago): no reminders printed.",
        code="no_matching_households",
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
