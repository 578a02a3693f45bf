"""Sync through a faulty network: cuts, gateway errors, slow answers and duplicated requests."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from fieldapp import syncstate
from sync.protocol import wire
from sync.server import feed
from sync.server.schema import IMMUTABLE_TABLES, MERGEABLE_TABLES, batches, changes
from tests.sync import conftest as fx
from tests.sync.client_fixtures import COMMUNE, Laptop, laptop_factory, server_counts
from tests.sync.conftest import Server
from tests.sync.faultproxy import (
    BAD_GATEWAY,
    CUT_REQUEST,
    CUT_RESPONSE,
    DUPLICATE,
    FAULTS,
    PASS,
    SLOW,
    UNAVAILABLE,
    FaultProxy,
)

MakeLaptop = Callable[[str], Laptop]

FAULT_MIX = {
    PASS: 40,
    CUT_REQUEST: 10,
    CUT_RESPONSE: 10,
    BAD_GATEWAY: 8,
    UNAVAILABLE: 8,
    SLOW: 8,
    DUPLICATE: 16,
}
# Every fault once at the start, then the mix at random.
OPENING = (CUT_REQUEST, DUPLICATE, CUT_RESPONSE, BAD_GATEWAY, SLOW, UNAVAILABLE, PASS)
# The client gives up on an answer after CLIENT_TIMEOUT; the proxy holds slow answers longer.
CLIENT_TIMEOUT = 2.0
SLOW_SECONDS = 2.5
# A page of the change feed is small and quick: the pull can give up sooner.
PULL_TIMEOUT = 0.75
PULL_SLOW_SECONDS = 1.0
MAX_ROUNDS = 60
TABLES = {**MERGEABLE_TABLES, **IMMUTABLE_TABLES}


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    """Laptops by name, each on its own store file, talking to the real server."""
    yield from laptop_factory(server, tmp_path)


def _client_options(seed: int, **extra: Any) -> dict[str, Any]:
    """Small timeouts and backoff, so faults cost little time; seeded jitter."""
    return {
        "timeout": CLIENT_TIMEOUT,
        "max_attempts": 4,
        "backoff": 0.01,
        "max_backoff": 0.05,
        "random": random.Random(seed).random,
        **extra,
    }


def _fill_fast(laptop: Laptop, households: int) -> None:
    """Households with a member, a visit and a pledge (plus its event): five outbox rows each."""
    ws = laptop.ws
    with ws.store.transaction():
        for _ in range(households):
            home = laptop.add_household()
            wife = ws.members.add(home, full_name="Lò Thị Hương", relation="vợ", sex="female")
            ws.visits.record(home, outcome="pledged", topics=["bhyt_household"])
            ws.pledges.pledge_bhyt_household(
                home, member_ids=[wife.id], months=12, start=dt.date(2026, 12, 1)
            )


def _outbox_ids(laptop: Laptop) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in laptop.ws.store.query("SELECT entity, entity_id FROM outbox"):
        out.setdefault(str(row["entity"]), set()).add(str(row["entity_id"]))
    return out


def _server_ids(server: Server, entity: str) -> list[str]:
    table = TABLES[entity]
    with server.engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(sa.select(table.c.id))]


def _local_ids(laptop: Laptop, entity: str) -> list[str]:
    return [str(r[0]) for r in laptop.ws.store.query(f"SELECT id FROM {entity}")]


def _batch_id(body: bytes) -> str:
    return str(json.loads(gzip.decompress(body))["batch_id"])


def test_upload_through_faults_lands_every_record_exactly_once(
    server: Server, laptops: MakeLaptop
) -> None:
    """10,000 records through cuts, 5xx, timeouts and duplicates: one copy each on the server."""
    a = laptops("a")
    a.enrol(server.add_agent("Trần Thị Bình", [COMMUNE]))
    _fill_fast(a, 2000)
    outbox = _outbox_ids(a)
    total = sum(len(ids) for ids in outbox.values())
    assert a.pending() == total

    with FaultProxy(
        server.base_url,
        seed=20261123,
        weights=FAULT_MIX,
        fault_paths=(wire.BATCHES_PATH, wire.CHANGES_PATH),
        opening=OPENING,
        slow_seconds=SLOW_SECONDS,
    ) as proxy:
        options = _client_options(7, server_url=proxy.base_url, batch_size=500)
        for _ in range(MAX_ROUNDS):
            a.sync(**options)
            if a.pending() == 0:
                break
    assert a.pending() == 0, f"still pending after {MAX_ROUNDS} rounds: {proxy.counts}"
    for kind in FAULTS:
        assert proxy.counts[kind] > 0, f"{kind} never happened: {proxy.counts}"

    status = a.client().status()
    assert (status.pending, status.refused) == (0, [])
    assert syncstate.refused_records(a.ws.store) == []
    counts = server_counts(server)
    for entity, ids in outbox.items():
        on_server = _server_ids(server, entity)
        assert len(on_server) == len(set(on_server)) == len(ids), entity
        assert set(on_server) == ids, f"{entity}: missing {len(ids - set(on_server))}"
        assert counts[entity] == len(_local_ids(a, entity)) == len(ids), entity
    assert counts["open_conflicts"] == 0

    with server.engine.connect() as conn:
        fed = conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(changes.c.entity_id))).where(
                changes.c.origin_device_id == a.ws.store.meta("server_device_id")
            )
        ).one()
        acks = [row.ack for row in conn.execute(sa.select(batches.c.ack))]
    assert tuple(fed) == (total, total), "every record enters the change feed once"
    assert all(ack["refused"] == [] for ack in acks)
    assert sum(len(ack["accepted"]) for ack in acks) == total

    sent = {
        str(r[0])
        for r in a.ws.store.query("SELECT DISTINCT batch_id FROM outbox WHERE batch_id IS NOT NULL")
    }
    assert {ack["batch_id"] for ack in acks} == sent
    assert len(acks) == len(sent)
    posted = {_batch_id(s.body) for s in proxy.seen if s.path == wire.BATCHES_PATH}
    assert sent <= posted
    # Both copies of a duplicated upload got the same acknowledgement.
    twins = [
        s
        for s in proxy.seen
        if s.fault == DUPLICATE and s.path == wire.BATCHES_PATH and s.statuses == [200, 200]
    ]
    assert twins, "no duplicated upload reached the server twice"
    for seen in twins:
        first, second = (_json(answer) for answer in seen.answers)
        assert first == second


def _json(answer: bytes) -> Any:
    """An answer's JSON as the proxy saw it: change-feed pages come gzip-compressed."""
    return json.loads(gzip.decompress(answer) if answer[:2] == b"\x1f\x8b" else answer)


