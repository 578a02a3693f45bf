"""Coverage: who in the commune holds a valid BHYT card on a date, and whose card to renew.

A person is insured on a day when a card is valid that day, whoever pays for it (a child's TE
card counts); among the insured, those whose card another group pays for are "covered
elsewhere", a breakdown rather than a category. A card that ended is lapsed, and a lapse of
the policy's gap months or more means a new wait; someone with no card on record was never
insured. The coverage rate is insured ÷ residents (members not removed, in households still
in this laptop's communes).

The counts are made by SQLite over the ISO date texts of the cards, so a province-sized store
is counted in about the time one bare aggregate takes. A member's BHYT group is the recorded
one, else the card's two-letter prefix, else the free text of who pays (see
fieldapp.participation.bhyt_group_of): SQL decides the first two, and the rare rows where only
the free text (or an oddly written card number) can tell are decided in Python by the same
function, so the figures are those of `bhyt_group_of` and `person_status` row by row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import re
import string
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, get_args

from fieldapp.errors import Problem, ValidationError
from fieldapp.participation import BHYT_COVERED_GROUPS, bhyt_group_of, group_from_card
from fieldapp.periods import add_months
from sync.protocol import sheets as cells
from sync.protocol.coverage import EXPIRING_DAYS, Status, person_status, rate_percent
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen

if TYPE_CHECKING:
    import sqlite3

    from fieldapp.workspace import Workspace

# What the drill-down can ask for: a card status, or the insured whose card another group pays.
PEOPLE_FILTERS = (*get_args(Status), "covered_elsewhere")
# The longest look-ahead for "expiring" a caller may ask (ten years).
MAX_WITHIN_DAYS = 3_660


def _sql_list(values: Iterable[str]) -> str:
    """Codes as an SQL list literal; only plain codes, so nothing needs quoting."""
    codes = sorted(set(values))
    if not all(re.fullmatch(r"[A-Za-z0-9_]+", c) for c in codes):
        raise ValueError(f"not a plain code: {codes!r}")
    return "(" + ", ".join(f"'{c}'" for c in codes) + ")"


# Every two-letter card prefix the participation table knows, read through group_from_card
# itself so that the SQL below cannot drift from it.
_PREFIX_GROUP = {
    a + b: group
    for a in string.ascii_uppercase
    for b in string.ascii_uppercase
    if (group := group_from_card(f"{a}{b}0")) is not None
}
_PREFIX = "upper(substr(m.bhyt_card, 1, 2))"
# The card's prefix gives the group: two known letters, then a digit (group_from_card's rule;
# SQLite's upper() changes only ASCII letters, and every known prefix is ASCII).
_CARD_GIVES = (
    f"({_PREFIX} IN {_sql_list(_PREFIX_GROUP)} AND substr(m.bhyt_card, 3, 1) BETWEEN '0' AND '9')"
)
# When the card does not give a group, whether that is certain without Python: no card, too
# short, or its first three characters are plain ASCII with no space in front (Python's strip()
# and its Unicode digits can then change nothing).
_CARD_SILENT = (
    "(coalesce(m.bhyt_card, '') = '' OR length(m.bhyt_card) < 3 OR "
    "(substr(m.bhyt_card, 1, 1) BETWEEN '!' AND '~' "
    "AND substr(m.bhyt_card, 2, 1) BETWEEN ' ' AND '~' "
    "AND substr(m.bhyt_card, 3, 1) BETWEEN ' ' AND '~'))"
)
# 1 when another group pays for the member's card, 0 when not, NULL when only the free text
# of who pays can tell (decided in Python by bhyt_group_of).
_COVERED = (
    "(CASE WHEN coalesce(m.bhyt_group, '') <> '' "
    f"THEN m.bhyt_group IN {_sql_list(BHYT_COVERED_GROUPS)} "
    f"WHEN {_CARD_GIVES} THEN {_PREFIX} IN "
    f"{_sql_list(p for p, g in _PREFIX_GROUP.items() if g in BHYT_COVERED_GROUPS)} "
    f"WHEN {_CARD_SILENT} AND coalesce(m.covered_by, '') = '' THEN 0 END)"
)
# The card statuses of person_status over the ISO date texts (:on, and :soon = on + within).
_VALID = "(m.bhyt_expiry >= :on AND coalesce(m.bhyt_valid_from, '') <= :on)"
_EXPIRING = f"({_VALID} AND m.bhyt_expiry <= :soon)"
_LAPSED = "(m.bhyt_expiry < :on AND m.bhyt_expiry <> '')"
_NEVER = (
    "(coalesce(m.bhyt_expiry, '') = '' "
    "OR (m.bhyt_expiry >= :on AND coalesce(m.bhyt_valid_from, '') > :on))"
)
_STATUS_SQL = {
    "insured": _VALID,
    "expiring": _EXPIRING,
    "lapsed": _LAPSED,
    "never": _NEVER,
    # Insured, and covered or undecided: the undecided are checked in Python.
    "covered_elsewhere": f"({_VALID} AND {_COVERED} IS NOT 0)",
}
_FROM = (
    "FROM member m JOIN household h ON h.id = m.household_id "
    "WHERE m.removed = 0 AND h.moved_to IS NULL"
)
_PERSON = (
    "m.id, m.household_id, m.full_name, m.bhyt_group, m.bhyt_card, m.covered_by, "
    f"m.bhyt_valid_from, m.bhyt_expiry, h.village, {_COVERED} AS covered"
)
_COUNTS = (
    "SELECT h.village AS village, count(*) AS residents, "
    f"sum({_VALID}) AS insured, sum({_EXPIRING}) AS expiring, sum({_LAPSED}) AS lapsed, "
    f"sum(CASE WHEN {_VALID} THEN {_COVERED} END) AS elsewhere, "
    f"sum(CASE WHEN {_VALID} THEN {_COVERED} IS NULL END) AS open "
    f"{_FROM}"
)
# Those whose card to renew: ending within the days asked, or lapsed less than the gap months
# (:cut is the last card end that is a long lapse), paid cards not started left out; the rows
# of a state-paid group out where SQL can tell, the rest checked in Python.
_DUE_WHERE = (
    "m.bhyt_expiry > :cut AND m.bhyt_expiry <= :soon "
    "AND NOT (m.bhyt_expiry >= :on AND coalesce(m.bhyt_valid_from, '') > :on) "
    f"AND {_COVERED} IS NOT 1"
)
# The same in two parts, each read in the order of the card-end index (so a first page reads
# only its rows): cards still valid, soonest end first; then lapsed ones, the nearest to
# losing the no-wait renewal first.
_DUE_PART = (
    f"SELECT {_PERSON}, h.province_code FROM member m {{index}}"
    "JOIN household h ON h.id = m.household_id "
    f"WHERE m.removed = 0 AND h.moved_to IS NULL AND {{part}} AND {_COVERED} IS NOT 1 "
    "ORDER BY m.bhyt_expiry, m.full_name, m.id"
)
_DUE_PARTS = (
    "m.bhyt_expiry >= :on AND m.bhyt_expiry <= :soon AND coalesce(m.bhyt_valid_from, '') <= :on",
    "m.bhyt_expiry > :cut AND m.bhyt_expiry < :on",
)
_DUE = tuple(
    _DUE_PART.format(index="INDEXED BY member_card_end ", part=part) for part in _DUE_PARTS
)
# The same rows of some households only (read by household, in the same order).
_DUE_OF = tuple(
    _DUE_PART.format(index="", part=f"m.household_id IN ({{marks}}) AND {part}")
    for part in _DUE_PARTS
)
# Household-group members of the given households whose card is valid on :on, with the time
# of their last BHYT payment recorded here (Pledges.already_enrolled's rule, many at once).
_ENROLLED = (
    "SELECT m.id, m.household_id, m.bhyt_group, m.bhyt_card, m.covered_by, m.bhyt_valid_from, "
    "(SELECT max(e.at) FROM pledge p JOIN pledge_event e "
    "ON e.pledge_id = p.id AND e.status = 'paid' WHERE p.member_id = m.id "
    "AND p.scheme = 'bhyt_household') AS paid_at "
    "FROM member m WHERE m.household_id IN (SELECT value FROM json_each(:households)) "
    "AND m.removed = 0 AND m.bhyt_expiry >= :on "
    "AND coalesce(m.bhyt_group, '') IN ('', 'household')"
)

# Statuses as the workbook writes them.
STATUS_VI = {
    "insured": "Có thẻ",
    "expiring": "Sắp hết hạn",
    "lapsed": "Hết hạn",
    "never": "Chưa có thẻ",
}


@frozen
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


@frozen
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


@frozen
class CoverageChange:
    """Insured now minus insured as recorded on `since`, per village and "" for the commune."""

    since: dt.date
    insured: dict[str, int]


class Coverage:
    """Coverage and renewals over the workspace's residents."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        # _long_lapse_end by day and gap months: the same few days are asked for again and
        # again (every page of renewals, every count), and each is a walk back over months.
        self._lapse_ends: dict[tuple[dt.date, int], dt.date] = {}

    # -- counts -----------------------------------------------------------------------------

    def by_village(
        self, on: dt.date, *, village: str | None = None, within: int = EXPIRING_DAYS
    ) -> list[VillageCoverage]:
        """Counts per village in Vietnamese order, then the commune's total (village "").

        Counting today's whole commune records the day's counts for the month's change.
        """
        from fieldapp.text import village_sort_key

        params = _params(on, within)
        sql = _COUNTS
        if village is not None:
            sql, params["village"] = sql + " AND h.village = :village", village
        found: dict[str, list[int]] = {}
        open_rows = 0
        for row in self.ws.store.query(sql + " GROUP BY h.village", params):
            found[row["village"]] = [
                row["residents"],
                row["insured"] or 0,
                row["expiring"] or 0,
                row["lapsed"] or 0,
                row["elsewhere"] or 0,
            ]
            open_rows += row["open"] or 0
        if open_rows:
            self._decide_open(found, sql, params)
        rows = [_village(name, *found[name]) for name in sorted(found, key=village_sort_key)]
        total = [sum(counts[i] for counts in found.values()) for i in range(5)]
        rows.append(_village("", *total))
        if village is None and on == self.ws.today():
            self._record(on, rows)
        return rows

    def _decide_open(self, found: dict[str, list[int]], sql: str, params: dict[str, Any]) -> None:
        """Add the insured whose group only the free text of who pays (or an oddly written
        card number) tells, decided by bhyt_group_of itself."""
        head = f"SELECT h.village AS village, m.bhyt_card, m.covered_by, count(*) AS people {_FROM}"
        rest = sql[sql.index(_FROM) + len(_FROM) :]
        rows = self.ws.store.query(
            f"{head}{rest} AND {_VALID} AND {_COVERED} IS NULL "
            "GROUP BY h.village, m.bhyt_card, m.covered_by",
            params,
        )
        for row in rows:
            group = bhyt_group_of(
                bhyt_group=None, bhyt_card=row["bhyt_card"], covered_by=row["covered_by"]
            )
            if group in BHYT_COVERED_GROUPS:
                found[row["village"]][4] += row["people"]

    def _record(self, on: dt.date, rows: Sequence[VillageCoverage]) -> None:
        """Keep the day's counts, as first seen that day, for the month's change."""
        with self.ws.store.transaction() as conn:
            conn.executemany(
                "INSERT INTO coverage_day (day, village, residents, insured) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (day, village) DO NOTHING",
                [(on.isoformat(), r.village, r.residents, r.insured) for r in rows],
            )

    def change(
        self, on: dt.date, *, counts: Sequence[VillageCoverage] | None = None
    ) -> CoverageChange | None:
        """The month's change in insured people, per village and "" for the commune.

        Compared with the counts recorded on the first recorded day of `on`'s month before
        `on` (the 1st when it was recorded); when none was, with the last recorded day of the
        month before (the count the month opened with). None when neither was recorded: a
        day is not compared with itself. A village with no count on one side counts 0 there.
        `counts`: those by_village(on) just gave for the whole commune, not to count twice.
        """
        first = on.replace(day=1)
        before = add_months(first, -1)
        days = [
            dt.date.fromisoformat(r["day"])
            for r in self.ws.store.query(
                "SELECT DISTINCT day FROM coverage_day WHERE day >= ? AND day < ? ORDER BY day",
                (before.isoformat(), on.isoformat()),
            )
        ]
        this_month = [d for d in days if d >= first]
        last_month = [d for d in days if d < first]
        if this_month:
            since = this_month[0]
        elif last_month:
            since = last_month[-1]
        else:
            return None
        then = {
            r["village"]: r["insured"]
            for r in self.ws.store.query(
                "SELECT village, insured FROM coverage_day WHERE day = ?", (since.isoformat(),)
            )
        }
        now = {r.village: r.insured for r in counts or self.by_village(on)}
        villages = list(now) + [v for v in then if v not in now]
        return CoverageChange(
            since=since, insured={v: now.get(v, 0) - then.get(v, 0) for v in villages}
        )

    # -- people -----------------------------------------------------------------------------

    def people(
        self,
        on: dt.date,
        *,
        village: str | None = None,
        within: int = EXPIRING_DAYS,
        status: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[PersonCoverage]:
        """Residents' coverage on `on`, by village (Vietnamese order) then name: of one
        village when given, of one status when given ("insured" includes "expiring";
        "covered_elsewhere" the insured whose card another group pays), a page when asked."""
        if status is not None and status not in PEOPLE_FILTERS:
            raise _refused(
                "status",
                "not_allowed",
                f"Trạng thái không hợp lệ '{status}'; các trạng thái: {', '.join(PEOPLE_FILTERS)}",
                f"Unknown status '{status}'; statuses: {', '.join(PEOPLE_FILTERS)}",
            )
        _check_page(limit, offset)
        params = _params(on, within)
        params["villages"] = json.dumps(self._village_order(), ensure_ascii=False)
        sql = (
            "WITH v(village, rank) AS (SELECT value, key FROM json_each(:villages)) "
            f"SELECT {_PERSON} {_FROM.replace('WHERE', 'JOIN v ON v.village = h.village WHERE')}"
        )
        if village is not None:
            sql, params["village"] = sql + " AND h.village = :village", village
        if status is not None:
            sql += f" AND {_STATUS_SQL[status]}"
        sql += " ORDER BY v.rank, m.sort_key, m.id"
        cut = self._long_lapse_end(on)
        if status != "covered_elsewhere":
            sql += " LIMIT :limit OFFSET :offset"
            params.update(limit=-1 if limit is None else limit, offset=offset)
            rows: Iterable[sqlite3.Row] = self.ws.store.conn.execute(sql, params)
            return [_person(row, on, within, cut) for row in rows]
        found = (
            p
            for p in (
                _person(row, on, within, cut) for row in self.ws.store.conn.execute(sql, params)
            )
            if p.covered_elsewhere
        )
        stop = None if limit is None else offset + limit
        return list(itertools.islice(found, offset, stop))

    def _village_order(self) -> list[str]:
        from fieldapp.text import village_sort_key

        names = [
            r[0]
            for r in self.ws.store.query(
                "SELECT DISTINCT village FROM household WHERE moved_to IS NULL"
            )
        ]
        return sorted(names, key=village_sort_key)

    # -- renewals ---------------------------------------------------------------------------

    def renewals(
        self,
        on: dt.date,
        *,
        within: int = EXPIRING_DAYS,
        quote: bool = True,
        limit: int | None = None,
    ) -> list[tuple[PersonCoverage, int | None]]:
        """Whose card to renew now, with what renewing it alone for a year costs: cards ending
        within `within` days (soonest first), then those lapsed less than the gap months (no
        new wait if renewed now). People whose card another group pays are not listed.
        `limit` gives the first so many."""
        _check_page(limit, 0)
        due: list[tuple[PersonCoverage, str]] = []
        rows = self._due(on, within)
        if limit != 0:
            for person, province in rows:
                due.append((person, province))
                if limit is not None and len(due) >= limit:
                    break
        if not quote:
            return [(p, None) for p, _ in due]
        return self._quoted(due, on)

    def iter_renewals(
        self, on: dt.date, *, within: int = EXPIRING_DAYS
    ) -> Iterator[PersonCoverage]:
        """The people `renewals` lists, in its order, read as they are asked for (no amounts):
        a first page reads only its own rows."""
        return (person for person, _province in self._due(on, within))

    def renewals_of(
        self, on: dt.date, household_ids: Sequence[str], *, within: int = EXPIRING_DAYS
    ) -> list[PersonCoverage]:
        """The people of these households that `renewals` lists, in its order."""
        found: list[PersonCoverage] = []
        ids = list(dict.fromkeys(household_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found += (p for p, _ in self._due(on, within, household_ids=chunk))
        return self._ordered(found, on)

    @staticmethod
    def _ordered(people: Sequence[PersonCoverage], on: dt.date) -> list[PersonCoverage]:
        """`renewals`' order: cards still valid first, then lapsed; each by end, name, id."""
        return sorted(
            people,
            key=lambda p: (
                p.card_valid_to is None or p.card_valid_to < on,
                p.card_valid_to or dt.date.min,
                p.full_name,
                p.member_id,
            ),
        )

    def _due(
        self, on: dt.date, within: int, *, household_ids: Sequence[str] | None = None
    ) -> Iterator[tuple[PersonCoverage, str]]:
        """Each person due with their household's province, read lazily (checked at once)."""
        params: dict[str, Any] = _params(on, within)
        params["cut"] = self._long_lapse_end(on).isoformat()
        if household_ids is None:
            queries = _DUE
        else:
            marks = ",".join(f":h{n}" for n in range(len(household_ids)))
            params.update({f"h{n}": h for n, h in enumerate(household_ids)})
            queries = tuple(sql.format(marks=marks) for sql in _DUE_OF)

        def read() -> Iterator[tuple[PersonCoverage, str]]:
            for sql in queries:
                for row in self.ws.store.conn.execute(sql, params):
                    person = _person(row, on, within, dt.date.min)
                    if row["covered"] is None and person.group in BHYT_COVERED_GROUPS:
                        continue
                    yield person, row["province_code"]

        return read()

    def renewal_count(self, on: dt.date, within: int = EXPIRING_DAYS) -> int:
        """How many cards `renewals` lists, counted without reading them."""
        params = _params(on, within)
        params["cut"] = self._long_lapse_end(on).isoformat()
        where = f"WHERE m.removed = 0 AND h.moved_to IS NULL AND {_DUE_WHERE}"
        head = "FROM member m INDEXED BY member_card_end JOIN household h ON h.id = m.household_id "
        count = int(self.ws.store.scalar(f"SELECT count(*) {head}{where}", params) or 0)
        for row in self.ws.store.query(
            f"SELECT m.bhyt_card, m.covered_by {head}{where} AND {_COVERED} IS NULL", params
        ):
            group = bhyt_group_of(
                bhyt_group=None, bhyt_card=row["bhyt_card"], covered_by=row["covered_by"]
            )
            count -= group in BHYT_COVERED_GROUPS
        return count

    def _quoted(
        self, due: Sequence[tuple[PersonCoverage, str]], on: dt.date
    ) -> list[tuple[PersonCoverage, int | None]]:
        """Each renewal's amount, as quote_household_bhyt gives it for the person alone: it
        depends only on the group, the ladder place, the province and the day, so one quote
        serves everyone alike."""
        from fieldapp import calculator

        policy = self.ws.policy
        periods = policy.bhyt_periods(on)
        months = 12 if 12 in periods else max(periods)
        enrolled, counted = self._enrolled({p.household_id for p, _ in due}, on)
        cache: dict[tuple[str, int, str], int] = {}
        found: list[tuple[PersonCoverage, int | None]] = []
        for person, province in due:
            already = enrolled.get(person.household_id, 0) - (person.member_id in counted)
            key = (person.group, already, province)
            amount = cache.get(key)
            if amount is None:
                try:
                    amount = cache[key] = calculator.bhyt_people_payable(
                        policy,
                        people=[calculator.BhytPerson(group=person.group)],
                        months=months,
                        on=on,
                        already_enrolled=already,
                        province=province,
                        field_name="member_ids",
                    )
                except FieldappError:
                    # Refused: refuse the way a quote for this person refuses, with their name.
                    self._renewal_amount(person, on)
                    raise
            found.append((person, amount))
        return found

    def _enrolled(self, households: set[str], on: dt.date) -> tuple[dict[str, int], set[str]]:
        """Pledges.already_enrolled for many households: household-group members enrolled for
        a period overlapping `on` in its year, per household, and who they are."""
        from sync.protocol.clock import VIETNAM_TZ

        per_household: dict[str, int] = {}
        counted: set[str] = set()
        if not households:
            return per_household, counted
        params = {"households": json.dumps(sorted(households)), "on": on.isoformat()}
        for row in self.ws.store.query(_ENROLLED, params):
            group = bhyt_group_of(
                bhyt_group=row["bhyt_group"],
                bhyt_card=row["bhyt_card"],
                covered_by=row["covered_by"],
            )
            if group != "household":
                continue
            if row["paid_at"]:
                stamp = dt.datetime.fromisoformat(row["paid_at"].replace("Z", "+00:00"))
                year = stamp.astimezone(VIETNAM_TZ).year
            elif row["bhyt_valid_from"]:
                year = dt.date.fromisoformat(row["bhyt_valid_from"]).year
            else:
                continue
            if year == on.year:
                per_household[row["household_id"]] = per_household.get(row["household_id"], 0) + 1
                counted.add(row["id"])
        return per_household, counted

    def _renewal_amount(self, person: PersonCoverage, on: dt.date) -> int | None:
        """One renewal quoted on its own, as the household's BHYT quote gives it."""
        periods = self.ws.policy.bhyt_periods(on)
        months = 12 if 12 in periods else max(periods)
        result = self.ws.pledges.quote_household_bhyt(
            person.household_id, member_ids=[person.member_id], months=months, on=on
        )
        return result.payable

    def _long_lapse_end(self, on: dt.date) -> dt.date:
        """The last card end that is, on `on`, lapsed for the gap months or more."""
        gap = self._gap_months(on)
        found = self._lapse_ends.get((on, gap))
        if found is not None:
            return found
        # add_months never goes back as the day goes on, so the long lapses are the card ends
        # up to one day; it lies within the gap months and a month before `on`.
        day = on
        while add_months(day + dt.timedelta(days=1), gap) > on:
            day -= dt.timedelta(days=1)
        if len(self._lapse_ends) >= 64:
            self._lapse_ends.clear()
        self._lapse_ends[on, gap] = day
        return day

    def _gap_months(self, on: dt.date) -> int:
        rule = self.ws.policy.card_rule(on)
        if rule is None:
            raise FieldappError(
                "Bảng chính sách không có quy định về thời gian gián đoạn thẻ BHYT",
                "The policy tables do not say when a lapse makes a BHYT card new",
                code="policy_lacks_card_rule",
            )
        return rule[1]


def _params(on: dt.date, within: int) -> dict[str, Any]:
    if (
        isinstance(within, bool)
        or not isinstance(within, int)
        or not (0 <= within <= MAX_WITHIN_DAYS)
    ):
        raise _refused(
            "within",
            "out_of_range",
            f"Số ngày sắp hết hạn phải từ 0 đến {MAX_WITHIN_DAYS}",
            f"The days before a card ends must be 0 to {MAX_WITHIN_DAYS}",
        )
    return {"on": on.isoformat(), "soon": (on + dt.timedelta(days=within)).isoformat()}


def _check_page(limit: int | None, offset: int) -> None:
    for name, value in (("limit", limit), ("offset", offset)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _refused(
                name,
                "out_of_range",
                f"'{name}' phải là số nguyên không âm",
                f"'{name}' must be a whole number, not negative",
            )


def _refused(field: str, code: str, vi: str, en: str) -> ValidationError:
    return ValidationError([Problem(field, code, vi, en)])


def _person(row: sqlite3.Row, on: dt.date, within: int, long_lapse_end: dt.date) -> PersonCoverage:
    valid_from = _date(row["bhyt_valid_from"])
    valid_to = _date(row["bhyt_expiry"])
    status = person_status(valid_from=valid_from, valid_to=valid_to, on=on, within=within)
    return PersonCoverage(
        member_id=row["id"],
        household_id=row["household_id"],
        full_name=row["full_name"],
        village=row["village"],
        group=bhyt_group_of(
            bhyt_group=row["bhyt_group"], bhyt_card=row["bhyt_card"], covered_by=row["covered_by"]
        ),
        status=status,
        card_valid_to=valid_to,
        days_left=None if valid_to is None else (valid_to - on).days,
        long_lapse=status == "lapsed" and valid_to is not None and valid_to <= long_lapse_end,
    )


def _village(
    village: str, residents: int, insured: int, expiring: int, lapsed: int, elsewhere: int
) -> VillageCoverage:
    return VillageCoverage(
        village=village,
        residents=residents,
        insured=insured,
        expiring_30d=expiring,
        lapsed=lapsed,
        uninsured=residents - insured - lapsed,
        covered_elsewhere=elsewhere,
    )


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


# -- the workbook ----------------------------------------------------------------------------


def export_coverage(ws: Workspace, path: Path | str, on: dt.date) -> Path:
    """Write the commune's coverage on `on` as an XLSX workbook: a "Thôn, bản" sheet of counts
    per village (with the month's change when known) and a "Người" sheet of every resident.
    The file appears whole or not at all."""
    from fieldapp.export import _atomic
    from sync.protocol.labels import BHYT_GROUP_LABELS, label

    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        target = target.with_name(target.name + ".xlsx")
    counts = ws.coverage.by_village(on)
    change = ws.coverage.change(on, counts=counts)
    change_heading = (
        f"Thay đổi số có thẻ từ {change.since:%d/%m/%Y}" if change else "Thay đổi trong tháng"
    )
    villages: list[tuple[_Cell, ...]] = [
        (
            r.village or "Cả xã",
            r.residents,
            r.insured,
            r.rate_percent,
            r.expiring_30d,
            r.lapsed,
            r.uninsured,
            r.covered_elsewhere,
            None if change is None else change.insured.get(r.village, 0),
        )
        for r in counts
    ]
    people: list[tuple[_Cell, ...]] = [
        (
            p.full_name,
            p.village,
            p.household_id,
            label(BHYT_GROUP_LABELS, p.group, lang="vi"),
            STATUS_VI[p.status] + (" (nhóm khác đóng)" if p.covered_elsewhere else ""),
            p.card_valid_to.isoformat() if p.card_valid_to else None,
            p.days_left,
        )
        for p in ws.coverage.people(on)
    ]
    sheets = [
        (
            # A sheet's name cannot hold "/".
            "Thôn, bản",
            (
                "Thôn/bản",
                "Dân số",
                "Có thẻ BHYT",
                "Tỷ lệ (%)",
                f"Sắp hết hạn ({EXPIRING_DAYS} ngày)",
                "Hết hạn",
                "Chưa có thẻ",
                "Nhóm khác đóng",
                change_heading,
            ),
            villages,
        ),
        (
            "Người",
            (
                "Họ và tên",
                "Thôn/bản",
                "Mã hộ",
                "Nhóm BHYT",
                "Trạng thái thẻ",
                "Thẻ có giá trị đến",
                "Số ngày còn lại",
            ),
            people,
        ),
    ]
    with _atomic(target) as handle:
        _write_book(sheets, handle)
    return target


_Cell = str | int | float | None


def _write_book(
    sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence[_Cell]]]], handle: IO[bytes]
) -> None:
    """Sheets of a heading row and rows; text that would start a formula is written as text."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for title, headers, rows in sheets:
        target = book.create_sheet(title)
        target.append(list(headers))
        for heading in target[1]:
            heading.font = Font(bold=True)
        for row in rows:
            target.append([cells.xlsx_cell(v) for v in row])
        target.freeze_panes = "A2"
        for i, header in enumerate(headers, start=1):
            longest = max([len(header), *(len(str(r[i - 1] or "")) for r in rows[:200])])
            letter = target.cell(1, i).column_letter
            target.column_dimensions[letter].width = min(max(10, longest + 2), 50)
    book.properties.creator = "fieldapp"
    book.save(handle)
