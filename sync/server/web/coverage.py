"""BHYT coverage per commune and village on a day, targets, renewals due and the trend.

Counted exactly as the laptop counts (fieldapp/coverage.py), with the shared rules of
sync.protocol.coverage and sync.protocol.participation_codes: residents are members not removed
(a household that moved belongs to its new commune on the server, so it counts there); insured
includes expiring; "covered elsewhere" are insured members whose group someone else pays for.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.protocol.clock import Clock, iso_utc
from sync.protocol.coverage import EXPIRING_DAYS, Status, person_status, rate_percent
from sync.protocol.frozen import frozen, kept_dataclass
from sync.protocol.participation_codes import bhyt_group_of, covered_elsewhere
from sync.server.errors import ServerError
from sync.server.schema import (
    agent_communes,
    agents,
    coverage_targets,
    households,
    members,
    supervisor_communes,
)
from sync.server.web.scope import Communes, OutOfScope, in_scope

# A card lapsed less than this many months ago is renewed without a new wait (the laptop reads
# the gap from the policy tables; the published rule is three months).
RENEW_WITHOUT_WAIT_MONTHS = 3
TREND_MONTHS = 12
NO_VILLAGE = "(không rõ thôn)"
NO_AGENT = "(chưa giao nhân viên thu)"
# The days a page may be asked about: the records' dates start in 2000; a year ahead at most.
EARLIEST_DAY = dt.date(2000, 1, 1)
# A target's day: from today up to this many years ahead (31 December of that year).
TARGET_YEARS_AHEAD = 10

_COMMUNE = re.compile(r"^\d{5}$")
_PERCENT = re.compile(r"^(\d{1,3})(?:[.,](\d))?$")
_REMOVED = members.c.data["removed"].as_boolean()
_PRESENT = sa.or_(_REMOVED.is_(None), sa.false() == _REMOVED)


class CoverageInputError(ServerError):
    """A value typed on the coverage page that cannot be used (400)."""

    def __init__(self, vi: str, en: str, *, code: str) -> None:
        super().__init__(vi, en, code=code, status=400)


# ---------------------------------------------------------------------------------------------
# What a page counts


@frozen
class Person:
    """One resident's card on the day asked."""

    commune_code: str
    village: str
    group: str
    status: Status
    valid_from: dt.date | None
    valid_to: dt.date | None

    @property
    def insured(self) -> bool:
        return self.status in ("insured", "expiring")

    @property
    def covered_elsewhere(self) -> bool:
        return self.insured and covered_elsewhere(self.group)


@kept_dataclass
class Counts:
    residents: int = 0
    insured: int = 0
    expiring: int = 0
    lapsed: int = 0
    never: int = 0
    covered_elsewhere: int = 0

    def add(self, person: Person) -> None:
        self.residents += 1
        self.insured += person.insured
        self.expiring += person.status == "expiring"
        self.lapsed += person.status == "lapsed"
        self.never += person.status == "never"
        self.covered_elsewhere += person.covered_elsewhere

    @property
    def rate(self) -> float:
        """Insured ÷ residents in percent, to one decimal, as the laptop shows it."""
        return rate_percent(self.insured, self.residents)


