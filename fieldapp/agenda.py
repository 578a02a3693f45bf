"""The agent's day, in the order the work pays off: renewals before they lapse, then BHXH
periods ending, then appointments, then households with money this month and someone
uninsured.

1. Cards ending within 30 days (soonest first), then cards lapsed less than the policy's gap
   months ("renew now, no new wait"); one row per household with everyone due in it, and what
   renewing them together for a year costs (one household quote, so the ladder is right).
2. BHXH participants whose paid months end this month, with what the next period costs at
   their income.
3. Households whose appointment has come.
4. Households in their income (harvest) month with at least one resident who is not insured
   and whose card nobody else pays for.

A household appears once, under its first reason.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any, Literal

from fieldapp.model import Household
from fieldapp.participation import BHYT_COVERED_GROUPS, bhyt_group_of
from fieldapp.periods import month_end, month_start
from sync.protocol.coverage import EXPIRING_DAYS, person_status
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen

if TYPE_CHECKING:
    from fieldapp.workspace import Workspace

Kind = Literal["renew", "renew_lapsed", "bhxh", "visit_due", "income_month"]
KINDS: tuple[Kind, ...] = ("renew", "renew_lapsed", "bhxh", "visit_due", "income_month")

# Months a renewal is quoted for when the policy offers a year.
RENEWAL_MONTHS = 12
# People read from the renewal list between two progress calls.
PROGRESS_EVERY = 2000


@frozen
class DuePerson:
    """Someone a row is about: whose card or BHXH period ends, and when."""

    member_id: str
    full_name: str
    ends_on: dt.date | None


@frozen
class AgendaItem:
    """One row of the day's list: a household, why to go there, and what renewing costs."""

    kind: Kind
    household: Household
    people: tuple[DuePerson, ...] = ()
    # The card's end, the BHXH period's end or the appointment's day.
    due_on: dt.date | None = None
    # What renewing costs: the household quote for these people (BHYT) or the next period
    # (BHXH); None when the rules give no amount (the reason is in `quote_problem`).
    amount: int | None = None
    months: int | None = None
    quote_problem: str | None = None
    last_visit_at: str | None = None

    @property
    def member_ids(self) -> tuple[str, ...]:
        return tuple(p.member_id for p in self.people)


@frozen
class Agenda:
    """The day's list of households to see, in the order to see them."""

    on: dt.date
    items: list[AgendaItem]
    # How many households each reason has in all (the list may stop earlier).
    totals: dict[str, int] = field(default_factory=dict)


