"""Core store figures: search over 100,000 members, and recording a visit with its outbox row."""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from common import Figure, cached_demo_store, percentile, print_table

from fieldapp.search import match_expression
from fieldapp.workspace import Workspace
from sync.protocol.clock import SystemClock

QUERIES = [
    "nguyen thi huong",
    "giang seo",
    "dang van duc",
    "hoa",
    "lo thi",
    "trieu",
    "sung thi my",
    "010",
    "0101",
    "hoang van thang",
    "nam khanh",
    "ban pho",
    "vu quoc viet",
    "tran",
    "thao mi sua",
    "lo van",
]
ROUNDS = 15


def search_figures(households: int) -> list[Figure]:
    path = cached_demo_store(households)
    ws = Workspace.open(path.parent, clock=SystemClock())
    members = ws.members.count()
    bare = sqlite3.connect(path)
    ours: list[float] = []
    floor: list[float] = []
    for _ in range(ROUNDS):
        for text in QUERIES:
            expression = match_expression(text)
            start = time.perf_counter()
            bare.execute(
                "SELECT rowid, body, member_id, household_id FROM search_index "
                "WHERE search_index MATCH ? ORDER BY rank LIMIT 50",
                (expression,),
            ).fetchall()
            floor.append(time.perf_counter() - start)
            start = time.perf_counter()
            ws.search.find(text, limit=50)
            ours.append(time.perf_counter() - start)
    ws.close()
    bare.close()
    label = f"search, {members:,} members"
    return [
        Figure(
            f"{label}: p50", percentile(ours, 50) * 1000, percentile(floor, 50) * 1000, "ms", 2.0
        ),
        Figure(
            f"{label}: p95", percentile(ours, 95) * 1000, percentile(floor, 95) * 1000, "ms", 2.0
        ),
    ]


def visit_figures(count: int = 300) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(Path(tmp) / "ours", clock=SystemClock())
        household = ws.households.add(
            province_code="15", commune_code="99001", village="Bản Phố", head_name="Giàng Seo Sử"
        )
        start = time.perf_counter()
        for i in range(count):
            ws.visits.record(
                household.id,
                outcome="consulted",
                topics=["BHYT hộ gia đình"],
                materials=["Tờ rơi BHYT"],
                next_visit=dt.date.today() + dt.timedelta(days=30),
                notes=f"lần {i}",
            )
        ours = (time.perf_counter() - start) / count
        ws.close()

        # The floor: the same visit row inserted bare into a store with the same schema and
        # durability settings, one commit per row — what any durable capture must pay.
        Workspace.open(Path(tmp) / "bare", clock=SystemClock()).close()
        conn = sqlite3.connect(Path(tmp) / "bare" / "fieldapp.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(
            "INSERT INTO household (id, province_code, commune_code, village, head_name, "
            "created_at, updated_at) VALUES ('h', '15', '99001', 'Bản Phố', 'A', '', '')"
        )
        start = time.perf_counter()
        for i in range(count):
            conn.execute("BEGIN")
            conn.execute(
                "INSERT INTO visit (id, household_id, agent_id, at, outcome, topics, materials, "
                "next_visit, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    f"id-{i}",
                    "h",
                    "a",
                    "2026-11-23T03:00:00.000Z",
                    "consulted",
                    '["BHYT hộ gia đình"]',
                    '["Tờ rơi BHYT"]',
                    "2026-12-23",
                    f"lần {i}",
                ),
            )
            conn.execute("COMMIT")
        floor = (time.perf_counter() - start) / count
        conn.close()
    return [
        Figure("record a visit + outbox (durable commit)", ours * 1000, floor * 1000, "ms", 1.5)
    ]


def run(quick: bool = False) -> list[Figure]:
    households = 2_500 if quick else 25_000
    return search_figures(households) + visit_figures(100 if quick else 300)


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv), "fieldapp core store")
