"""A new laptop's first pull of a whole commune over a slow link that keeps dropping.

The commune's records reach the server the way an agent's laptop sends them (batches over
HTTP); a second agent's new laptop then pulls everything through the fault proxy, paced and cut
every so many bytes in the middle of a page. The pull must go on from the page it was on (its
stored cursor), never apply part of a page or a page twice, and end with the server's records.
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from fieldapp import syncstate
from sync.client import SyncClient
from sync.protocol import wire
from sync.server import ratelimit
from sync.server.schema import IMMUTABLE_TABLES, MERGEABLE_TABLES, changes, members
from tests.sync import conftest as fx
from tests.sync.client_fixtures import COMMUNE, Laptop, laptop_factory
from tests.sync.conftest import Server
from tests.sync.faultproxy import FaultProxy, Seen

MakeLaptop = Callable[[str], Laptop]

HOUSEHOLDS = 200
PAGE_SIZE = 100
# Fast enough for a test of a few seconds, slow enough that a page takes several sends.
RATE = 2_000_000
# Longer than any page's answer (pages go gzip-compressed, about 7 kB here), so every cut page
# gets through next time.
CUT_EVERY = 10_000
TABLES = {**MERGEABLE_TABLES, **IMMUTABLE_TABLES}
ENTITIES = ("household", "member", "visit", "pledge", "pledge_event", "receipt")
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Lò", "Hà", "Nông"]
MIDDLE = ["Văn", "Thị", "Đức", "Ngọc", "Minh", "Thu", "Hữu"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Hương", "Hạnh", "Lụa", "Tuấn", "Thắm", "Sử", "Ích"]


@pytest.fixture(autouse=True)
def _no_request_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server here takes requests as fast as they come. The pulls follow one another as
    fast as the link allows, the more so with every cut, and the per-device limit (10 a second,
    bursts of 30) answered one of them 429 on a fast run: the client waits and asks again, as
    it should, but that retry is not what these checks count (a sync's three tries, the page
    asked after each answer). The limit has its own tests (test_ratelimit_shared.py)."""
    monkeypatch.setenv(ratelimit.ENV, "off")


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    yield from laptop_factory(server, tmp_path)


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"


def _seed_commune(server: Server, agent: str, households: int, seed: int = 5) -> int:
    """The commune as the agent's old laptop sent it: per household 4 members, a visit, and for
    most a pledge with its event, for some a receipt and the pledge's paid event. Returns how
    many records the server took."""
    rng = random.Random(seed)
    book = server.add_book(agent, "AA/26", 1, households)
    device = server.laptop(agent, "máy cũ")
    taken, number = 0, 0
    for start in range(0, households, 25):
        records: list[wire.Record] = []
        for _ in range(start, min(households, start + 25)):
            head = _name(rng)
            home = fx.household(COMMUNE, head_name=head, village=f"Bản {rng.choice(GIVEN)}")
            records.append(device.record(wire.HOUSEHOLD, home))
            people = [
                fx.member(home["id"], full_name=name, cccd=f"0041{rng.randrange(10**8):08d}")
                for name in (head, *(_name(rng) for _ in range(3)))
            ]
            records += [device.record(wire.MEMBER, person) for person in people]
            records.append(device.record(wire.VISIT, fx.visit(home["id"], agent)))
            if rng.random() < 0.2:
                continue
            pledge = fx.pledge(home["id"], people[0]["id"])
            records.append(device.record(wire.PLEDGE, pledge))
            records.append(device.record(wire.PLEDGE_EVENT, _event(pledge["id"], "pledged")))
            if rng.random() < 0.5:
                number += 1
                paid = fx.receipt(home["id"], book, number, pledge_ids=[pledge["id"]])
                records.append(device.record(wire.RECEIPT, paid))
                records.append(
                    device.record(wire.PLEDGE_EVENT, _event(pledge["id"], "paid", paid["id"]))
                )
        ack = device.send(*records)
        assert ack["refused"] == []
        taken += len(ack["accepted"])
    return taken


def _event(pledge_id: str, status: str, receipt_id: str | None = None) -> dict[str, Any]:
    return {
        "id": fx.new_id(),
        "pledge_id": pledge_id,
        "status": status,
        "at": "2026-11-23T08:20:00.000Z",
        "reason": None,
        "receipt_id": receipt_id,
    }


def _since(path: str) -> int:
    return int(parse_qs(urlsplit(path).query).get("since", ["0"])[0])


def _pulls(proxy: FaultProxy) -> list[Seen]:
    return [s for s in proxy.seen if s.path.startswith(wire.CHANGES_PATH)]


