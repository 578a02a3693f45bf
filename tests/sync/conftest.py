"""Fixtures for sync tests: the real server on a loopback port over SQLite or PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from sqlalchemy.engine import Engine

from sync.client import system_roots
from sync.protocol import signing, wire
from sync.protocol.clock import FixedClock
from sync.protocol.hlc import HybridClock
from sync.server import admin, devices
from sync.server.app import create_app
from sync.server.schema import open_engine

PG_URL = os.environ.get("FIELDAPP_TEST_PG_URL")
START = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """A schema of its own for this test run, dropped at the end."""
    if not PG_URL:
        pytest.skip("FIELDAPP_TEST_PG_URL is not set: PostgreSQL tests need a real server")
    name = f"fieldapp_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    yield name
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a temporary SQLite file, or a cleared PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'server.sqlite3'}"
        return
    schema = request.getfixturevalue("pg_schema")
    assert PG_URL is not None
    admin_engine = sa.create_engine(PG_URL)
    with admin_engine.begin() as conn:
        # Tables (and alembic's version row) are dropped between tests by recreating the schema.
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin_engine.dispose()
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)


@dataclass
class Server:
    """A running server, its database and the clock it reads."""

    base_url: str
    engine: Engine
    clock: FixedClock
    database_url: str
    laptops: list[Laptop] = field(default_factory=list)

    def http(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, verify=system_roots(), **kwargs)

    def add_agent(self, name: str, communes: list[str]) -> str:
        with self.engine.begin() as conn:
            return admin.add_agent(conn, name=name, communes=communes, clock=self.clock)

    def add_book(self, agent_id: str, series: str, first: int, last: int) -> str:
        """Allocate receipt numbers first..last of a series to the agent; the book's id."""
        with self.engine.begin() as conn:
            return admin.add_receipt_book(
                conn, agent_id=agent_id, series=series, first=first, last=last, clock=self.clock
            )

    def enrol_code(self, agent_id: str, *, valid_hours: float = 72) -> str:
        with self.engine.begin() as conn:
            return devices.new_enrol_code(
                conn, agent_id=agent_id, clock=self.clock, valid_hours=valid_hours
            )

    def laptop(self, agent_id: str, name: str = "laptop") -> Laptop:
        """Enrol a new device of the agent over HTTP."""
        with self.http() as client:
            response = client.post(
                wire.ENROL_PATH, json={"code": self.enrol_code(agent_id), "device_name": name}
            )
        assert response.status_code == 200, response.text
        laptop = Laptop(self, response.json())
        self.laptops.append(laptop)
        return laptop

    def close_laptops(self) -> None:
        """Close the HTTP connections of the laptops enrolled with this server."""
        for laptop in self.laptops:
            laptop.http.close()

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() or 0)


class Laptop:
    """Just enough of a laptop to talk the protocol: an HLC, an outbox sequence, a token."""

    def __init__(self, server: Server, enrolment: dict[str, Any]) -> None:
        self.server = server
        self.device_id: str = enrolment["device_id"]
        self.agent_id: str = enrolment["agent_id"]
        self.token: str = enrolment["token"]
        self.key = signing.decode_device_key(enrolment["device_key"])
        self.clock = HybridClock(self.device_id)
        self.now_ms = int(START.timestamp() * 1000)
        self.seq = 0
        self.http = server.http(headers={"Authorization": f"Bearer {self.token}"})

    def record(
        self,
        entity: str,
        data: dict[str, Any],
        *,
        op: wire.Op = "insert",
        base: dict[str, str | None] | None = None,
        record_id: str | None = None,
    ) -> wire.Record:
        self.seq += 1
        self.now_ms += 1000
        return wire.Record(
            seq=self.seq,
            entity=entity,
            id=record_id or data["id"],
            op=op,
            hlc=self.clock.tick(self.now_ms),
            data=data,
            base=base,
        )

    def phone_change(self, home: dict[str, Any], phone: str, *, seen: str) -> wire.Record:
        """An update of a household's phone, made over the phone's value stamped `seen`."""
        return self.record(
            "household",
            {"commune_code": home["commune_code"], "phone": phone},
            op="update",
            base={"phone": seen},
            record_id=home["id"],
        )

    def batch(self, records: list[wire.Record]) -> wire.Batch:
        return wire.Batch(
            protocol=wire.PROTOCOL_VERSION,
            device_id=self.device_id,
            batch_id=str(uuid.uuid4()),
            seq_from=records[0]["seq"] if records else self.seq,
            seq_to=records[-1]["seq"] if records else self.seq,
            records=records,
        )

    def post(self, body: bytes, **headers: str) -> httpx.Response:
        return self.http.post(
            wire.BATCHES_PATH,
            content=body,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json", **headers},
        )

    def upload(self, batch: wire.Batch) -> httpx.Response:
        return self.post(wire.encode_body(batch))

    def send(self, *records: wire.Record) -> wire.Ack:
        response = self.upload(self.batch(list(records)))
        assert response.status_code == 200, response.text
        return wire.validate_ack(response.json())

    def pull(self, since: int = 0, limit: int = 500) -> tuple[list[wire.Change], int]:
        """Every change after `since`, following `more`; returns them and the final cursor."""
        out: list[wire.Change] = []
        while True:
            response = self.http.get(wire.CHANGES_PATH, params={"since": since, "limit": limit})
            assert response.status_code == 200, response.text
            page = wire.validate_change_page(response.json())
            out.extend(page["changes"])
            since = page["cursor"]
            if not page["more"]:
                return out, since


