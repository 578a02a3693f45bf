"""Visits: outcomes, date rules, append-only records, and the follow-ups that are due."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable

import pytest

from fieldapp.errors import NotFoundError, ValidationError
from fieldapp.model import VISIT_OUTCOMES, Household
from fieldapp.store import Store
from fieldapp.visits import suggest_next_visit
from fieldapp.workspace import Workspace
from sync.protocol.clock import VIETNAM_TZ, FixedClock, iso_utc

from .conftest import NOW, FailsHalfWay, Refused

TODAY = dt.date(2026, 11, 23)


def _local(day: dt.date, hour: int = 9) -> dt.datetime:
    """That day at that hour in Vietnam."""
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=VIETNAM_TZ)


@pytest.fixture
def household(add_household: Callable[..., Household]) -> Household:
    return add_household()


@pytest.mark.parametrize("outcome", VISIT_OUTCOMES)
def test_every_outcome_is_recorded_with_its_outbox_row(
    workspace: Workspace,
    household: Household,
    counts: Callable[[Store], dict[str, int]],
    outcome: str,
) -> None:
    """A visit with any known outcome is stored once, with one outbox insert carrying it."""
    before = counts(workspace.store)
    visit = workspace.visits.record(
        household.id,
        outcome=outcome,
        topics=["BHYT hộ gia đình", " "],
        materials=["Tờ rơi BHYT"],
        next_visit=TODAY + dt.timedelta(days=14),
        notes="Hẹn sau thu hoạch",
    )
    assert visit.outcome == outcome
    assert visit.at == "2026-11-23T03:00:00.000Z"
    assert visit.topics == ("BHYT hộ gia đình",)
    assert visit.next_visit == "2026-12-07"
    assert visit.agent_id == workspace.agent_id
    assert workspace.visits.get(visit.id) == visit
    after = counts(workspace.store)
    assert after["visit"] == before["visit"] + 1
    assert after["outbox"] == before["outbox"] + 1
    row = workspace.store.one("SELECT * FROM outbox ORDER BY seq DESC LIMIT 1")
    assert row is not None
    assert (row["entity"], row["entity_id"], row["op"]) == ("visit", visit.id, "insert")
    sent = json.loads(row["data"])
    assert sent["outcome"] == outcome
    # The record sent is the whole visit, every field, its lists as arrays.
    assert sent == {
        f.name: list(v) if isinstance(v := getattr(visit, f.name), tuple) else v
        for f in dataclasses.fields(visit)
    }


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"outcome": "maybe"}, "bad_outcome"),
        ({"outcome": ""}, "outcome_required"),
        ({"outcome": "consulted", "next_visit": TODAY - dt.timedelta(days=1)}, "next_visit_past"),
        ({"outcome": "consulted", "at": NOW + dt.timedelta(minutes=1)}, "visit_in_future"),
        (
            {
                "outcome": "consulted",
                "at": _local(dt.date(2026, 11, 10)),
                "next_visit": dt.date(2026, 11, 9),
            },
            "next_visit_past",
        ),
        ({"outcome": "consulted", "at": dt.datetime(2026, 11, 20, 9, 0)}, "naive_time"),
    ],
)
def test_bad_visit_is_refused_and_nothing_stored(
    workspace: Workspace,
    household: Household,
    stores_nothing: Refused,
    kwargs: dict[str, object],
    code: str,
) -> None:
    """Unknown outcomes, next visits before the visit day and future visits are refused."""
    with stores_nothing(ValidationError) as caught:
        workspace.visits.record(household.id, **kwargs)  # type: ignore[arg-type]
    assert [p.code for p in caught.value.problems] == [code]
    assert caught.value.vi and caught.value.en


def test_next_visit_on_the_visit_day_is_allowed(workspace: Workspace, household: Household) -> None:
    """Coming back later the same day is allowed; the visit day is the Vietnamese date."""
    visit = workspace.visits.record(household.id, outcome="not_home", next_visit=TODAY)
    assert visit.next_visit == TODAY.isoformat()
    # 23:30 UTC on the 22nd is already the 23rd in Vietnam.
    late = dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)
    workspace.visits.record(household.id, outcome="not_home", at=late, next_visit=TODAY)


def test_visit_to_unknown_household_is_refused(
    workspace: Workspace, stores_nothing: Refused
) -> None:
    """A visit to a household that does not exist raises NotFoundError and stores nothing."""
    with stores_nothing(NotFoundError):
        workspace.visits.record("no-such-household", outcome="consulted")


def test_a_visit_reads_once_and_writes_its_two_rows(
    workspace: Workspace, household: Household
) -> None:
    """Recording a visit sends SQLite one read (the household and the agent together), the
    visit row and its outbox row, inside one write transaction: nothing else per visit."""
    statements: list[str] = []
    workspace.store.conn.set_trace_callback(statements.append)
    try:
        visit = workspace.visits.record(household.id, outcome="consulted", topics=["BHYT"])
    finally:
        workspace.store.conn.set_trace_callback(None)
    kinds = [" ".join(sql.split()[:3]) for sql in statements]
    assert kinds == [
        "BEGIN IMMEDIATE",
        "SELECT head_name, moved_to,",
        "INSERT INTO visit",
        "INSERT INTO outbox",
        "COMMIT",
    ]
    sent = workspace.store.one(
        "SELECT data, created_at FROM outbox WHERE entity_id = ?", (visit.id,)
    )
    assert sent is not None and json.loads(sent["data"])["agent_id"] == workspace.store.device_id
    # Recorded now: the outbox row is made at the instant of the visit.
    assert sent["created_at"] == visit.at


def test_a_backdated_visit_keeps_its_time_and_the_outbox_row_is_made_now(
    workspace: Workspace, household: Household
) -> None:
    """A visit recorded later (at the evening) carries the time of the visit; its outbox row
    the time it was written."""
    earlier = NOW - dt.timedelta(hours=5)
    visit = workspace.visits.record(household.id, outcome="consulted", at=earlier)
    sent = workspace.store.one("SELECT created_at FROM outbox WHERE entity_id = ?", (visit.id,))
    assert visit.at == iso_utc(earlier)
    assert sent is not None and sent["created_at"] == iso_utc(NOW)


def test_visit_failing_half_way_leaves_nothing(
    workspace: Workspace, household: Household, fails_half_way: FailsHalfWay
) -> None:
    """When the outbox write fails, the visit row is not kept either."""
    with fails_half_way("outbox"):
        workspace.visits.record(household.id, outcome="consulted")


def test_visits_are_listed_newest_first(workspace: Workspace, household: Household) -> None:
    """A household's visits and the recent list come newest first."""
    old = workspace.visits.record(household.id, outcome="not_home", at=_local(TODAY, 7))
    new = workspace.visits.record(household.id, outcome="consulted", at=_local(TODAY, 9))
    assert [v.id for v in workspace.visits.of_household(household.id)] == [new.id, old.id]
    assert [v.id for v in workspace.visits.recent(limit=1)] == [new.id]
    assert workspace.visits.count() == 2


