"""Pledges: what a member promised, computed from the rules in force, and its status events."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from fieldapp import calculator
from fieldapp.calculator import BhytPerson, ContributionResult
from fieldapp.errors import NotFoundError, Problem, ValidationError
from fieldapp.model import Member, Pledge, PledgeEvent
from fieldapp.participation import BHYT_COVERED_GROUPS, bhxh_groups_of_person, bhyt_group_of
from fieldapp.periods import add_months, month_end, month_start
from fieldapp.policy import Policy
from fieldapp.store import Store, dumps, loads
from fieldapp.text import clean
from sync.protocol.clock import iso_utc
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen, kept_dataclass
from sync.protocol.money import format_vnd

# Household groups that carry a BHXH tự nguyện central-support share (DOMAIN.md §3).
BHXH_SUPPORT_GROUPS = ("poor", "near_poor", "ethnic_minority", "island")

# Allowed status changes; a status change is a new event, never an overwrite.
_TRANSITIONS = {
    "pledged": {"paid", "cancelled", "superseded"},
    "paid": set(),
    "cancelled": set(),
    "superseded": set(),
}
_AMOUNTS = ("gross", "central_support", "local_support", "payable")


_DAY = dt.timedelta(days=1)


@frozen
class Requote:
    """A pledge whose amount under the rules in force on the payment date differs."""

    pledge: Pledge
    member_name: str
    on: dt.date
    new: dict[str, int]
    policy_version: str
    params: dict[str, Any]
    notes_vi: tuple[str, ...]
    notes_en: tuple[str, ...]

    @property
    def old(self) -> dict[str, int]:
        return {k: int(getattr(self.pledge, k)) for k in _AMOUNTS}

    def line(self, lang: str | None = None) -> str:
        """ "Nguyễn Văn A: 1.263.600 đ → 1.366.200 đ" for a dialog or the terminal."""
        from sync.protocol.i18n import say

        old, new = format_vnd(self.old["payable"]), format_vnd(self.new["payable"])
        return say(
            f"{self.member_name}: {old} → {new}", f"{self.member_name}: {old} → {new}", lang=lang
        )


def bhxh_groups_of(household_groups: Sequence[str]) -> list[str]:
    """The BHXH support groups a household's recorded groups give; "other" when none."""
    groups = [g for g in household_groups if g in BHXH_SUPPORT_GROUPS]
    return groups or ["other"]


@kept_dataclass
class PaymentQuote:
    """Pledges quoted again for a payment: the ones whose amount changed, and the period each
    payment covers (by pledge id; None when the policy has no card rule)."""

    on: dt.date
    requotes: list[Requote] = dataclasses.field(default_factory=list)
    periods: dict[str, tuple[dt.date | None, dt.date | None]] = dataclasses.field(
        default_factory=dict
    )


def _chosen(member_ids: Sequence[str], rows: Sequence[Any]) -> list[Any]:
    """The rows of these members, in their order, from the household's current members
    (`Pledges._member_rows`): at least one, none twice, each a current member."""
    if not member_ids:
        raise ValidationError(
            [
                Problem(
                    "member_ids",
                    "no_members",
                    "Chọn ít nhất một thành viên.",
                    "Choose at least one member.",
                )
            ]
        )
    if len(set(member_ids)) != len(member_ids):
        raise ValidationError(
            [
                Problem(
                    "member_ids",
                    "duplicate_member",
                    "Một thành viên được chọn hai lần.",
                    "A member was chosen twice.",
                )
            ]
        )
    by_id = {row["id"]: row for row in rows}
    chosen = []
    for member_id in member_ids:
        row = by_id.get(member_id)
        if row is None:
            raise NotFoundError("thành viên của hộ", "member of the household", member_id)
        chosen.append(row)
    return chosen


