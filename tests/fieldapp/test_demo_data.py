"""Demo data is marked as demo, kept on the laptop, and removed whole without touching the rest."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from fieldapp import migrations
from fieldapp.demo import create_demo, demo_household_count, remove_demo
from fieldapp.store import STORE_FILENAME, Store
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from tests.fieldapp.conftest import NOW
from tests.fieldapp.samples import new_household

# Every table that holds records of households, or local rows about them.
RECORD_TABLES = (
    "household",
    "member",
    "visit",
    "pledge",
    "pledge_event",
    "receipt",
    "receipt_void",
    "receipt_print",
    "payment_effect",
    "outbox",
    "search_row",
)


def _real_day(ws: Workspace) -> dict[str, str]:
    """A real household with two members, a visit, a BHYT pledge paid on a receipt; ids."""
    home = new_household(ws, commune_code="04001", province_code="04", head_name="Hà Văn Dũng")
    head = ws.members.add(home.id, full_name="Hà Văn Dũng", relation="Chủ hộ", sex="male")
    ws.members.add(home.id, full_name="Lò Thị Lan", relation="Vợ", sex="female")
    ws.visits.record(home.id, outcome="pledged")
    pledges = ws.pledges.pledge_bhyt_household(
        home.id, member_ids=[head.id], months=12, start=ws.today()
    )
    receipt = ws.receipts.issue(pledge_ids=[p.id for p in pledges])
    return {"household": home.id, "member": head.id, "receipt": receipt.id}


def _demo_day(ws: Workspace) -> list[str]:
    """A demo commune, and an agent's day on one of its households: a visit, a pledge paid on
    a receipt that is then voided, a member added and edited. The demo households' ids."""
    create_demo(ws, households=6, seed=11)
    ids = [str(r[0]) for r in ws.store.query("SELECT id FROM household WHERE demo = 1")]
    ws.visits.record(ids[0], outcome="paid")
    child = ws.members.add(ids[0], full_name="Giàng A Lử", relation="Con", sex="male")
    ws.members.update(child.id, full_name="Giàng A Lừ")
    pledges = ws.pledges.pledge_bhyt_household(
        ids[0], member_ids=[child.id], months=12, start=ws.today()
    )
    receipt = ws.receipts.issue(pledge_ids=[p.id for p in pledges])
    ws.receipts.render(receipt.id, layout="a5")
    ws.receipts.void(receipt.id, reason="Viết sai tên")
    return ids


def _rows(ws: Workspace, table: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in ws.store.query(f"SELECT * FROM {table} ORDER BY rowid")]


def test_demo_households_and_all_work_on_them_stay_on_the_laptop(workspace: Workspace) -> None:
    """What the demo makes, and every later change to a demo household or anything of it, is
    kept 'local'; the real household's changes are pending for the next sync as before."""
    workspace.receipts.add_book(series="LC-NTA-26", first=1, last=50)
    real = _real_day(workspace)
    real_changes = workspace.pending_sync()
    demo = _demo_day(workspace)
    assert demo_household_count(workspace) == len(demo) == 6
    assert (
        workspace.store.scalar("SELECT demo FROM household WHERE id = ?", (real["household"],)) == 0
    )
    assert workspace.pending_sync() == real_changes
    local = workspace.store.query(
        "SELECT entity, entity_id, data FROM outbox WHERE state = 'local'"
    )
    entities = {r["entity"] for r in local}
    assert entities == {
        "household",
        "member",
        "visit",
        "pledge",
        "pledge_event",
        "receipt",
        "receipt_void",
    }
    # Each kept change belongs to a demo household.
    for row in local:
        data = json.loads(row["data"])
        household = data.get("household_id", row["entity_id"])
        if row["entity"] == "pledge_event":
            household = workspace.pledges.get(data["pledge_id"]).household_id
        if row["entity"] == "receipt_void":
            household = workspace.receipts.get(data["receipt_id"]).household_id
        assert household in demo, dict(row)

    # Later work on the real household is still sent.
    workspace.visits.record(real["household"], outcome="follow_up")
    assert workspace.pending_sync() == real_changes + 1


def test_remove_demo_deletes_the_demo_whole_and_nothing_else(workspace: Workspace) -> None:
    """Every demo household goes with its members, visits, pledges, receipts, search rows and
    kept changes; each row of the real household, and its pending changes, stay as they were."""
    workspace.receipts.add_book(series="LC-NTA-26", first=1, last=50)
    real = _real_day(workspace)
    real_rows = {t: _rows(workspace, t) for t in RECORD_TABLES}
    demo = _demo_day(workspace)
    members = int(
        workspace.store.scalar(
            f"SELECT count(*) FROM member WHERE household_id IN ({','.join('?' * len(demo))})",
            demo,
        )
    )
    kept = int(workspace.store.scalar("SELECT count(*) FROM outbox WHERE state = 'local'"))

    removed = remove_demo(workspace)

    assert removed.as_dict() == {
        "households": 6,
        "members": members,
        "visits": removed.visits,
        "pledges": removed.pledges,
        "receipts": 1,
        "changes": kept,
    }
    assert removed.visits >= 1 and removed.pledges >= 1
    # Only the real household's rows are left, exactly as they were; the clocks moved on.
    assert {t: _rows(workspace, t) for t in RECORD_TABLES} == real_rows
    assert demo_household_count(workspace) == 0
    assert [h.full_name for h in workspace.search.find("giang")] == []
    assert [h.full_name for h in workspace.search.find("ha van dung")][:1] == ["Hà Văn Dũng"]
    assert workspace.store.integrity_ok()
    assert workspace.store.query("PRAGMA foreign_key_check") == []
    assert workspace.receipts.get(real["receipt"]).amount > 0

    again = remove_demo(workspace)
    assert set(again.as_dict().values()) == {0}