def test_follow_ups_due_first_by_date_then_best_months(
    workspace: Workspace, add_household: Callable[..., Household]
) -> None:
    """Due appointments come first, oldest first; then best-month households not yet visited."""
    visits = workspace.visits

    def household(head: str, village: str = "Bản Phố", months: tuple[int, ...] = ()) -> str:
        return add_household(head_name=head, village=village, best_months=months).id

    def visited(
        household_id: str, outcome: str, on: dt.date, next_visit: dt.date | None = None
    ) -> None:
        visits.record(household_id, outcome=outcome, at=_local(on), next_visit=next_visit)

    due_late = household("Lò Văn Thắng")
    visited(due_late, "consulted", dt.date(2026, 11, 2), next_visit=TODAY)
    due_early = household("Hà Thị Lan")
    visited(due_early, "follow_up", dt.date(2026, 10, 1), next_visit=dt.date(2026, 11, 10))
    due_mid = household("Ma Thị Súa", months=(11,))
    visited(due_mid, "not_home", dt.date(2026, 11, 3), next_visit=dt.date(2026, 11, 20))
    later_appointment = household("Vàng A Dính", months=(11,))
    visited(later_appointment, "consulted", dt.date(2026, 10, 20), next_visit=dt.date(2026, 12, 1))
    never_visited = household("Triệu Văn Quẩy", village="Thôn Nậm Mòn", months=(11, 12))
    visited_this_month = household("Lý Thị Mỷ", months=(11,))
    visited(visited_this_month, "refused", dt.date(2026, 11, 5))
    visited_last_month = household("Bàn Văn Tòn", village="Bản Cốc Ly", months=(11,))
    visited(visited_last_month, "refused", dt.date(2026, 10, 15))
    household("Sùng Seo Sử", months=(7, 8))  # not a best month now
    superseded = household("Đặng Văn Đức")
    visited(superseded, "consulted", dt.date(2026, 10, 1), next_visit=dt.date(2026, 11, 1))
    visited(superseded, "refused", dt.date(2026, 11, 2))

    found = visits.follow_ups()

    assert [(f.household.id, f.reason) for f in found] == [
        (due_early, "due"),
        (due_mid, "due"),
        (due_late, "due"),
        (visited_last_month, "best_month"),
        (never_visited, "best_month"),
    ]
    assert [f.due_on for f in found[:3]] == ["2026-11-10", "2026-11-20", "2026-11-23"]
    assert found[3].last_visit_at == "2026-10-15T02:00:00.000Z"
    assert found[4].last_visit_at is None
    assert len(visits.follow_ups(limit=2)) == 2


def test_follow_ups_follow_the_clock(
    workspace: Workspace, add_household: Callable[..., Household], clock: FixedClock
) -> None:
    """An appointment becomes due when the clock reaches its day, not before."""
    household = add_household(best_months=(7,))
    workspace.visits.record(household.id, outcome="consulted", next_visit=dt.date(2026, 11, 30))
    assert workspace.visits.follow_ups() == []
    clock.advance(days=7)
    (follow_up,) = workspace.visits.follow_ups()
    assert (follow_up.reason, follow_up.due_on) == ("due", "2026-11-30")


def test_follow_ups_list_a_household_once_for_visits_at_the_same_instant(
    workspace: Workspace, household: Household
) -> None:
    """Two visits recorded at the same instant still give one follow-up for the household."""
    for _ in range(2):
        workspace.visits.record(household.id, outcome="not_home", next_visit=TODAY)
    assert [f.household.id for f in workspace.visits.follow_ups()] == [household.id]


def test_visit_early_on_the_first_counts_for_this_month(
    workspace: Workspace, add_household: Callable[..., Household]
) -> None:
    """A visit at 06:00 on 1 November in Vietnam (still 31 October in UTC) counts as November."""
    household = add_household(best_months=(11,))
    workspace.visits.record(household.id, outcome="refused", at=_local(dt.date(2026, 11, 1), 6))
    assert workspace.visits.follow_ups() == []


def test_suggest_next_visit_prefers_the_next_best_month() -> None:
    """The suggestion is the 5th of the next best month, or 30 days later when there is none."""
    assert suggest_next_visit((7, 8), TODAY) == dt.date(2027, 7, 5)
    assert suggest_next_visit((12, 11), TODAY) == dt.date(2026, 12, 5)
    assert suggest_next_visit((), TODAY) == TODAY + dt.timedelta(days=30)
