"""The local store: migrations, refusal of newer files, durability pragmas, transactions, clocks."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fieldapp import migrations
from fieldapp.errors import StoreVersionError
from fieldapp.store import STORE_FILENAME, Store, default_data_dir
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from sync.protocol.errors import FieldappError
from sync.protocol.hlc import hlc_parse

from .conftest import NOW

ROOT = Path(__file__).resolve().parents[2]


def _add(ws: Workspace, head_name: str = "Lê Văn An") -> str:
    return ws.households.add(
        province_code="15", commune_code="99001", village="Bản Phố", head_name=head_name
    ).id


def _last_outbox_hlc(ws: Workspace) -> str:
    return str(ws.store.scalar("SELECT hlc FROM outbox ORDER BY seq DESC LIMIT 1"))


def test_new_store_is_migrated_to_latest_version(tmp_path: Path) -> None:
    """A store created from nothing ends at the latest schema version with every table."""
    store = Store(tmp_path / STORE_FILENAME, clock=FixedClock(NOW))
    try:
        assert store.schema_version == migrations.latest_version() >= 1
        tables = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}
        for name in ("meta", "household", "member", "visit", "pledge", "pledge_event", "outbox"):
            assert name in tables
        assert "search_index" in tables
        assert store.integrity_ok()
    finally:
        store.close()


def test_migrations_are_numbered_consecutively() -> None:
    """Registered migrations run 1, 2, 3… with a description each."""
    versions = [m.version for m in migrations.MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
    assert all(m.description for m in migrations.MIGRATIONS)


def test_migration_out_of_order_is_refused() -> None:
    """Registering a migration with a skipped version number fails at import time."""
    with pytest.raises(RuntimeError):
        migrations.migration(migrations.latest_version() + 2, "skips a number")(lambda conn: None)


def test_failed_migration_leaves_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration that fails half-way is rolled back whole: no new table, version unchanged."""
    path = tmp_path / STORE_FILENAME
    Store(path, clock=FixedClock(NOW)).close()
    before = migrations.latest_version()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        raise sqlite3.OperationalError("disk on fire")

    monkeypatch.setattr(
        migrations,
        "MIGRATIONS",
        [*migrations.MIGRATIONS, migrations.Migration(before + 1, "broken", broken)],
    )
    with pytest.raises(sqlite3.OperationalError):
        Store(path, clock=FixedClock(NOW))
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == before
        assert (
            conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
        )
    finally:
        conn.close()


def test_store_newer_than_app_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """A file with a newer user_version raises StoreVersionError and stays byte-identical."""
    path = tmp_path / STORE_FILENAME
    ws = Workspace.open(tmp_path, clock=FixedClock(NOW))
    _add(ws)
    ws.close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {migrations.latest_version() + 1}")
    conn.close()
    content = path.read_bytes()
    mtime = os.stat(path).st_mtime_ns

    with pytest.raises(StoreVersionError) as caught:
        Workspace.open(tmp_path, clock=FixedClock(NOW))

    assert isinstance(caught.value, FieldappError)
    assert caught.value.code == "store_too_new"
    assert caught.value.vi and caught.value.en and caught.value.vi != caught.value.en
    assert path.read_bytes() == content
    assert os.stat(path).st_mtime_ns == mtime


def test_durability_pragmas(workspace: Workspace) -> None:
    """The store runs in WAL mode with synchronous FULL and foreign keys enforced."""
    conn = workspace.store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_foreign_keys_refuse_orphan_member(workspace: Workspace) -> None:
    """A member row pointing at no household is refused by the database itself."""
    with pytest.raises(sqlite3.IntegrityError), workspace.store.transaction() as conn:
        conn.execute(
            "INSERT INTO member (id, household_id, full_name, sort_key, created_at, updated_at) "
            "VALUES ('m', 'no-such-household', 'A', 'a', 'x', 'x')"
        )


def test_transaction_that_raises_leaves_nothing(
    workspace: Workspace, counts: Callable[[Store], dict[str, int]]
) -> None:
    """Rows, outbox rows, search rows and meta values all roll back on an exception."""
    before = counts(workspace.store)
    meta_before = [tuple(r) for r in workspace.store.query("SELECT * FROM meta ORDER BY key")]
    with pytest.raises(RuntimeError, match="stop"), workspace.store.transaction():
        household_id = _add(workspace)
        workspace.members.add(household_id, full_name="Lê Văn An")
        raise RuntimeError("stop")
    assert counts(workspace.store) == before
    assert [tuple(r) for r in workspace.store.query("SELECT * FROM meta ORDER BY key")] == (
        meta_before
    )