def day_agenda(
    ws: Workspace,
    on: dt.date | None = None,
    *,
    limit: int = 200,
    count: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Agenda:
    """The day's rows in order, at most `limit`; amounts are quoted for the rows listed.

    With `count` False the rows are the same but `totals` is left empty, and only what the
    rows need is read: on a large commune the first screen comes in a few milliseconds, and
    the totals can follow. `progress(done, 0)` is called as the renewal list is read (every
    PROGRESS_EVERY people); it may raise to stop the reading (nothing is written)."""
    on = on or ws.today()
    known: dict[tuple[Any, ...], int] = {}  # the amounts worked out, for rows alike
    if not count:
        first = _first_renewals(ws, on, limit)
        if first is not None:
            return Agenda(on=on, items=[_renewal_item(ws, on, k, h, p, known) for k, h, p in first])
    seen: set[str] = set()
    items: list[AgendaItem] = []
    totals: dict[str, int] = dict.fromkeys(KINDS, 0)

    def room() -> int:
        return max(0, limit - len(items))

    renew, lapsed = _renewals(ws, on, seen, progress)
    renewals: tuple[tuple[Kind, list[tuple[str, list[DuePerson]]]], ...] = (
        ("renew", renew),
        ("renew_lapsed", lapsed),
    )
    for kind, rows in renewals:
        totals[kind] = len(rows)
        for household_id, people in rows[: room()]:
            items.append(_renewal_item(ws, on, kind, household_id, people, known))
    bhxh = _bhxh_ending(ws, on, seen)
    totals["bhxh"] = len(bhxh)
    for household_id, people in bhxh[: room()]:
        items.append(_bhxh_item(ws, on, household_id, people))
    follow = ws.visits.follow_ups(limit=max(limit, 1000))
    due = [f for f in follow if f.reason == "due" and f.household.id not in seen]
    totals["visit_due"] = len(due)
    for f in due:
        seen.add(f.household.id)
    for f in due[: room()]:
        items.append(
            AgendaItem(
                "visit_due",
                f.household,
                due_on=dt.date.fromisoformat(f.due_on) if f.due_on else None,
                last_visit_at=f.last_visit_at,
            )
        )
    best = [f for f in follow if f.reason == "best_month" and f.household.id not in seen]
    uninsured = _uninsured_payers(ws, on, [f.household.id for f in best])
    income = [f for f in best if uninsured.get(f.household.id)]
    totals["income_month"] = len(income)
    for f in income[: room()]:
        items.append(
            AgendaItem(
                "income_month",
                f.household,
                people=tuple(uninsured[f.household.id]),
                last_visit_at=f.last_visit_at,
            )
        )
    return Agenda(on=on, items=items, totals=totals)


def _renewals(
    ws: Workspace,
    on: dt.date,
    seen: set[str],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[tuple[str, list[DuePerson]]], list[tuple[str, list[DuePerson]]]]:
    """Households with cards to renew, in the renewal list's order: a household with any card
    still running goes with the expiring ones, at its soonest end."""
    grouped: dict[str, list[DuePerson]] = {}
    running: set[str] = set()
    for n, person in enumerate(ws.coverage.iter_renewals(on, within=EXPIRING_DAYS), 1):
        if progress is not None and n % PROGRESS_EVERY == 0:
            progress(n, 0)
        grouped.setdefault(person.household_id, []).append(
            DuePerson(person.member_id, person.full_name, person.card_valid_to)
        )
        if person.status != "lapsed":
            running.add(person.household_id)
    seen.update(grouped)
    renew = [(h, p) for h, p in grouped.items() if h in running]
    lapsed = [(h, p) for h, p in grouped.items() if h not in running]
    return renew, lapsed


def _first_renewals(
    ws: Workspace, on: dt.date, limit: int
) -> list[tuple[Kind, str, list[DuePerson]]] | None:
    """The first `limit` renewal rows of the agenda, each with all its people, read without
    reading the whole list; None when there are fewer (the rest of the agenda then counts).

    Households come in the order their first person comes in the renewal list, as in
    `_renewals`; a household whose first person's card is still running is a "renew" row
    (the list gives every running card before any lapsed one)."""
    first: dict[str, bool] = {}
    for person in ws.coverage.iter_renewals(on, within=EXPIRING_DAYS):
        if person.household_id not in first:
            if len(first) == limit:
                break
            first[person.household_id] = person.status != "lapsed"
    else:
        return None
    people: dict[str, list[DuePerson]] = {h: [] for h in first}
    for person in ws.coverage.renewals_of(on, list(first), within=EXPIRING_DAYS):
        people[person.household_id].append(
            DuePerson(person.member_id, person.full_name, person.card_valid_to)
        )
    return [("renew" if running else "renew_lapsed", h, people[h]) for h, running in first.items()]


def _renewal_item(
    ws: Workspace,
    on: dt.date,
    kind: Kind,
    household_id: str,
    people: Sequence[DuePerson],
    known: dict[tuple[Any, ...], int],
) -> AgendaItem:
    """A renewal row with what the household pays for its due cards (`known`: the amounts
    already worked out in this agenda, see Pledges.household_bhyt_payable)."""
    household = ws.households.get(household_id)
    periods = ws.policy.bhyt_periods(on)
    months = RENEWAL_MONTHS if RENEWAL_MONTHS in periods else max(periods)
    amount, problem = None, None
    try:
        amount = ws.pledges.household_bhyt_payable(
            household_id,
            member_ids=[p.member_id for p in people],
            months=months,
            on=on,
            known=known,
        )
    except FieldappError as exc:
        problem = str(exc)
    ends = [p.ends_on for p in people if p.ends_on is not None]
    # A household still holding a running card is due at that card's end.
    running = [end for end in ends if end >= on]
    return AgendaItem(
        kind,
        household,
        people=tuple(people),
        due_on=min(running or ends) if ends else None,
        amount=amount,
        months=months,
        quote_problem=problem,
    )


def _bhxh_ending(ws: Workspace, on: dt.date, seen: set[str]) -> list[tuple[str, list[DuePerson]]]:
    rows = ws.store.query(
        "SELECT m.id, m.household_id, m.full_name, m.bhxh_paid_through FROM member m "
        "JOIN household h ON h.id = m.household_id "
        "WHERE m.removed = 0 AND h.moved_to IS NULL AND m.bhxh_participating = 1 "
        "AND m.bhxh_paid_through BETWEEN ? AND ? "
        "ORDER BY m.bhxh_paid_through, h.village, h.head_name, m.full_name",
        (month_start(on).isoformat(), month_end(on).isoformat()),
    )
    grouped: dict[str, list[DuePerson]] = {}
    for r in rows:
        if r["household_id"] in seen:
            continue
        grouped.setdefault(r["household_id"], []).append(
            DuePerson(r["id"], r["full_name"], dt.date.fromisoformat(r["bhxh_paid_through"]))
        )
    seen.update(grouped)
    return list(grouped.items())


def _bhxh_item(
    ws: Workspace, on: dt.date, household_id: str, people: Sequence[DuePerson]
) -> AgendaItem:
    """The next period for each person at their income, as long as their last paid period
    (or the policy's shortest), added up."""
    household = ws.households.get(household_id)
    total: int | None = 0
    months: int | None = None
    problem = None
    for person in people:
        member = ws.members.get(person.member_id)
        months = _last_bhxh_months(ws, person.member_id) or min(ws.policy.bhxh_periods(on))
        income = member.bhxh_income or ws.policy.rural_poverty_line(on)
        try:
            quote = ws.pledges.quote_member_bhxh(
                person.member_id, income=income, months=months, on=on
            )
        except FieldappError as exc:
            total, problem = None, str(exc)
            break
        total = (total or 0) + quote.payable
    ends = [p.ends_on for p in people if p.ends_on is not None]
    return AgendaItem(
        "bhxh",
        household,
        people=tuple(people),
        due_on=min(ends) if ends else None,
        amount=total,
        months=months if len(people) == 1 else None,
        quote_problem=problem,
    )


def _last_bhxh_months(ws: Workspace, member_id: str) -> int | None:
    row = ws.store.query(
        "SELECT p.params FROM pledge p JOIN pledge_event e ON e.pledge_id = p.id "
        "AND e.status = 'paid' WHERE p.member_id = ? AND p.scheme = 'bhxh_voluntary' "
        "ORDER BY e.at DESC LIMIT 1",
        (member_id,),
    )
    if not row:
        return None
    try:
        months = int(json.loads(row[0]["params"])["months"])
    except (ValueError, KeyError, TypeError):
        return None
    return months if months in ws.policy.bhxh_periods(ws.today()) else None


def _uninsured_payers(
    ws: Workspace, on: dt.date, household_ids: Sequence[str]
) -> dict[str, list[DuePerson]]:
    """Per household, the residents with no valid card whose card nobody else pays for."""
    found: dict[str, list[DuePerson]] = {}
    ids = list(household_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = ws.store.query(
            "SELECT id, household_id, full_name, bhyt_group, bhyt_card, covered_by, "
            f"bhyt_valid_from, bhyt_expiry FROM member WHERE removed = 0 "
            f"AND household_id IN ({marks}) ORDER BY full_name",
            tuple(chunk),
        )
        for r in rows:
            status = person_status(
                valid_from=_date(r["bhyt_valid_from"]), valid_to=_date(r["bhyt_expiry"]), on=on
            )
            if status not in ("lapsed", "never"):
                continue
            group = bhyt_group_of(
                bhyt_group=r["bhyt_group"], bhyt_card=r["bhyt_card"], covered_by=r["covered_by"]
            )
            if group in BHYT_COVERED_GROUPS:
                continue
            found.setdefault(r["household_id"], []).append(
                DuePerson(r["id"], r["full_name"], _date(r["bhyt_expiry"]))
            )
    return found


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None
