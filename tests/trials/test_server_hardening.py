"""Server hardening: per-device rate limits on upload and pull; enrolment codes hashed, expiring."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sync.protocol import wire
from sync.protocol.clock import FixedClock
from sync.server.app import create_app
from sync.server.ratelimit import RateLimited, RateLimiter
from sync.server.schema import open_engine
from tests.sync.client_fixtures import COMMUNE
from tests.sync.client_fixtures import Laptop as ClientLaptop
from tests.sync.conftest import START, Server, household, serving


class FakeTime:
    """A monotonic clock that moves only when something sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    """Time for the limiter, moved by hand."""
    return FakeTime()


@pytest.fixture
def limited(tmp_path: Path, fake_time: FakeTime) -> Iterator[Server]:
    """The real server with a tight limit: 1 request a second, bursts of 3."""
    engine = open_engine(f"sqlite:///{tmp_path / 'server.sqlite3'}")
    clock = FixedClock(START)
    app = create_app(engine, clock=clock, rate_limit=RateLimiter(1, 3, monotonic=fake_time))
    with serving(app, engine, clock, "sqlite") as running:
        yield running


def test_bucket_allows_a_burst_then_one_per_interval(fake_time: FakeTime) -> None:
    """A full bucket takes `burst` requests, then one per 1/rate seconds; keys are separate."""
    limiter = RateLimiter(2, 3, monotonic=fake_time)
    assert [limiter.wait_needed("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.wait_needed("a") == pytest.approx(0.5)
    assert limiter.wait_needed("b") == 0
    fake_time.now += 0.5
    assert limiter.wait_needed("a") == 0
    fake_time.now += 3600
    assert [limiter.wait_needed("a") for _ in range(4)][-1] > 0  # refills to the burst only
    with pytest.raises(RateLimited) as caught:
        limiter.check("a")
    assert caught.value.status == 429 and caught.value.retry_after >= 1


def test_limits_come_from_the_environment() -> None:
    """RATE/BURST, RATE alone, "off", and a clear error for nonsense."""
    assert (RateLimiter.from_env({}).rate, RateLimiter.from_env({}).burst) == (10, 30)
    custom = RateLimiter.from_env({"FIELDAPP_SERVER_RATE_LIMIT": "2.5/7"})
    assert (custom.rate, custom.burst) == (2.5, 7)
    assert RateLimiter.from_env({"FIELDAPP_SERVER_RATE_LIMIT": "4"}).burst == 12
    off = RateLimiter.from_env({"FIELDAPP_SERVER_RATE_LIMIT": "off"})
    assert not off.enabled and all(off.wait_needed("a") == 0 for _ in range(1000))
    with pytest.raises(ValueError, match="FIELDAPP_SERVER_RATE_LIMIT"):
        RateLimiter.from_env({"FIELDAPP_SERVER_RATE_LIMIT": "fast"})


def test_upload_and_pull_get_429_with_retry_after_per_device(
    limited: Server, fake_time: FakeTime
) -> None:
    """The fourth request of a device in a second is 429 + Retry-After; others go on."""
    agent = limited.add_agent("A", [COMMUNE])
    busy, quiet = limited.laptop(agent, "busy"), limited.laptop(agent, "quiet")
    statuses = [busy.http.get(wire.CHANGES_PATH).status_code for _ in range(3)]
    home = household(COMMUNE)
    refused = busy.upload(busy.batch([busy.record("household", home)]))
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["code"] == "rate_limited"
    assert limited.count("households") == 0  # nothing applied
    assert quiet.http.get(wire.CHANGES_PATH).status_code == 200
    with limited.http() as anonymous:  # health and enrolment are not counted per device
        assert all(anonymous.get(wire.HEALTH_PATH).status_code == 200 for _ in range(10))
    fake_time.now += 1
    assert busy.upload(busy.batch([busy.record("household", home)])).status_code == 200


def test_sync_client_waits_out_the_limit_and_finishes(
    limited: Server, fake_time: FakeTime, tmp_path: Path
) -> None:
    """A laptop with many batches is slowed by 429s, waits as told, and sends everything once."""
    laptop = ClientLaptop(limited, tmp_path / "a")
    try:
        laptop.enrol(limited.add_agent("A", [COMMUNE]))
        for n in range(12):
            laptop.add_household(head=f"Lò Văn {chr(65 + n)}")
        result = laptop.sync(batch_size=2, sleep=fake_time.sleep, max_attempts=10)
        assert result.ok, result.as_dict()
        assert laptop.pending() == 0
        assert limited.count("households") == 12
        assert any(s >= 1 for s in fake_time.slept)  # Retry-After was honoured
    finally:
        laptop.ws.close()


def test_enrol_codes_are_stored_only_as_hashes_and_expire(limited: Server) -> None:
    """The code is kept as its SHA-256 only; one second after expiry it no longer works."""
    agent = limited.add_agent("A", [COMMUNE])
    code = limited.enrol_code(agent, valid_hours=1)
    late = limited.enrol_code(agent, valid_hours=1)
    with limited.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM enrol_codes"))]
    stored = " ".join(str(v) for row in rows for v in row.values())
    assert code not in stored and late not in stored
    assert hashlib.sha256(code.encode()).hexdigest() in stored
    limited.clock.advance(minutes=59, seconds=59)
    with limited.http() as client:
        ok = client.post(wire.ENROL_PATH, json={"code": code, "device_name": "a"})
        limited.clock.advance(seconds=1)
        expired = client.post(wire.ENROL_PATH, json={"code": late, "device_name": "b"})
    assert ok.status_code == 200
    assert expired.status_code == 403 and expired.json()["code"] == "enrol_code_expired"
