"""Sync figures: a laptop's upload end to end, bytes per visit on the wire, many devices at once.

The server runs as its own process (`fieldapp-server run`) on a loopback port, as in production
where laptops and server do not share an interpreter.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from common import ROOT, Figure, median, percentile, print_table
from sqlalchemy.engine import Engine

from fieldapp.syncstate import StoredBatch, StoredRow
from fieldapp.workspace import Workspace
from sync.client import DEFAULT_BATCH_SIZE, SyncClient
from sync.protocol import wire
from sync.protocol.clock import FixedClock, SystemClock
from sync.protocol.hlc import HybridClock
from sync.server import admin, devices
from sync.server.schema import (
    IMMUTABLE_TABLES,
    MERGEABLE_TABLES,
    batches,
    changes,
    migrate,
    open_engine,
)
from tests.fieldapp.samples import new_household
from tests.sync.client_fixtures import COMMUNE
from tests.sync.conftest import START, household, member, pledge, visit

HEAD = "Giàng Seo Sử"
PG_URL_ENV = "FIELDAPP_TEST_PG_URL"
RECORD_TABLES = {**MERGEABLE_TABLES, **IMMUTABLE_TABLES}
# What each device's batch carries in the many-devices figures (see _device_batch).
DEVICE_BATCH_ENTITIES = (
    wire.HOUSEHOLD,
    wire.MEMBER,
    wire.VISIT,
    wire.PLEDGE,
    wire.PLEDGE_EVENT,
)
NOTES = [
    "",
    "Hẹn sau vụ thu hoạch",
    "Chủ hộ đi làm nương, đã gặp vợ",
    "Đã tư vấn BHYT hộ gia đình cho cả 4 người",
    "Gia đình muốn đóng 6 tháng trước",
    "Cần hỏi lại ý kiến con trai cả",
    "Ông bà đã có thẻ BHYT người cao tuổi",
    "Không có nhà, để lại tờ rơi",
    "Đang cân nhắc BHXH tự nguyện cho chị dâu",
]
TOPICS = ["bhyt_household", "bhxh_voluntary", "support_levels", "payment_methods"]
MATERIALS = ["flyer-farmers-vi", "flyer-farmers-hmn", "ladder-table", "receipt-sample"]
OUTCOMES = ["not_home", "consulted", "pledged", "refused", "follow_up"]


# -- a server in its own process --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(database_url: str, log: Path) -> Iterator[str]:
    """`fieldapp-server run` on 127.0.0.1; yields its base URL once /health answers."""
    port = _free_port()
    code = (
        "import sys; from sync.server.cli import main; "
        f"sys.exit(main(['--database-url', {database_url!r}, 'run', '--port', '{port}']))"
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base_url + wire.HEALTH_PATH, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def postgres_url() -> Iterator[str | None]:
    """A fresh schema on the PostgreSQL of FIELDAPP_TEST_PG_URL, dropped afterwards; else None."""
    base = os.environ.get(PG_URL_ENV)
    if not base:
        yield None
        return
    schema = f"fieldapp_bench_{uuid.uuid4().hex[:12]}"
    admin_engine = sa.create_engine(base)
    with admin_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin_engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin_engine.dispose()


def _engine(url: str) -> Engine:
    engine = open_engine(url)
    migrate(engine)
    return engine


# -- a laptop's upload end to end --------------------------------------------------------------


def _fill(ws: Workspace, households: int) -> None:
    """Five outbox rows per household: the household, a member, a visit, a pledge, its event."""
    with ws.store.transaction():
        for _ in range(households):
            home = new_household(
                ws, province_code="04", commune_code=COMMUNE, village="Bản Phố", head_name=HEAD
            )
            wife = ws.members.add(home.id, full_name="Lò Thị Hương", relation="vợ", sex="female")
            ws.visits.record(home.id, outcome="pledged", topics=["bhyt_household"])
            ws.pledges.pledge_bhyt_household(
                home.id, member_ids=[wife.id], months=12, start=dt.date(2026, 12, 1)
            )


def _written_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """What the upload wrote: records, their change-feed rows (cursor left to the database)."""
    with engine.connect() as conn:
        rows = {
            t.name: [dict(r._mapping) for r in conn.execute(sa.select(t))]
            for t in [*RECORD_TABLES.values(), batches]
        }
        fed = conn.execute(
            sa.select(*[c for c in changes.c if c.name != "cursor"]).where(
                changes.c.origin_device_id.is_not(None)
            )
        )
        rows["changes"] = [dict(r._mapping) for r in fed]
    return rows


def _bare_insert_once(rows: dict[str, list[dict[str, Any]]], tmp: Path) -> float:
    """The same rows into a fresh database of the server's tables with executemany, one
    transaction."""
    tmp.mkdir(parents=True, exist_ok=True)
    engine = _engine(f"sqlite:///{tmp / 'floor.sqlite3'}")
    by_name = {t.name: t for t in [*RECORD_TABLES.values(), changes, batches]}
    # Every table the upload wrote, parents before the records that refer to them.
    first = ["households", "members", "visits", "pledges", "pledge_events"]
    order = [*first, *(n for n in by_name if n not in (*first, "changes", "batches"))]
    order += ["changes", "batches"]
    with engine.begin() as conn:
        # Foreign keys need the device (batches) and agent rows; they are not part of the timing.
        agent = admin.add_agent(conn, name="A", communes=[COMMUNE], clock=SystemClock())
        code = devices.new_enrol_code(conn, agent_id=agent, clock=SystemClock(), valid_hours=1)
        device_id = rows["batches"][0]["device_id"]
        devices.enrol(
            conn, code=code, device_name="floor", clock=SystemClock(), device_id=device_id
        )
    # Timed without the garbage collector, as timeit does: this process holds the bench's own
    # copy of every row written (hundreds of thousands of objects), and a collection that
    # happens to fall in the timing walks them all; that pause (0.1-0.2 s, landing in one run
    # and not the next) is the bench's, not the cost of inserting.
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        with engine.begin() as conn:
            for name in order:
                if rows[name]:
                    conn.execute(by_name[name].insert(), rows[name])
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    engine.dispose()
    return elapsed


# Bare inserts per run: their median is the run's floor. One alone swings by half on a busy
# machine (a checkpoint's fsync landing in it or not), which moved a run's ratio as much.
FLOOR_REPEATS = 3


def _bare_insert_seconds(rows: dict[str, list[dict[str, Any]]], tmp: Path) -> float:
    """The floor: median of FLOOR_REPEATS bare inserts of the rows, each into a fresh file."""
    return median([_bare_insert_once(rows, tmp / f"floor{i}") for i in range(FLOOR_REPEATS)])


def _upload_once(records: int) -> tuple[float, float, str]:
    """(upload seconds, floor seconds, '' or what went wrong) on a fresh server database."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = f"sqlite:///{tmp / 'server.sqlite3'}"
        engine = _engine(url)
        with engine.begin() as conn:
            agent = admin.add_agent(conn, name="A", communes=[COMMUNE], clock=SystemClock())
            code = devices.new_enrol_code(conn, agent_id=agent, clock=SystemClock(), valid_hours=1)
        laptop = tmp / "laptop"
        with running_server(url, tmp / "server.log") as base_url:
            ws = Workspace.open(laptop, clock=FixedClock(START))
            with SyncClient(ws) as client:
                client.enrol(base_url, code)
            _fill(ws, records // 5)
            with SyncClient(ws) as client:
                gc.collect()  # the collector stays on: the laptop runs with it
                start = time.perf_counter()
                result = client.upload()
                seconds = time.perf_counter() - start
        pending = ws.pending_sync()
        ws.close()
        ok = result.ok and result.accepted == records and pending == 0
        rows = _written_rows(engine)
        engine.dispose()
        written = sum(len(v) for k, v in rows.items() if k not in ("changes", "batches"))
        fed = len(rows["changes"])
        if ok and (written != records or fed != records):
            ok = False
        floor = _bare_insert_seconds(rows, tmp)
    check = (
        "" if ok else f"accepted {result.accepted}, pending {pending}, stored {written}, fed {fed}"
    )
    return seconds, floor, check


def end_to_end_figures(records: int, runs: int = 5) -> list[Figure]:
    """The upload `runs` times, each from a new laptop to a new server database: the worst
    ratio to its own floor is the figure, so the target holds in every run, not on average."""
    measured = [_upload_once(records) for _ in range(runs)]
    ratios = [seconds / floor for seconds, floor, _ in measured]
    worst = max(range(runs), key=lambda i: ratios[i])
    seconds, floor, _ = measured[worst]
    wrong = [check for _, _, check in measured if check]
    check = "; WRONG: " + "; ".join(wrong) if wrong else ""
    if wrong:
        seconds = float("inf")
    each = ", ".join(f"{s:.2f}/{f:.2f}" for s, f, _ in measured)
    rate = min(records / s for s, _, _ in measured) if not wrong else 0.0
    return [
        Figure(
            f"upload {records:,} records end to end (SQLite)",
            seconds,
            floor,
            "s",
            2.5,
            note=(
                f"worst of {runs} runs, fresh server each; median ratio "
                f"{median(ratios):.2f}; runs (s/floor s) {each}; floor: median of "
                f"{FLOOR_REPEATS} executemany of the rows it wrote, incl. change feed and "
                f"batches; the client's batches ({DEFAULT_BATCH_SIZE:,} records){check}"
            ),
        ),
        Figure(
            f"upload {records:,} records: throughput",
            rate,
            5000.0,
            "/s",
            1.0,
            lower_is_better=False,
            note=f"records/s, slowest of {runs} runs; floor = 5,000 records/s{check}",
        ),
    ]


# -- bytes on the wire ------------------------------------------------------------------------


def wire_bytes_figures(count: int = 500) -> list[Figure]:
    """gzip JSON bytes per visit in a batch of realistic visits, as the client sends it."""
    rng = random.Random(23)
    clock = FixedClock(START)
    with tempfile.TemporaryDirectory() as tmp_name:
        ws = Workspace.open(Path(tmp_name), clock=clock)
        ws.store.set_meta("server_device_id", ws.store.device_id)
        with ws.store.transaction():
            homes = [
                ws.households.add(
                    province_code="04", commune_code=COMMUNE, village="Bản Phố", head_name="Giàng A"
                ).id
                for _ in range(count // 5)
            ]
            for _ in range(count):
                clock.advance(minutes=rng.randint(3, 25))
                follow = rng.random() < 0.5
                ws.visits.record(
                    rng.choice(homes),
                    outcome=rng.choice(OUTCOMES),
                    topics=rng.sample(TOPICS, rng.randint(1, 2)),
                    materials=rng.sample(MATERIALS, rng.randint(0, 2)),
                    next_visit=clock.now().date() + dt.timedelta(days=14) if follow else None,
                    notes=rng.choice(NOTES),
                )
        rows = tuple(
            StoredRow(*r)
            for r in ws.store.query(
                "SELECT seq, entity, entity_id, op, hlc, data, base FROM outbox "
                "WHERE entity = 'visit' ORDER BY seq"
            )
        )
        client = SyncClient(ws)
        batch = StoredBatch(ws.store.new_id(), rows)
        body = client.batch_body(batch)
        sent = client.wire_batch(batch)
        ws.close()
    raw = len(wire.canonical_json(sent))
    return [
        Figure(
            f"gzip bytes on the wire per visit ({count} a batch)",
            len(body) / count,
            120.0,
            "B",
            1.0,
            note=f"floor = 120 B budget; JSON before gzip {raw / count:.0f} B",
        )
    ]


# -- many devices at once ---------------------------------------------------------------------


def _device_batch(device_id: str, agent_id: str, households: int) -> bytes:
    """One gzip batch of 5 records per household, stamped by this device's clock."""
    clock = HybridClock(device_id)
    now = int(START.timestamp() * 1000)
    records: list[wire.Record] = []

    def add(entity: str, data: dict[str, Any]) -> None:
        nonlocal now
        now += 1000
        records.append(
            wire.Record(
                seq=len(records) + 1,
                entity=entity,
                id=data["id"],
                op="insert",
                hlc=clock.tick(now),
                data=data,
                base=None,
            )
        )

    for _ in range(households):
        home = household(COMMUNE, head_name=HEAD)
        wife = member(home["id"])
        pledged = pledge(home["id"], wife["id"])
        add(wire.HOUSEHOLD, home)
        add(wire.MEMBER, wife)
        add(wire.VISIT, visit(home["id"], agent_id, outcome="pledged", next_visit=None))
        add(wire.PLEDGE, pledged)
        add(
            wire.PLEDGE_EVENT,
            {
                "id": str(uuid.uuid4()),
                "pledge_id": pledged["id"],
                "status": "pledged",
                "at": pledged["created_at"],
                "reason": None,
                "receipt_id": None,
            },
        )
    batch = wire.Batch(
        protocol=wire.PROTOCOL_VERSION,
        device_id=device_id,
        batch_id=str(uuid.uuid4()),
        seq_from=1,
        seq_to=len(records),
        records=records,
    )
    return wire.encode_body(batch)


def _enrol_devices(engine: Engine, count: int) -> list[tuple[str, str, str]]:
    """(device id, agent id, token) for `count` devices, two devices per agent."""
    out = []
    clock = SystemClock()
    with engine.begin() as conn:
        for index in range(count):
            if index % 2 == 0:
                agent = admin.add_agent(conn, name="Agent", communes=[COMMUNE], clock=clock)
            code = devices.new_enrol_code(conn, agent_id=agent, clock=clock, valid_hours=1)
            enrolled = devices.enrol(conn, code=code, device_name=f"d{index}", clock=clock)
            out.append((enrolled["device_id"], agent, enrolled["token"]))
    return out


async def _upload_all(
    base_url: str, uploads: list[tuple[str, bytes]], concurrency: int
) -> list[tuple[float, int, dict[str, Any] | None]]:
    """Post every (token, body) at once, at most `concurrency` in flight: (seconds, status, ack)."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:

        async def one(token: str, body: bytes) -> tuple[float, int, dict[str, Any] | None]:
            async with gate:
                start = time.perf_counter()
                response = await http.post(
                    wire.BATCHES_PATH,
                    content=body,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Encoding": "gzip",
                        "Content-Type": "application/json",
                    },
                )
                seconds = time.perf_counter() - start
                ack = response.json() if response.status_code == 200 else None
                return seconds, response.status_code, ack

        return await asyncio.gather(*(one(token, body) for token, body in uploads))


def _check_counts(engine: Engine, device_ids: list[str], records: int) -> str:
    """'' when the server holds exactly `records` records and one batch per device, else why."""
    per_entity = records // 5
    problems = []
    with engine.connect() as conn:
        for name, table in RECORD_TABLES.items():
            if name not in DEVICE_BATCH_ENTITIES:
                continue
            column = table.c.created_by if name in MERGEABLE_TABLES else table.c.device_id
            found = conn.execute(
                sa.select(sa.func.count(), sa.func.count(sa.distinct(table.c.id))).where(
                    column.in_(device_ids)
                )
            ).one()
            if tuple(found) != (per_entity, per_entity):
                problems.append(f"{name} {tuple(found)}")
        fed = conn.execute(
            sa.select(sa.func.count()).where(changes.c.origin_device_id.in_(device_ids))
        ).scalar()
        stored = conn.execute(
            sa.select(sa.func.count()).where(batches.c.device_id.in_(device_ids))
        ).scalar()
    if fed != records:
        problems.append(f"feed {fed}")
    if stored != len(device_ids):
        problems.append(f"batches {stored}")
    return ", ".join(problems)


def many_devices_figures(
    label: str, url: str, devices_count: int, concurrency: int = 50
) -> list[Figure]:
    households = 10  # 50 records a batch
    with tempfile.TemporaryDirectory() as tmp_name:
        engine = _engine(url)
        enrolled = _enrol_devices(engine, devices_count + 1)
        single_id, single_agent, single_token = enrolled.pop()
        bodies = [(token, _device_batch(d, a, households)) for d, a, token in enrolled]
        with running_server(url, Path(tmp_name) / "server.log") as base_url:
            single: list[float] = []
            for _ in range(20):
                body = _device_batch(single_id, single_agent, households)
                (seconds, status, _ack), *_ = asyncio.run(
                    _upload_all(base_url, [(single_token, body)], 1)
                )
                if status == 200:
                    single.append(seconds)
            start = time.perf_counter()
            answers = asyncio.run(_upload_all(base_url, bodies, concurrency))
            wall = time.perf_counter() - start
        latencies = [seconds for seconds, _status, _ack in answers]
        failed = sum(1 for _s, status, _ack in answers if status != 200)
        refused = sum(len(ack["refused"]) for _s, _st, ack in answers if ack is not None)
        problem = _check_counts(engine, [d for d, _a, _t in enrolled], devices_count * 50)
        engine.dispose()
    wrong = []
    if failed or refused:
        wrong.append(f"{failed} failed, {refused} refused")
    if problem:
        wrong.append(problem)
    verdict = "WRONG: " + "; ".join(wrong) if wrong else "all acknowledged, no duplicates"
    p50_single = percentile(single, 50) * 1000
    throughput = devices_count * 50 / wall
    note = (
        f"{verdict}; {concurrency} in flight, {throughput:,.0f} records/s; "
        "floor: p50 of one device alone; latency reported, no target: the requirement is "
        "every batch acknowledged once"
    )
    measured_p50 = percentile(latencies, 50) * 1000 if not wrong else float("inf")
    measured_p99 = percentile(latencies, 99) * 1000 if not wrong else float("inf")
    name = f"{devices_count} devices × 50 records ({label})"
    return [
        Figure(f"{name}: p50", measured_p50, p50_single, "ms", None, note=note),
        Figure(f"{name}: p99", measured_p99, p50_single, "ms", None, note=note),
    ]


def run(quick: bool = False) -> list[Figure]:
    """The upload end to end and bytes on the wire; many devices at once are in bench_server."""
    if quick:
        return end_to_end_figures(2_000, runs=2) + wire_bytes_figures()
    return end_to_end_figures(20_000, runs=5) + wire_bytes_figures()


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv), "fieldapp sync")