def test_nested_transactions_join_the_outer_one(workspace: Workspace) -> None:
    """An inner transaction commits nothing on its own; the outer one commits everything."""
    other = sqlite3.connect(workspace.store.path)
    try:
        with workspace.store.transaction():
            first = _add(workspace, "Lê Văn An")
            with workspace.store.transaction():
                _add(workspace, "Hà Thị Bình")
            assert other.execute("SELECT count(*) FROM household").fetchone()[0] == 0
            assert workspace.store.scalar("SELECT count(*) FROM household") == 2
        assert other.execute("SELECT count(*) FROM household").fetchone()[0] == 2
        assert other.execute("SELECT count(*) FROM outbox").fetchone()[0] == 2
    finally:
        other.close()
    assert workspace.households.get(first).head_name == "Lê Văn An"


def test_inner_failure_rolls_back_the_outer_work(
    workspace: Workspace, counts: Callable[[Store], dict[str, int]]
) -> None:
    """An exception escaping a nested transaction undoes the outer transaction's writes too."""
    before = counts(workspace.store)
    with pytest.raises(ValueError), workspace.store.transaction():
        _add(workspace)
        with workspace.store.transaction():
            _add(workspace, "Hà Thị Bình")
            raise ValueError("inner")
    assert counts(workspace.store) == before
    # The store is usable afterwards, outside any transaction.
    _add(workspace)
    assert workspace.households.count() == 1


def test_outbox_rows_only_inside_a_transaction(workspace: Workspace) -> None:
    """append_outbox refuses to write outside a transaction."""
    with pytest.raises(RuntimeError):
        workspace.store.append_outbox(
            entity="household", entity_id="x", op="insert", hlc="h", data={}
        )
    assert workspace.pending_sync() == 0


def test_device_id_is_stable_across_reopen(tmp_path: Path) -> None:
    """The device id minted on first open is the same after closing and reopening."""
    ws = Workspace.open(tmp_path, clock=FixedClock(NOW))
    device = ws.store.device_id
    ws.close()
    again = Workspace.open(tmp_path, clock=FixedClock(NOW + dt.timedelta(days=3)))
    try:
        assert again.store.device_id == device
        assert again.agent_id == device
    finally:
        again.close()


def test_hybrid_clock_is_persisted_and_monotonic_across_reopen(tmp_path: Path) -> None:
    """Stamps keep growing after reopening, even with the same or an earlier wall clock."""
    ws = Workspace.open(tmp_path, clock=FixedClock(NOW))
    _add(ws)
    _add(ws)
    stamps = [r[0] for r in ws.store.query("SELECT hlc FROM outbox ORDER BY seq")]
    ws.close()

    for moment in (NOW, NOW - dt.timedelta(hours=5)):
        ws = Workspace.open(tmp_path, clock=FixedClock(moment))
        _add(ws)
        stamps.append(_last_outbox_hlc(ws))
        ws.close()

    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)
    parsed = [hlc_parse(s) for s in stamps]
    assert parsed == sorted(parsed)
    assert {p.device_id for p in parsed} == {stamps[0].split("-", 2)[2]}


def test_default_data_dir_honours_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FIELDAPP_DATA_DIR chooses the data folder when set."""
    monkeypatch.setenv("FIELDAPP_DATA_DIR", str(tmp_path / "here"))
    assert default_data_dir() == tmp_path / "here"
    monkeypatch.delenv("FIELDAPP_DATA_DIR")
    assert default_data_dir().name == "fieldapp"


@pytest.mark.parametrize("folder", ["Dữ liệu của Hương", "a b#c", "x%20y", "q?x=1"])
def test_reopen_in_folders_with_unusual_names(tmp_path: Path, folder: str) -> None:
    """A data folder with Vietnamese letters, spaces, #, % or ? reopens to the same store."""
    ws = Workspace.open(tmp_path / folder, clock=FixedClock(NOW))
    device = ws.store.device_id
    ws.close()
    again = Workspace.open(tmp_path / folder, clock=FixedClock(NOW))
    try:
        assert again.store.device_id == device
    finally:
        again.close()


def test_observed_remote_clock_is_kept_across_reopen(tmp_path: Path) -> None:
    """A timestamp seen from another device keeps later local stamps ahead of it after reopen.

    The other device's clock runs a day ahead of this laptop's: within the tolerance."""
    ahead_ms = int((NOW + dt.timedelta(days=1)).timestamp() * 1000)
    remote = f"{ahead_ms:015d}-00007-other-device"
    ws = Workspace.open(tmp_path, clock=FixedClock(NOW))
    ws.store.observe(remote)
    ws.close()
    ws = Workspace.open(tmp_path, clock=FixedClock(NOW))
    try:
        _add(ws)
        stamp = hlc_parse(_last_outbox_hlc(ws))
        assert (stamp.wall_ms, stamp.counter) > (
            hlc_parse(remote).wall_ms,
            hlc_parse(remote).counter,
        )
        assert stamp.device_id == ws.store.device_id
    finally:
        ws.close()


