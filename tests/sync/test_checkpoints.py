"""The server's SQLite write-ahead log is checkpointed on a thread of its own while it serves."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from sync.protocol import wire
from sync.protocol.clock import SystemClock
from sync.protocol.hlc import HybridClock
from sync.server import admin, devices
from sync.server.app import create_app
from sync.server.checkpoints import SAFETY_PAGES, WalCheckpointer, database_file
from sync.server.schema import open_engine
from tests.sync.conftest import household, new_id

SQLITE_DEFAULT_PAGES = 1000


def _autocheckpoint(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_the_log_is_copied_back_by_the_servers_thread_not_by_requests(tmp_path: Path) -> None:
    path = tmp_path / "server.sqlite3"
    engine = open_engine(f"sqlite:///{path}")
    app = create_app(engine)
    assert _autocheckpoint(engine) == SQLITE_DEFAULT_PAGES
    with TestClient(app) as client:
        assert client.get(wire.HEALTH_PATH).status_code == 200
        checkpointer = app.state.checkpointer
        assert isinstance(checkpointer, WalCheckpointer)
        # Request connections only checkpoint past the safety net.
        assert _autocheckpoint(engine) == SAFETY_PAGES
        size = path.stat().st_size
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE scratch (x BLOB)")
            conn.exec_driver_sql(
                "INSERT INTO scratch SELECT randomblob(4096) FROM "
                "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) "
                "SELECT i FROM n)"
            )
        # 2 MB committed to the log: under both limits, so no commit copies it back.
        before = checkpointer.checkpoints
        checkpointer.soon()
        assert _wait_for(lambda: checkpointer.checkpoints > before)
        assert path.stat().st_size >= size + 2_000_000
    # Stopped with the server: connections made afterwards checkpoint themselves again.
    assert app.state.checkpointer is None
    assert _autocheckpoint(engine) == SQLITE_DEFAULT_PAGES
    engine.dispose()


def test_an_applied_batch_asks_for_a_checkpoint(tmp_path: Path) -> None:
    """The thread wakes once a second anyway; a batch just committed wakes it at once."""
    engine = open_engine(f"sqlite:///{tmp_path / 'server.sqlite3'}")
    clock = SystemClock()
    app = create_app(engine)
    with engine.begin() as conn:
        agent = admin.add_agent(conn, name="A", communes=["04001"], clock=clock)
        code = devices.new_enrol_code(conn, agent_id=agent, clock=clock, valid_hours=1)
    woken: list[bool] = []
    with TestClient(app) as client:
        checkpointer = app.state.checkpointer
        assert checkpointer is not None
        checkpointer.soon = lambda: woken.append(True)
        enrolment = client.post(wire.ENROL_PATH, json={"code": code, "device_name": "d"}).json()
        device = enrolment["device_id"]
        bearer = {"Authorization": f"Bearer {enrolment['token']}"}
        refused = client.post(wire.BATCHES_PATH, content=b"{}", headers=bearer)
        assert refused.status_code == 400 and woken == []  # nothing applied: no wake
        home = household("04001")
        now = int(clock.now().timestamp() * 1000)
        record = wire.Record(
            seq=1,
            entity=wire.HOUSEHOLD,
            id=home["id"],
            op="insert",
            hlc=HybridClock(device).tick(now),
            data=home,
            base=None,
        )
        batch = wire.Batch(
            protocol=wire.PROTOCOL_VERSION,
            device_id=device,
            batch_id=new_id(),
            seq_from=1,
            seq_to=1,
            records=[record],
        )
        answer = client.post(
            wire.BATCHES_PATH,
            content=wire.encode_body(batch),
            headers={**bearer, "Content-Encoding": "gzip"},
        )
        assert answer.status_code == 200 and answer.json()["accepted"] == [1]
        assert woken == [True]
    engine.dispose()


def test_only_a_sqlite_file_gets_a_checkpointer(tmp_path: Path) -> None:
    memory = sa.create_engine("sqlite://")
    assert database_file(memory) is None and WalCheckpointer.start_for(memory) is None
    postgres = sa.create_engine("postgresql+psycopg://u:p@127.0.0.1:1/db")
    assert database_file(postgres) is None and WalCheckpointer.start_for(postgres) is None
    on_file = open_engine(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    assert database_file(on_file) == str(tmp_path / "a.sqlite3")
    on_file.dispose()