def _cursor(seen: Seen) -> int:
    answer = seen.answers[-1]  # change-feed pages come gzip-compressed
    return int(
        json.loads(gzip.decompress(answer) if answer[:2] == b"\x1f\x8b" else answer)["cursor"]
    )


def _check_resumes(pulls: Sequence[Seen]) -> None:
    """After a cut the same page is asked for again; after a whole page, the page after it."""
    for before, after in itertools.pairwise(pulls):
        if before.cut:
            assert _since(after.path) == _since(before.path), "a cut page is asked for again"
        else:
            assert before.statuses == [200]
            assert _since(after.path) == _cursor(before), "a whole page moves the cursor on"


def _check_same_records(server: Server, laptop: Laptop) -> None:
    """The laptop holds exactly the commune's records of the server, names as written."""
    with server.engine.connect() as conn:
        for entity in ENTITIES:
            table = TABLES[entity]
            on_server = {str(r[0]) for r in conn.execute(sa.select(table.c.id))}
            local = {str(r[0]) for r in laptop.ws.store.query(f"SELECT id FROM {entity}")}
            assert local == on_server, entity
        names = {str(r.id): r.data["full_name"] for r in conn.execute(sa.select(members))}
    local_names = {
        str(r["id"]): str(r["full_name"])
        for r in laptop.ws.store.query("SELECT id, full_name FROM member")
    }
    assert local_names == names


def _feed_head(server: Server) -> int:
    with server.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(changes.c.cursor))).scalar() or 0)


def _feed_size(server: Server) -> int:
    """Every change in the feed: all of them are in the new laptop's scope (records of the
    agent's commune, the agent's assignment and receipt book)."""
    with server.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(changes)).scalar() or 0)


def _new_laptop(server: Server, laptops: MakeLaptop) -> tuple[Laptop, int]:
    """The commune's history on the server, and a new laptop enrolled for the agent who made
    it (a replacement laptop: the agent's receipt book comes down too, so every receipt
    applies; another agent's laptop would skip the receipts of a book it does not hold)."""
    agent = server.add_agent("Hoàng Thị Lụa", [COMMUNE])
    records = _seed_commune(server, agent, HOUSEHOLDS)
    laptop = laptops("new")
    laptop.enrol(agent)
    assert _feed_size(server) > records
    return laptop, records


def _options(seed: int, **extra: Any) -> dict[str, Any]:
    return {
        "timeout": 5.0,
        "backoff": 0.01,
        "max_backoff": 0.05,
        "random": random.Random(seed).random,
        "page_size": PAGE_SIZE,
        **extra,
    }


