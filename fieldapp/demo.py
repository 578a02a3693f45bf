"""A realistic demo commune: upland villages, households, members, visits and pledges."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable

from fieldapp.model import VISIT_MATERIALS, VISIT_TOPICS
from fieldapp.workspace import Workspace
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen

# A fictional commune in Lào Cai (province code 15). Its commune code is outside the range of
# real codes so demo data can never be mistaken for a real commune's.
DEMO_PROVINCE = "15"
DEMO_COMMUNE = "99001"
DEMO_COMMUNE_NAME = "Xã Bản Mẫu (dữ liệu mẫu)"
VILLAGES = (
    "Thôn Nậm Khánh",
    "Bản Phố",
    "Thôn Na Hối",
    "Bản Lầu Thí Ngài",
    "Thôn Nậm Mòn",
    "Bản Tả Van Chư",
    "Thôn Đồi Chè",
    "Bản Cốc Ly",
)
# (family names, male given names, female given names, ethnicity)
PEOPLES = (
    (
        ("Giàng", "Sùng", "Vàng", "Lồ", "Thào", "Hầu", "Lý", "Ma"),
        ("Seo Sử", "A Páo", "Văn Chứ", "Mí Súa", "Seo Phử", "A Dính", "Văn Pó"),
        ("Thị Mỷ", "Thị Dợ", "Thị Sính", "Thị Súa", "Thị Mai", "Thị Dung"),
        "Mông",
    ),
    (
        ("Triệu", "Bàn", "Đặng", "Lý", "Phùn"),
        ("Văn Quẩy", "Văn Tòn", "Sành Lưu", "Văn Kiềm", "Văn Đức"),
        ("Thị Nhất", "Thị Lở", "Thị Xuân", "Thị Hoà", "Thị Hạnh"),
        "Dao",
    ),
    (
        ("Hoàng", "Nông", "Lò", "Hà", "Lường", "Hoàng"),
        ("Văn Thắng", "Văn Hùng", "Đức Anh", "Văn Dũng", "Quang Huy"),
        ("Thị Hòa", "Thị Thu", "Thị Lan", "Thị Hương", "Thị Ngọc"),
        "Tày",
    ),
    (
        ("Nguyễn", "Trần", "Đỗ", "Phạm", "Lê", "Vũ", "Đặng"),
        ("Văn Đức", "Văn Minh", "Mạnh Cường", "Văn Tuấn", "Quốc Việt", "Văn Ân"),
        ("Thị Hương", "Thị Huệ", "Thị Ánh", "Thị Thủy", "Thu Trang", "Thị Hoa"),
        "Kinh",
    ),
)
HARVESTS = ((7, 8), (11, 12), (1, 2), (6, 7), (9, 10), (12,))
TOPICS = VISIT_TOPICS
MATERIALS = VISIT_MATERIALS


@frozen
class DemoSummary:
    households: int
    members: int
    visits: int
    pledges: int
    villages: int

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@frozen
class DemoRemoval:
    """What removing the demo data deleted: records, and their changes kept on the laptop."""

    households: int
    members: int
    visits: int
    pledges: int
    receipts: int
    changes: int

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def mark_demo(workspace: Workspace, household_id: str) -> None:
    """Mark a household as demo data, inside the transaction that created it.

    Its own change is taken back from the upload; every later change to it, or to anything of
    it (members, visits, pledges, receipts), is kept on the laptop by the store itself.
    """
    with workspace.store.transaction() as conn:
        conn.execute("UPDATE household SET demo = 1 WHERE id = ?", (household_id,))
        conn.execute(
            "UPDATE outbox SET state = 'local', batch_id = NULL "
            "WHERE entity = 'household' AND entity_id = ? AND state = 'pending'",
            (household_id,),
        )


def demo_household_count(workspace: Workspace) -> int:
    """How many demo households the store holds."""
    return int(workspace.store.scalar("SELECT count(*) FROM household WHERE demo = 1"))


# What hangs on the demo households, deepest first, so that no row is left pointing at a
# deleted one: (table, SQL condition on its rows); temp.demo_household holds their ids.
_DEMO_ROWS = (
    (
        "receipt_print",
        "receipt_id IN (SELECT id FROM receipt WHERE household_id IN temp.demo_household)",
    ),
    (
        "receipt_void",
        "receipt_id IN (SELECT id FROM receipt WHERE household_id IN temp.demo_household)",
    ),
    (
        "payment_effect",
        "receipt_id IN (SELECT id FROM receipt WHERE household_id IN temp.demo_household)",
    ),
    (
        "pledge_event",
        "pledge_id IN (SELECT id FROM pledge WHERE household_id IN temp.demo_household)",
    ),
    ("receipt", "household_id IN temp.demo_household"),
    ("pledge", "household_id IN temp.demo_household"),
    ("visit", "household_id IN temp.demo_household"),
    ("member", "household_id IN temp.demo_household"),
    ("household", "id IN temp.demo_household"),
)
# Each synced entity and the table that holds its records.
_ENTITY_TABLES = (
    ("household", "household"),
    ("member", "member"),
    ("visit", "visit"),
    ("pledge", "pledge"),
    ("pledge_event", "pledge_event"),
    ("receipt", "receipt"),
    ("receipt_void", "receipt_void"),
)


def remove_demo(workspace: Workspace) -> DemoRemoval:
    """Delete the demo households and everything of them, in one transaction.

    Their members, visits, pledges and status events, receipts (with voids, prints and what
    they changed), search rows and outbox rows go with them; nothing else is touched. A
    village's stored coverage counts are dropped where demo people were counted in them (they
    are counted again when next shown). Receipt numbers a demo receipt used stay used.
    """
    store = workspace.store
    with store.transaction() as conn:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS demo_household (id TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM temp.demo_household")
        conn.execute("INSERT INTO temp.demo_household SELECT id FROM household WHERE demo = 1")

        def count(table: str, where: str) -> int:
            return int(conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0])

        removed = DemoRemoval(
            households=count("household", "id IN temp.demo_household"),
            members=count("member", "household_id IN temp.demo_household"),
            visits=count("visit", "household_id IN temp.demo_household"),
            pledges=count("pledge", "household_id IN temp.demo_household"),
            receipts=count("receipt", "household_id IN temp.demo_household"),
            changes=0,
        )
        changes = 0
        # The outbox rows of the records about to go: by each record's own id.
        for entity, table in _ENTITY_TABLES:
            where = dict(_DEMO_ROWS)[table]
            changes += conn.execute(
                f"DELETE FROM outbox WHERE entity = ? AND entity_id IN "
                f"(SELECT id FROM {table} WHERE {where})",
                (entity,),
            ).rowcount
        conn.execute(
            "DELETE FROM coverage_day WHERE village IN "
            "(SELECT village FROM household WHERE id IN temp.demo_household)"
        )
        conn.execute(
            "DELETE FROM search_index WHERE rowid IN "
            "(SELECT id FROM search_row WHERE household_id IN temp.demo_household)"
        )
        conn.execute("DELETE FROM search_row WHERE household_id IN temp.demo_household")
        for table, where in _DEMO_ROWS:
            conn.execute(f"DELETE FROM {table} WHERE {where}")
        conn.execute("DROP TABLE temp.demo_household")
    return dataclasses.replace(removed, changes=changes)


def _cccd(rng: random.Random, sex: str, born: dt.date) -> str:
    century = {1900: 0, 2000: 2, 2100: 4}[born.year // 100 * 100]
    code = century + (1 if sex == "female" else 0)
    return f"010{code}{born.year % 100:02d}{rng.randrange(1_000_000):06d}"


def _date(rng: random.Random, first: int, last: int) -> dt.date:
    return dt.date(rng.randint(first, last), rng.randint(1, 12), rng.randint(1, 28))


def create_demo(
    workspace: Workspace,
    *,
    households: int = 60,
    seed: int = 2026,
    on_progress: Callable[[int, int], None] | None = None,
) -> DemoSummary:
    """Fill the workspace with a demo commune; households are written in chunks of one
    transaction each, so a cut leaves whole households only."""
    if households < 1 or households > 200_000:
        raise FieldappError(
            "Số hộ mẫu phải từ 1 đến 200.000.",
            "The number of demo households must be 1 to 200,000.",
            code="bad_count",
        )
    rng = random.Random(seed)
    # Cards and BHXH states draw from their own sequence, so the households, names and
    # visits of a seed stay what they were before cards were part of the demo.
    cards = random.Random(f"{seed}-cards")
    store = workspace.store
    # The demo agent and commune, unless the agent has set their own.
    for key, value in (
        ("agent_name", "Nguyễn Thị Lan"),
        ("agent_phone", "0912 345 678"),
        ("province_code", DEMO_PROVINCE),
        ("commune_code", DEMO_COMMUNE),
        ("commune_name", DEMO_COMMUNE_NAME),
    ):
        if store.meta(key) is None:
            store.set_meta(key, value)
    today = workspace.store.clock.today()
    now = workspace.store.clock.now()
    counts = {"members": 0, "visits": 0, "pledges": 0}
    chunk = 250
    for start in range(0, households, chunk):
        with workspace.store.transaction():
            for _ in range(start, min(start + chunk, households)):
                _one_household(workspace, rng, cards, today, now, counts)
        if on_progress:
            on_progress(min(start + chunk, households), households)
    return DemoSummary(
        households=households,
        members=counts["members"],
        visits=counts["visits"],
        pledges=counts["pledges"],
        villages=len(VILLAGES) if households >= len(VILLAGES) else households,
    )


def _one_household(
    ws: Workspace,
    rng: random.Random,
    cards: random.Random,
    today: dt.date,
    now: dt.datetime,
    counts: dict[str, int],
) -> None:
    families, males, females, ethnicity = rng.choice(PEOPLES)
    family = rng.choice(families)
    village = rng.choice(VILLAGES)
    head_born = _date(rng, 1955, 1995)
    head_name = f"{family} {rng.choice(males)}"
    groups = []
    if ethnicity != "Kinh":
        groups.append("ethnic_minority")
    roll = rng.random()
    if roll < 0.12:
        groups.append("poor")
    elif roll < 0.3:
        groups.append("near_poor")
    groups.append(rng.choice(("farmer", "farmer", "farmer", "household_business", "cooperative")))
    if rng.random() < 0.05:
        groups.append("village_cadre")
    phone = f"09{rng.randrange(10**8):08d}" if rng.random() < 0.8 else None
    household = ws.households.add(
        province_code=DEMO_PROVINCE,
        commune_code=DEMO_COMMUNE,
        village=village,
        head_name=head_name,
        phone=phone,
        groups=groups,
        best_months=rng.choice(HARVESTS),
        address=f"{village}, {DEMO_COMMUNE_NAME}",
    )
    mark_demo(ws, household.id)
    people = [(head_name, head_born, "male", "Chủ hộ")]
    if rng.random() < 0.9:
        spouse_family = rng.choice(families)
        people.append(
            (f"{spouse_family} {rng.choice(females)}", _date(rng, 1958, 1998), "female", "Vợ")
        )
    for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
        sex = rng.choice(("male", "female"))
        given = rng.choice(males if sex == "male" else females)
        people.append((f"{family} {given}", _date(rng, 2000, 2022), sex, "Con"))
    if rng.random() < 0.2:
        people.append((f"{family} {rng.choice(males)}", _date(rng, 1940, 1958), "male", "Bố"))
    member_ids = []
    joining = []
    for name, born, sex, relation in people:
        adult = (today - born).days >= 14 * 365
        participation = _participation(cards, groups, born, today)
        member = ws.members.add(
            household.id,
            full_name=name,
            date_of_birth=born,
            sex=sex,
            relation=relation,
            ethnicity=ethnicity,
            cccd=_cccd(rng, sex, born) if adult else None,
            covered_by="HN" if "poor" in groups else None,
            **participation,
        )
        member_ids.append(member.id)
        if participation.get("bhyt_group") in (None, "household", "near_poor", "student"):
            joining.append(member.id)
        counts["members"] += 1
    for _ in range(rng.choice((0, 1, 1, 2))):
        days_ago = rng.randint(1, 60)
        visited = now - dt.timedelta(days=days_ago, hours=rng.randint(0, 8))
        visit_day = today - dt.timedelta(days=days_ago)
        outcome = rng.choice(("consulted", "not_home", "follow_up", "pledged", "refused"))
        next_visit = (
            visit_day + dt.timedelta(days=rng.randint(7, 90))
            if outcome in ("consulted", "follow_up", "not_home")
            else None
        )
        ws.visits.record(
            household.id,
            outcome=outcome,
            topics=rng.sample(TOPICS, 2),
            materials=rng.sample(MATERIALS, 1),
            next_visit=next_visit,
            at=visited,
            notes="Hẹn sau thu hoạch" if next_visit else "",
        )
        counts["visits"] += 1
    if "poor" not in groups and rng.random() < 0.3 and joining:
        months = rng.choice((3, 6, 12))
        pledges = ws.pledges.pledge_bhyt_household(
            household.id, member_ids=joining, months=months, start=today
        )
        counts["pledges"] += len(pledges)
    if rng.random() < 0.15:
        floor = ws.policy.rural_poverty_line(today)
        # Most agents' pledges are at the floor; some choose a rounder, higher income.
        income = rng.choice((floor, floor, floor + 500_000))
        ws.pledges.pledge_bhxh(member_ids[0], income=income, months=12, start=today)
        counts["pledges"] += 1


def _participation(
    cards: random.Random, groups: list[str], born: dt.date, today: dt.date
) -> dict[str, str]:
    """A person's BHYT group and card as a commune's list shows them: children under 6 and
    the poor have state-paid cards, near-poor people their own group, students theirs; most
    others hold a household card ending somewhere in the year around today, some none."""
    age_days = (today - born).days
    if "poor" in groups:
        return {"bhyt_group": "poor", "bhyt_expiry": _card_end(cards, today, 365)}
    if age_days < 6 * 365:
        return {"bhyt_group": "child_under_6", "bhyt_expiry": _card_end(cards, today, 365)}
    if "near_poor" in groups:
        group = "near_poor"
    elif 6 * 365 <= age_days < 22 * 365 and cards.random() < 0.6:
        group = "student"
    else:
        group = "household"
    roll = cards.random()
    if roll < 0.25:
        return {"bhyt_group": group}  # never insured: to be found and visited
    return {"bhyt_group": group, "bhyt_expiry": _card_end(cards, today, 180)}


def _card_end(cards: random.Random, today: dt.date, spread: int) -> str:
    """A card's last day within `spread` days before or after today."""
    return (today + dt.timedelta(days=cards.randint(-spread, spread))).isoformat()
