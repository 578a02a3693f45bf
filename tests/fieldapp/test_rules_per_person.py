"""Rules per person (DOMAIN.md §2–§3): BHYT groups, the ladder across the year, card dates,
re-quotes at payment, and the BHXH support that belongs to the person.

Each case is one the agents meet; the amounts are worked by hand from the published rules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldapp.calculator import BhytPerson, bhxh_voluntary, bhyt_household, bhyt_people
from fieldapp.cli import main
from fieldapp.errors import ValidationError
from fieldapp.model import Member
from fieldapp.periods import add_months
from fieldapp.policy import load_policy
from fieldapp.receipts import RequoteNeeded
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from sync.protocol.money import format_vnd
from tests.fieldapp.samples import new_household

POLICY = load_policy()


def at(day: dt.date) -> FixedClock:
    """A clock at 10:00 in Vietnam on `day`."""
    return FixedClock(dt.datetime(day.year, day.month, day.day, 3, 0, tzinfo=dt.UTC))


@pytest.fixture
def ws_at(tmp_path: Path) -> Iterator[Any]:
    """Open the same store at a given day: ws_at(date) → workspace (closed at the end)."""
    opened: list[Workspace] = []

    def open_at(day: dt.date) -> Workspace:
        for ws in opened:
            ws.close()
        opened.clear()
        ws = Workspace.open(tmp_path / "data", clock=at(day))
        opened.append(ws)
        return ws

    yield open_at
    for ws in opened:
        ws.close()


def household_of(ws: Workspace, *people: dict[str, Any], groups: tuple[str, ...] = ()) -> list[str]:
    """A household with these people; their member ids in order."""
    household = new_household(ws, groups=list(groups))
    return [ws.members.add(household.id, **person).id for person in people]


def book(ws: Workspace) -> None:
    ws.receipts.add_book(series="LC-NTA-26", first=1, last=50)


# -- BHYT groups ----------------------------------------------------------------------------


def test_three_near_poor_people_pay_without_the_ladder() -> None:
    # Was 942,678 (ladder, then 70 %): now 3 × 30 % × 4.5 % × 2,530,000 × 12.
    result = bhyt_household(
        POLICY, members=3, months=12, on=dt.date(2026, 7, 1), support_group="near_poor"
    )
    assert result.payable == 1_229_580
    assert result.central_support == 2_869_020
    assert [p.position for p in result.people] == [None, None, None]
    assert [p.payable for p in result.people] == [409_860] * 3


def test_students_get_half_from_july_2025_and_thirty_percent_before() -> None:
    after = bhyt_household(
        POLICY, members=2, months=12, on=dt.date(2026, 7, 1), support_group="student"
    )
    assert after.payable == 1_366_200  # was 1,625,778
    before = bhyt_household(
        POLICY, members=1, months=12, on=dt.date(2025, 6, 30), support_group="student"
    )
    assert before.payable == 884_520  # 70 % of 105,300 × 12


def test_household_groups_are_read_from_each_member(tmp_path: Path) -> None:
    """A household of two (GD) and a near-poor daughter: the ladder counts only the two."""
    with Workspace.open(tmp_path, clock=at(dt.date(2026, 7, 1))) as ws:
        ids = household_of(
            ws,
            {"full_name": "Lò Văn Pọm"},
            {"full_name": "Lò Thị Ín", "bhyt_card": "GD4151512345678"},
            {"full_name": "Lò Thị Xuân", "bhyt_group": "near_poor"},
            {"full_name": "Lò Văn Tủa", "bhyt_card": "TE1151598765432"},
        )
        quote = ws.pledges.quote_household_bhyt(
            ws.members.get(ids[0]).household_id,
            member_ids=ids[:3],
            months=12,
            on=dt.date(2026, 7, 1),
        )
        assert [(p.group, p.position) for p in quote.people] == [
            ("household", 1),
            ("household", 2),
            ("near_poor", None),
        ]
        assert [p.payable for p in quote.people] == [1_366_200, 956_340, 409_860]
        # The child's TE card is paid by the state: nothing is collected for him.
        with pytest.raises(ValidationError) as info:
            ws.pledges.quote_household_bhyt(
                ws.members.get(ids[0]).household_id,
                member_ids=ids,
                months=12,
                on=dt.date(2026, 7, 1),
            )
        (problem,) = info.value.problems
        assert problem.code == "covered_elsewhere"
        assert "Lò Văn Tủa" in problem.vi and "Trẻ em" not in problem.en
        # Putting everyone in one group does not make his state-paid card payable either.
        with pytest.raises(ValidationError):
            ws.pledges.quote_household_bhyt(
                ws.members.get(ids[0]).household_id,
                member_ids=ids,
                months=12,
                on=dt.date(2026, 7, 1),
                support_group="near_poor",
            )


def test_a_card_prefix_gives_the_group_when_nothing_else_does() -> None:
    member = Member(
        "m", "h", "A", None, None, "", None, None, "", "HN4151512345678", None, None, "",
        False, (), created_at="", updated_at="",
    )  # fmt: skip
    assert member.bhyt_group_effective == "poor"
    assert Member(**{**member.__dict__, "bhyt_card": None}).bhyt_group_effective == "household"


# -- the ladder across the year -------------------------------------------------------------


def test_a_member_joining_in_may_continues_the_ladder_of_march(ws_at: Any) -> None:
    ws = ws_at(dt.date(2025, 3, 10))
    book(ws)
    ids = household_of(ws, *({"full_name": f"Hà Văn {n}"} for n in ("An", "Bình", "Cường", "Dũng")))
    household_id = ws.members.get(ids[0]).household_id
    first = ws.pledges.pledge_bhyt_household(
        household_id, member_ids=ids[:3], months=12, start=dt.date(2025, 3, 10)
    )
    ws.receipts.issue(pledge_ids=[p.id for p in first])
    ws = ws_at(dt.date(2025, 5, 20))
    (fourth,) = ws.pledges.pledge_bhyt_household(
        household_id, member_ids=ids[3:], months=12, start=dt.date(2025, 5, 20)
    )
    assert fourth.payable == 631_800  # the 4th at the 2025 base, not 1,263,600
    assert fourth.params["position"] == 4
    # In the next year the ladder starts again.
    assert ws.pledges.already_enrolled(household_id, dt.date(2026, 1, 5), exclude=ids[3:]) == 0


# -- card dates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paid", "previous_expiry", "valid_from", "rule"),
    [
        # First time: 30 days after payment (DOMAIN.md's example).
        (dt.date(2026, 12, 4), None, dt.date(2027, 1, 3), "first_time"),
        # Renewed before the old card ends: from the day after it.
        (dt.date(2026, 12, 4), dt.date(2026, 12, 31), dt.date(2027, 1, 1), "renewal"),
        (dt.date(2026, 12, 31), dt.date(2026, 12, 31), dt.date(2027, 1, 1), "renewal"),
        # Lapsed less than 3 months: valid from the day of payment.
        (dt.date(2026, 12, 4), dt.date(2026, 10, 31), dt.date(2026, 12, 4), "short_gap"),
        (dt.date(2027, 1, 31), dt.date(2026, 10, 31), dt.date(2027, 1, 31), "short_gap"),
        # 3 months or more: a new 30-day wait.
        (dt.date(2027, 2, 1), dt.date(2026, 10, 31), dt.date(2027, 3, 3), "long_gap"),
    ],
)
def test_card_dates(
    paid: dt.date, previous_expiry: dt.date | None, valid_from: dt.date, rule: str
) -> None:
    result = bhyt_household(POLICY, members=1, months=12, on=paid, previous_expiry=previous_expiry)
    (person,) = result.people
    assert (person.card_valid_from, person.card_rule) == (valid_from, rule)
    assert person.card_valid_to == add_months(valid_from, 12) - dt.timedelta(days=1)
    assert result.as_dict()["card_valid_from"] == valid_from.isoformat()


def test_the_receipt_prints_the_card_period_and_the_member_keeps_it(ws_at: Any) -> None:
    ws = ws_at(dt.date(2026, 12, 4))
    book(ws)
    (renewing, new) = household_of(
        ws,
        {"full_name": "Vàng Seo Chứ", "bhyt_card": "GD4151512345678", "bhyt_expiry": "2026-12-31"},
        {"full_name": "Vàng Thị Say"},
    )
    household_id = ws.members.get(renewing).household_id
    pledges = ws.pledges.pledge_bhyt_household(
        household_id, member_ids=[renewing, new], months=12, start=dt.date(2026, 12, 4)
    )
    receipt = ws.receipts.issue(pledge_ids=[p.id for p in pledges])
    assert (receipt.period_from, receipt.period_to) == ("2027-01-01", "2028-01-02")
    assert "thẻ có giá trị từ ngày 01/01/2027 đến ngày 02/01/2028" in receipt.description
    first, second = ws.members.get(renewing), ws.members.get(new)
    assert (first.bhyt_valid_from, first.bhyt_expiry) == ("2027-01-01", "2027-12-31")
    assert (second.bhyt_valid_from, second.bhyt_expiry) == ("2027-01-03", "2028-01-02")
    assert second.bhyt_group == "household"
    # The new card dates travel to the province like any edit of the member.
    sent = [
        json.loads(row["data"])
        for row in ws.store.query(
            "SELECT data FROM outbox WHERE entity = 'member' AND entity_id = ? AND op = 'update'",
            (new,),
        )
    ]
    assert {"bhyt_valid_from": "2027-01-03", "bhyt_expiry": "2028-01-02"}.items() <= {
        k: v for d in sent for k, v in d.items()
    }.items()
    # Voiding the receipt puts the cards back as they were.
    ws.receipts.void(receipt.id, reason="Viết sai tên")
    again = ws.members.get(renewing)
    assert (again.bhyt_valid_from, again.bhyt_expiry) == (None, "2026-12-31")
    assert ws.members.get(new).bhyt_expiry is None


# -- re-quotes at payment -------------------------------------------------------------------


def test_a_june_pledge_paid_in_july_is_requoted_never_charged_silently(ws_at: Any) -> None:
    ws = ws_at(dt.date(2026, 6, 20))
    book(ws)
    ids = household_of(ws, {"full_name": "Sùng A Dơ"}, {"full_name": "Sùng Thị Mai"})
    household_id = ws.members.get(ids[0]).household_id
    old = ws.pledges.pledge_bhyt_household(
        household_id, member_ids=ids, months=12, start=dt.date(2026, 6, 20)
    )
    assert sum(p.payable for p in old) == 2_148_120
    ws = ws_at(dt.date(2026, 7, 2))
    before = ws.store.scalar("SELECT count(*) FROM outbox")
    with pytest.raises(RequoteNeeded) as info:
        ws.receipts.issue(pledge_ids=[p.id for p in old])
    assert info.value.code == "requote_needed"
    assert "1.263.600 đ → 1.366.200 đ" in info.value.vi
    assert [(r.old["payable"], r.new["payable"]) for r in info.value.requotes] == [
        (1_263_600, 1_366_200),
        (884_520, 956_340),
    ]
    # Refused: nothing stored, the pledges still wait, no number used.
    assert ws.store.scalar("SELECT count(*) FROM outbox") == before
    assert ws.store.scalar("SELECT count(*) FROM receipt") == 0
    assert {ws.pledges.get(p.id).status for p in old} == {"pledged"}

    # The agent accepts the amounts shown; if the rules said anything else by the time the
    # receipt is issued, it is refused again rather than charging an amount nobody saw.
    shown = info.value.requotes
    stale = [dataclasses.replace(shown[0], new={**shown[0].new, "payable": 1}), *shown[1:]]
    with pytest.raises(RequoteNeeded):
        ws.receipts.issue(pledge_ids=[p.id for p in old], requote=True, seen=stale)
    assert ws.store.scalar("SELECT count(*) FROM receipt") == 0
    receipt = ws.receipts.issue(pledge_ids=[p.id for p in old], requote=True, seen=shown)
    assert receipt.amount == 2_322_540
    assert receipt.number == 1
    new_amounts = {old[0].id: 1_366_200, old[1].id: 956_340}
    for pledge in old:
        stored = ws.pledges.get(pledge.id)
        assert stored.status == "superseded"
        assert stored.payable == pledge.payable  # the old quote is kept, not overwritten
        assert stored.history[-1].reason == (
            "Tính lại khi thu tiền ngày 02/07/2026 theo chính sách vn-2026.12: "
            f"{format_vnd(pledge.payable)} → {format_vnd(new_amounts[pledge.id])}"
        )
    new = [ws.pledges.get(pid) for pid in receipt.pledge_ids]
    assert [p.payable for p in new] == [1_366_200, 956_340]
    assert [p.params["supersedes"] for p in new] == [p.id for p in old]
    assert [p.status for p in new] == ["paid", "paid"]
    assert [p.policy_version for p in new] == [POLICY.version] * 2


def test_a_pledge_paid_under_the_same_rules_is_not_requoted(ws_at: Any) -> None:
    ws = ws_at(dt.date(2026, 8, 1))
    book(ws)
    ids = household_of(ws, {"full_name": "Giàng A Lử"})
    (pledge,) = ws.pledges.pledge_bhyt_household(
        ws.members.get(ids[0]).household_id, member_ids=ids, months=6, start=dt.date(2026, 8, 1)
    )
    ws = ws_at(dt.date(2026, 8, 30))
    assert ws.receipts.requotes([pledge.id]) == []
    assert ws.receipts.issue(pledge_ids=[pledge.id]).amount == pledge.payable


# -- BHXH: the floor month by month, the person's groups, 120 months ------------------------


def test_a_december_payment_across_the_new_floor_is_warned() -> None:
    result = bhxh_voluntary(
        POLICY, income=1_500_000, months=12, groups=["other"], on=dt.date(2026, 12, 4)
    )
    (change,) = result.floor_changes
    assert (change.start, change.floor, change.months) == (dt.date(2027, 1, 1), 2_200_000, 11)
    assert any("Từ 01/01/2027" in n and "2.200.000 đ" in n for n in result.notes_vi)
    assert any("From 01/01/2027" in n for n in result.notes)
    calm = bhxh_voluntary(
        POLICY, income=2_200_000, months=12, groups=["other"], on=dt.date(2026, 12, 4)
    )
    assert calm.floor_changes == ()


def test_a_kinh_spouse_in_a_hmong_household_gets_the_general_share(tmp_path: Path) -> None:
    with Workspace.open(tmp_path, clock=at(dt.date(2026, 3, 1))) as ws:
        spouse, wife, unknown = household_of(
            ws,
            {"full_name": "Nguyễn Văn Hùng", "ethnicity": "Kinh"},
            {"full_name": "Giàng Thị Mai", "ethnicity": "Mông"},
            {"full_name": "Giàng A Tủa"},
            groups=("ethnic_minority",),
        )
        on = dt.date(2026, 3, 1)
        quotes = {
            m: ws.pledges.quote_member_bhxh(m, income=1_500_000, months=1, on=on)
            for m in (spouse, wife, unknown)
        }
        assert quotes[spouse].payable == 264_000  # 20 %, not 30 %
        assert quotes[wife].payable == 231_000
        assert quotes[unknown].payable == 231_000
        assert any("Chưa ghi dân tộc" in n for n in quotes[unknown].notes_vi)
        assert ws.pledges.bhxh_groups(spouse) == (["other"], False)


def test_support_stops_at_120_months_and_the_last_period_is_split(ws_at: Any) -> None:
    ws = ws_at(dt.date(2026, 3, 1))
    book(ws)
    (person,) = household_of(
        ws, {"full_name": "Lý Thị Mẩy", "bhxh_supported_months": 115}, groups=("near_poor",)
    )
    pledge = ws.pledges.pledge_bhxh(person, income=1_500_000, months=12, start=dt.date(2026, 3, 1))
    # 5 months at 40 % of 330,000, 7 at the full 330,000.
    assert pledge.central_support == 5 * 132_000
    assert pledge.payable == 12 * 330_000 - 5 * 132_000
    assert pledge.params["supported_months"] == 5
    ws.receipts.issue(pledge_ids=[pledge.id])
    paid = ws.members.get(person)
    assert paid.bhxh_supported_months == 120
    assert paid.bhxh_participating is True
    assert paid.bhxh_paid_through == "2027-02-28"
    later = ws.pledges.quote_member_bhxh(person, income=2_200_000, months=1, on=dt.date(2027, 3, 1))
    assert later.central_support == 0


def test_calc_bhxh_infers_the_months_of_a_lump_sum(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["calc", "bhxh", "--income", "1500000", "--lump-years", "5", "--on", "2026-03-01",
         "--json"]
    )  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["months"], data["gross"]) == (60, 18_098_148)
    code = main(
        ["calc", "bhxh", "--income", "1500000", "--months", "12", "--on", "2026-03-01",
         "--group", "near_poor", "--supported-months-used", "115", "--json"]
    )  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out)["supported_months"] == 5


def test_calc_bhyt_command_line_vectors(capsys: pytest.CaptureFixture[str]) -> None:
    def calc(*args: str) -> dict[str, Any]:
        assert main(["calc", "bhyt", *args, "--json"]) == 0
        return dict(json.loads(capsys.readouterr().out))

    near_poor = calc("--members", "3", "--months", "12", "--group", "near_poor",
                     "--on", "2026-07-01")  # fmt: skip
    assert near_poor["payable"] == 1_229_580
    assert len(near_poor["people"]) == 3
    fourth = calc("--members", "1", "--months", "12", "--already-enrolled", "3",
                  "--on", "2025-05-20")  # fmt: skip
    assert fourth["payable"] == 631_800
    assert fourth["lines"][0]["label_vi"].startswith("Người thứ 4")
    first = calc("--members", "1", "--months", "12", "--first-time", "--on", "2026-12-04")
    assert (first["card_valid_from"], first["card_valid_to"]) == ("2027-01-03", "2028-01-02")
    renewal = calc("--members", "1", "--months", "6", "--previous-expiry", "2026-12-31",
                   "--on", "2026-12-04")  # fmt: skip
    assert (renewal["card_valid_from"], renewal["card_valid_to"]) == ("2027-01-01", "2027-06-30")


def test_an_old_nine_digit_cmnd_is_kept_as_the_old_id(tmp_path: Path) -> None:
    with Workspace.open(tmp_path, clock=at(dt.date(2026, 12, 4))) as ws:
        (member_id,) = household_of(ws, {"full_name": "Hoàng Văn Sình", "cccd": "063 123 456"})
        member = ws.members.get(member_id)
        assert (member.cccd, member.old_id) == (None, "063123456")
        assert [w["code"] for w in member.warnings] == ["old_id_number"]


# -- properties -----------------------------------------------------------------------------

DAYS = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2028, 12, 31))
PAYING = st.sampled_from(["household", "near_poor", "student", "agri_average"])


@settings(max_examples=150, deadline=None)
@given(
    on=DAYS,
    groups=st.lists(PAYING, min_size=1, max_size=8),
    enrolled=st.integers(0, 6),
    months=st.sampled_from([3, 6, 12]),
)
def test_properties_of_a_household_quote(
    on: dt.date, groups: list[str], enrolled: int, months: int
) -> None:
    people = [BhytPerson(group=g) for g in groups]
    result = bhyt_people(POLICY, people=people, months=months, on=on, already_enrolled=enrolled)
    full = POLICY.bhyt_rate(on) * POLICY.base_figure(on) * months
    for person in result.people:
        # An individual group never uses the ladder: it pays the full rate, supported.
        if person.group != "household":
            assert person.position is None
            assert abs(person.gross - full) <= 1
        # Support never exceeds what the person owes.
        assert 0 <= person.central_support + person.local_support <= person.gross
        # The card covers exactly the months paid.
        assert person.card_valid_from is not None and person.card_valid_to is not None
        assert (
            add_months(person.card_valid_from, months) - dt.timedelta(days=1)
            == person.card_valid_to
        )
    assert sum(p.payable for p in result.people) == result.payable
    assert sum(p.gross for p in result.people) == result.gross
    # More members already enrolled never raises anyone's share.
    more = bhyt_people(POLICY, people=people, months=months, on=on, already_enrolled=enrolled + 1)
    for now, later in zip(result.people, more.people, strict=True):
        assert later.gross <= now.gross


@settings(max_examples=150, deadline=None)
@given(
    used=st.integers(0, 120),
    months=st.sampled_from([1, 3, 6, 12]),
    group=st.sampled_from(["poor", "near_poor", "ethnic_minority", "other"]),
)
def test_bhxh_support_never_passes_the_lifetime_cap(used: int, months: int, group: str) -> None:
    result = bhxh_voluntary(
        POLICY,
        income=1_500_000,
        months=months,
        groups=[group],
        on=dt.date(2026, 3, 1),
        supported_months_used=used,
    )
    assert result.supported_months == min(months, 120 - used)
    share = POLICY.central_support_share(group, dt.date(2026, 3, 1))
    assert result.central_support == share * 330_000 * result.supported_months


# -- a store from before the per-person rules -----------------------------------------------


@pytest.mark.parametrize("from_version", range(1, 8))
def test_an_older_store_fills_the_new_fields_from_what_it_knows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, from_version: int
) -> None:
    from fieldapp import migrations
    from fieldapp.store import STORE_FILENAME, Store

    now = "2026-03-01T03:00:00.000Z"
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:from_version])
        old = Store(tmp_path / STORE_FILENAME, clock=at(dt.date(2026, 3, 1)))
        with old.transaction() as conn:
            conn.execute(
                "INSERT INTO household (id, province_code, commune_code, village, head_name, "
                "created_at, updated_at) VALUES ('h1', '15', '99001', 'Bản Phố', 'Lò Văn A', ?, ?)",
                (now, now),
            )
            members = [
                ("m1", "Lò Văn A", "GD4151512345678", None, "2026-12-31"),
                ("m2", "Lò Thị B", None, "Hộ nghèo", None),
                ("m3", "Lò Văn C", None, "Công ty may Sơn La", None),
                ("m4", "Lò Thị D", None, None, None),
            ]
            for member_id, name, card, covered_by, expiry in members:
                conn.execute(
                    "INSERT INTO member (id, household_id, full_name, sort_key, bhyt_card, "
                    "covered_by, bhyt_expiry, created_at, updated_at) "
                    "VALUES (?, 'h1', ?, 'x', ?, ?, ?, ?, ?)",
                    (member_id, name, card, covered_by, expiry, now, now),
                )
            pledges = [
                ("p1", "m4", "bhyt_household", {"months": 12, "position": 1}, 0),
                ("p2", "m4", "bhxh_voluntary", {"income": 1500000, "months": 12}, 792000),
                ("p3", "m1", "bhxh_voluntary", {"income": 1500000, "months": 6}, 0),
            ]
            for pledge_id, member_id, scheme, params, central in pledges:
                conn.execute(
                    "INSERT INTO pledge (id, household_id, member_id, scheme, params, gross, "
                    "central_support, local_support, payable, policy_version, start_date, "
                    "due_date, created_at) VALUES (?, 'h1', ?, ?, ?, 0, ?, 0, 0, 'vn-2026.11', "
                    "'2026-03-01', '2026-03-31', ?)",
                    (pledge_id, member_id, scheme, json.dumps(params), central, now),
                )
                conn.execute(
                    "INSERT INTO pledge_event (id, pledge_id, status, at) VALUES (?, ?, ?, ?)",
                    (f"e-{pledge_id}", pledge_id, "paid" if pledge_id != "p3" else "pledged", now),
                )
        old.close()
    with Workspace.open(tmp_path, clock=at(dt.date(2026, 3, 1))) as ws:
        m1, m2, m3, m4 = (ws.members.get(f"m{i}") for i in range(1, 5))
        assert (m1.bhyt_group, m2.bhyt_group, m3.bhyt_group, m4.bhyt_group) == (
            "household",
            "poor",
            "other_covered",
            None,
        )
        assert (m1.bhyt_valid_from, m1.bhyt_expiry) == (None, "2026-12-31")
        # What the old receipt printed for the paid BHYT pledge is the card's period.
        assert (m4.bhyt_valid_from, m4.bhyt_expiry) == ("2026-03-01", "2027-02-28")
        assert (m4.bhxh_participating, m4.bhxh_income, m4.bhxh_paid_through) == (
            True,
            1_500_000,
            "2027-02-28",
        )
        assert m4.bhxh_supported_months == 12
        # An unpaid pledge says nothing about participation.
        assert (m1.bhxh_participating, m1.bhxh_supported_months) == (False, 0)
        assert [e.status for e in ws.pledges.get("p2").history] == ["paid"]


def test_supported_months_above_the_lifetime_cap_are_refused(tmp_path: Path) -> None:
    with Workspace.open(tmp_path, clock=at(dt.date(2026, 12, 4))) as ws:
        household = new_household(ws)
        with pytest.raises(ValidationError) as info:
            ws.members.add(household.id, full_name="Lý A Sử", bhxh_supported_months=500)
        (problem,) = info.value.problems
        assert (problem.field, problem.code) == ("bhxh_supported_months", "over_cap")
        assert "0 đến 120" in problem.vi
        assert ws.members.count() == 0
        kept = ws.members.add(household.id, full_name="Lý A Sử", bhxh_supported_months=120)
        assert kept.bhxh_supported_months == 120