def new_id() -> str:
    return str(uuid.uuid4())


def household(commune: str = "04001", **fields: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "province_code": "04",
        "commune_code": commune,
        "village": "Bản Phố",
        "head_name": "Nguyễn Văn An",
        "address": "Thôn 3",
        "phone": "0912345678",
        "groups": ["farmer"],
        "best_months": [7, 8],
        "notes": "",
        **fields,
    }


def member(household_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "household_id": household_id,
        "full_name": "Lò Thị Hương",
        "date_of_birth": "1990-05-01",
        "sex": "female",
        "relation": "vợ",
        "cccd": "004190000123",
        "bhxh_code": None,
        "ethnicity": "Thái",
        "bhyt_card": None,
        "bhyt_expiry": None,
        "covered_by": None,
        "bhxh_status": None,
        "removed": False,
        "warnings": [],
        **fields,
    }


def visit(household_id: str, agent_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "household_id": household_id,
        "agent_id": agent_id,
        "at": "2026-11-23T08:00:00.000Z",
        "outcome": "consulted",
        "topics": ["bhyt_household"],
        "materials": ["flyer-farmers-vi"],
        "next_visit": "2026-12-01",
        "notes": "Hẹn sau vụ thu hoạch",
        **fields,
    }


def pledge(household_id: str, member_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "household_id": household_id,
        "member_id": member_id,
        "scheme": "bhyt_household",
        "params": {"months": 12, "position": 1},
        "gross": 1366200,
        "central_support": 0,
        "local_support": 0,
        "payable": 1366200,
        "policy_version": "vn-2026.11",
        "start_date": "2026-12-01",
        "due_date": "2026-12-15",
        "created_at": "2026-11-23T08:05:00.000Z",
        **fields,
    }


def receipt(household_id: str, book_id: str, number: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "book_id": book_id,
        "series": "AA/26",
        "number": number,
        "payer_name": "Nguyễn Văn An",
        "payer_bhxh_code": None,
        "payer_address": "Thôn 3",
        "household_id": household_id,
        "pledge_ids": [],
        "amount": 1366200,
        "description": "Tiền đóng BHYT hộ gia đình, phương thức đóng 12 tháng",
        "period_from": "2026-12-01",
        "period_to": "2027-11-30",
        "issued_at": "2026-11-23T08:10:00.000Z",
        "issued_by": "Trần Thị Bình",
        "verification_code": None,
        **fields,
    }


def _start(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, port


@contextmanager
def serving(app: Any, engine: Engine, clock: FixedClock, database_url: str) -> Iterator[Server]:
    """The app served by uvicorn on 127.0.0.1 (a free port) until the block ends; then the
    laptops' connections, the server and the engine are closed."""
    uv, thread, port = _start(app)
    running = Server(f"http://127.0.0.1:{port}", engine, clock, database_url)
    try:
        yield running
    finally:
        running.close_laptops()
        uv.should_exit = True
        thread.join(10)
        engine.dispose()


@contextmanager
def server_at(database_url: str, moment: dt.datetime) -> Iterator[Server]:
    """The real server (uvicorn, 127.0.0.1, a free port) over a fresh database, its clock
    standing at `moment`."""
    engine = open_engine(database_url)
    clock = FixedClock(moment)
    with serving(create_app(engine, clock=clock), engine, clock, database_url) as running:
        yield running


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    """The real server over a fresh database, its clock at START (the laptops' test clocks
    start there too)."""
    with server_at(database_url, START) as running:
        yield running


@pytest.fixture
def server_now(database_url: str) -> Iterator[Server]:
    """The real server with its clock at the real time, for an app whose clock is the system's
    (the server refuses clock stamps more than two days past its own)."""
    with server_at(database_url, dt.datetime.now(dt.UTC)) as running:
        yield running
