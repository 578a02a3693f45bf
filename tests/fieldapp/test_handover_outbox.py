"""Cash handovers are synced facts: an outbox row with each one, and old ones enqueued once."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
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


def _version_4_store(path: Path, monkeypatch: pytest.MonkeyPatch, *, rows: int) -> str | None:
    """A store at schema 4 with handovers and no outbox rows for them; returns the newest stamp."""
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:4])
        ws = Workspace(Store(path, clock=FixedClock(NOW)))
        ws.households.add(
            province_code="15", commune_code="99001", village="Bản Phố", head_name="Vàng A Sử"
        )
        with ws.store.transaction() as conn:
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
    return None if newest is None else str(newest)


def test_migration_enqueues_earlier_handovers_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every earlier handover gets one outbox row, stamped after all the store's stamps."""
    path = tmp_path / STORE_FILENAME
    newest = _version_4_store(path, monkeypatch, rows=3)
    assert newest is not None
    store = Store(path, clock=FixedClock(NOW))
    try:
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
    finally:
        store.close()
    # Opening again changes nothing.
    again = Store(path, clock=FixedClock(NOW))
    try:
        assert again.scalar("SELECT count(*) FROM outbox WHERE entity = 'cash_handover'") == 3
    finally:
        again.close()


def test_migration_that_fails_leaves_the_store_at_version_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The enqueueing is one transaction with the version bump: all rows or none."""
    path = tmp_path / STORE_FILENAME
    _version_4_store(path, monkeypatch, rows=2)
    conn = sqlite3.connect(path)
    second = conn.execute("SELECT id FROM cash_handover WHERE day = '2026-11-11'").fetchone()[0]
    # The second handover's outbox row cannot be written: the migration stops half-way.
    conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.entity_id = "
        f"'{second}' BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    conn.commit()
    conn.close()
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        Store(path, clock=FixedClock(NOW))
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA user_version").fetchone()[0] == 4
        enqueued = check.execute("SELECT count(*) FROM outbox WHERE entity = 'cash_handover'")
        assert enqueued.fetchone()[0] == 0
        check.execute("DROP TRIGGER refuse")
        check.commit()
    finally:
        check.close()
    store = Store(path, clock=FixedClock(NOW))
    try:
        assert store.scalar("SELECT count(*) FROM outbox WHERE entity = 'cash_handover'") == 2
    finally:
        store.close()


def test_an_unreadable_time_does_not_keep_the_store_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handover whose time cannot be read is enqueued all the same (the server will say why)."""
    path = tmp_path / STORE_FILENAME
    _version_4_store(path, monkeypatch, rows=2)
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER cash_handover_no_update")
    conn.execute("UPDATE cash_handover SET at = 'not a time' WHERE day = '2026-11-11'")
    conn.commit()
    conn.close()
    store = Store(path, clock=FixedClock(NOW))
    try:
        rows = store.query("SELECT hlc FROM outbox WHERE entity = 'cash_handover' ORDER BY seq")
        assert len(rows) == 2 and rows[0]["hlc"] < rows[1]["hlc"]
    finally:
        store.close()


def test_migration_without_handovers_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that never recorded a handover migrates with its outbox unchanged."""
    path = tmp_path / STORE_FILENAME
    _version_4_store(path, monkeypatch, rows=0)
    store = Store(path, clock=FixedClock(NOW))
    try:
        assert store.schema_version == migrations.latest_version()
        assert store.scalar("SELECT count(*) FROM outbox") == 1
    finally:
        store.close()