def _since(path: str) -> int:
    return int(parse_qs(urlsplit(path).query).get("since", ["0"])[0])


def _visible_changes(server: Server, agent_id: str, device_id: str) -> int:
    """How many feed entries this device may pull, read page by page as the API does."""
    seen, since = 0, 0
    with server.engine.connect() as conn:
        for _ in range(10_000):
            page = feed.page(conn, agent_id=agent_id, device_id=device_id, since=since, limit=1000)
            seen += len(page["changes"])
            since = page["cursor"]
            if not page["more"]:
                return seen
    raise AssertionError("the feed never ended")


def _writer(server: Server, agent_id: str, batches_to_send: int, done: threading.Event) -> None:
    """Another agent's device posting batches straight to the server while A pulls."""
    device = server.laptop(agent_id, "c")
    try:
        for _ in range(batches_to_send):
            records = []
            for _ in range(10):
                home = fx.household(COMMUNE, head_name="Hoàng Văn Em")
                records.append(device.record(wire.HOUSEHOLD, home))
                records.append(device.record(wire.MEMBER, fx.member(home["id"])))
                records.append(device.record(wire.VISIT, fx.visit(home["id"], agent_id)))
            ack = device.send(*records)
            assert ack["refused"] == []
            time.sleep(0.02)
    finally:
        done.set()


def test_pull_through_faults_brings_each_change_once(server: Server, laptops: MakeLaptop) -> None:
    """B's records, and C's arriving mid-pull, reach A once each; A's cursor never skips."""
    a, b = laptops("a"), laptops("b")
    agent_a = server.add_agent("Trần Thị Bình", [COMMUNE])
    a.enrol(agent_a)
    b.enrol(server.add_agent("Lê Văn Cường", [COMMUNE]))
    agent_c = server.add_agent("Phạm Thị Dung", [COMMUNE])
    writer_done = threading.Event()
    writer = threading.Thread(target=_writer, args=(server, agent_c, 12, writer_done))

    pulled = 0
    with FaultProxy(
        server.base_url,
        seed=4242,
        weights=FAULT_MIX,
        fault_paths=(wire.CHANGES_PATH,),
        opening=OPENING,
        slow_seconds=PULL_SLOW_SECONDS,
    ) as proxy:
        options = _client_options(11, server_url=proxy.base_url, page_size=37, timeout=PULL_TIMEOUT)
        writer.start()
        for _ in range(6):
            _fill_fast(b, 40)
            assert b.sync().ok
            result = a.sync(**options)
            pulled += result.pulled + result.skipped
        writer.join(60)
        assert writer_done.is_set() and not writer.is_alive()
        for _ in range(MAX_ROUNDS):
            result = a.sync(**options)
            pulled += result.pulled + result.skipped
            if result.ok:
                break
        assert result.ok, result.as_dict()
    for kind in (CUT_REQUEST, CUT_RESPONSE, BAD_GATEWAY, UNAVAILABLE, SLOW, DUPLICATE):
        assert proxy.counts[kind] > 0, f"{kind} never happened: {proxy.counts}"

    device_a = str(a.ws.store.meta("server_device_id"))
    for entity in ("household", "member", "visit", "pledge", "pledge_event"):
        local, on_server = _local_ids(a, entity), _server_ids(server, entity)
        assert sorted(local) == sorted(on_server), entity
    counts = server_counts(server)
    assert counts["household"] == 6 * 40 + 12 * 10
    assert a.pending() == 0 and a.ws.store.scalar("SELECT count(*) FROM outbox") == 0
    # Each page was applied once: nothing re-applied after a lost answer, nothing left out.
    assert pulled == _visible_changes(server, agent_a, device_a)
    with server.engine.connect() as conn:
        head = conn.execute(sa.select(sa.func.max(changes.c.cursor))).scalar()
    assert syncstate.cursor(a.ws.store) == head

    # The cursor only moves forward, and only to a cursor the server handed out.
    asked = [_since(s.path) for s in proxy.seen if s.path.startswith(wire.CHANGES_PATH)]
    assert asked == sorted(asked)
    handed_out = {0}
    for seen in proxy.seen:
        for status, answer in zip(seen.statuses, seen.answers, strict=True):
            if status == 200 and seen.path.startswith(wire.CHANGES_PATH):
                handed_out.add(int(_json(answer)["cursor"]))
    assert set(asked) <= handed_out
