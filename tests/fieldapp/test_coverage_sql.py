"""Coverage counted by SQL equals a plain recount in Python, row by row, over every card status
and every way a member's BHYT group is known; renewals quoted in bulk equal one-by-one quotes."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from typing import Any

import pytest

from fieldapp.participation import BHYT_COVERED_GROUPS, bhyt_group_of
from fieldapp.periods import add_months
from fieldapp.text import village_sort_key
from fieldapp.workspace import Workspace
from sync.protocol.coverage import person_status
from tests.fieldapp.samples import new_household

ON = dt.date(2026, 11, 23)

# How the group is known: (bhyt_group, bhyt_card, covered_by), stored as they are, odd ones
# included (a lower-case or indented card, Unicode digits, blank texts, free text of who pays).
SOURCES: list[tuple[str | None, str | None, str | None]] = [
    ("household", None, None),
    ("near_poor", None, None),
    ("poor", None, None),
    ("child_under_6", "GD4151512345678", None),
    ("", "TE1151598765432", None),
    (None, "TE1151598765432", None),
    (None, "GD4151512345678", "Hộ nghèo"),
    (None, "te1151598765432", None),
    (None, " TE1151598765432", None),
    (None, "\tHN1151598765432", None),
    (None, "TE\u0661151598765432", None),
    (None, "ZZ1151598765432", "Công ty May 10"),
    (None, "ZZ1151598765432", None),
    (None, "0123456789", None),
    (None, "0123456789", "Hộ nghèo"),
    (None, "TE", None),
    (None, "", "Học sinh"),
    (None, None, "Công ty May 10"),
    (None, None, "Hộ cận nghèo"),
    (None, None, "   "),
    (None, None, "\u00a0"),
    (None, None, ""),
    (None, None, None),
]


def _dates(on: dt.date) -> list[tuple[str | None, str | None]]:
    """(bhyt_valid_from, bhyt_expiry) in every status around `on`, edges included."""
    day = dt.timedelta(days=1)
    cut = add_months(on, -3)
    return [
        (None, None),
        (None, ""),
        ("", (on + 400 * day).isoformat()),
        (None, (on + 400 * day).isoformat()),
        (None, on.isoformat()),
        (None, (on + 30 * day).isoformat()),
        (None, (on + 31 * day).isoformat()),
        (None, (on - day).isoformat()),
        (None, (on - 40 * day).isoformat()),
        (None, (cut - 2 * day).isoformat()),
        (None, (cut - day).isoformat()),
        (None, cut.isoformat()),
        (None, (on - 400 * day).isoformat()),
        (on.isoformat(), (on + 200 * day).isoformat()),
        ((on + day).isoformat(), (on + 366 * day).isoformat()),
        ((on + day).isoformat(), (on + 20 * day).isoformat()),
    ]


@pytest.fixture
def every_kind(workspace: Workspace) -> Workspace:
    """Three villages whose members cover every group source × every card status; one removed
    member and one household that moved away are not residents."""
    ws = workspace
    villages = ["Thôn Đồi Chè", "Bản Phố", "Thôn Dền Sáng"]
    homes = [
        new_household(ws, village=v, head_name=f"Lò Văn {h}")
        for v, h in zip(villages, "ABC", strict=True)
    ]
    gone = new_household(ws, village="Bản Phố", head_name="Đã chuyển đi")
    names = itertools.cycle(
        " ".join(parts)
        for parts in itertools.product(
            ("Vàng", "Lò", "Giàng", "Đỗ", "Ma", "Hoàng", "Sùng"),
            ("Seo", "Thị", "A", "Văn"),
            ("Chứ", "Ín", "Páo", "Ân", "Ẩn", "Dình", "Say", "Lử", "Mỷ", "Dợ", "Tủa", "Pọm", "Sử"),
        )
    )
    rows: list[tuple[Any, ...]] = []
    for n, (source, dates) in enumerate(itertools.product(SOURCES, _dates(ON))):
        home = homes[n % len(homes)] if n % 17 else gone
        member = ws.members.add(home.id, full_name=next(names))
        rows.append((*source, *dates, member.id))
    with ws.store.transaction() as conn:
        # Stored as found, past the form's checks: records arrive from older laptops and lists.
        conn.executemany(
            "UPDATE member SET bhyt_group = ?, bhyt_card = ?, covered_by = ?, "
            "bhyt_valid_from = ?, bhyt_expiry = ? WHERE id = ?",
            rows,
        )
        conn.execute("UPDATE household SET moved_to = 'elsewhere' WHERE id = ?", (gone.id,))
    removed = ws.members.add(homes[0].id, full_name="Vàng A Tủa", bhyt_expiry="2027-01-01")
    ws.members.remove(removed.id)
    return ws


def _residents(ws: Workspace) -> list[Any]:
    return ws.store.query(
        "SELECT m.*, h.village FROM member m JOIN household h ON h.id = m.household_id "
        "WHERE m.removed = 0 AND h.moved_to IS NULL"
    )


def _status(row: Any, on: dt.date, within: int) -> str:
    def day(value: str | None) -> dt.date | None:
        return dt.date.fromisoformat(value) if value else None

    return person_status(
        valid_from=day(row["bhyt_valid_from"]), valid_to=day(row["bhyt_expiry"]), on=on,
        within=within,
    )  # fmt: skip


def _group(row: Any) -> str:
    return bhyt_group_of(
        bhyt_group=row["bhyt_group"], bhyt_card=row["bhyt_card"], covered_by=row["covered_by"]
    )


def _recount(ws: Workspace, on: dt.date, within: int) -> dict[str, tuple[int, ...]]:
    counts: dict[str, Counter[str]] = {}
    for row in _residents(ws):
        status = _status(row, on, within)
        insured = status in ("insured", "expiring")
        for village in (row["village"], ""):
            c = counts.setdefault(village, Counter())
            c["residents"] += 1
            c["insured"] += insured
            c["expiring"] += status == "expiring"
            c["lapsed"] += status == "lapsed"
            c["never"] += status == "never"
            c["else"] += insured and _group(row) in BHYT_COVERED_GROUPS
    keys = ("residents", "insured", "expiring", "lapsed", "never", "else")
    return {v: tuple(c[k] for k in keys) for v, c in counts.items()}


@pytest.mark.parametrize(("days", "within"), [(0, 30), (0, 0), (12, 7), (-45, 60)])
def test_counts_per_village_equal_a_recount_row_by_row(
    every_kind: Workspace, days: int, within: int
) -> None:
    on = ON + dt.timedelta(days=days)
    rows = every_kind.coverage.by_village(on, within=within)
    got = {
        r.village: (
            r.residents, r.insured, r.expiring_30d, r.lapsed, r.uninsured, r.covered_elsewhere
        )
        for r in rows
    }  # fmt: skip
    expected = _recount(every_kind, on, within)
    assert got == expected
    assert [r.village for r in rows] == [
        *sorted((v for v in expected if v), key=village_sort_key),
        "",
    ]
    # Every status and both answers of "covered elsewhere" occur, so the comparison can fail.
    commune = expected[""]
    assert 0 < commune[5] < commune[1] and commune[3] and commune[4]
    assert commune[2] or within < 30
    one = every_kind.coverage.by_village(on, village="Bản Phố", within=within)
    assert [(r.village, r.residents) for r in one] == [
        ("Bản Phố", expected["Bản Phố"][0]),
        ("", expected["Bản Phố"][0]),
    ]


@pytest.mark.parametrize(
    "status", ["insured", "expiring", "lapsed", "never", "covered_elsewhere", None]
)
def test_people_of_a_status_equal_a_recount_in_village_then_name_order(
    every_kind: Workspace, status: str | None
) -> None:
    ws = every_kind
    want = []
    for row in _residents(ws):
        s = _status(row, ON, 30)
        insured = s in ("insured", "expiring")
        keep = {
            None: True,
            "insured": insured,
            "covered_elsewhere": insured and _group(row) in BHYT_COVERED_GROUPS,
        }.get(status, s == status)
        if keep:
            want.append((village_sort_key(row["village"]), row["sort_key"], row["id"]))
    want.sort()
    people = ws.coverage.people(ON, status=status)
    assert [p.member_id for p in people] == [w[2] for w in want]
    assert people, "the store holds people of every status"
    page = ws.coverage.people(ON, status=status, limit=5, offset=3)
    assert [p.member_id for p in page] == [w[2] for w in want[3:8]]
    for p in people:
        assert p.status in {"insured": ("insured", "expiring")}.get(status or "", (p.status,))


def test_people_refuse_an_unknown_status_or_a_negative_page(every_kind: Workspace) -> None:
    from fieldapp.errors import ValidationError

    with pytest.raises(ValidationError):
        every_kind.coverage.people(ON, status="paid")
    with pytest.raises(ValidationError):
        every_kind.coverage.people(ON, limit=-1)
    with pytest.raises(ValidationError):
        every_kind.coverage.by_village(ON, within=-1)


def test_renewals_equal_the_rule_applied_row_by_row(every_kind: Workspace) -> None:
    ws = every_kind
    gap = ws.policy.card_rule(ON)
    assert gap is not None
    due = []
    for row in _residents(ws):
        s = _status(row, ON, 30)
        end = dt.date.fromisoformat(row["bhyt_expiry"]) if row["bhyt_expiry"] else None
        long_lapse = (
            s == "lapsed"
            and end is not None
            and add_months(end + dt.timedelta(days=1), gap[1]) <= ON
        )
        if _group(row) in BHYT_COVERED_GROUPS:
            continue
        if s == "expiring" or (s == "lapsed" and not long_lapse):
            due.append((s == "lapsed", end, row["full_name"], row["id"]))
    due.sort()
    found = ws.coverage.renewals(ON, quote=False)
    assert [p.member_id for p, _ in found] == [d[3] for d in due]
    assert {p.status for p, _ in found} == {"expiring", "lapsed"}
    assert ws.coverage.renewal_count(ON) == len(due)
    assert [p.member_id for p, _ in ws.coverage.renewals(ON, quote=False, limit=4)] == [
        d[3] for d in due[:4]
    ]


def test_renewals_come_in_their_order_from_the_card_end_index(every_kind: Workspace) -> None:
    """The renewal list is read in its order (card end, name, id) from the card-end index,
    with no sort before its first row: Today's first screen reads only its own rows."""
    ws = every_kind
    statements: list[str] = []
    ws.store.conn.set_trace_callback(statements.append)
    try:
        first = next(iter(ws.coverage.iter_renewals(ON)))
    finally:
        ws.store.conn.set_trace_callback(None)
    assert first.member_id == ws.coverage.renewals(ON, quote=False)[0][0].member_id
    reads = [s for s in statements if "member_card_end" in s]
    assert reads, statements
    for sql in reads:
        plan = " ".join(str(row[3]) for row in ws.store.conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "member_card_end" in plan and "TEMP B-TREE" not in plan, (sql, plan)


def _pay_some(ws: Workspace) -> None:
    """Give some household-group members this year's cards (by first day or by a payment
    recorded here), so that renewals stand further down their household's ladder."""
    households = [
        r["household_id"]
        for r in ws.store.query(
            "SELECT household_id FROM member WHERE removed = 0 AND bhyt_group = 'household' "
            "GROUP BY household_id HAVING count(*) >= 3 ORDER BY household_id"
        )
    ]
    assert len(households) >= 6
    with ws.store.transaction() as conn:
        for n, household in enumerate(households):
            ids = [
                r["id"]
                for r in conn.execute(
                    "SELECT id FROM member WHERE household_id = ? AND removed = 0 "
                    "AND bhyt_group = 'household' ORDER BY id",
                    (household,),
                )
            ]
            # One renewal due now (ending in ten days), the others valid this year (first day
            # this year or last), each household a little differently.
            conn.execute(
                "UPDATE member SET bhyt_expiry = '2026-12-03', bhyt_valid_from = NULL WHERE id = ?",
                (ids[0],),
            )
            for k, other in enumerate(ids[1 : 2 + n % 3]):
                start = "2026-03-01" if (n + k) % 4 else "2025-12-01"
                conn.execute(
                    "UPDATE member SET bhyt_expiry = '2027-02-28', bhyt_valid_from = ? "
                    "WHERE id = ?",
                    (start, other),
                )
    # A payment recorded here decides the year over the card's first day.
    paid = ws.store.query(
        "SELECT p.id FROM pledge p JOIN member m ON m.id = p.member_id "
        "WHERE p.scheme = 'bhyt_household' AND m.removed = 0 "
        "AND p.id NOT IN (SELECT pledge_id FROM pledge_event WHERE status <> 'pledged') "
        "ORDER BY p.id LIMIT 5"
    )
    for row in paid:
        ws.pledges.mark_paid(row["id"])


def test_bulk_renewal_amounts_equal_one_by_one_quotes(demo_workspace: Workspace) -> None:
    ws = demo_workspace
    _pay_some(ws)
    on = ws.today()
    due = ws.coverage.renewals(on)
    assert len(due) > 50
    periods = ws.policy.bhyt_periods(on)
    months = 12 if 12 in periods else max(periods)
    places: Counter[int] = Counter()
    for person, amount in due:
        quote = ws.pledges.quote_household_bhyt(
            person.household_id, member_ids=[person.member_id], months=months, on=on
        )
        assert amount == quote.payable, person
        places[
            ws.pledges.already_enrolled(person.household_id, on, exclude=[person.member_id])
        ] += 1
    # Renewals at several ladder places and in several groups were compared.
    assert len(places) >= 3, places
    assert len({p.group for p, _ in due}) >= 2
    first = ws.coverage.renewals(on, limit=10)
    assert first == due[:10]
