"""Coverage on a day and the renewal list, checked against hand counts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from fieldapp.cli import main
from fieldapp.coverage import person_status
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from tests.fieldapp.samples import new_household

ON = dt.date(2026, 12, 4)


@pytest.fixture
def commune(tmp_path: Path) -> Path:
    """Two villages with people in every status on 4 December 2026; the store's folder."""
    clock = FixedClock(dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.UTC))
    with Workspace.open(tmp_path, clock=clock) as ws:
        home = new_household(ws, village="Bản Phố", head_name="Vàng Seo Chứ")
        people = [
            # insured to mid-2027
            {"full_name": "Vàng Seo Chứ", "bhyt_expiry": "2027-06-30"},
            # insured, ends in 16 days
            {"full_name": "Vàng Thị Say", "bhyt_expiry": "2026-12-20"},
            # a child's TE card paid by the state: insured, covered elsewhere
            {"full_name": "Vàng A Dình", "bhyt_card": "TE1151598765432",
             "bhyt_expiry": "2027-09-30"},
            # lapsed a month ago: renew now without a new wait
            {"full_name": "Vàng Seo Lử", "bhyt_expiry": "2026-10-31"},
            # lapsed more than 3 months ago: a new 30-day wait
            {"full_name": "Vàng Thị Mỷ", "bhyt_expiry": "2026-08-31"},
            # never insured
            {"full_name": "Vàng A Páo"},
            # paid, card starts in January: not insured yet
            {"full_name": "Vàng Thị Dợ", "bhyt_valid_from": "2027-01-03",
             "bhyt_expiry": "2028-01-02"},
        ]  # fmt: skip
        ids = [ws.members.add(home.id, **p).id for p in people]
        gone = ws.members.add(home.id, full_name="Vàng A Tủa", bhyt_expiry="2027-01-01")
        ws.members.remove(gone.id)
        other = new_household(ws, village="Thôn Đồi Chè", head_name="Lò Văn Pọm")
        ws.members.add(other.id, full_name="Lò Văn Pọm", bhyt_expiry="2026-12-05")
        ws.members.add(other.id, full_name="Lò Thị Ín", bhyt_group="near_poor")
        assert len(ids) == 7
    return tmp_path


def test_status_of_a_card_on_a_day() -> None:
    assert person_status(valid_from=None, valid_to=None, on=ON) == "never"
    assert person_status(valid_from=None, valid_to=dt.date(2026, 12, 3), on=ON) == "lapsed"
    assert person_status(valid_from=None, valid_to=ON, on=ON) == "expiring"
    assert person_status(valid_from=None, valid_to=dt.date(2027, 1, 3), on=ON) == "expiring"
    assert person_status(valid_from=None, valid_to=dt.date(2027, 1, 4), on=ON) == "insured"
    assert person_status(valid_from=dt.date(2027, 1, 3), valid_to=dt.date(2028, 1, 2), on=ON) == (
        "never"
    )


def test_coverage_per_village_matches_the_hand_count(commune: Path) -> None:
    with Workspace.open(
        commune, clock=FixedClock(dt.datetime(2026, 12, 4, 3, tzinfo=dt.UTC))
    ) as ws:
        rows = {r.village: r for r in ws.coverage.by_village(ON)}
    assert list(rows) == ["Bản Phố", "Thôn Đồi Chè", ""]
    pho = rows["Bản Phố"]
    # 7 residents (the removed one is not counted): 3 insured (one of them expiring, one on
    # a state-paid card), 2 lapsed, 2 without a valid card on record.
    assert (pho.residents, pho.insured, pho.expiring_30d, pho.lapsed, pho.uninsured) == (
        7,
        3,
        1,
        2,
        2,
    )
    assert pho.covered_elsewhere == 1
    assert pho.rate_percent == 42.9
    commune_row = rows[""]
    assert (commune_row.residents, commune_row.insured, commune_row.expiring_30d) == (9, 4, 2)
    assert commune_row.rate_percent == 44.4
    assert rows["Thôn Đồi Chè"].as_dict()["rate_percent"] == 50.0


def test_renewals_list_whom_to_renew_and_what_it_costs(commune: Path) -> None:
    with Workspace.open(
        commune, clock=FixedClock(dt.datetime(2026, 12, 4, 3, tzinfo=dt.UTC))
    ) as ws:
        due = ws.coverage.renewals(ON)
    names = [(p.full_name, p.days_left, amount) for p, amount in due]
    # Ending soonest first, then the one lapsed under 3 months; the child's state-paid card,
    # the long lapse and those never insured are not renewals.
    assert names == [
        ("Lò Văn Pọm", 1, 1_366_200),
        ("Vàng Thị Say", 16, 1_366_200),
        ("Vàng Seo Lử", -34, 1_366_200),
    ]


def test_coverage_and_renewals_on_the_command_line(
    commune: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(commune), "coverage", "--on", "2026-12-04", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["village"] for r in rows] == ["Bản Phố", "Thôn Đồi Chè"]
    assert set(rows[0]) == {
        "village",
        "residents",
        "insured",
        "expiring_30d",
        "lapsed",
        "uninsured",
        "covered_elsewhere",
        "rate_percent",
    }
    assert main(["--data-dir", str(commune), "coverage", "--on", "2026-12-04"]) == 0
    text = capsys.readouterr().out
    assert "Bản Phố" in text and "42,9%" in text and "Cả xã" in text
    args = ["--data-dir", str(commune), "renewals", "--on", "2026-12-04", "--within", "5"]
    assert main([*args, "--json"]) == 0
    due = json.loads(capsys.readouterr().out)
    assert [(d["full_name"], d["card_valid_to"], d["amount"]) for d in due] == [
        ("Lò Văn Pọm", "2026-12-05", 1_366_200),
        ("Vàng Seo Lử", "2026-10-31", 1_366_200),
    ]
    assert set(due[0]) >= {"full_name", "household_id", "village", "card_valid_to",
                           "days_left", "group", "amount"}  # fmt: skip