def _enrolled(rows: Sequence[Any], on: dt.date, *, exclude: Sequence[str] = ()) -> int:
    """Household-group members among these rows (`Pledges._member_rows`) enrolled for a period
    overlapping `on` in its calendar year (see Pledges.already_enrolled)."""
    count = 0
    for row in rows:
        if row["id"] in exclude or _bhyt_group(row) != "household":
            continue
        expiry = _date(row["bhyt_expiry"])
        if expiry is None or expiry < on:
            continue
        if row["paid_at"]:
            year = _local_day(row["paid_at"]).year
        elif row["bhyt_valid_from"]:
            year = dt.date.fromisoformat(row["bhyt_valid_from"]).year
        else:
            continue
        count += year == on.year
    return count


def _bhyt_group(row: Any) -> str:
    """The group a member row's BHYT is counted in (`Member.bhyt_group_effective`), read from
    the row's columns without making the whole Member."""
    return bhyt_group_of(
        bhyt_group=row["bhyt_group"], bhyt_card=row["bhyt_card"], covered_by=row["covered_by"]
    )


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _local_day(stamp: str) -> dt.date:
    """The day in Vietnam of a stored UTC time."""
    from sync.protocol.clock import VIETNAM_TZ

    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(VIETNAM_TZ).date()


def _bhyt_params(
    result: ContributionResult,
    person: calculator.PersonQuote,
    months: int,
    support_group: str | None,
) -> dict[str, Any]:
    """What a BHYT pledge records of its quote: ladder place, group, card period."""
    return {
        "months": months,
        "position": person.position,
        "group": person.group,
        "household_members": len(result.people),
        "support_group": support_group,
        "card_valid_from": _iso(person.card_valid_from),
        "card_valid_to": _iso(person.card_valid_to),
        "card_rule": person.card_rule,
    }


def _bhxh_params(
    result: ContributionResult,
    income: int,
    groups: Sequence[str],
    lump_years: int | None,
    back_months: int | None,
    period_start: dt.date,
) -> dict[str, Any]:
    """What a BHXH pledge records of its quote: months, groups, supported months, period."""
    params: dict[str, Any] = {
        "income": income,
        "months": result.months,
        "groups": list(groups),
        "mode": result.mode,
        "supported_months": result.supported_months,
        "period_start": period_start.isoformat(),
    }
    if lump_years:
        params["lump_years"] = lump_years
    if back_months:
        params["back_months"] = back_months
    return params


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


