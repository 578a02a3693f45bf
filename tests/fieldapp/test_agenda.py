"""The day's agenda: renewals first, then BHXH periods ending, appointments and households with
money this month and someone uninsured — each household once, with what renewing costs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fieldapp.agenda import day_agenda
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from tests.fieldapp.samples import new_household

ON = dt.date(2026, 12, 4)
EARLIER = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)
CLOCK = FixedClock(dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.UTC))


@pytest.fixture
def ws(tmp_path: Path):
    with Workspace.open(tmp_path, clock=CLOCK) as workspace:
        yield workspace


def _household(
    ws: Workspace, head: str, *, village: str = "Bản Phố", best: list[int] | None = None
):
    return new_household(ws, village=village, head_name=head, best_months=best or [7, 8])


def test_the_day_is_ordered_by_what_pays_off_first(ws: Workspace) -> None:
    # Two people due in one household: one card ends on 20/12, one lapsed a month ago.
    phố = _household(ws, "Vàng Seo Chứ")
    say = ws.members.add(phố.id, full_name="Vàng Thị Say", bhyt_expiry="2026-12-20")
    lu = ws.members.add(phố.id, full_name="Vàng Seo Lử", bhyt_expiry="2026-10-31")
    ws.members.add(phố.id, full_name="Vàng Seo Chứ", bhyt_expiry="2027-06-30")
    ws.members.add(phố.id, full_name="Vàng A Dình", bhyt_card="TE1151598765432")
    # The soonest card: tomorrow. The household also has an appointment today: listed once.
    pom = _household(ws, "Lò Văn Pọm", village="Thôn Đồi Chè")
    pom_card = ws.members.add(pom.id, full_name="Lò Văn Pọm", bhyt_expiry="2026-12-05")
    ws.visits.record(pom.id, outcome="follow_up", next_visit=ON, at=EARLIER)
    # Only a lapsed card (under 3 months): renew now, no new wait.
    hang = _household(ws, "Hà Thị Hằng")
    hang_card = ws.members.add(hang.id, full_name="Hà Thị Hằng", bhyt_expiry="2026-11-15")
    # A long lapse is not a renewal (a new wait); never insured, no income month: not listed.
    quiet = _household(ws, "Giàng A Lử")
    ws.members.add(quiet.id, full_name="Giàng A Lử", bhyt_expiry="2026-07-31")
    # BHXH paid through this month.
    bhxh = _household(ws, "Triệu Văn Kiềm")
    kiem = ws.members.add(
        bhxh.id,
        full_name="Triệu Văn Kiềm",
        bhyt_expiry="2027-12-31",
        bhxh_participating=True,
        bhxh_income=2_500_000,
        bhxh_paid_through="2026-12-31",
    )
    # An appointment that has come.
    due = _household(ws, "Sùng Thị Mỷ")
    ws.members.add(due.id, full_name="Sùng Thị Mỷ", bhyt_expiry="2027-12-31")
    ws.visits.record(due.id, outcome="follow_up", next_visit=dt.date(2026, 12, 1), at=EARLIER)
    # December is the income month of two households: one with someone never insured, one
    # whose only uninsured member's card the state pays for (not the agent's sale).
    rich = _household(ws, "Thào Mí Sua", best=[12])
    ws.members.add(rich.id, full_name="Thào Mí Sua", bhyt_expiry="2027-12-31")
    pao = ws.members.add(rich.id, full_name="Thào A Páo")
    poor = _household(ws, "Lý Thị Dung", best=[12])
    ws.members.add(poor.id, full_name="Lý Thị Dung", bhyt_group="poor")

    agenda = day_agenda(ws, ON)

    rows = [(i.kind, i.household.head_name, i.member_ids, i.due_on) for i in agenda.items]
    assert rows == [
        ("renew", "Lò Văn Pọm", (pom_card.id,), dt.date(2026, 12, 5)),
        ("renew", "Vàng Seo Chứ", (say.id, lu.id), dt.date(2026, 12, 20)),
        ("renew_lapsed", "Hà Thị Hằng", (hang_card.id,), dt.date(2026, 11, 15)),
        ("bhxh", "Triệu Văn Kiềm", (kiem.id,), dt.date(2026, 12, 31)),
        ("visit_due", "Sùng Thị Mỷ", (), dt.date(2026, 12, 1)),
        ("income_month", "Thào Mí Sua", (pao.id,), None),
    ]
    assert agenda.totals == {
        "renew": 2,
        "renew_lapsed": 1,
        "bhxh": 1,
        "visit_due": 1,
        "income_month": 1,
    }
    # Renewing the two of Bản Phố together, a year: one household quote (the ladder).
    together = ws.pledges.quote_household_bhyt(phố.id, member_ids=[say.id, lu.id], months=12, on=ON)
    assert agenda.items[1].amount == together.payable
    assert agenda.items[1].months == 12
    assert agenda.items[0].amount == 1_366_200  # one person, first on the ladder, 4.5 % × 12
    # The next BHXH period at the member's income, as long as the policy's shortest period
    # (no payment recorded on this laptop to say how long they usually pay).
    months = min(ws.policy.bhxh_periods(ON))
    expected = ws.pledges.quote_member_bhxh(kiem.id, income=2_500_000, months=months, on=ON)
    assert agenda.items[3].amount == expected.payable > 0


def test_the_list_stops_at_its_limit_and_says_how_many_there_are(ws: Workspace) -> None:
    names = ["Lò Văn An", "Lò Văn Bình", "Lò Văn Cường", "Lò Văn Dũng", "Lò Văn Hải"]
    for n, name in enumerate(names):
        home = _household(ws, name)
        ws.members.add(home.id, full_name=name, bhyt_expiry=f"2026-12-{10 + n}")
    agenda = day_agenda(ws, ON, limit=3)
    assert [i.household.head_name for i in agenda.items] == names[:3]
    assert agenda.totals["renew"] == 5
    assert all(i.amount == 1_366_200 for i in agenda.items)


def test_an_empty_commune_has_an_empty_day(ws: Workspace) -> None:
    agenda = day_agenda(ws, ON)
    assert agenda.items == []
    assert set(agenda.totals.values()) == {0}


def test_removed_and_moved_people_are_not_renewals(ws: Workspace) -> None:
    home = _household(ws, "Lò Văn Sáng")
    gone = ws.members.add(home.id, full_name="Lò Văn Sáng", bhyt_expiry="2026-12-10")
    ws.members.remove(gone.id)
    assert day_agenda(ws, ON).items == []


def test_the_first_screen_without_totals_has_the_same_rows(tmp_path: Path) -> None:
    """`count=False` (what Today shows first) reads only the first renewals and their
    households, yet gives exactly the rows of the counted agenda, people and amounts too."""
    from fieldapp.demo import create_demo

    with Workspace.open(tmp_path, clock=CLOCK) as ws:
        create_demo(ws, households=300, seed=3)
        counted = day_agenda(ws, ON, limit=1000)
        kinds = {i.kind for i in counted.items}
        assert {"renew", "renew_lapsed"} <= kinds, kinds
        renewals = counted.totals["renew"] + counted.totals["renew_lapsed"]
        for limit in (0, 1, 7, 40, renewals - 1, renewals, renewals + 5, 1000):
            full = day_agenda(ws, ON, limit=limit)
            first = day_agenda(ws, ON, limit=limit, count=False)
            assert first.items == full.items, limit
            assert first.totals in ({}, full.totals)
        # A short list is counted all the same: there is nothing more to read.
        assert day_agenda(ws, ON, limit=1000, count=False).totals == counted.totals