def test_demo_store_has_one_outbox_insert_per_record(demo_workspace: Workspace) -> None:
    """In the demo commune every record has exactly one outbox insert, and search covers all."""
    store = demo_workspace.store
    for table in ("household", "member", "visit", "pledge", "pledge_event"):
        missing = store.scalar(
            f"SELECT count(*) FROM {table} t WHERE (SELECT count(*) FROM outbox o "
            "WHERE o.entity = ? AND o.entity_id = t.id AND o.op = 'insert') != 1",
            (table,),
        )
        assert missing == 0, table
        assert store.scalar(f"SELECT count(*) FROM {table}") > 0, table
    indexed = store.scalar("SELECT count(*) FROM search_index")
    present = store.scalar("SELECT count(*) FROM member WHERE removed = 0")
    assert indexed == demo_workspace.households.count() + present
    assert store.integrity_ok()


def test_household_lists_read_an_index_not_the_whole_table(workspace: Workspace) -> None:
    """The village list, a village's households and the count each read the partial index."""
    _add(workspace)
    statements: list[str] = []
    workspace.store.conn.set_trace_callback(statements.append)
    try:
        workspace.households.villages()
        workspace.households.in_village("Bản Phố")
        workspace.households.count()
    finally:
        workspace.store.conn.set_trace_callback(None)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 3, reads
    for sql in reads:
        plan = " ".join(
            str(row[3]) for row in workspace.store.conn.execute(f"EXPLAIN QUERY PLAN {sql}")
        )
        assert "household_here" in plan, (sql, plan)


def _write_as_version_1(conn: sqlite3.Connection) -> None:
    """A household, a member, their search rows and outbox rows, as the first schema held them."""
    now = "2026-11-23T03:00:00.000Z"
    conn.execute(
        "INSERT INTO household (id, province_code, commune_code, village, head_name, "
        "created_at, updated_at) VALUES ('h1', '15', '99001', 'Bản Phố', 'Giàng Seo Sử', ?, ?)",
        (now, now),
    )
    conn.execute(
        "INSERT INTO member (id, household_id, full_name, sort_key, cccd, sex, created_at, "
        "updated_at) VALUES ('m1', 'h1', 'Giàng A Páo', 'x', '010080123456', 'male', ?, ?)",
        (now, now),
    )
    conn.executemany(
        "INSERT INTO search_index (body, member_id, household_id) VALUES (?, ?, 'h1')",
        [("giang seo su ban pho", None), ("giang a pao 010080123456 ban pho", "m1")],
    )
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'search_row'").fetchone():
        # From version 4 on, each search row has its household map entry.
        conn.execute(
            "INSERT INTO search_row (id, household_id, member_id) "
            "SELECT rowid, household_id, member_id FROM search_index"
        )
    conn.executemany(
        "INSERT INTO outbox (entity, entity_id, op, hlc, data, created_at) "
        "VALUES (?, ?, 'insert', ?, '{}', ?)",
        [
            ("household", "h1", "000001795000000-00000-d", now),
            ("member", "m1", "000001795000000-00001-d", now),
        ],
    )


@pytest.mark.parametrize("from_version", range(1, migrations.latest_version()))
def test_migration_from_every_earlier_version_keeps_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, from_version: int
) -> None:
    """A store left at an earlier schema version opens, migrates to the latest, keeps its data,
    and a copy of it is kept from before the upgrade."""
    path = tmp_path / STORE_FILENAME
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:from_version])
        old = Store(path, clock=FixedClock(NOW))
        with old.transaction() as conn:
            _write_as_version_1(conn)
        device_id = old.device_id
        old.close()
    ws = Workspace.open(tmp_path, clock=FixedClock(NOW))
    try:
        assert ws.store.schema_version == migrations.latest_version()
        assert ws.store.device_id == device_id
        assert [h.full_name for h in ws.search.find("giang a pao")] == ["Giàng A Páo"]
        # Changes after the upgrade keep the search index whole.
        ws.members.update("m1", full_name="Giàng Seo Páo")
        assert [h.full_name for h in ws.search.find("giang seo pao")] == ["Giàng Seo Páo"]
        assert ws.search.find("giang a pao") == []
        assert ws.members.count() == 1
        assert ws.store.integrity_ok()
        assert ws.pending_sync() == 3
        assert list((tmp_path / "backups").glob(f"*before-migration-v{from_version + 1}*"))
    finally:
        ws.close()


