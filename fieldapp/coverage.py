"""Coverage: who in the commune holds a valid BHYT card on a date, and whose card to renew.

A person is insured on a day when a card is valid that day, whoever pays for it (a child's TE
card counts); among the insured, those whose card another group pays for are "covered
elsewhere", a breakdown rather than a category. A card that ended is lapsed, and a lapse of
the policy's gap months or more means a new wait; someone with no card on record was never
insured. The coverage rate is insured ÷ residents (members not removed, in households still
in this laptop's communes).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fieldapp.participation import BHYT_COVERED_GROUPS, bhyt_group_of
from fieldapp.periods import add_months
from sync.protocol.coverage import EXPIRING_DAYS, Status, person_status, rate_percent
from sync.protocol.errors import FieldappError

if TYPE_CHECKING:
    from fieldapp.workspace import Workspace

_RESIDENTS = (
    "SELECT m.id, m.household_id, m.full_name, m.bhyt_group, m.bhyt_card, m.covered_by, "
    "m.bhyt_valid_from, m.bhyt_expiry, h.village FROM member m "
    "JOIN household h ON h.id = m.household_id "
    "WHERE m.removed = 0 AND h.moved_to IS NULL"
)


@dataclass(frozen=True)
class PersonCoverage:
    """One resident's card on a day."""

    member_id: str
    household_id: str
    full_name: str
    village: str
    group: str
    status: Status
    card_valid_to: dt.date | None
    # Days from the day asked until the card's last day (negative once it ended).
    days_left: int | None
    # Lapsed for the policy's gap months or more: a renewal waits again.
    long_lapse: bool

    @property
    def insured(self) -> bool:
        return self.status in ("insured", "expiring")

    @property
    def covered_elsewhere(self) -> bool:
        return self.insured and self.group in BHYT_COVERED_GROUPS


@dataclass(frozen=True)
class VillageCoverage:
    """The counts of one village (or the commune) on a day."""

    village: str
    residents: int
    insured: int
    expiring_30d: int
    lapsed: int
    uninsured: int
    covered_elsewhere: int

    @property
    def rate_percent(self) -> float:
        """Insured ÷ residents in percent, to one decimal (0 for a village with nobody)."""
        return rate_percent(self.insured, self.residents)

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "rate_percent": self.rate_percent}


class Coverage:
    """Coverage and renewals over the workspace's residents."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def people(
        self, on: dt.date, *, village: str | None = None, within: int = EXPIRING_DAYS
    ) -> list[PersonCoverage]:
        """Every resident's coverage on `on` (of one village when given)."""
        sql, params = _RESIDENTS, tuple[str, ...]()
        if village is not None:
            sql, params = sql + " AND h.village = ?", (village,)
        gap = self._gap_months(on)
        found = []
        for row in self.ws.store.query(sql, params):
            valid_from = _date(row["bhyt_valid_from"])
            valid_to = _date(row["bhyt_expiry"])
            status = person_status(valid_from=valid_from, valid_to=valid_to, on=on, within=within)
            found.append(
                PersonCoverage(
                    member_id=row["id"],
                    household_id=row["household_id"],
                    full_name=row["full_name"],
                    village=row["village"],
                    group=bhyt_group_of(
                        bhyt_group=row["bhyt_group"],
                        bhyt_card=row["bhyt_card"],
                        covered_by=row["covered_by"],
                    ),
                    status=status,
                    card_valid_to=valid_to,
                    days_left=None if valid_to is None else (valid_to - on).days,
                    long_lapse=status == "lapsed"
                    and valid_to is not None
                    and on >= add_months(valid_to + dt.timedelta(days=1), gap),
                )
            )
        return found

    def by_village(
        self, on: dt.date, *, village: str | None = None, within: int = EXPIRING_DAYS
    ) -> list[VillageCoverage]:
        """Counts per village in Vietnamese order, then the commune's total (village "")."""
        from fieldapp.text import village_sort_key

        groups: dict[str, list[PersonCoverage]] = {}
        people = self.people(on, village=village, within=within)
        for person in people:
            groups.setdefault(person.village, []).append(person)
        rows = [_count(name, groups[name]) for name in sorted(groups, key=village_sort_key)]
        return [*rows, _count("", people)]

    def renewals(
        self, on: dt.date, *, within: int = EXPIRING_DAYS, quote: bool = True
    ) -> list[tuple[PersonCoverage, int | None]]:
        """Whose card to renew now, with what renewing it alone for a year costs: cards ending
        within `within` days (soonest first), then those lapsed less than the gap months (no
        new wait if renewed now). People whose card another group pays are not listed."""
        due = [
            p
            for p in self.people(on, within=within)
            if p.group not in BHYT_COVERED_GROUPS
            and (p.status == "expiring" or (p.status == "lapsed" and not p.long_lapse))
        ]
        # Cards still valid first, soonest end first; then lapsed ones, the nearest to losing
        # the no-wait renewal first.
        due.sort(key=lambda p: (p.status == "lapsed", p.card_valid_to or on, p.full_name))
        return [(p, self._renewal_amount(p, on) if quote else None) for p in due]

    def _renewal_amount(self, person: PersonCoverage, on: dt.date) -> int | None:
        periods = self.ws.policy.bhyt_periods(on)
        months = 12 if 12 in periods else max(periods)
        result = self.ws.pledges.quote_household_bhyt(
            person.household_id, member_ids=[person.member_id], months=months, on=on
        )
        return result.payable

    def _gap_months(self, on: dt.date) -> int:
        rule = self.ws.policy.card_rule(on)
        if rule is None:
            raise FieldappError(
                "Bảng chính sách không có quy định về thời gian gián đoạn thẻ BHYT",
                "The policy tables do not say when a lapse makes a BHYT card new",
                code="policy_lacks_card_rule",
            )
        return rule[1]


def _count(village: str, people: Iterable[PersonCoverage]) -> VillageCoverage:
    counts = {"residents": 0, "insured": 0, "expiring": 0, "lapsed": 0, "never": 0, "else": 0}
    for p in people:
        counts["residents"] += 1
        counts["insured"] += p.insured
        counts["expiring"] += p.status == "expiring"
        counts["lapsed"] += p.status == "lapsed"
        counts["never"] += p.status == "never"
        counts["else"] += p.covered_elsewhere
    return VillageCoverage(
        village=village,
        residents=counts["residents"],
        insured=counts["insured"],
        expiring_30d=counts["expiring"],
        lapsed=counts["lapsed"],
        uninsured=counts["never"],
        covered_elsewhere=counts["else"],
    )


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None
