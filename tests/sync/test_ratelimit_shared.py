"""Per-device rate limits held in the database: two servers over one database share a device's
bucket, and concurrent requests never take more tokens than the bucket holds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import sqlalchemy as sa

from sync.protocol import wire
from sync.protocol.clock import FixedClock
from sync.server.app import create_app
from sync.server.ratelimit import RateLimiter
from sync.server.schema import migrate, open_engine, rate_buckets
from tests.sync.client_fixtures import COMMUNE
from tests.sync.conftest import START, Server, serving


class FakeTime:
    """Seconds that move only when the test moves them."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def two_servers(database_url: str) -> Iterator[tuple[Server, Server, FakeTime]]:
    """Two apps, each with its own engine and its own limiter (1 a second, bursts of 3), over
    one database, as two workers or two machines behind a proxy are."""
    fake = FakeTime()
    clock = FixedClock(START)
    with ExitStack() as stack:
        running = []
        for _ in range(2):
            engine = open_engine(database_url)
            limiter = RateLimiter(1, 3, now=fake)
            app = create_app(engine, clock=clock, rate_limit=limiter)
            running.append(stack.enter_context(serving(app, engine, clock, database_url)))
        yield running[0], running[1], fake


def test_two_servers_share_one_devices_limit(
    two_servers: tuple[Server, Server, FakeTime],
) -> None:
    """A device's burst is spent across both servers: the fourth request, on either, is 429;
    another device is not touched; a second later each server lets one more through."""
    first, second, fake = two_servers
    agent = first.add_agent("A", [COMMUNE])
    busy, quiet = first.laptop(agent, "busy"), first.laptop(agent, "quiet")
    with second.http(headers={"Authorization": f"Bearer {busy.token}"}) as other:
        statuses = [
            busy.http.get(wire.CHANGES_PATH).status_code,
            other.get(wire.CHANGES_PATH).status_code,
            busy.http.get(wire.CHANGES_PATH).status_code,
            other.get(wire.CHANGES_PATH).status_code,
            busy.http.get(wire.CHANGES_PATH).status_code,
        ]
        assert statuses == [200, 200, 200, 429, 429]
        refused = other.get(wire.CHANGES_PATH)
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["code"] == "rate_limited"
        assert quiet.http.get(wire.CHANGES_PATH).status_code == 200
        fake.now += 1
        assert other.get(wire.CHANGES_PATH).status_code == 200
        assert busy.http.get(wire.CHANGES_PATH).status_code == 429
    assert first.count("rate_buckets") == 2  # one row per device


def test_concurrent_takes_never_exceed_the_burst(database_url: str) -> None:
    """Forty requests at once through two engines, with a burst of 5 and almost no refill:
    exactly five go ahead, whatever the interleaving (one atomic statement per request)."""
    engines = [open_engine(database_url) for _ in range(2)]
    migrate(engines[0])
    limiters = [RateLimiter(0.0001, 5) for _ in range(2)]
    start = threading.Barrier(40)
    waits: list[float] = []
    lock = threading.Lock()

    def one(index: int) -> None:
        start.wait()
        with engines[index % 2].begin() as conn:
            wait = limiters[index % 2].wait_needed("device-1", conn)
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert len(waits) == 40
        assert sum(1 for wait in waits if wait == 0) == 5
        with engines[0].connect() as conn:
            tokens = conn.execute(sa.select(rate_buckets.c.tokens)).scalar_one()
        assert 0 <= tokens < 1
    finally:
        for engine in engines:
            engine.dispose()


def test_off_takes_nothing_from_the_database(database_url: str) -> None:
    """With the limit off no bucket is written."""
    engine = open_engine(database_url)
    migrate(engine)
    off = RateLimiter.from_env({"FIELDAPP_SERVER_RATE_LIMIT": "off"})
    with engine.begin() as conn:
        assert all(off.wait_needed("device-1", conn) == 0 for _ in range(100))
        assert conn.execute(sa.select(sa.func.count()).select_from(rate_buckets)).scalar() == 0
    engine.dispose()


def test_a_clock_stepping_back_adds_no_tokens(database_url: str) -> None:
    """A server whose clock is behind another's neither refills nor moves the bucket back."""
    engine = open_engine(database_url)
    migrate(engine)
    fake = FakeTime()
    ahead, behind = RateLimiter(1, 2, now=fake), RateLimiter(1, 2, now=lambda: fake.now - 50)
    with engine.begin() as conn:
        assert [ahead.wait_needed("d", conn) for _ in range(2)] == [0, 0]
        assert behind.wait_needed("d", conn) == pytest.approx(1)
        assert ahead.wait_needed("d", conn) == pytest.approx(1)
        fake.now += 1
        assert ahead.wait_needed("d", conn) == 0
    engine.dispose()