@frozen
class Target:
    """A commune's coverage target: tenths of a percent (950 = 95.0 %) by a day."""

    commune_code: str
    percent_tenths: int
    due_on: dt.date
    set_by: str
    updated_at: str

    @property
    def percent(self) -> float:
        return self.percent_tenths / 10

    def needed(self, counts: Counts) -> int:
        """How many more insured people bring the rate, as shown to one decimal, to the target.

        The smallest k with round-half-up(k × 1000 / residents) ≥ tenths is
        ceil((2 × tenths − 1) × residents / 2000).
        """
        if self.percent_tenths <= 0 or counts.residents <= 0:
            return 0
        enough = -(-(2 * self.percent_tenths - 1) * counts.residents // 2000)
        return max(0, enough - counts.insured)


@kept_dataclass
class AreaRow:
    """A commune (village "") or one village of it, with its counts and the commune's target."""

    level: str
    commune_code: str
    village: str
    counts: Counts
    target: Target | None = None

    @property
    def label(self) -> str:
        if self.level == "commune":
            return f"Xã {self.commune_code}"
        return f"{self.village} (xã {self.commune_code})"

    @property
    def needed(self) -> int | None:
        return None if self.target is None else self.target.needed(self.counts)


@kept_dataclass
class RenewalRow:
    """Per agent and commune: cards still valid that end this month, and cards lapsed less
    than RENEW_WITHOUT_WAIT_MONTHS ago (renewed now, no new wait). Covered-elsewhere groups
    are not the agent's to renew and are left out, as on the laptop."""

    agent_id: str
    agent_name: str
    commune_code: str
    ending_this_month: int = 0
    lapsed_recently: int = 0

    @property
    def total(self) -> int:
        return self.ending_this_month + self.lapsed_recently


@frozen
class MonthPoint:
    """Insured at the end of a month (the day asked, for its own month), reconstructed."""

    month: str
    day: dt.date
    residents: int
    insured: int

    @property
    def rate(self) -> float:
        return rate_percent(self.insured, self.residents)

    @property
    def label(self) -> str:
        return f"{self.month[5:]}/{self.month[:4]}"


@kept_dataclass
class CoveragePage:
    on: dt.date
    communes: list[AreaRow]
    villages: list[AreaRow]
    total: Counts
    renewals: list[RenewalRow]
    trend: list[MonthPoint]
    # Communes whose target the supervisor may set, sorted.
    settable: list[str] = field(default_factory=list)

    @property
    def month_label(self) -> str:
        return self.on.strftime("%m/%Y")

    def rows(self) -> list[AreaRow]:
        return [*self.communes, *self.villages]


# ---------------------------------------------------------------------------------------------
# Reading


def _day(value: object) -> dt.date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, on the month's last day when it has no such day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _residents(conn: Connection, communes: Communes) -> list[tuple[str, str, dict[str, Any]]]:
    """(commune, village, card fields) of every member not removed, in the communes in scope."""
    data = members.c.data
    query = (
        sa.select(
            households.c.commune_code,
            households.c.data["village"].as_string().label("village"),
            data["bhyt_valid_from"].as_string().label("valid_from"),
            data["bhyt_expiry"].as_string().label("valid_to"),
            data["bhyt_group"].as_string().label("bhyt_group"),
            data["bhyt_card"].as_string().label("bhyt_card"),
            data["covered_by"].as_string().label("covered_by"),
        )
        .join(households, households.c.id == members.c.household_id)
        .where(in_scope(households.c.commune_code, communes), _PRESENT)
    )
    out = []
    for r in conn.execute(query):
        village = (r.village or "").strip() or NO_VILLAGE
        out.append((r.commune_code, village, dict(r._mapping)))
    return out


def people(
    conn: Connection, communes: Communes, on: dt.date, *, within: int = EXPIRING_DAYS
) -> list[Person]:
    found = []
    for commune, village, card in _residents(conn, communes):
        valid_from, valid_to = _day(card["valid_from"]), _day(card["valid_to"])
        found.append(
            Person(
                commune_code=commune,
                village=village,
                group=bhyt_group_of(
                    bhyt_group=card["bhyt_group"],
                    bhyt_card=card["bhyt_card"],
                    covered_by=card["covered_by"],
                ),
                status=person_status(
                    valid_from=valid_from, valid_to=valid_to, on=on, within=within
                ),
                valid_from=valid_from,
                valid_to=valid_to,
            )
        )
    return found


def targets_in_scope(conn: Connection, communes: Communes) -> dict[str, Target]:
    out = {}
    for r in conn.execute(
        sa.select(coverage_targets).where(in_scope(coverage_targets.c.commune_code, communes))
    ):
        due = _day(r.due_on)
        if due is None:
            continue
        out[r.commune_code] = Target(
            r.commune_code, int(r.percent_tenths), due, r.set_by, r.updated_at
        )
    return out


def known_communes(conn: Connection, communes: Communes) -> list[str]:
    """Communes in scope the province knows of: a supervisor's own, and (for the province)
    every commune with households, agents, supervisors or a target."""
    if communes is not None:
        return sorted(communes)
    found: set[str] = set()
    for column in (
        households.c.commune_code,
        agent_communes.c.commune_code,
        supervisor_communes.c.commune_code,
        coverage_targets.c.commune_code,
    ):
        found.update(conn.execute(sa.select(column).distinct()).scalars())
    return sorted(found)


def _renewals(
    conn: Connection, communes: Communes, on: dt.date, everyone: Iterable[Person]
) -> list[RenewalRow]:
    last_day = month_end(on)
    ending: dict[str, int] = defaultdict(int)
    lapsed: dict[str, int] = defaultdict(int)
    for p in everyone:
        if covered_elsewhere(p.group) or p.valid_to is None:
            continue
        if p.insured and p.valid_to <= last_day:
            ending[p.commune_code] += 1
        elif p.status == "lapsed" and on < add_months(
            p.valid_to + dt.timedelta(days=1), RENEW_WITHOUT_WAIT_MONTHS
        ):
            lapsed[p.commune_code] += 1
    links = conn.execute(
        sa.select(agent_communes.c.agent_id, agent_communes.c.commune_code, agents.c.name)
        .join(agents, agents.c.id == agent_communes.c.agent_id)
        .where(in_scope(agent_communes.c.commune_code, communes))
        .order_by(agents.c.name, agents.c.id, agent_communes.c.commune_code)
    ).all()
    rows = [
        RenewalRow(
            link.agent_id,
            link.name,
            link.commune_code,
            ending.get(link.commune_code, 0),
            lapsed.get(link.commune_code, 0),
        )
        for link in links
    ]
    served = {link.commune_code for link in links}
    for commune in sorted((set(ending) | set(lapsed)) - served):
        rows.append(RenewalRow("", NO_AGENT, commune, ending[commune], lapsed[commune]))
    return rows


def _trend(everyone: list[Person], on: dt.date) -> list[MonthPoint]:
    """Insured at the end of each of the last TREND_MONTHS months, from the cards on record.

    Only each member's current card is stored: a renewed card's earlier dates are gone, so a
    person renewed since then shows as not insured before the new card's first day. Residents
    are today's. The past is therefore a reconstruction, a floor rather than a record.
    """
    points = []
    for back in range(TREND_MONTHS - 1, -1, -1):
        first = add_months(on.replace(day=1), -back)
        day = on if back == 0 else month_end(first)
        insured = sum(
            1
            for p in everyone
            if person_status(valid_from=p.valid_from, valid_to=p.valid_to, on=day)
            in ("insured", "expiring")
        )
        points.append(MonthPoint(first.strftime("%Y-%m"), day, len(everyone), insured))
    return points


def coverage(conn: Connection, communes: Communes, on: dt.date) -> CoveragePage:
    """The coverage page for the communes in scope on a day."""
    everyone = people(conn, communes, on)
    goals = targets_in_scope(conn, communes)
    by_commune: dict[str, Counts] = defaultdict(Counts)
    by_village: dict[tuple[str, str], Counts] = defaultdict(Counts)
    total = Counts()
    for p in everyone:
        by_commune[p.commune_code].add(p)
        by_village[(p.commune_code, p.village)].add(p)
        total.add(p)
    listed = set(known_communes(conn, communes)) | set(by_commune)
    commune_rows = [
        AreaRow("commune", code, "", by_commune.get(code, Counts()), goals.get(code))
        for code in sorted(listed)
    ]
    village_rows = [
        AreaRow("village", code, village, counts)
        for (code, village), counts in sorted(
            by_village.items(), key=lambda item: (item[0][0], item[0][1].casefold())
        )
    ]
    return CoveragePage(
        on=on,
        communes=commune_rows,
        villages=village_rows,
        total=total,
        renewals=_renewals(conn, communes, on, everyone),
        trend=_trend(everyone, on),
        settable=sorted(listed) if communes is None else sorted(communes),
    )


# ---------------------------------------------------------------------------------------------
# Days and targets from the page


def latest_day(today: dt.date) -> dt.date:
    return dt.date(today.year + 1, 12, 31)


def parse_day(text: str) -> dt.date | None:
    """A day typed as 31/12/2026 or sent by a date field as 2026-12-31; None if neither."""
    value = text.strip()
    if len(value) > 10:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return dt.date.fromisoformat(value)
        found = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value)
        if found:
            return dt.date(int(found.group(3)), int(found.group(2)), int(found.group(1)))
    except ValueError:
        return None
    return None


