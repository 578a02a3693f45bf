"""Visits to households (append-only facts) and the follow-ups that are due."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable

from fieldapp.errors import NotFoundError, Problem, ValidationError, raise_if_errors
from fieldapp.model import VISIT_OUTCOMES, Household, Visit
from fieldapp.store import AGENT_SQL, Store, dumps
from fieldapp.text import clean
from sync.protocol.clock import VIETNAM_TZ, iso_utc
from sync.protocol.frozen import frozen


def suggest_next_visit(best_months: Iterable[int], today: dt.date) -> dt.date:
    """When to come back: the 5th of the next month when the family has money, else in 30 days.

    The 5th rather than the 1st leaves the first days of a harvest month for the harvest itself.
    """
    months = sorted(set(best_months))
    for offset in range(0, 13):
        year = today.year + (today.month - 1 + offset) // 12
        month = (today.month - 1 + offset) % 12 + 1
        if month in months:
            day = min(5, calendar.monthrange(year, month)[1])
            candidate = dt.date(year, month, day)
            if candidate > today:
                return candidate
    return today + dt.timedelta(days=30)


@frozen
class FollowUp:
    """A household to visit: why (next visit due, or a best month) and since when."""

    household: Household
    reason: str  # "due" or "best_month"
    due_on: str | None
    last_visit_at: str | None


class Visits:
    """Record visits; visits are never edited or deleted."""

    def __init__(self, store: Store, *, agent_id: str | None = None) -> None:
        """agent_id: the agent every visit is recorded for. Without it, the agent the store
        names when each visit is recorded: an open workspace follows an enrolment at once."""
        self.store = store
        self._agent = agent_id

    @property
    def agent_id(self) -> str:
        """The agent the next visit is recorded for."""
        return self._agent or self.store.agent_id

    @agent_id.setter
    def agent_id(self, value: str | None) -> None:
        self._agent = value

    def record(
        self,
        household_id: str,
        *,
        outcome: str,
        topics: Iterable[str] = (),
        materials: Iterable[str] = (),
        next_visit: dt.date | None = None,
        notes: str = "",
        at: dt.datetime | None = None,
    ) -> Visit:
        problems: list[Problem] = []
        if not outcome:
            problems.append(
                Problem(
                    "outcome",
                    "outcome_required",
                    "Chọn kết quả của lần thăm (không có nhà, đã tư vấn, đã cam kết, từ chối, "
                    "đã đóng tiền, hẹn lại).",
                    "Choose the outcome of the visit (not home, consulted, pledged, refused, "
                    "paid, follow-up).",
                )
            )
        elif outcome not in VISIT_OUTCOMES:
            problems.append(
                Problem(
                    "outcome",
                    "bad_outcome",
                    f"Kết quả thăm không hợp lệ: {outcome}.",
                    f"Unknown visit outcome: {outcome}.",
                )
            )
        now = self.store.clock.now()
        when = now if at is None else at
        if when.tzinfo is None:
            raise ValidationError(
                [
                    Problem(
                        "at",
                        "naive_time",
                        "Thời điểm thăm phải có múi giờ.",
                        "The visit time must carry a time zone.",
                    )
                ]
            )
        if when > now:
            problems.append(
                Problem(
                    "at",
                    "visit_in_future",
                    "Thời điểm thăm không thể ở tương lai.",
                    "A visit cannot be recorded in the future.",
                )
            )
        visit_day = when.astimezone(VIETNAM_TZ).date()
        if next_visit is not None and next_visit < visit_day:
            problems.append(
                Problem(
                    "next_visit",
                    "next_visit_past",
                    "Ngày hẹn thăm lại phải sau ngày thăm.",
                    "The next visit must be on or after the visit day.",
                )
            )
        raise_if_errors(problems)
        visit_id = self.store.new_id()
        topic_list = [t for t in map(clean, topics) if t]
        material_list = [m for m in map(clean, materials) if m]
        with self.store.transaction() as conn:
            # The household (for the outbox: moved away, demo) and the agent, in one read.
            household = conn.execute(
                f"SELECT head_name, moved_to, demo, {AGENT_SQL} AS agent "
                "FROM household WHERE id = :household",
                {"household": household_id, "device": self.store.device_id},
            ).fetchone()
            if household is None:
                raise NotFoundError("hộ gia đình", "household", household_id)
            visit = Visit(
                id=visit_id,
                household_id=household_id,
                agent_id=self._agent or household["agent"],
                at=iso_utc(when),
                outcome=outcome,
                topics=tuple(topic_list),
                materials=tuple(material_list),
                next_visit=next_visit.isoformat() if next_visit else None,
                notes=clean(notes),
            )
            # The record as sent: every field of the visit, its lists as JSON arrays.
            data = {
                "id": visit.id,
                "household_id": visit.household_id,
                "agent_id": visit.agent_id,
                "at": visit.at,
                "outcome": visit.outcome,
                "topics": topic_list,
                "materials": material_list,
                "next_visit": visit.next_visit,
                "notes": visit.notes,
            }
            conn.execute(
                "INSERT INTO visit (id, household_id, agent_id, at, outcome, topics, "
                "materials, next_visit, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    visit.id,
                    visit.household_id,
                    visit.agent_id,
                    visit.at,
                    visit.outcome,
                    dumps(topic_list),
                    dumps(material_list),
                    visit.next_visit,
                    visit.notes,
                ),
            )
            self.store.append_outbox(
                entity="visit",
                entity_id=visit.id,
                op="insert",
                hlc=self.store.tick(),
                data=data,
                household=household,
                created_at=visit.at if at is None else None,
            )
        return visit

    def get(self, visit_id: str) -> Visit:
        row = self.store.one("SELECT * FROM visit WHERE id = ?", (visit_id,))
        if row is None:
            raise NotFoundError("lần thăm", "visit", visit_id)
        return Visit.from_row(row)

    def of_household(self, household_id: str) -> list[Visit]:
        rows = self.store.query(
            "SELECT * FROM visit WHERE household_id = ? ORDER BY at DESC, id DESC", (household_id,)
        )
        return [Visit.from_row(r) for r in rows]

    def recent(self, limit: int = 20) -> list[Visit]:
        rows = self.store.query("SELECT * FROM visit ORDER BY at DESC, id DESC LIMIT ?", (limit,))
        return [Visit.from_row(r) for r in rows]

    def follow_ups(self, *, limit: int = 200) -> list[FollowUp]:
        """Households whose next visit has come (oldest first), then those in a best month.

        A household in its best month is left out when it was visited this month already or
        has a later appointment.
        """
        today = self.store.clock.today()
        # Visits are stored in UTC; the month starts at midnight in Vietnam, 7 hours earlier.
        month_start = iso_utc(dt.datetime.combine(today.replace(day=1), dt.time(), VIETNAM_TZ))
        rows = self.store.query(
            """
            WITH ranked AS (
                SELECT household_id, at, next_visit, row_number() OVER (
                    PARTITION BY household_id ORDER BY at DESC, id DESC
                ) AS n
                FROM visit
            ),
            -- One latest visit per household, even when two share the same instant.
            latest AS (SELECT household_id, at, next_visit FROM ranked WHERE n = 1)
            SELECT h.*, latest.at AS last_at, latest.next_visit AS next_visit,
                CASE
                    WHEN latest.next_visit IS NOT NULL AND latest.next_visit <= :today THEN 0
                    ELSE 1
                END AS kind
            FROM household h LEFT JOIN latest ON latest.household_id = h.id
            WHERE h.moved_to IS NULL AND (
                (latest.next_visit IS NOT NULL AND latest.next_visit <= :today)
                OR (
                    EXISTS (SELECT 1 FROM json_each(h.best_months) WHERE value = :month)
                    AND (latest.at IS NULL OR latest.at < :month_start)
                    AND (latest.next_visit IS NULL OR latest.next_visit <= :today)
                )
            )
            ORDER BY kind, latest.next_visit, h.village, h.head_name
            LIMIT :limit
            """,
            {
                "today": today.isoformat(),
                "month": today.month,
                "month_start": month_start,
                "limit": limit,
            },
        )
        return [
            FollowUp(
                household=Household.from_row(r),
                reason="due" if r["kind"] == 0 else "best_month",
                due_on=r["next_visit"],
                last_visit_at=r["last_at"],
            )
            for r in rows
        ]

    def count(self) -> int:
        return int(self.store.scalar("SELECT count(*) FROM visit"))