def test_a_failed_removal_removes_nothing(workspace: Workspace) -> None:
    """A failure part-way through the removal (the disk, a crash) leaves every row in place."""
    create_demo(workspace, households=3, seed=5)
    before = {t: _rows(workspace, t) for t in RECORD_TABLES}

    def simulated_failure() -> None:
        raise OSError("simulated failure")

    workspace.store.conn.create_function("simulated_failure", 0, simulated_failure)
    workspace.store.conn.execute(
        "CREATE TEMP TRIGGER fail_household BEFORE DELETE ON main.household "
        "BEGIN SELECT simulated_failure(); END"
    )
    with pytest.raises(sqlite3.OperationalError):
        remove_demo(workspace)
    assert {t: _rows(workspace, t) for t in RECORD_TABLES} == before
    assert demo_household_count(workspace) == 3


def _write_as_version_9(conn: sqlite3.Connection) -> None:
    """A demo household as `fieldapp demo` wrote it before demo data was marked, a real one in
    the same demo commune code, their members and a visit, and their outbox rows: some sent,
    some pending, and sent rows pruned off the end of the sequence."""
    now = "2026-11-23T03:00:00.000Z"
    homes = (
        ("hd", "99001", "Bản Phố, Xã Bản Mẫu (dữ liệu mẫu)", "Giàng Seo Sử"),
        ("hr", "99001", "Bản Phố", "Hà Văn Dũng"),
    )
    for id_, commune, address, head in homes:
        conn.execute(
            "INSERT INTO household (id, province_code, commune_code, village, head_name, "
            "address, created_at, updated_at) VALUES (?, '15', ?, 'Bản Phố', ?, ?, ?, ?)",
            (id_, commune, head, address, now, now),
        )
        conn.execute(
            "INSERT INTO member (id, household_id, full_name, sort_key, created_at, updated_at) "
            "VALUES (?, ?, ?, 'x', ?, ?)",
            (f"m{id_}", id_, head, now, now),
        )
    conn.execute(
        "INSERT INTO visit (id, household_id, agent_id, at, outcome) "
        "VALUES ('vd', 'hd', 'agent', ?, 'consulted')",
        (now,),
    )
    rows = [
        ("household", "hd", {"id": "hd"}, "acked"),
        ("household", "hr", {"id": "hr"}, "pending"),
        ("member", "mhd", {"id": "mhd", "household_id": "hd"}, "pending"),
        ("member", "mhr", {"id": "mhr", "household_id": "hr"}, "pending"),
        ("visit", "vd", {"id": "vd", "household_id": "hd"}, "pending"),
        ("visit", "gone", {"id": "gone"}, "acked"),
    ]
    for n, (entity, entity_id, data, state) in enumerate(rows):
        conn.execute(
            "INSERT INTO outbox (entity, entity_id, op, hlc, data, created_at, state) "
            "VALUES (?, ?, 'insert', ?, ?, ?, ?)",
            (entity, entity_id, f"000001795000000-{n:05d}-d", json.dumps(data), now, state),
        )
    conn.execute("DELETE FROM outbox WHERE entity_id = 'gone'")


def test_a_store_from_the_previous_version_marks_its_demo_and_keeps_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upgraded from version 9: the household the demo made is marked and its unsent changes
    stay on the laptop (what was sent stays sent); the real household's changes are pending;
    new work goes on, numbered after every row the store ever wrote; the demo can be removed."""
    path = tmp_path / STORE_FILENAME
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:9])
        old = Store(path, clock=FixedClock(NOW))
        with old.transaction() as conn:
            _write_as_version_9(conn)
        last_seq = int(old.scalar("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"))
        old.close()
    assert last_seq == 6

    ws = Workspace.open(tmp_path, clock=FixedClock(NOW))
    try:
        assert ws.store.schema_version == migrations.latest_version()
        demo = {str(r[0]): int(r[1]) for r in ws.store.query("SELECT id, demo FROM household")}
        assert demo == {"hd": 1, "hr": 0}
        states = {
            (str(r[0]), str(r[1])) for r in ws.store.query("SELECT entity_id, state FROM outbox")
        }
        assert states == {
            ("hd", "acked"),
            ("hr", "pending"),
            ("mhd", "local"),
            ("mhr", "pending"),
            ("vd", "local"),
        }
        assert ws.pending_sync() == 2

        on_demo = ws.visits.record("hd", outcome="follow_up", next_visit=dt.date(2026, 12, 1))
        on_real = ws.visits.record("hr", outcome="consulted")
        seqs = {
            str(r[0]): (int(r[1]), str(r[2]))
            for r in ws.store.query(
                "SELECT entity_id, seq, state FROM outbox WHERE entity_id IN (?, ?)",
                (on_demo.id, on_real.id),
            )
        }
        assert seqs == {on_demo.id: (7, "local"), on_real.id: (8, "pending")}
        assert ws.pending_sync() == 3

        removed = remove_demo(ws)
        assert (removed.households, removed.members, removed.visits) == (1, 1, 2)
        assert [h.id for h in ws.households.in_village("Bản Phố")] == ["hr"]
        assert ws.pending_sync() == 3
        assert ws.store.integrity_ok()
    finally:
        ws.close()
