"""Target progress day by day: people first counted on each day, and the linear target pace."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldapp.demo import DEMO_COMMUNE, DEMO_PROVINCE
from fieldapp.reports import TargetProgress
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from tests.fieldapp.test_reports import DAY1, DAY2, Known, build_known_store, move_to, vn


@pytest.fixture
def known(tmp_path: Path) -> Iterator[Known]:
    """The two days of test_reports (22 and 23 November 2026), the clock at 17:30 on day 2."""
    clock = FixedClock(vn(DAY1, 7))
    ws = Workspace.open(tmp_path / "data", clock=clock)
    try:
        yield build_known_store(ws, clock)
    finally:
        ws.close()


def _targets(known: Known, **counts: int) -> None:
    for n, (scheme, count) in enumerate(counts.items()):
        known.ws.store.conn.execute(
            "INSERT INTO target (id, scheme, month, count) VALUES (?, ?, '2026-11', ?)",
            (f"t{n}", scheme, count),
        )


def test_people_are_counted_on_the_day_of_their_first_payment(known: Known) -> None:
    """A's three members on 22 November, C and B on the 23rd; the days add up to achieved."""
    november = {p.scheme: p for p in known.ws.reports.month_progress("2026-11")}
    bhyt, bhxh = november["bhyt_household"], november["bhxh_voluntary"]
    assert bhyt.days_in_month == 30 and len(bhyt.daily) == 30
    assert {day + 1: n for day, n in enumerate(bhyt.daily) if n} == {22: 3, 23: 1}
    assert {day + 1: n for day, n in enumerate(bhxh.daily) if n} == {23: 1}
    assert sum(bhyt.daily) == bhyt.achieved == 4
    assert bhyt.cumulative[20:24] == (0, 3, 4, 4)
    assert bhyt.cumulative[-1] == bhyt.achieved
    assert bhyt.elapsed_days == 23
    assert bhyt.as_dict()["daily"][21] == 3


def test_a_payment_late_in_the_evening_counts_on_that_vietnamese_day(known: Known) -> None:
    """23:30 in Vietnam is 16:30 UTC of the same date, and still the 23rd."""
    ws = known.ws
    move_to(known.clock, vn(DAY2, 23, 30))
    home = ws.households.add(
        province_code=DEMO_PROVINCE,
        commune_code=DEMO_COMMUNE,
        village="Bản Phố",
        head_name="Sùng A Dình",
    ).id
    person = ws.members.add(home, full_name="Sùng A Dình", relation="Chủ hộ").id
    [promise] = ws.pledges.pledge_bhyt_household(
        home, member_ids=[person], months=12, start=dt.date(2026, 12, 1)
    )
    ws.receipts.issue(pledge_ids=[promise.id])
    bhyt = ws.reports.month_progress("2026-11")[0]
    assert bhyt.scheme == "bhyt_household"
    assert (bhyt.daily[22], bhyt.daily[23]) == (2, 0)


def test_linear_pace_against_a_target(known: Known) -> None:
    """With 30 to find in November, 23 are due by the 23rd: 4 is behind; with 4, on pace."""
    _targets(known, bhyt=30, bhxh_voluntary=1)
    november = {p.scheme: p for p in known.ws.reports.month_progress("2026-11")}
    bhyt, bhxh = november["bhyt_household"], november["bhxh_voluntary"]
    assert bhyt.pace(0) == 0 and bhyt.pace(15) == 15 and bhyt.pace(30) == 30
    assert (bhyt.expected_by_now, bhyt.on_pace) == (23, False)
    # 1 × 23/30 rounds up to one whole person, and B is that person.
    assert (bhxh.expected_by_now, bhxh.on_pace) == (1, True)
    few = TargetProgress("bhyt_household", "2026-11", 4, 4, bhyt.daily, 23)
    assert (few.expected_by_now, few.on_pace) == (4, True)
    assert bhyt.as_dict()["expected_by_now"] == 23 and bhyt.as_dict()["on_pace"] is False


def test_past_future_and_untargeted_months(known: Known) -> None:
    """A past month has run all its days, a month to come none; no target means no pace."""
    october = known.ws.reports.month_progress("2026-10")[0]
    assert (october.days_in_month, october.elapsed_days, october.achieved) == (31, 31, 0)
    assert october.cumulative == (0,) * 31
    december = known.ws.reports.month_progress("2026-12")[0]
    assert december.elapsed_days == 0
    assert (december.pace(10), december.expected_by_now, december.on_pace) == (None, None, None)
    february = TargetProgress("bhyt_household", "2027-02", 28, 0, (0,) * 28, 28)
    assert february.days_in_month == 28 and february.expected_by_now == 28
