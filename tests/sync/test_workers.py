"""`fieldapp-server run --workers N` on PostgreSQL: the same batch posted many times at once, on
separate connections that different workers take, is applied exactly once; a device's request
limit holds across the workers; TLS works with workers; SQLite refuses more than one worker."""

from __future__ import annotations

import gc
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sync.protocol import wire
from sync.protocol.clock import SystemClock
from sync.protocol.hlc import HybridClock
from sync.server import admin, devices
from sync.server.cli import main as server_main
from sync.server.schema import migrate, open_engine
from tests.sync.client_fixtures import COMMUNE
from tests.sync.conftest import PG_URL, START, household, member, pledge, visit
from tests.sync.test_tls import make_tls

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema of its own, dropped afterwards."""
    if not PG_URL:
        pytest.skip("FIELDAPP_TEST_PG_URL is not set: PostgreSQL tests need a real server")
    schema = f"fieldapp_workers_{uuid.uuid4().hex[:12]}"
    admin_engine = sa.create_engine(PG_URL)
    with admin_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin_engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin_engine.dispose()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def workers(
    url: str, count: int, tmp_path: Path, *options: str, scheme: str = "http", **env: str
) -> Iterator[str]:
    """`fieldapp-server --database-url URL run --workers COUNT` on 127.0.0.1; yields its base
    URL once every worker has started. The process is stopped by its own id."""
    port = _free_port()
    log = tmp_path / f"server-{port}.log"
    command = [sys.executable, "-m", "sync.server.cli", "--database-url", url, "run"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--workers", str(count), *options],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    try:
        deadline = time.monotonic() + 60
        while log.read_text(errors="replace").count("Application startup complete") < count:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _enrol(url: str) -> tuple[str, str, str]:
    """(device id, agent id, token) of a newly enrolled device, the database migrated first."""
    engine = open_engine(url)
    migrate(engine)
    clock = SystemClock()
    with engine.begin() as conn:
        agent = admin.add_agent(conn, name="Lò Thị Mai", communes=[COMMUNE], clock=clock)
        code = devices.new_enrol_code(conn, agent_id=agent, clock=clock, valid_hours=1)
        enrolled = devices.enrol(conn, code=code, device_name="laptop", clock=clock)
    engine.dispose()
    return enrolled["device_id"], agent, enrolled["token"]


def _batch(device_id: str, agent_id: str, households: int, first_seq: int) -> wire.Batch:
    """Four records per household (household, member, visit, pledge), seqs from first_seq."""
    clock = HybridClock(device_id)
    now = int(START.timestamp() * 1000) + first_seq * 1000
    records: list[wire.Record] = []
    for _ in range(households):
        home = household(COMMUNE)
        wife = member(home["id"])
        for entity, data in (
            (wire.HOUSEHOLD, home),
            (wire.MEMBER, wife),
            (wire.VISIT, visit(home["id"], agent_id)),
            (wire.PLEDGE, pledge(home["id"], wife["id"])),
        ):
            now += 1000
            seq = first_seq + len(records)
            records.append(
                wire.Record(
                    seq=seq,
                    entity=entity,
                    id=data["id"],
                    op="insert",
                    hlc=clock.tick(now),
                    data=data,
                    base=None,
                )
            )
    return wire.Batch(
        protocol=wire.PROTOCOL_VERSION,
        device_id=device_id,
        batch_id=str(uuid.uuid4()),
        seq_from=records[0]["seq"],
        seq_to=records[-1]["seq"],
        records=records,
    )


def _at_once(count: int, send: Any) -> list[httpx.Response]:
    """send(client) from `count` threads released together, each on a connection of its own."""
    start = threading.Barrier(count)
    answers: list[httpx.Response | BaseException] = [RuntimeError("not sent")] * count

    def one(index: int) -> None:
        with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=1)) as client:
            start.wait()
            try:
                answers[index] = send(client)
            except BaseException as exc:  # reported below with the others
                answers[index] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    failures = [a for a in answers if not isinstance(a, httpx.Response)]
    assert not failures, failures
    return [a for a in answers if isinstance(a, httpx.Response)]


def _count(url: str, sql: str, **params: str) -> int:
    engine = open_engine(url)
    with engine.connect() as conn:
        found = int(conn.execute(sa.text(sql), params).scalar() or 0)
    engine.dispose()
    return found


@pytest.mark.postgres
def test_the_same_batch_posted_at_once_to_several_workers_is_applied_once(
    pg_url: str, tmp_path: Path
) -> None:
    """Five batches, each posted 8 times at once to 4 workers: every answer is the same ack
    accepting every record, and the database holds each record, its change-feed row and the
    batch once."""
    device_id, agent_id, token = _enrol(pg_url)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Encoding": "gzip",
        "Content-Type": "application/json",
    }
    sent: list[wire.Batch] = []
    with workers(pg_url, 4, tmp_path, FIELDAPP_SERVER_RATE_LIMIT="off") as base_url:
        for round_ in range(5):
            batch = _batch(device_id, agent_id, households=10, first_seq=1 + 40 * round_)
            body = wire.encode_body(batch)
            sent.append(batch)
            answers = _at_once(
                8,
                lambda c, body=body: c.post(
                    base_url + wire.BATCHES_PATH, content=body, headers=headers
                ),
            )
            assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
            acks = [wire.validate_ack(a.json()) for a in answers]
            assert {a["batch_id"] for a in acks} == {batch["batch_id"]}
            assert all(a["accepted"] == [r["seq"] for r in batch["records"]] for a in acks)
            assert all(not a["refused"] and not a["conflicts"] for a in acks)
            assert len({a["server_time"] for a in acks}) == 1  # one apply, its ack replayed
    records = sum(len(b["records"]) for b in sent)
    assert _count(pg_url, "SELECT count(*) FROM batches") == 5
    assert _count(pg_url, "SELECT count(*) FROM households") == records // 4
    assert _count(pg_url, "SELECT count(*) FROM members") == records // 4
    assert _count(pg_url, "SELECT count(*) FROM visits") == records // 4
    assert _count(pg_url, "SELECT count(*) FROM pledges") == records // 4
    fed = "SELECT count(*) FROM changes WHERE origin_device_id = :device"
    assert _count(pg_url, fed, device=device_id) == records
    distinct = "SELECT count(DISTINCT entity_id) FROM changes WHERE origin_device_id = :device"
    assert _count(pg_url, distinct, device=device_id) == records


@pytest.mark.postgres
def test_a_devices_limit_holds_across_workers(pg_url: str, tmp_path: Path) -> None:
    """With bursts of 5 and almost no refill, 12 pulls at once on separate connections to 4
    workers: exactly 5 are served and 7 told to wait, as one process would do."""
    _device_id, _agent_id, token = _enrol(pg_url)
    auth = {"Authorization": f"Bearer {token}"}
    with workers(pg_url, 4, tmp_path, FIELDAPP_SERVER_RATE_LIMIT="0.001/5") as base_url:
        answers = _at_once(12, lambda c: c.get(base_url + wire.CHANGES_PATH, headers=auth))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 5 + [429] * 7
    assert all(a.headers["Retry-After"] for a in answers if a.status_code == 429)


@pytest.mark.postgres
def test_workers_serve_https(pg_url: str, tmp_path: Path) -> None:
    """The TLS key and certificate reach every worker: HTTPS answers, plain HTTP does not."""
    tls = make_tls(tmp_path)
    pinned = ssl.create_default_context(cafile=str(tls.ca))
    options = ("--ssl-keyfile", str(tls.key), "--ssl-certfile", str(tls.cert))
    with workers(pg_url, 2, tmp_path, *options, scheme="https") as base_url:
        answers = _at_once(6, lambda c: httpx.get(base_url + wire.HEALTH_PATH, verify=pinned))
        assert [a.status_code for a in answers] == [200] * 6
        with pytest.raises(httpx.HTTPError):
            httpx.get(base_url.replace("https", "http") + wire.HEALTH_PATH, timeout=5)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_sqlite_refuses_several_workers(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    lang: str,
) -> None:
    """SQLite has one writer: --workers 2 on it is a clear error in the chosen language,
    before anything listens; --workers 0 is refused by the argument parser."""
    monkeypatch.setenv("FIELDAPP_LANG", lang)
    data = tmp_path / "server"
    assert server_main(["--data-dir", str(data), "run", "--workers", "2"]) == 1
    err = capsys.readouterr().err
    expected = "SQLite chỉ cho một tiến trình ghi" if lang == "vi" else "SQLite has one writer"
    assert expected in err and "--workers 1" in err and "Traceback" not in err
    assert not data.exists()  # refused before any database is made
    with pytest.raises(SystemExit):
        server_main(["--data-dir", str(data), "run", "--workers", "0"])


def test_each_worker_sets_its_start_up_aside_from_the_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The factory a worker calls freezes what start-up built (full collections during an
    upload skip it) and the app it returns still answers; later objects are collected."""
    from fastapi.testclient import TestClient

    from sync.server.app import DATABASE_URL_ENV, app_from_env

    monkeypatch.setenv(DATABASE_URL_ENV, f"sqlite:///{tmp_path / 'server.sqlite3'}")
    assert gc.get_freeze_count() == 0
    try:
        app = app_from_env()
        assert gc.get_freeze_count() > 10_000
        with TestClient(app) as client:
            assert client.get(wire.HEALTH_PATH).status_code == 200
        cycle: list[Any] = []
        cycle.append(cycle)
        assert gc.collect() > 0
    finally:
        gc.unfreeze()