def day_asked(text: str | None, today: dt.date) -> dt.date:
    """The `?on=` day of the page: today when not given; refused unless a day from 2000 to
    the end of next year."""
    if text is None or not text.strip():
        return today
    day = parse_day(text)
    last = latest_day(today)
    if day is None or not EARLIEST_DAY <= day <= last:
        raise CoverageInputError(
            "Ngày xem không hợp lệ: hãy chọn một ngày từ 01/01/2000 đến "
            f"{last:%d/%m/%Y} (dạng ngày/tháng/năm).",
            f"The day to show must be a date from 2000-01-01 to {last.isoformat()}.",
            code="coverage_day_invalid",
        )
    return day


def parse_percent(text: str) -> int:
    """A target typed as 95, 95.5, 95,5 or 95 %: tenths of a percent, 0 to 1000."""
    value = text.strip().removesuffix("%").strip()
    if not value:
        raise CoverageInputError(
            "Hãy nhập tỷ lệ bao phủ mục tiêu (%), ví dụ 95 hoặc 95,5.",
            "Enter the target coverage in percent, e.g. 95 or 95.5.",
            code="coverage_target_missing",
        )
    found = _PERCENT.fullmatch(value)
    if found is None:
        raise CoverageInputError(
            "Tỷ lệ mục tiêu phải là một số từ 0 đến 100, nhiều nhất một chữ số sau dấu phẩy"
            " (ví dụ 95 hoặc 95,5).",
            "The target must be a number from 0 to 100 with at most one decimal (95 or 95.5).",
            code="coverage_target_not_a_number",
        )
    tenths = int(found.group(1)) * 10 + int(found.group(2) or 0)
    if tenths > 1000:
        raise CoverageInputError(
            "Tỷ lệ mục tiêu không được vượt quá 100%.",
            "The target cannot exceed 100 %.",
            code="coverage_target_over_100",
        )
    return tenths


