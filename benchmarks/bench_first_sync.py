"""A new laptop's first sync of a whole commune over a slow 3G link that keeps dropping.

The server (`fieldapp-server run`, its own process, SQLite) holds a commune of 10,000 households
(about 40,000 members) and their history as an agent's old laptop sent it: visits, pledges and
their events, receipts. The agent's new laptop enrols and pulls everything through the fault
proxy paced at 256 kbit/s, the link dropping every 1.5 MB of answers and at a few seeded random
points besides. The pull has to go on from its cursor after each drop and finish.

Figures: the time against the floor (the bytes the pull needed, each page once, at the link's
rate: the time the link alone needs), and the bytes on the wire per member against what the same
answers gzip-compressed would have cost.

python benchmarks/bench_first_sync.py [--quick]   (--quick: 1,000 households)
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import sys
import tempfile
import time
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bench_sync import running_server
from common import Figure, print_table
from sqlalchemy.engine import Engine

from fieldapp import syncstate
from fieldapp.workspace import Workspace
from sync.client import SyncClient
from sync.protocol import wire
from sync.protocol.clock import FixedClock, SystemClock
from sync.protocol.hlc import HybridClock
from sync.server import admin, batches, devices
from sync.server.schema import IMMUTABLE_TABLES, MERGEABLE_TABLES, changes, migrate, open_engine
from tests.sync.faultproxy import FaultProxy, Seen

COMMUNE = "04001"
PROVINCE = "04"
START = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)
LINK_BITS = 256_000
RATE = LINK_BITS / 8  # bytes a second
CUT_EVERY = 1_500_000
RANDOM_CUTS = 4
# The time the pull may take against the link's own time for the bytes it needs.
TIME_TARGET = 1.5
# Bytes per member against the same answers gzip-compressed.
BYTES_TARGET = 1.5
MAX_SYNCS = 50
BATCH_RECORDS = 2_000
TABLES = {**MERGEABLE_TABLES, **IMMUTABLE_TABLES}
ENTITIES = ("household", "member", "visit", "pledge", "pledge_event", "receipt")

FAMILY = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương",
    "Lò", "Hà", "Nông", "Lục", "Triệu", "Giàng", "Vàng", "Sùng", "Lý", "Mã", "Đinh", "Quàng",
]  # fmt: skip
MIDDLE_MALE = ["Văn", "Đức", "Hữu", "Minh", "Quốc", "Seo", "A", "Công", "Xuân"]
MIDDLE_FEMALE = ["Thị", "Ngọc", "Thu", "Thị Thu", "Mai", "Thị Mỹ", "Kim"]
GIVEN_MALE = [
    "An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hùng", "Khải", "Long", "Mạnh", "Phúc",
    "Quý", "Sơn", "Sử", "Thắng", "Tuấn", "Việt", "Chứ", "Pó", "Dình",
]  # fmt: skip
GIVEN_FEMALE = [
    "Hương", "Hạnh", "Lụa", "Mai", "Nga", "Ngọc", "Nhung", "Phượng", "Thắm", "Thảo",
    "Trang", "Tuyết", "Vân", "Yến", "Dợ", "Mỷ", "Páo", "Súa",
]  # fmt: skip
VILLAGES = [
    "Bản Phố", "Nà Sẳng", "Phìn Hồ", "Khuổi Pục", "Thôn Đồng Tâm", "Nậm Chà", "Bản Giàng",
    "Pác Ngòi", "Lũng Cú", "Thôn Mới",
]  # fmt: skip
ETHNICITIES = ["Kinh", "Tày", "Nùng", "H'Mông", "Dao", "Thái", "Giáy"]
NOTES = [
    "",
    "Hẹn sau vụ thu hoạch",
    "Chủ hộ đi làm nương, đã gặp vợ",
    "Đã tư vấn BHYT hộ gia đình cho cả nhà",
    "Gia đình muốn đóng 6 tháng trước",
    "Cần hỏi lại ý kiến con trai cả",
    "Ông bà đã có thẻ BHYT người cao tuổi",
    "Không có nhà, để lại tờ rơi",
    "Đang cân nhắc BHXH tự nguyện cho chị dâu",
]
TOPICS = ["bhyt_household", "bhxh_voluntary", "support_levels", "payment_methods"]
MATERIALS = ["flyer-farmers-vi", "flyer-farmers-hmn", "ladder-table", "receipt-sample"]
OUTCOMES = ["not_home", "consulted", "pledged", "refused", "follow_up"]
AGENT = "Hoàng Thị Lụa"
SERIES = "AA/26"


# -- the commune on the server ----------------------------------------------------------------


def _id() -> str:
    return str(uuid.uuid4())


def _person(rng: random.Random, sex: str) -> str:
    if sex == "male":
        return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE_MALE)} {rng.choice(GIVEN_MALE)}"
    return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE_FEMALE)} {rng.choice(GIVEN_FEMALE)}"


def _day(rng: random.Random, first: int, last: int) -> str:
    return (
        dt.date(first, 1, 1) + dt.timedelta(days=rng.randrange((last - first) * 365))
    ).isoformat()


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class _Commune:
    """The commune's records as one agent's laptop made them, in the order it sent them."""

    def __init__(self, agent_id: str, book_id: str, device_id: str, seed: int) -> None:
        self.rng = random.Random(seed)
        self.agent_id = agent_id
        self.book_id = book_id
        self.clock = HybridClock(device_id)
        # Two hundred days of work before the new laptop arrives, one record at a time.
        self.now = START - dt.timedelta(days=200)
        self.receipts = 0
        self.members = 0

    def _record(self, entity: str, data: dict[str, Any], seq: int) -> wire.Record:
        self.now += dt.timedelta(seconds=self.rng.randint(20, 150))
        return wire.Record(
            seq=seq,
            entity=entity,
            id=data["id"],
            op="insert",
            hlc=self.clock.tick(int(self.now.timestamp() * 1000)),
            data=data,
            base=None,
        )

    def household(self, seq: int) -> list[wire.Record]:
        """A household, its members (2-6), 1-3 visits, and for most a pledge, for many paid."""
        rng = self.rng
        home_id = _id()
        head_sex = "male" if rng.random() < 0.8 else "female"
        head = _person(rng, head_sex)
        out: list[tuple[str, dict[str, Any]]] = []
        out.append(
            (
                wire.HOUSEHOLD,
                {
                    "id": home_id,
                    "province_code": PROVINCE,
                    "commune_code": COMMUNE,
                    "village": rng.choice(VILLAGES),
                    "head_name": head,
                    "address": f"Tổ {rng.randint(1, 12)}, {rng.choice(VILLAGES)}",
                    "phone": f"09{rng.randrange(10**8):08d}" if rng.random() < 0.7 else None,
                    "groups": rng.sample(
                        ["farmer", "poor", "near_poor", "ethnic"], rng.randint(0, 2)
                    ),
                    "best_months": sorted(rng.sample(range(1, 13), rng.randint(0, 3))),
                    "notes": rng.choice(NOTES),
                },
            )
        )
        ethnicity = rng.choice(ETHNICITIES)
        people = []
        relations = ["chủ hộ", "vợ" if head_sex == "male" else "chồng", "con", "con", "bố", "mẹ"]
        for index in range(rng.randint(2, 6)):
            sex = head_sex if index == 0 else rng.choice(["male", "female"])
            name = head if index == 0 else _person(rng, sex)
            insured = rng.random() < 0.4
            person = {
                "id": _id(),
                "household_id": home_id,
                "full_name": name,
                "date_of_birth": _day(rng, 1940, 2024),
                "sex": sex,
                "relation": relations[index],
                "cccd": f"0{PROVINCE}{rng.randrange(10**9):09d}",
                "bhxh_code": f"04{rng.randrange(10**8):08d}" if rng.random() < 0.5 else None,
                "ethnicity": ethnicity,
                "bhyt_card": f"GD4{PROVINCE}{rng.randrange(10**10):010d}" if insured else None,
                "bhyt_expiry": _day(rng, 2026, 2028) if insured else None,
                "covered_by": None,
                "bhxh_status": None,
                "removed": False,
                "warnings": [],
                "bhyt_group": None,
                "bhyt_valid_from": None,
                "bhxh_participating": False,
                "bhxh_income": None,
                "bhxh_paid_through": None,
                "bhxh_supported_months": 0,
                "old_id": None,
                "phone": None,
            }
            people.append(person)
            out.append((wire.MEMBER, person))
        self.members += len(people)
        for _ in range(rng.randint(1, 3)):
            follow = rng.random() < 0.5
            out.append(
                (
                    wire.VISIT,
                    {
                        "id": _id(),
                        "household_id": home_id,
                        "agent_id": self.agent_id,
                        "at": _stamp(self.now),
                        "outcome": rng.choice(OUTCOMES),
                        "topics": rng.sample(TOPICS, rng.randint(1, 2)),
                        "materials": rng.sample(MATERIALS, rng.randint(0, 2)),
                        "next_visit": (self.now.date() + dt.timedelta(days=14)).isoformat()
                        if follow
                        else None,
                        "notes": rng.choice(NOTES),
                    },
                )
            )
        if rng.random() < 0.7:
            out += self._pledge(home_id, head, people)
        return [self._record(entity, data, seq + i) for i, (entity, data) in enumerate(out)]

    def _pledge(
        self, home_id: str, head: str, people: list[dict[str, Any]]
    ) -> list[tuple[str, dict[str, Any]]]:
        rng = self.rng
        months = rng.choice([3, 6, 12])
        payable = 1_366_200 * months // 12
        start = (self.now.date() + dt.timedelta(days=30)).replace(day=1)
        pledge = {
            "id": _id(),
            "household_id": home_id,
            "member_id": people[0]["id"],
            "scheme": "bhyt_household",
            "params": {"months": months, "position": 1},
            "gross": payable,
            "central_support": 0,
            "local_support": 0,
            "payable": payable,
            "policy_version": "vn-2026.11",
            "start_date": start.isoformat(),
            "due_date": (start + dt.timedelta(days=14)).isoformat(),
            "created_at": _stamp(self.now),
        }
        out = [(wire.PLEDGE, pledge), (wire.PLEDGE_EVENT, self._event(pledge["id"], "pledged"))]
        if rng.random() < 0.6:
            self.receipts += 1
            receipt = {
                "id": _id(),
                "book_id": self.book_id,
                "series": SERIES,
                "number": self.receipts,
                "payer_name": head,
                "payer_bhxh_code": people[0]["bhxh_code"],
                "payer_address": f"{COMMUNE}, {PROVINCE}",
                "household_id": home_id,
                "pledge_ids": [pledge["id"]],
                "amount": payable,
                "description": f"Tiền đóng BHYT hộ gia đình, phương thức đóng {months} tháng",
                "period_from": start.isoformat(),
                "period_to": (start + dt.timedelta(days=30 * months - 1)).isoformat(),
                "issued_at": _stamp(self.now),
                "issued_by": AGENT,
                "verification_code": None,
            }
            out.append((wire.RECEIPT, receipt))
            out.append((wire.PLEDGE_EVENT, self._event(pledge["id"], "paid", receipt["id"])))
        return out

    def _event(self, pledge_id: str, status: str, receipt_id: str | None = None) -> dict[str, Any]:
        return {
            "id": _id(),
            "pledge_id": pledge_id,
            "status": status,
            "at": _stamp(self.now),
            "reason": None,
            "receipt_id": receipt_id,
        }


def fill_commune(engine: Engine, households: int, seed: int = 10) -> tuple[str, int, int]:
    """The agent, their receipt book and old laptop, and the commune's records taken by the
    server's own batch path (the same checks and change feed as an upload). Returns the agent's
    id, how many records were taken and how many members."""
    clock = FixedClock(START)
    with engine.begin() as conn:
        agent = admin.add_agent(conn, name=AGENT, communes=[COMMUNE], clock=clock)
        book = admin.add_receipt_book(
            conn, agent_id=agent, series=SERIES, first=1, last=households, clock=clock
        )
        code = devices.new_enrol_code(conn, agent_id=agent, clock=clock, valid_hours=1)
        device_id = devices.enrol(conn, code=code, device_name="máy cũ", clock=clock)["device_id"]
        device = devices.get(conn, device_id)
    assert device is not None
    commune = _Commune(agent, book, device_id, seed)
    records: list[wire.Record] = []
    taken = 0

    def send() -> int:
        batch = wire.Batch(
            protocol=wire.PROTOCOL_VERSION,
            device_id=device_id,
            batch_id=_id(),
            seq_from=records[0]["seq"],
            seq_to=records[-1]["seq"],
            records=records,
        )
        ack = batches.receive(engine, device=device, batch=batch, clock=clock)
        if ack["refused"]:
            raise AssertionError(f"the server refused {ack['refused'][:3]}")
        return len(ack["accepted"])

    seq = 1
    for _ in range(households):
        made = commune.household(seq)
        seq += len(made)
        records += made
        if len(records) >= BATCH_RECORDS:
            taken += send()
            records = []
    if records:
        taken += send()
    return agent, taken, commune.members


# -- the first sync ---------------------------------------------------------------------------


@dataclass
class FirstSync:
    """What the first sync cost and did."""

    households: int
    members: int
    records: int
    seconds: float
    syncs: int
    gave_up: int
    cuts: int
    requests: int
    wire_bytes: int
    needed_bytes: int
    gzip_bytes: int
    slim_gzip_bytes: int
    applied: int
    problems: list[str]

    @property
    def floor_seconds(self) -> float:
        return self.needed_bytes / RATE


def _body(seen: Seen) -> bytes:
    answer = seen.answers[-1]
    return gzip.decompress(answer) if answer[:2] == b"\x1f\x8b" else answer


def _slim(body: bytes) -> bytes:
    """A page with each field clock equal to its change's clock left out (laptops already take
    a missing field clock as the change's), as compact JSON."""
    page = json.loads(body)
    for change in page["changes"]:
        clocks = change.get("field_hlc")
        if clocks is not None:
            kept = {k: v for k, v in clocks.items() if v != change["hlc"]}
            if kept:
                change["field_hlc"] = kept
            else:
                del change["field_hlc"]
    return json.dumps(page, ensure_ascii=False, separators=(",", ":")).encode()