@pytest.mark.parametrize("from_version", range(1, migrations.latest_version()))
def test_an_upgraded_store_has_the_schema_of_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, from_version: int
) -> None:
    """A store upgraded from any earlier version, with data in it, ends with exactly the tables,
    indexes, triggers and SQL texts that a store created at the latest version has."""
    path = tmp_path / "old" / STORE_FILENAME
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:from_version])
        old = Store(path, clock=FixedClock(NOW))
        with old.transaction() as conn:
            _write_as_version_1(conn)
        old.close()
    upgraded = Store(path, clock=FixedClock(NOW))
    fresh = Store(tmp_path / "new" / STORE_FILENAME, clock=FixedClock(NOW))
    try:
        assert upgraded.schema_version == fresh.schema_version == migrations.latest_version()
        assert _schema(upgraded) == _schema(fresh)
        assert {row[1] for row in _schema(fresh)} >= {"outbox_pending", "cash_handover_no_update"}
    finally:
        upgraded.close()
        fresh.close()


def _schema(store: Store) -> list[tuple[str, str, str | None]]:
    """Every table, index and trigger with the SQL that made it."""
    return [
        (str(r[0]), str(r[1]), r[2])
        for r in store.query("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
    ]


# -- sqlite-utils over the store's connection ----------------------------------------------------


def test_sqlite_utils_writes_commit_and_roll_back_with_the_store_transaction(
    workspace: Workspace,
) -> None:
    """insert_all and upsert_all through Store.db inside transaction() commit nothing on their
    own: a rollback after them leaves nothing, and the transaction's commit keeps them all."""
    store = workspace.store
    rows = [
        {"id": f"t{i}", "scheme": "bhyt_household", "month": "2026-12", "count": i, "data": "{}"}
        for i in range(5)
    ]
    other = sqlite3.connect(store.path)
    try:
        with pytest.raises(RuntimeError, match="cancel"), store.transaction():
            store.db.table("target").insert_all(rows, batch_size=2)
            store.db.table("target").upsert_all([{**rows[0], "count": 40}], pk="id")
            assert store.conn.in_transaction
            assert store.scalar("SELECT sum(count) FROM target") == 40 + 1 + 2 + 3 + 4
            assert other.execute("SELECT count(*) FROM target").fetchone() == (0,)
            raise RuntimeError("cancel")
        assert store.scalar("SELECT count(*) FROM target") == 0

        with store.transaction():
            store.db.table("target").insert_all(rows, batch_size=2)
            store.db.table("target").upsert_all([{**rows[0], "count": 40}], pk="id")
            assert other.execute("SELECT count(*) FROM target").fetchone() == (0,)
        assert not store.conn.in_transaction
        assert other.execute("SELECT count(*), sum(count) FROM target").fetchone() == (5, 50)
    finally:
        other.close()


def test_sqlite_utils_leaves_the_connection_settings_alone(workspace: Workspace) -> None:
    """Using Store.db changes none of the store connection's pragmas (recursive triggers stay
    off, foreign keys on)."""
    pragmas = ("foreign_keys", "recursive_triggers", "synchronous", "journal_mode")
    before = {name: workspace.store.scalar(f"PRAGMA {name}") for name in pragmas}
    assert workspace.store.db.table("meta").count >= 1
    assert {name: workspace.store.scalar(f"PRAGMA {name}") for name in pragmas} == before
    assert (before["foreign_keys"], before["recursive_triggers"]) == (1, 0)


def test_opening_an_up_to_date_store_does_not_load_sqlite_utils(tmp_path: Path) -> None:
    """sqlite-utils (a tenth of a second to import) is loaded when first used: neither opening
    an up-to-date store and searching it nor importing the modules that use it loads it."""
    Workspace.open(tmp_path, clock=FixedClock(NOW)).close()
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import fieldapp.export, fieldapp.importer, fieldapp.migrations, fieldapp.syncstate\n"
        "from fieldapp.workspace import Workspace\n"
        "from sync.protocol.clock import SystemClock\n"
        f"ws = Workspace.open(Path({str(tmp_path)!r}), clock=SystemClock())\n"
        "ws.search.find('nguyen')\n"
        "ws.close()\n"
        "print('sqlite_utils loaded:', 'sqlite_utils' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sqlite_utils loaded: False" in result.stdout