class Pledges:
    """Compute, record and settle pledges for BHYT hộ gia đình and BHXH tự nguyện."""

    def __init__(self, store: Store, *, policy: Callable[[], Policy]) -> None:
        self.store = store
        self._policy = policy

    @property
    def policy(self) -> Policy:
        return self._policy()

    # -- quotes (no writes) ---------------------------------------------------------------

    def quote_bhyt(
        self,
        *,
        members: int,
        months: int,
        on: dt.date,
        province: str | None = None,
        support_group: str | None = None,
        already_enrolled: int = 0,
    ) -> ContributionResult:
        """A quote for `members` people of one group, without household records."""
        return calculator.bhyt_household(
            self.policy,
            members=members,
            months=months,
            on=on,
            province=province,
            support_group=support_group,
            already_enrolled=already_enrolled,
        )

    def quote_household_bhyt(
        self,
        household_id: str,
        *,
        member_ids: Sequence[str],
        months: int,
        on: dt.date,
        support_group: str | None = None,
    ) -> ContributionResult:
        """BHYT for these members of a household paid on `on`, each by their own group.

        Household-group members go on the ladder after those of the household already
        enrolled this year; each card period follows from the member's previous card.
        `support_group` puts every chosen member in that group instead of their recorded one.
        """
        people, already, province = self._bhyt_request(household_id, member_ids, on, support_group)
        return calculator.bhyt_people(
            self.policy,
            people=people,
            months=months,
            on=on,
            already_enrolled=already,
            province=province,
            field_name="member_ids",
        )

    def household_bhyt_payable(
        self,
        household_id: str,
        *,
        member_ids: Sequence[str],
        months: int,
        on: dt.date,
        known: dict[tuple[Any, ...], int] | None = None,
    ) -> int:
        """What `quote_household_bhyt(...)` asks the household to pay, with the same refusals,
        for a list of amounts (Today's rows): no lines, notes or card periods.

        `known` keeps amounts between calls on one policy and day: the amount depends only on
        the members' groups in order, those already enrolled, the province and the months."""
        people, already, province = self._bhyt_request(household_id, member_ids, on, None)
        key = (self.policy.version, tuple(p.group for p in people), already, province, months, on)
        if known is not None and key in known:
            return known[key]
        amount = calculator.bhyt_people_payable(
            self.policy,
            people=people,
            months=months,
            on=on,
            already_enrolled=already,
            province=province,
            field_name="member_ids",
        )
        if known is not None:
            known[key] = amount
        return amount

    def _bhyt_request(
        self,
        household_id: str,
        member_ids: Sequence[str],
        on: dt.date,
        support_group: str | None,
    ) -> tuple[list[BhytPerson], int, str]:
        """A household BHYT quote's people, how many of the household are already enrolled
        this year, and its province; the household's members read once."""
        rows = self._member_rows(household_id)
        # The province comes with the member rows; a household without current members is
        # read on its own (it may not exist: refused as such before any member is).
        province = (
            rows[0]["province_code"] if rows else self._household(household_id)["province_code"]
        )
        people = []
        for row in _chosen(member_ids, rows):
            group = _bhyt_group(row)
            people.append(
                BhytPerson(
                    # An override never makes a state-paid card payable: such a member is
                    # refused.
                    group=(
                        group
                        if support_group is None or group in BHYT_COVERED_GROUPS
                        else support_group
                    ),
                    previous_expiry=_date(row["bhyt_expiry"]),
                    label=row["full_name"],
                )
            )
        return people, _enrolled(rows, on, exclude=member_ids), province

    def already_enrolled(
        self, household_id: str, on: dt.date, *, exclude: Sequence[str] = ()
    ) -> int:
        """Household-group members of the household enrolled for a period overlapping `on`
        in the same financial (calendar) year: the ladder continues after them.

        A member counts when their card is still valid on `on` and they paid for it in the
        year of `on` (by this laptop's payment record, or else by the card's first day).
        """
        return _enrolled(self._member_rows(household_id), on, exclude=exclude)

    def _member_rows(self, household_id: str) -> list[Any]:
        """The household's current members, each with when its BHYT was last paid here and
        the household's province."""
        return self.store.query(
            "SELECT m.*, (SELECT max(e.at) FROM pledge p JOIN pledge_event e "
            "ON e.pledge_id = p.id AND e.status = 'paid' WHERE p.member_id = m.id "
            "AND p.scheme = 'bhyt_household') AS paid_at, h.province_code "
            "FROM member m JOIN household h ON h.id = m.household_id "
            "WHERE m.household_id = ? AND m.removed = 0",
            (household_id,),
        )

    def quote_bhxh(
        self,
        *,
        income: int,
        months: int | None,
        groups: Sequence[str],
        on: dt.date,
        province: str | None = None,
        lump_years: int | None = None,
        back_months: int | None = None,
        supported_months_used: int = 0,
        period_start: dt.date | None = None,
    ) -> ContributionResult:
        return calculator.bhxh_voluntary(
            self.policy,
            income=income,
            months=months,
            groups=groups,
            on=on,
            province=province,
            lump_years=lump_years,
            back_months=back_months,
            supported_months_used=supported_months_used,
            period_start=period_start,
        )

    def bhxh_groups(self, member_id: str) -> tuple[list[str], bool]:
        """A person's own BHXH support groups, and whether the ethnic group was assumed from
        the household (the person's ethnicity is not recorded)."""
        member = self._member(member_id)
        household = self._household(member.household_id)
        return bhxh_groups_of_person(loads(household["groups"]), member.ethnicity)

    def bhxh_period_start(self, member_id: str, on: dt.date) -> dt.date:
        """The first month a new BHXH payment covers: after the months already paid, or the
        month of `on` for someone not paid up to it."""
        member = self._member(member_id)
        paid = _date(member.bhxh_paid_through)
        if paid is not None and paid >= month_start(on) - dt.timedelta(days=1):
            return add_months(month_start(paid), 1)
        return month_start(on)

    def quote_member_bhxh(
        self,
        member_id: str,
        *,
        income: int,
        months: int | None,
        on: dt.date,
        groups: Sequence[str] | None = None,
        lump_years: int | None = None,
        back_months: int | None = None,
    ) -> ContributionResult:
        """BHXH for one person: their own groups, the support months they have left, and the
        months after those already paid."""
        member = self._member(member_id)
        household = self._household(member.household_id)
        assumed = False
        if groups is None:
            groups, assumed = bhxh_groups_of_person(loads(household["groups"]), member.ethnicity)
        result = self.quote_bhxh(
            income=income,
            months=months,
            groups=groups,
            on=on,
            province=household["province_code"],
            lump_years=lump_years,
            back_months=back_months,
            supported_months_used=min(
                member.bhxh_supported_months, self.policy.max_supported_months(on)
            ),
            period_start=self.bhxh_period_start(member_id, on),
        )
        if assumed:
            result = dataclasses.replace(
                result,
                notes=(
                    *result.notes,
                    "The person's ethnicity is not recorded: the household's ethnic-minority "
                    "group was used",
                ),
                notes_vi=(
                    *result.notes_vi,
                    "Chưa ghi dân tộc của người này: tính theo nhóm dân tộc thiểu số của hộ",
                ),
            )
        return result

    # -- pledges --------------------------------------------------------------------------

    def pledge_bhyt_household(
        self,
        household_id: str,
        *,
        member_ids: Sequence[str],
        months: int,
        start: dt.date,
        support_group: str | None = None,
    ) -> list[Pledge]:
        """One pledge per member, each with its own group, ladder place and card period."""
        result = self.quote_household_bhyt(
            household_id,
            member_ids=member_ids,
            months=months,
            on=start,
            support_group=support_group,
        )
        due = calculator.due_date("bhyt_household", months, start)
        created: list[str] = []
        with self.store.transaction():
            for member_id, person in zip(member_ids, result.people, strict=True):
                created.append(
                    self._insert(
                        household_id=household_id,
                        member_id=member_id,
                        scheme="bhyt_household",
                        params=_bhyt_params(result, person, months, support_group),
                        amounts={k: getattr(person, k) for k in _AMOUNTS},
                        policy_version=result.policy_version,
                        start=start,
                        due=due,
                    )
                )
        return [self.get(pid) for pid in created]

    def pledge_bhxh(
        self,
        member_id: str,
        *,
        income: int,
        months: int | None,
        start: dt.date,
        groups: Sequence[str] | None = None,
        lump_years: int | None = None,
        back_months: int | None = None,
    ) -> Pledge:
        member = self._member(member_id)
        result = self.quote_member_bhxh(
            member_id,
            income=income,
            months=months,
            on=start,
            groups=groups,
            lump_years=lump_years,
            back_months=back_months,
        )
        if groups is None:
            groups = self.bhxh_groups(member_id)[0]
        due = calculator.due_date("bhxh_voluntary", result.months, start, mode=result.mode)
        params = _bhxh_params(
            result,
            income,
            groups,
            lump_years,
            back_months,
            self.bhxh_period_start(member_id, start),
        )
        with self.store.transaction():
            pledge_id = self._insert(
                household_id=member.household_id,
                member_id=member_id,
                scheme="bhxh_voluntary",
                params=params,
                amounts={k: getattr(result, k) for k in _AMOUNTS},
                policy_version=result.policy_version,
                start=start,
                due=due,
            )
        return self.get(pledge_id)

    def members_who_can_join(self, household_id: str, scheme: str) -> list[Member]:
        """The present members of a household who can pledge for a scheme: for BHYT those
        whose card nobody else pays for (the state, an employer, a school), for BHXH
        everyone (the pledge dialog offers the same people)."""
        self._household(household_id)
        rows = self.store.query(
            "SELECT * FROM member WHERE household_id = ? AND removed = 0 ORDER BY created_at, id",
            (household_id,),
        )
        members = [Member.from_row(r) for r in rows]
        if scheme != "bhyt_household":
            return members
        covered = self.policy.bhyt.covered_elsewhere_groups
        return [m for m in members if m.bhyt_group_effective not in covered]

    # -- payment: re-quotes and the member's new card or BHXH months ----------------------

    def requotes(self, pledge_ids: Sequence[str], on: dt.date) -> list[Requote]:
        """The pledges whose amount under the rules in force on `on` differs from the quote."""
        return self.payment_quote(pledge_ids, on).requotes

    def payment_quote(self, pledge_ids: Sequence[str], on: dt.date) -> PaymentQuote:
        """These pledges quoted again for a payment on `on`: what changed, and the period
        each payment covers (the card's period for BHYT, the months for BHXH).

        Pledges paid together are quoted together: BHYT members of one household on one
        ladder (after those already enrolled that year), BHXH each on its own.
        """
        pledges = [self.get(pid) for pid in pledge_ids]
        quote = PaymentQuote(on=on)
        bhyt = [p for p in pledges if p.scheme == "bhyt_household"]
        if bhyt:
            self._bhyt_requotes(bhyt, on, quote)
        for pledge in pledges:
            if pledge.scheme == "bhxh_voluntary":
                self._bhxh_requote(pledge, on, quote)
        return quote

    def _bhyt_requotes(self, pledges: list[Pledge], on: dt.date, quote: PaymentQuote) -> None:
        household_id = pledges[0].household_id
        months = int(pledges[0].params["months"])
        member_ids = [p.member_id for p in pledges]
        members = {m: self._member(m) for m in member_ids}
        people = [
            BhytPerson(
                group=str(p.params.get("group") or p.params.get("support_group") or "household"),
                previous_expiry=_date(members[p.member_id].bhyt_expiry),
                label=members[p.member_id].full_name,
            )
            for p in pledges
        ]
        household = self._household(household_id)
        result = calculator.bhyt_people(
            self.policy,
            people=people,
            months=months,
            on=on,
            already_enrolled=self.already_enrolled(household_id, on, exclude=member_ids),
            province=household["province_code"],
            field_name="member_ids",
        )
        for pledge, person in zip(pledges, result.people, strict=True):
            quote.periods[pledge.id] = (person.card_valid_from, person.card_valid_to)
            new = {k: getattr(person, k) for k in _AMOUNTS}
            if new != {k: getattr(pledge, k) for k in _AMOUNTS}:
                params = {
                    **pledge.params,
                    **_bhyt_params(result, person, months, pledge.params.get("support_group")),
                }
                quote.requotes.append(
                    Requote(
                        pledge,
                        person.label,
                        on,
                        new,
                        result.policy_version,
                        params,
                        result.notes_vi,
                        result.notes,
                    )
                )

    def _bhxh_requote(self, pledge: Pledge, on: dt.date, quote: PaymentQuote) -> None:
        p = pledge.params
        result = self.quote_member_bhxh(
            pledge.member_id,
            income=int(p["income"]),
            months=int(p["months"]),
            on=on,
            groups=list(p.get("groups") or ["other"]),
            lump_years=p.get("lump_years"),
            back_months=p.get("back_months"),
        )
        first = self.bhxh_period_start(pledge.member_id, on)
        if result.mode == "back_payment":
            # Back-paid months are the ones missed before this one.
            quote.periods[pledge.id] = (add_months(first, -result.months), first - _DAY)
        else:
            quote.periods[pledge.id] = (first, add_months(first, result.months) - _DAY)
        new = {k: getattr(result, k) for k in _AMOUNTS}
        if new == {k: getattr(pledge, k) for k in _AMOUNTS}:
            return
        params = {
            **p,
            **_bhxh_params(
                result,
                int(p["income"]),
                list(p.get("groups") or ["other"]),
                p.get("lump_years"),
                p.get("back_months"),
                self.bhxh_period_start(pledge.member_id, on),
            ),
        }
        name = self._member(pledge.member_id).full_name
        quote.requotes.append(
            Requote(
                pledge, name, on, new, result.policy_version, params, result.notes_vi, result.notes
            )
        )

    def apply_requotes(self, requotes: Sequence[Requote]) -> dict[str, str]:
        """Replace each re-quoted pledge by a new one; {old pledge id: new pledge id}.

        The old pledge keeps its amounts and gets a "superseded" event naming the new one:
        the history shows what was quoted, and what was charged instead and why.
        """
        replaced: dict[str, str] = {}
        with self.store.transaction():
            for requote in requotes:
                old = requote.pledge
                new_id = self._insert(
                    household_id=old.household_id,
                    member_id=old.member_id,
                    scheme=old.scheme,
                    params={**requote.params, "supersedes": old.id},
                    amounts=requote.new,
                    policy_version=requote.policy_version,
                    start=requote.on,
                    due=dt.date.fromisoformat(old.due_date),
                )
                self._change_status(
                    old.id,
                    "superseded",
                    # The new pledge names this one (params.supersedes).
                    reason=(
                        f"Tính lại khi thu tiền ngày {requote.on:%d/%m/%Y} theo chính sách "
                        f"{requote.policy_version}: {format_vnd(requote.old['payable'])} → "
                        f"{format_vnd(requote.new['payable'])}"
                    ),
                    receipt_id=None,
                )
                replaced[old.id] = new_id
        return replaced

    def record_payment(
        self, pledge: Pledge, period: tuple[dt.date | None, dt.date | None]
    ) -> dict[str, Any]:
        """What a paid pledge changes on its member (inside the caller's transaction).

        BHYT: the new card's period (as quoted on the payment date) and group; BHXH:
        participating, the income, the last month paid and the supported months used.
        Returns the member's values before, so a voided receipt can put them back.
        """
        from fieldapp.records import update_mergeable

        row = self.store.conn.execute(
            "SELECT * FROM member WHERE id = ?", (pledge.member_id,)
        ).fetchone()
        p = pledge.params
        start, end = period
        changes: dict[str, Any]
        if pledge.scheme == "bhyt_household":
            if start is None or end is None:
                return {}  # the policy has no card rule: the card's dates stay unknown
            changes = {
                "bhyt_valid_from": start.isoformat(),
                "bhyt_expiry": end.isoformat(),
                "bhyt_group": p.get("group") or row["bhyt_group"] or "household",
            }
        else:
            changes = {
                "bhxh_participating": True,
                "bhxh_income": int(p["income"]),
                "bhxh_supported_months": int(row["bhxh_supported_months"])
                + int(p.get("supported_months", 0)),
            }
            if p.get("mode") != "back_payment" and end is not None:
                # Back-paid months lie before what is paid now; the paid-through month stays.
                changes["bhxh_paid_through"] = month_end(end).isoformat()
        before = {k: row[k] for k in changes}
        update_mergeable(self.store, "member", row, changes, always=("household_id",))
        return before

    def undo_payment(self, member_id: str, before: dict[str, Any]) -> None:
        """Put back a member's participation as it was before a voided payment."""
        from fieldapp.records import update_mergeable

        if not before:
            return
        row = self.store.conn.execute("SELECT * FROM member WHERE id = ?", (member_id,)).fetchone()
        if row is not None:
            update_mergeable(self.store, "member", row, before, always=("household_id",))

    def mark_paid(self, pledge_id: str, *, receipt_id: str | None = None) -> Pledge:
        return self._change_status(pledge_id, "paid", reason="", receipt_id=receipt_id)

    def cancel(self, pledge_id: str, *, reason: str) -> Pledge:
        if not clean(reason):
            raise ValidationError(
                [
                    Problem(
                        "reason",
                        "reason_required",
                        "Cần ghi lý do huỷ cam kết.",
                        "A reason is required to cancel a pledge.",
                    )
                ]
            )
        return self._change_status(pledge_id, "cancelled", reason=clean(reason), receipt_id=None)

    def get(self, pledge_id: str) -> Pledge:
        row = self.store.one("SELECT * FROM pledge WHERE id = ?", (pledge_id,))
        if row is None:
            raise NotFoundError("cam kết", "pledge", pledge_id)
        return Pledge.from_row(row, self._history(pledge_id))

    def of_household(self, household_id: str) -> list[Pledge]:
        rows = self.store.query(
            "SELECT * FROM pledge WHERE household_id = ? ORDER BY created_at, id", (household_id,)
        )
        return [Pledge.from_row(r, self._history(r["id"])) for r in rows]

    def count(self) -> int:
        return int(self.store.scalar("SELECT count(*) FROM pledge"))

    # -- internals ------------------------------------------------------------------------

    def _history(self, pledge_id: str) -> tuple[PledgeEvent, ...]:
        rows = self.store.query(
            "SELECT * FROM pledge_event WHERE pledge_id = ? ORDER BY at, rowid", (pledge_id,)
        )
        return tuple(PledgeEvent.from_row(r) for r in rows)

    def _member(self, member_id: str) -> Member:
        row = self.store.one("SELECT * FROM member WHERE id = ?", (member_id,))
        if row is None:
            raise NotFoundError("thành viên", "member", member_id)
        return Member.from_row(row)

    def _household(self, household_id: str) -> Any:
        row = self.store.one("SELECT * FROM household WHERE id = ?", (household_id,))
        if row is None:
            raise NotFoundError("hộ gia đình", "household", household_id)
        return row

    def _insert(
        self,
        *,
        household_id: str,
        member_id: str,
        scheme: str,
        params: dict[str, Any],
        amounts: dict[str, int],
        policy_version: str,
        start: dt.date,
        due: dt.date,
    ) -> str:
        pledge_id = self.store.new_id()
        now = self.store.now_iso()
        data = {
            "id": pledge_id,
            "household_id": household_id,
            "member_id": member_id,
            "scheme": scheme,
            "params": params,
            **amounts,
            "policy_version": policy_version,
            "start_date": start.isoformat(),
            "due_date": due.isoformat(),
            "created_at": now,
        }
        self.store.conn.execute(
            "INSERT INTO pledge (id, household_id, member_id, scheme, params, gross, "
            "central_support, local_support, payable, policy_version, start_date, due_date, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                pledge_id,
                household_id,
                member_id,
                scheme,
                dumps(params),
                amounts["gross"],
                amounts["central_support"],
                amounts["local_support"],
                amounts["payable"],
                policy_version,
                data["start_date"],
                data["due_date"],
                now,
            ),
        )
        self.store.append_outbox(
            entity="pledge", entity_id=pledge_id, op="insert", hlc=self.store.tick(), data=data
        )
        self.record_event(pledge_id, "pledged", reason="", receipt_id=None)
        return pledge_id

    def record_event(
        self, pledge_id: str, status: str, *, reason: str, receipt_id: str | None
    ) -> None:
        """Append a status event with its outbox row, inside the caller's transaction."""
        event_id = self.store.new_id()
        data = {
            "id": event_id,
            "pledge_id": pledge_id,
            "status": status,
            "at": iso_utc(self.store.clock.now()),
            "reason": reason,
            "receipt_id": receipt_id,
        }
        self.store.conn.execute(
            "INSERT INTO pledge_event (id, pledge_id, status, at, reason, receipt_id) "
            "VALUES (:id, :pledge_id, :status, :at, :reason, :receipt_id)",
            data,
        )
        self.store.append_outbox(
            entity="pledge_event", entity_id=event_id, op="insert", hlc=self.store.tick(), data=data
        )

    def _change_status(
        self, pledge_id: str, status: str, *, reason: str, receipt_id: str | None
    ) -> Pledge:
        with self.store.transaction():
            current = self.get(pledge_id).status
            if status not in _TRANSITIONS[current]:
                raise FieldappError(
                    f"Không thể chuyển cam kết từ «{current}» sang «{status}».",
                    f"A pledge cannot go from '{current}' to '{status}'.",
                    code="bad_transition",
                )
            self.record_event(pledge_id, status, reason=reason, receipt_id=receipt_id)
        return self.get(pledge_id)
