"""Coverage on a day and the renewal list, checked against hand counts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from fieldapp.cli import main
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from sync.protocol.coverage import person_status
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


def _recorded(ws: Workspace) -> list[tuple[str, str, int, int]]:
    return [
        tuple(r)
        for r in ws.store.query(
            "SELECT day, village, residents, insured FROM coverage_day ORDER BY day, village"
        )
    ]


def test_the_month_change_counts_from_the_first_day_recorded(tmp_path: Path) -> None:
    # 10:00 in Vietnam on Friday 27 November 2026.
    clock = FixedClock(dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC))
    with Workspace.open(tmp_path, clock=clock) as ws:
        pho = new_household(ws, village="Bản Phố", head_name="Vàng Seo Chứ")
        che = new_household(ws, village="Thôn Đồi Chè", head_name="Lò Văn Pọm")
        chu = ws.members.add(pho.id, full_name="Vàng Seo Chứ", bhyt_expiry="2027-06-30")
        say_ = ws.members.add(pho.id, full_name="Vàng Thị Say", bhyt_expiry="2026-11-30")
        pao = ws.members.add(pho.id, full_name="Vàng A Páo")
        pom = ws.members.add(che.id, full_name="Lò Văn Pọm")
        assert ws.coverage.change(ws.today()) is None
        # A past day or one village is not recorded; today's whole commune is, once a day.
        ws.coverage.by_village(dt.date(2026, 11, 20))
        ws.coverage.by_village(ws.today(), village="Bản Phố")
        assert _recorded(ws) == []
        ws.coverage.by_village(ws.today())
        assert _recorded(ws) == [
            ("2026-11-27", "", 4, 2),
            ("2026-11-27", "Bản Phố", 3, 2),
            ("2026-11-27", "Thôn Đồi Chè", 1, 0),
        ]
        # The day is not compared with itself.
        assert ws.coverage.change(ws.today()) is None

        # 2 December: Say's card ended on 30 November, Páo bought one; nothing recorded on
        # the 1st, so the month counts from the last day of November.
        clock.advance(days=5)
        ws.members.update(pao.id, bhyt_expiry="2027-12-01")
        change = ws.coverage.change(ws.today())
        assert change is not None and change.since == dt.date(2026, 11, 27)
        assert change.insured == {"Bản Phố": 0, "Thôn Đồi Chè": 0, "": 0}
        assert ws.store.scalar("SELECT count(*) FROM coverage_day WHERE day = '2026-12-02'") == 3

        # 9 December: Pọm bought a card. The month now counts from 2 December, its first
        # recorded day, and the counts of a day stay as first seen that day.
        clock.advance(days=7)
        ws.members.update(pom.id, bhyt_expiry="2027-12-08")
        change = ws.coverage.change(ws.today())
        assert change is not None and change.since == dt.date(2026, 12, 2)
        assert change.insured == {"Bản Phố": 0, "Thôn Đồi Chè": 1, "": 1}
        ws.members.remove(chu.id)
        ws.coverage.by_village(ws.today())
        assert tuple(ws.store.one(
            "SELECT residents, insured FROM coverage_day WHERE day = '2026-12-09' AND village = ''"
        ) or ()) == (4, 3)  # fmt: skip
        change = ws.coverage.change(ws.today())
        assert change is not None and change.insured == {"Bản Phố": -1, "Thôn Đồi Chè": 1, "": 0}
        # Asked about an earlier day, the month's change uses only the days before it.
        earlier = ws.coverage.change(dt.date(2026, 12, 5))
        assert earlier is not None and earlier.since == dt.date(2026, 12, 2)
        # January: nothing of January recorded; December's last recorded day opens it.
        january = ws.coverage.change(dt.date(2027, 1, 15))
        assert january is not None and january.since == dt.date(2026, 12, 9)
        assert ws.coverage.change(dt.date(2027, 3, 1)) is None
        assert say_.id


def test_people_of_one_status_and_a_page(commune: Path) -> None:
    with Workspace.open(
        commune, clock=FixedClock(dt.datetime(2026, 12, 4, 3, tzinfo=dt.UTC))
    ) as ws:
        names = {
            status: [p.full_name for p in ws.coverage.people(ON, status=status)]
            for status in ("insured", "expiring", "lapsed", "never", "covered_elsewhere")
        }
        page = [p.full_name for p in ws.coverage.people(ON, limit=3, offset=2)]
        everyone = [p.full_name for p in ws.coverage.people(ON)]
    # Village order, then names by the given name (Chứ, Dình, Dợ, Lử, Mỷ, Páo, Say).
    assert names == {
        "insured": ["Vàng Seo Chứ", "Vàng A Dình", "Vàng Thị Say", "Lò Văn Pọm"],
        "expiring": ["Vàng Thị Say", "Lò Văn Pọm"],
        "lapsed": ["Vàng Seo Lử", "Vàng Thị Mỷ"],
        "never": ["Vàng Thị Dợ", "Vàng A Páo", "Lò Thị Ín"],
        "covered_elsewhere": ["Vàng A Dình"],
    }
    assert everyone[:7] == [
        "Vàng Seo Chứ", "Vàng A Dình", "Vàng Thị Dợ", "Vàng Seo Lử", "Vàng Thị Mỷ",
        "Vàng A Páo", "Vàng Thị Say",
    ]  # fmt: skip
    assert page == everyone[2:5]


def test_the_coverage_workbook_reads_back(commune: Path, tmp_path: Path) -> None:
    from fieldapp.coverage import export_coverage
    from sync.protocol.labels import BHYT_GROUP_LABELS, label
    from tests.sync.sheetcheck import live_xlsx_cells, xlsx_book

    clock = FixedClock(dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC))
    with Workspace.open(commune, clock=clock) as ws:
        ws.coverage.by_village(ws.today())
        clock.advance(days=3)
        ivy = ws.store.scalar("SELECT id FROM member WHERE full_name = 'Lò Thị Ín'")
        ws.members.update(ivy, bhyt_expiry="2027-12-03")
        written = export_coverage(ws, tmp_path / "out" / "bao-phu", ON)
    assert written == tmp_path / "out" / "bao-phu.xlsx"
    assert [p.name for p in written.parent.iterdir()] == ["bao-phu.xlsx"]
    book = xlsx_book(written)
    assert book.sheetnames == ["Thôn, bản", "Người"]
    villages = [list(r) for r in book["Thôn, bản"].iter_rows(values_only=True)]
    assert villages[0][:8] == [
        "Thôn/bản", "Dân số", "Có thẻ BHYT", "Tỷ lệ (%)", "Sắp hết hạn (30 ngày)", "Hết hạn",
        "Chưa có thẻ", "Nhóm khác đóng",
    ]  # fmt: skip
    assert villages[0][8] == "Thay đổi số có thẻ từ 01/12/2026"
    assert villages[1:] == [
        ["Bản Phố", 7, 3, 42.9, 1, 2, 2, 1, 0],
        ["Thôn Đồi Chè", 2, 2, 100.0, 1, 0, 0, 0, 1],
        ["Cả xã", 9, 5, 55.6, 2, 2, 2, 1, 1],
    ]
    people = [list(r) for r in book["Người"].iter_rows(values_only=True)]
    assert people[0] == [
        "Họ và tên", "Thôn/bản", "Mã hộ", "Nhóm BHYT", "Trạng thái thẻ", "Thẻ có giá trị đến",
        "Số ngày còn lại",
    ]  # fmt: skip
    assert len(people) == 10
    by_name = {r[0]: r for r in people[1:]}
    assert by_name["Vàng Thị Say"][1:2] + by_name["Vàng Thị Say"][4:] == [
        "Bản Phố", "Sắp hết hạn", "2026-12-20", 16,
    ]  # fmt: skip
    child = label(BHYT_GROUP_LABELS, "child_under_6", lang="vi")
    assert by_name["Vàng A Dình"][3:5] == [child, "Có thẻ (nhóm khác đóng)"]
    assert by_name["Vàng A Páo"][4:] == ["Chưa có thẻ", None, None]
    assert by_name["Vàng Seo Lử"][4:] == ["Hết hạn", "2026-10-31", -34]
    assert live_xlsx_cells(book) == []


def test_coverage_workbook_limit_and_change_on_the_command_line(
    commune: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "coverage.xlsx"
    args = ["--data-dir", str(commune)]
    assert main([*args, "coverage", "--on", "2026-12-04", "--xlsx", str(target)]) == 0
    assert str(target) in capsys.readouterr().out
    assert target.exists()
    # A day recorded earlier this month makes the change known.
    with Workspace.open(commune) as ws, ws.store.transaction() as conn:
        conn.executemany(
            "INSERT INTO coverage_day (day, village, residents, insured) VALUES (?, ?, ?, ?)",
            [("2026-12-01", "", 9, 6), ("2026-12-01", "Bản Phố", 7, 5)],
        )
    assert main([*args, "coverage", "--on", "2026-12-04", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["change"] for r in rows] == [
        {"since": "2026-12-01", "insured": -2},
        {"since": "2026-12-01", "insured": 1},
    ]
    assert main([*args, "coverage", "--on", "2026-12-04"]) == 0
    assert "Từ 01/12" in capsys.readouterr().out
    assert main([*args, "renewals", "--on", "2026-12-04", "--limit", "1", "--json"]) == 0
    assert [d["full_name"] for d in json.loads(capsys.readouterr().out)] == ["Lò Văn Pọm"]
    assert main([*args, "renewals", "--on", "2026-12-04", "--limit", "1"]) == 0
    assert "(3 người" in capsys.readouterr().out


def test_the_long_lapse_day_is_the_same_asked_again_or_anew(workspace: Workspace) -> None:
    """The last card end that is a long lapse on a day, kept by day once worked out: for every
    day of two years (month ends and leap days included) the kept answer is the worked-out
    one, and no card ending a day later is a long lapse yet."""
    from fieldapp.periods import add_months

    coverage = workspace.coverage
    gap = coverage._gap_months(dt.date(2026, 1, 1))
    day = dt.date(2027, 12, 31)
    while day >= dt.date(2026, 1, 1):
        first = coverage._long_lapse_end(day)
        assert coverage._long_lapse_end(day) == first
        assert add_months(first + dt.timedelta(days=1), gap) <= day
        assert add_months(first + dt.timedelta(days=2), gap) > day
        day -= dt.timedelta(days=1)
    assert len(coverage._lapse_ends) <= 64