def _estimated_answers(engine: Engine) -> int:
    """About how many bytes the whole feed's answers hold on the wire (to place the random
    cuts): the changes as the feed sends them, gzip-compressed. Pages sent plain are longer:
    the random cuts then all fall in the first part of the pull."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    size = 0
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                changes.c.entity,
                changes.c.entity_id,
                changes.c.data,
                changes.c.field_hlc,
                changes.c.hlc,
                changes.c.cursor,
            ).order_by(changes.c.cursor)
        )
        for row in rows:
            change = {
                "cursor": row.cursor,
                "entity": row.entity,
                "id": row.entity_id,
                "data": row.data,
                "hlc": row.hlc,
            }
            clocks = dict(row.field_hlc or {})
            if row.entity == wire.MEMBER:
                clocks = {k: v for k, v in clocks.items() if v != row.hlc}
            if clocks:
                change["field_hlc"] = clocks
            size += len(packer.compress(json.dumps(change, ensure_ascii=False).encode()))
    return size + len(packer.flush())


def _compare(engine: Engine, ws: Workspace) -> list[str]:
    """What differs between the server's records and the laptop's (empty: nothing)."""
    problems = []
    with engine.connect() as conn:
        for entity in ENTITIES:
            table = TABLES[entity]
            on_server = {str(r[0]) for r in conn.execute(sa.select(table.c.id))}
            local = {str(r[0]) for r in ws.store.query(f"SELECT id FROM {entity}")}
            if local != on_server:
                problems.append(
                    f"{entity}: {len(on_server - local)} missing, {len(local - on_server)} extra"
                )
        head = conn.execute(sa.select(sa.func.max(changes.c.cursor))).scalar()
    if syncstate.cursor(ws.store) != head:
        problems.append(f"cursor {syncstate.cursor(ws.store)} ≠ head {head}")
    return problems


def first_sync(households: int, seed: int = 20261123) -> FirstSync:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = f"sqlite:///{tmp / 'server.sqlite3'}"
        engine = open_engine(url)
        migrate(engine)
        start = time.perf_counter()
        agent, records, members = fill_commune(engine, households)
        estimate = _estimated_answers(engine)
        print(
            f"  server filled: {households:,} households, {members:,} members, {records:,} "
            f"records in {time.perf_counter() - start:.1f} s; feed ≈ {estimate / 1e6:.1f} MB",
            file=sys.stderr,
            flush=True,
        )
        with engine.begin() as conn:
            code = devices.new_enrol_code(conn, agent_id=agent, clock=SystemClock(), valid_hours=1)
        cut_at = sorted(rng.randrange(estimate) for _ in range(RANDOM_CUTS))
        with running_server(url, tmp / "server.log") as base_url:
            ws = Workspace.open(tmp / "laptop", clock=FixedClock(START + dt.timedelta(hours=1)))
            with SyncClient(ws) as client:
                client.enrol(base_url, code, device_name="máy mới")
            with FaultProxy(
                base_url,
                seed=seed,
                weights={},
                fault_paths=(wire.CHANGES_PATH,),
                rate=RATE,
                cut_every=CUT_EVERY,
                cut_at=cut_at,
            ) as proxy:
                syncs, gave_up, applied = 0, 0, 0
                errors: Counter[str] = Counter()
                start = time.perf_counter()
                # The agent presses Sync again while it has not finished (the app's defaults:
                # 5 tries a request, backoff from 1 s).
                while syncs < MAX_SYNCS:
                    syncs += 1
                    with SyncClient(
                        ws, server_url=proxy.base_url, random=random.Random(syncs).random
                    ) as client:
                        result = client.run()
                    applied += result.pulled
                    if result.ok:
                        break
                    gave_up += 1
                    errors.update(e.code for e in result.errors)
                seconds = time.perf_counter() - start
            problems = _compare(engine, ws)
            if not result.ok:
                problems.append(f"not finished after {syncs} syncs: {dict(errors)}")
            ws.close()
        engine.dispose()
    pulls = [s for s in proxy.seen if s.path.startswith(wire.CHANGES_PATH)]
    whole = [s for s in pulls if not s.cut]
    # Each whole answer once, and its request: what the pull needed with no cut at all. (The
    # page requests are GETs of about the same size: their share of the bytes sent up.)
    needed = sum(s.delivered for s in whole) + proxy.up.bytes * len(whole) // max(1, len(pulls))
    # The same answers gzip-compressed (with their heads), and also without redundant clocks.
    gzipped = sum(len(gzip.compress(_body(s), compresslevel=6)) + 250 for s in whole)
    slim = sum(len(gzip.compress(_slim(_body(s)), compresslevel=6)) + 250 for s in whole)
    return FirstSync(
        households=households,
        members=members,
        records=records,
        seconds=seconds,
        syncs=syncs,
        gave_up=gave_up,
        cuts=proxy.cuts,
        requests=len(pulls),
        wire_bytes=proxy.wire_bytes,
        needed_bytes=needed,
        gzip_bytes=gzipped,
        slim_gzip_bytes=slim,
        applied=applied,
        problems=problems,
    )


def run(quick: bool = False) -> list[Figure]:
    households = 1_000 if quick else 10_000
    done = first_sync(households)
    verdict = "; ".join(done.problems) if done.problems else "laptop = server"
    summary = (
        f"{done.wire_bytes / 1e6:.2f} MB on the wire, {done.cuts} cuts survived, "
        f"{done.gave_up} syncs gave up and were resumed, {done.requests} page requests, "
        f"{done.applied:,} changes applied; {verdict}"
    )
    print(f"  first sync: {summary}; {done.seconds:.1f} s", file=sys.stderr, flush=True)
    ok = not done.problems
    return [
        Figure(
            f"first sync {households:,} households at 256 kbit/s",
            done.seconds if ok else float("inf"),
            done.floor_seconds,
            "s",
            TIME_TARGET,
            note=f"floor: {done.needed_bytes / 1e6:.2f} MB needed ÷ 32 kB/s; {summary}",
        ),
        Figure(
            f"first sync {households:,} households: bytes/member",
            done.wire_bytes / done.members if ok else float("inf"),
            done.gzip_bytes / done.members,
            "B",
            BYTES_TARGET,
            note=(
                f"floor: the same answers gzip -6 ({done.gzip_bytes / 1e6:.2f} MB, "
                f"{done.gzip_bytes / RATE / 60:.1f} min at 256 kbit/s; without field clocks "
                f"equal to the change's: {done.slim_gzip_bytes / 1e6:.2f} MB, "
                f"{done.slim_gzip_bytes / RATE / 60:.1f} min); "
                f"{done.members:,} members, {done.records:,} records"
            ),
        ),
    ]


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv), "fieldapp first sync")