def _count_pages(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(changes, new cursor) of every page the laptop applies."""
    applied: list[tuple[int, int]] = []
    apply_page = syncstate.apply_page

    def counting(store: Any, page: Any, *, new_cursor: int, **kw: Any) -> Any:
        applied.append((len(page), new_cursor))
        return apply_page(store, page, new_cursor=new_cursor, **kw)

    monkeypatch.setattr(syncstate, "apply_page", counting)
    return applied


def test_first_sync_resumes_after_every_cut(
    server: Server, laptops: MakeLaptop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut every 10 kB of answers: each cut page is asked for again from the same cursor,
    each whole page applied once, and the laptop ends with the server's records."""
    laptop, _records = _new_laptop(server, laptops)
    applied = _count_pages(monkeypatch)

    with FaultProxy(
        server.base_url,
        seed=1,
        weights={},
        fault_paths=(wire.CHANGES_PATH,),
        rate=RATE,
        cut_every=CUT_EVERY,
    ) as proxy:
        result = laptop.sync(**_options(3, server_url=proxy.base_url))
    assert result.ok, result.as_dict()

    pulls = _pulls(proxy)
    cut = [s for s in pulls if s.cut]
    whole = [s for s in pulls if not s.cut]
    assert proxy.cuts == len(cut) >= 5, proxy.counts
    assert _since(pulls[0].path) == 0 and [_since(s.path) for s in pulls].count(0) <= 2
    _check_resumes(pulls)
    # Every whole answer applied once, in order, and nothing of a cut one.
    assert [cursor for _n, cursor in applied] == [_cursor(s) for s in whole]
    assert len({cursor for _n, cursor in applied}) == len(applied)
    assert sum(n for n, _c in applied) == result.pulled == _feed_size(server)
    assert result.skipped == 0
    assert syncstate.cursor(laptop.ws.store) == _feed_head(server)
    _check_same_records(server, laptop)
    # What the pull cost on the wire against what it needed.
    needed = sum(s.delivered for s in whole)
    wasted = sum(s.delivered for s in cut)
    assert proxy.down.bytes == needed + wasted
    assert wasted < len(cut) * max(len(s.answers[-1]) for s in pulls)


def test_a_pull_that_gives_up_goes_on_from_its_cursor_next_time(
    server: Server, laptops: MakeLaptop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six cuts close together make the client give up on a page (3 tries a sync); each next
    sync starts from the cursor of the last whole page, not from zero, and the pull finishes."""
    laptop, _records = _new_laptop(server, laptops)
    applied = _count_pages(monkeypatch)
    # The link drops six times close together, about a third of the way in.
    burst = [30_000 + 300 * i for i in range(6)]

    runs: list[tuple[int, int, bool, int]] = []  # cursor before, requests before, ok, pulled
    with FaultProxy(
        server.base_url,
        seed=2,
        weights={},
        fault_paths=(wire.CHANGES_PATH,),
        rate=RATE,
        cut_every=CUT_EVERY,
        cut_at=burst,
    ) as proxy:
        options = _options(4, server_url=proxy.base_url, max_attempts=3)
        for _ in range(5):
            before = (syncstate.cursor(laptop.ws.store), len(_pulls(proxy)))
            result = laptop.sync(**options)
            runs.append((*before, result.ok, result.pulled))
            assert result.skipped == 0
            if result.ok:
                break
            assert [e.code for e in result.errors] == ["network"]
    assert runs[-1][2], runs
    gave_up = [run for run in runs if not run[2]]
    assert gave_up, "the burst of cuts made the client give up"
    assert 0 < runs[1][0] < _feed_head(server)

    pulls = _pulls(proxy)
    for cursor, asked, _ok, _pulled in runs:
        assert _since(pulls[asked].path) == cursor, "each sync starts at the stored cursor"
    # A sync that gave up did so after its three tries at one page were all cut.
    for (_c, asked, ok, _p), (_c2, next_asked, _ok2, _p2) in itertools.pairwise(runs):
        assert not ok and all(s.cut for s in pulls[next_asked - 3 : next_asked])
        _check_resumes(pulls[asked:next_asked])
    _check_resumes(pulls[runs[-1][1] :])
    whole = [s for s in pulls if not s.cut]
    assert [cursor for _n, cursor in applied] == [_cursor(s) for s in whole]
    assert sum(run[3] for run in runs) == _feed_size(server)
    assert syncstate.cursor(laptop.ws.store) == _feed_head(server)
    _check_same_records(server, laptop)


def test_the_next_page_arrives_while_a_page_is_applied(
    server: Server, laptops: MakeLaptop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The laptop asks for the next page before it applies the one it has, so on a slow link
    its own work hides behind the transfer: while each page but the last is being applied,
    the next one is fetched. Each page is still applied once, in order, and the laptop ends
    with the server's records."""
    laptop, _records = _new_laptop(server, laptops)
    lock = threading.Lock()
    fetched: dict[int, threading.Event] = {}  # cursor asked from -> its page has come

    def arrived(since: int) -> threading.Event:
        with lock:
            return fetched.setdefault(since, threading.Event())

    fetch_page = SyncClient._fetch_page

    def fetching(client: SyncClient, since: int, headers: dict[str, str]) -> Any:
        page = fetch_page(client, since, headers)
        arrived(since).set()
        return page

    applied: list[tuple[int, bool]] = []  # (new cursor, the next page came meanwhile)
    apply_page = syncstate.apply_page
    head = _feed_head(server)

    def applying(store: Any, page: Any, *, new_cursor: int, **kw: Any) -> Any:
        outcome = apply_page(store, page, new_cursor=new_cursor, **kw)
        # Sequential fetching would ask for the next page only after this returns: waiting
        # here would then time out (once: after a miss, the rest are not waited for).
        missed = any(not came for _cursor, came in applied)
        came = new_cursor == head or arrived(new_cursor).wait(0 if missed else 10)
        applied.append((new_cursor, came))
        return outcome

    monkeypatch.setattr(SyncClient, "_fetch_page", fetching)
    monkeypatch.setattr(syncstate, "apply_page", applying)
    result = laptop.sync(**_options(5))

    assert result.ok, result.as_dict()
    assert len(applied) > 5
    assert [came for _cursor, came in applied] == [True] * len(applied)
    cursors = [cursor for cursor, _came in applied]
    assert cursors == sorted(set(cursors)) and cursors[-1] == head
    assert result.pulled == _feed_size(server)
    _check_same_records(server, laptop)
