"""Cash handovers are synced facts: an outbox row with each one, and old ones enqueued once."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fieldapp import migrations
from fieldapp.errors import ValidationError
from fieldapp.store import STORE_FILENAME, Store
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def test_each_handover_writes_its_outbox_row(workspace: Workspace) -> None:
    """The outbox row carries the handover as stored, with a fresh clock stamp of this device."""
    day = workspace.store.clock.today()
    first = workspace.reports.reconcile(day, 0)
    second = workspace.reports.reconcile(day, 20_000, "Tiền của hộ ông Páo gửi nộp hộ")
    rows = workspace.store.query("SELECT * FROM outbox WHERE entity = 'cash_handover' ORDER BY seq")
    assert [r["entity_id"] for r in rows] == [first.id, second.id]
    assert [json.loads(r["data"]) for r in rows] == [first.as_dict(), second.as_dict()]
    assert {r["op"] for r in rows} == {"insert"}
    assert rows[0]["hlc"] < rows[1]["hlc"]
    assert rows[1]["hlc"].endswith(workspace.store.device_id)
    assert workspace.pending_sync() == 2


def test_a_refused_handover_writes_neither_row(workspace: Workspace) -> None:
    """A difference without a reason is refused: no handover, no outbox row."""
    with pytest.raises(ValidationError):
        workspace.reports.reconcile(workspace.store.clock.today(), 1000)
    assert workspace.store.scalar("SELECT count(*) FROM cash_handover") == 0
    assert workspace.store.scalar("SELECT count(*) FROM outbox") == 0


@contextmanager
def _opened(path: Path) -> Iterator[Store]:
    """The store at path opened (and so migrated) with the fixed clock, closed afterwards."""
    store = Store(path, clock=FixedClock(NOW))
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _plain(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain SQLite connection to the store file, committed and closed at the end."""
    conn = sqlite3.connect(path)
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


def _enqueued(path: Path) -> int:
    """How many handovers the outbox holds once the store at path is opened (and migrated)."""
    with _opened(path) as store:
        return int(store.scalar("SELECT count(*) FROM outbox WHERE entity = 'cash_handover'"))


# What version_4_store gives: make the store with this many handovers.
MakeStore = Callable[[int], tuple[Path, str | None]]


@pytest.fixture
def version_4_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MakeStore:
    """Make a store at schema 4 with handovers and no outbox rows for them: its path and newest
    stamp."""

    def make(rows: int) -> tuple[Path, str | None]:
        path = tmp_path / STORE_FILENAME
        with monkeypatch.context() as patch:
            patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:4])
            ws = Workspace(Store(path, clock=FixedClock(NOW)))
            with ws.store.transaction() as conn:
                # A change written at schema 4 (raw SQL: today's services need today's schema).
                conn.execute(
                    "INSERT INTO outbox (entity, entity_id, op, hlc, data, created_at) "
                    "VALUES ('household', ?, 'insert', ?, '{}', ?)",
                    (ws.store.new_id(), ws.store.tick(), ws.store.now_iso()),
                )
                for n in range(rows):
                    conn.execute(
                        "INSERT INTO cash_handover (id, day, scheme, expected, handed_over, "
                        "difference, reason, at) VALUES (?, ?, 'all', 100000, ?, ?, ?, ?)",
                        (
                            ws.store.new_id(),
                            f"2026-11-{10 + n:02d}",
                            100_000 - 1000 * n,
                            -1000 * n,
                            "Nộp thiếu" if n else "",
                            f"2026-11-{10 + n:02d}T10:00:00.000Z",
                        ),
                    )
            newest = ws.store.scalar("SELECT hlc FROM outbox ORDER BY seq DESC LIMIT 1")
            ws.close()
        return path, None if newest is None else str(newest)

    return make


def test_migration_enqueues_earlier_handovers_once(version_4_store: MakeStore) -> None:
    """Every earlier handover gets one outbox row, stamped after all the store's stamps."""
    path, newest = version_4_store(3)
    assert newest is not None
    with _opened(path) as store:
        assert store.schema_version == migrations.latest_version()
        rows = store.query("SELECT * FROM outbox WHERE entity = 'cash_handover' ORDER BY seq")
        handovers = store.query("SELECT * FROM cash_handover ORDER BY seq")
        assert [r["entity_id"] for r in rows] == [h["id"] for h in handovers]
        data = [json.loads(r["data"]) for r in rows]
        assert [d["difference"] for d in data] == [0, -1000, -2000]
        assert data[1] == {
            "id": handovers[1]["id"],
            "day": "2026-11-11",
            "scheme": "all",
            "expected": 100_000,
            "handed_over": 99_000,
            "difference": -1000,
            "reason": "Nộp thiếu",
            "at": "2026-11-11T10:00:00.000Z",
        }
        stamps = [str(r["hlc"]) for r in rows]
        assert stamps == sorted(stamps) and stamps[0] > newest
        assert all(s.endswith(store.device_id) for s in stamps)
        assert {r["state"] for r in rows} == {"pending"}
        assert store.tick() > stamps[-1]
    # Opening again changes nothing.
    assert _enqueued(path) == 3


def test_migration_that_fails_leaves_the_store_at_version_4(version_4_store: MakeStore) -> None:
    """The enqueueing is one transaction with the version bump: all rows or none."""
    path, _newest = version_4_store(2)
    with _plain(path) as conn:
        second = conn.execute("SELECT id FROM cash_handover WHERE day = '2026-11-11'").fetchone()[0]
        # The second handover's outbox row cannot be written: the migration stops half-way.
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.entity_id = "
            f"'{second}' BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        Store(path, clock=FixedClock(NOW))
    with _plain(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == 4
        enqueued = check.execute("SELECT count(*) FROM outbox WHERE entity = 'cash_handover'")
        assert enqueued.fetchone()[0] == 0
        check.execute("DROP TRIGGER refuse")
    assert _enqueued(path) == 2


def test_an_unreadable_time_does_not_keep_the_store_closed(version_4_store: MakeStore) -> None:
    """A handover whose time cannot be read is enqueued all the same (the server will say why)."""
    path, _newest = version_4_store(2)
    with _plain(path) as conn:
        conn.execute("DROP TRIGGER cash_handover_no_update")
        conn.execute("UPDATE cash_handover SET at = 'not a time' WHERE day = '2026-11-11'")
    with _opened(path) as store:
        rows = store.query("SELECT hlc FROM outbox WHERE entity = 'cash_handover' ORDER BY seq")
        assert len(rows) == 2 and rows[0]["hlc"] < rows[1]["hlc"]


def test_migration_without_handovers_writes_nothing(version_4_store: MakeStore) -> None:
    """A store that never recorded a handover migrates with its outbox unchanged."""
    path, _newest = version_4_store(0)
    with _opened(path) as store:
        assert store.schema_version == migrations.latest_version()
        assert store.scalar("SELECT count(*) FROM outbox") == 1