def set_target(
    conn: Connection,
    *,
    commune_code: str,
    percent: str,
    due_on: str,
    communes: Communes,
    supervisor: str,
    clock: Clock,
) -> Target:
    """Set (or replace) a commune's target; refused whole, with a reason, when any part is
    wrong or the commune is not the supervisor's."""
    code = commune_code.strip()
    if not _COMMUNE.fullmatch(code):
        raise CoverageInputError(
            "Mã xã phải gồm đúng 5 chữ số.",
            "The commune code must be exactly 5 digits.",
            code="coverage_commune_invalid",
        )
    if communes is not None and code not in communes:
        raise OutOfScope()
    if code not in known_communes(conn, communes):
        raise CoverageInputError(
            f"Không có xã mã {code} trong dữ liệu của tỉnh.",
            f"The province has no commune {code}.",
            code="coverage_commune_unknown",
        )
    tenths = parse_percent(percent)
    today = clock.today()
    last = dt.date(today.year + TARGET_YEARS_AHEAD, 12, 31)
    if not due_on.strip():
        raise CoverageInputError(
            "Hãy nhập ngày cần đạt mục tiêu, ví dụ 31/12/2026.",
            "Enter the day the target is due, e.g. 2026-12-31.",
            code="coverage_due_missing",
        )
    due = parse_day(due_on)
    if due is None:
        raise CoverageInputError(
            "Ngày cần đạt mục tiêu không hợp lệ: hãy nhập dạng ngày/tháng/năm, ví dụ 31/12/2026.",
            "The due day is not a date: write it as 31/12/2026.",
            code="coverage_due_invalid",
        )
    if not today <= due <= last:
        raise CoverageInputError(
            f"Ngày cần đạt mục tiêu phải từ hôm nay ({today:%d/%m/%Y}) đến {last:%d/%m/%Y}.",
            f"The due day must be from today ({today.isoformat()}) to {last.isoformat()}.",
            code="coverage_due_out_of_range",
        )
    set_by, updated_at = supervisor[:64], iso_utc(clock.now())
    values: dict[str, object] = {
        "percent_tenths": tenths,
        "due_on": due.isoformat(),
        "set_by": set_by,
        "updated_at": updated_at,
    }
    updated = conn.execute(
        coverage_targets.update().where(coverage_targets.c.commune_code == code).values(**values)
    )
    if updated.rowcount == 0:
        try:
            with conn.begin_nested():
                conn.execute(coverage_targets.insert().values(commune_code=code, **values))
        except sa.exc.IntegrityError:
            # Another supervisor set this commune's first target at the same moment.
            conn.execute(
                coverage_targets.update()
                .where(coverage_targets.c.commune_code == code)
                .values(**values)
            )
    return Target(code, tenths, due, set_by, updated_at)


def percent_text(value: float) -> str:
    """95.0 → "95,0%" (Vietnamese decimal comma)."""
    return f"{value:.1f}".replace(".", ",") + "%"
