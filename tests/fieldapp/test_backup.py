"""Backups of the store: consistent while writing, rotated, encrypted, restored only when sound."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from fieldapp import migrations
from fieldapp.backup import MAGIC, BackupError, Backups, backups_in, restore
from fieldapp.cli import main
from fieldapp.lock import PinLock
from fieldapp.model import Household
from fieldapp.store import STORE_FILENAME, Store
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock

from .conftest import NOW

PIN = "2468"


def _households(data_dir: Path) -> list[tuple[str, str, str | None]]:
    conn = sqlite3.connect(data_dir / STORE_FILENAME)
    try:
        rows = conn.execute("SELECT id, head_name, phone FROM household ORDER BY id").fetchall()
    finally:
        conn.close()
    return [(str(r[0]), str(r[1]), r[2]) for r in rows]


GIVEN_NAMES = ("An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Khánh", "Lan", "Minh", "Nga")


def _fill(add_household: Callable[..., Household], count: int = 3) -> None:
    for i in range(count):
        add_household(head_name=f"Hoàng Văn Thắng {GIVEN_NAMES[i % 10]}", phone=f"09123456{i:02d}")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".fieldapp-"))


def test_backup_while_another_connection_writes(workspace: Workspace, tmp_path: Path) -> None:
    """Backups taken while another connection keeps writing open, pass integrity_check, agree."""
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        other = Workspace.open(workspace.data_dir, clock=FixedClock(NOW))
        try:
            while not stop.is_set():
                other.households.add(
                    province_code="15", commune_code="99001", village="Bản Phố", head_name="Lò A"
                )
                written.append(1)
        finally:
            other.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        paths: list[Path] = []
        for _ in range(5):
            while len(written) < 5 * (len(paths) + 1):
                stop.wait(0.01)
            paths.append(Backups(workspace.store).make(reason="manual"))
            workspace.store.clock.advance(seconds=1)  # type: ignore[attr-defined]
    finally:
        stop.set()
        thread.join()

    counts = []
    for path in paths:
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            households = conn.execute("SELECT count(*) FROM household").fetchone()[0]
            logged = conn.execute(
                "SELECT count(*) FROM outbox WHERE entity = 'household'"
            ).fetchone()[0]
        finally:
            conn.close()
        # Each household and its outbox row are one transaction: a snapshot has both or neither.
        assert households == logged
        counts.append(households)
    assert counts == sorted(counts) and counts[-1] > counts[0] > 0


def test_backup_name_and_atomic_write(workspace: Workspace) -> None:
    """The file is named after the local (Vietnam) time and reason; no temporary file remains."""
    path = Backups(workspace.store).make(reason="Trước khi đi bản")
    assert path.parent == workspace.data_dir / "backups"
    assert path.name.startswith("fieldapp-20261123-100000-")
    assert path.suffix == ".fabak"
    assert path.read_bytes().startswith(b"SQLite format 3\x00")
    second = Backups(workspace.store).make()
    assert second.name == "fieldapp-20261123-100000-manual.fabak"
    third = Backups(workspace.store).make()
    assert third.name == "fieldapp-20261123-100000-manual-2.fabak"
    assert _leftovers(path.parent) == []
    assert _leftovers(workspace.data_dir) == []


def test_rotation_keeps_newest_per_folder(workspace: Workspace, tmp_path: Path) -> None:
    """With keep=4, each folder keeps its 4 newest backups; other files there are left alone."""
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / "bao-cao.xlsx").write_bytes(b"not ours")
    made = []
    for _ in range(7):
        made.append(Backups(workspace.store).make(to_dir=usb, keep=4))
        workspace.store.clock.advance(minutes=1)  # type: ignore[attr-defined]
    newest = [p.name for p in reversed(made[-4:])]
    assert [p.name for p in backups_in(workspace.data_dir / "backups")] == newest
    assert [p.name for p in backups_in(usb)] == newest
    assert (usb / "bao-cao.xlsx").read_bytes() == b"not ours"


def test_encrypted_backup_restored_on_another_laptop(
    workspace: Workspace, add_household: Callable[..., Household], tmp_path: Path
) -> None:
    """A PIN-encrypted backup on a USB stick restores on another data folder with the PIN alone."""
    _fill(add_household)
    PinLock(workspace.store).set_pin(PIN)
    usb = tmp_path / "usb"
    local = Backups(workspace.store).make(to_dir=usb, key=PinLock(workspace.store).derive_key(PIN))
    on_stick = usb / local.name
    data = on_stick.read_bytes()
    assert data == local.read_bytes()
    assert data.startswith(MAGIC)
    assert b"SQLite format 3" not in data
    assert "Hoàng Văn Thắng".encode() not in data and b"0912345600" not in data

    other = tmp_path / "other-laptop"
    kept = restore(on_stick, data_dir=other, pin=PIN)

    assert kept is None
    assert _households(other) == _households(workspace.data_dir)
    ws = Workspace.open(other, clock=FixedClock(NOW))
    try:
        assert ws.households.count() == 3
        assert ws.store.integrity_ok()
    finally:
        ws.close()


def test_wrong_pin_is_refused_and_nothing_is_replaced(
    workspace: Workspace, add_household: Callable[..., Household], tmp_path: Path
) -> None:
    """A wrong PIN gives a clear bilingual error; the store in place stays byte for byte."""
    _fill(add_household)
    PinLock(workspace.store).set_pin(PIN)
    path = Backups(workspace.store).make(key=PinLock(workspace.store).derive_key(PIN))
    other = tmp_path / "other-laptop"
    Workspace.open(other, clock=FixedClock(NOW)).close()
    before = (other / STORE_FILENAME).read_bytes()

    with pytest.raises(BackupError) as caught:
        restore(path, data_dir=other, pin="1357")
    assert caught.value.vi.startswith("Sai mã PIN hoặc tệp sao lưu bị hỏng")
    assert caught.value.en.startswith("Wrong PIN or damaged backup file")
    with pytest.raises(BackupError) as caught:
        restore(path, data_dir=other)
    assert caught.value.code == "backup_needs_pin"

    assert (other / STORE_FILENAME).read_bytes() == before
    assert sorted(p.name for p in other.iterdir()) == [STORE_FILENAME]


@pytest.mark.parametrize(
    ("damage", "encrypted"),
    [
        ("truncate", False),
        ("truncate", True),
        ("zero-page", False),
        ("zero-page", True),
        ("garbage", False),
        ("empty", False),
        # Only the encrypted container can tell one changed bit: a plain SQLite file has no
        # checksum of its records, so a flip inside a record passes integrity_check.
        ("flip", True),
        ("flip-header", True),
    ],
)
def test_damaged_backup_is_refused(
    workspace: Workspace,
    add_household: Callable[..., Household],
    tmp_path: Path,
    damage: str,
    encrypted: bool,
) -> None:
    """A truncated, zeroed, bit-flipped, garbage or empty backup is refused; nothing is replaced."""
    _fill(add_household, 20)
    PinLock(workspace.store).set_pin(PIN)
    key = PinLock(workspace.store).derive_key(PIN) if encrypted else None
    path = Backups(workspace.store).make(key=key)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "zero-page":
        page = 4096
        data[page : 2 * page] = bytes(page)
    elif damage == "flip":
        data[len(data) * 3 // 4] ^= 0x40
    elif damage == "flip-header":
        data[len(MAGIC) + 3] ^= 0x01
    elif damage == "garbage":
        data = bytearray(b"\x00garbage" * 100)
    else:
        data = bytearray()
    bad = tmp_path / "bad.fabak"
    bad.write_bytes(bytes(data))
    other = tmp_path / "other-laptop"
    Workspace.open(other, clock=FixedClock(NOW)).close()
    before = (other / STORE_FILENAME).read_bytes()

    with pytest.raises(BackupError) as caught:
        restore(bad, data_dir=other, pin=PIN)

    assert caught.value.code in {"backup_wrong_key", "backup_damaged"}
    assert (other / STORE_FILENAME).read_bytes() == before
    assert sorted(p.name for p in other.iterdir()) == [STORE_FILENAME]


def test_backup_of_newer_schema_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    """A backup made by a newer app (higher user_version) is refused; nothing is replaced."""
    path = Backups(workspace.store).make()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {migrations.latest_version() + 1}")
    conn.close()
    other = tmp_path / "other-laptop"
    Workspace.open(other, clock=FixedClock(NOW)).close()
    before = (other / STORE_FILENAME).read_bytes()

    with pytest.raises(BackupError) as caught:
        restore(path, data_dir=other)

    assert caught.value.code == "backup_too_new"
    assert (other / STORE_FILENAME).read_bytes() == before


def test_file_that_is_not_a_fieldapp_store_is_refused(tmp_path: Path) -> None:
    """A sound SQLite file without fieldapp's tables is refused."""
    path = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with pytest.raises(BackupError) as caught:
        restore(path, data_dir=tmp_path / "data")
    assert caught.value.code == "backup_damaged"
    assert not (tmp_path / "data" / STORE_FILENAME).exists()


def test_replaced_store_is_kept_with_its_wal(
    workspace: Workspace, add_household: Callable[..., Household], tmp_path: Path
) -> None:
    """Restoring keeps the current store, including changes that were only in its -wal."""
    _fill(add_household, 2)
    path = Backups(workspace.store).make()
    add_household(head_name="Người Thêm Sau")
    # The laptop as a power cut leaves it: the newest change is only in the -wal.
    cut = tmp_path / "after-power-cut"
    cut.mkdir()
    shutil.copyfile(workspace.store.path, cut / STORE_FILENAME)
    shutil.copyfile(f"{workspace.store.path}-wal", cut / f"{STORE_FILENAME}-wal")

    kept = restore(path, data_dir=cut, clock=FixedClock(NOW))

    assert kept == cut / f"{STORE_FILENAME}.replaced-20261123-100000"
    assert not (cut / f"{STORE_FILENAME}-wal").exists()
    assert not (cut / f"{STORE_FILENAME}-shm").exists()
    assert len(_households(cut)) == 2
    conn = sqlite3.connect(kept)
    try:
        names = {r[0] for r in conn.execute("SELECT head_name FROM household")}
    finally:
        conn.close()
    assert "Người Thêm Sau" in names and len(names) == 3


def test_restore_refused_while_the_store_is_open(workspace: Workspace) -> None:
    """Restoring over a store the app still has open is refused; the store is left as it was."""
    path = Backups(workspace.store).make()
    with pytest.raises(BackupError) as caught:
        restore(path, data_dir=workspace.data_dir)
    assert caught.value.code == "store_in_use"
    assert workspace.households.count() == 0
    assert not list(workspace.data_dir.glob("*.replaced-*"))


def test_start_of_day_backup_once_per_local_day(workspace: Workspace, clock: FixedClock) -> None:
    """One automatic backup per Vietnam day: none again the same evening, one after midnight."""
    first = Backups(workspace.store).start_of_day()
    assert first is not None and first.name.endswith("-auto.fabak")
    assert Backups(workspace.store).start_of_day() is None
    clock.advance(hours=13)  # 23:00 in Vietnam, same day (16:00 UTC)
    assert Backups(workspace.store).start_of_day() is None
    clock.advance(hours=2)  # 01:00 the next day in Vietnam, still 23 November in UTC
    second = Backups(workspace.store).start_of_day()
    assert second is not None and second.name.startswith("fieldapp-20261124-010000-auto")
    assert len(backups_in(workspace.data_dir / "backups")) == 2


def _older_store(path: Path, monkeypatch: pytest.MonkeyPatch) -> list[migrations.Migration]:
    """A store with one household written by an app that knew only migration 1."""
    everything = list(migrations.MIGRATIONS)
    monkeypatch.setattr(migrations, "MIGRATIONS", everything[:1])
    store = Store(path, clock=FixedClock(NOW))
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO household (id, province_code, commune_code, village, head_name, "
            "created_at, updated_at) VALUES ('h1', '15', '99001', 'Bản Phố', 'Lò Văn Pọm', "
            "'2026-11-23', '2026-11-23')"
        )
    store.close()
    monkeypatch.setattr(migrations, "MIGRATIONS", everything)
    return everything


def test_older_store_is_backed_up_before_migrating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening the workspace of a store at schema 1 with a newer app first writes a copy at
    schema 1."""
    path = tmp_path / STORE_FILENAME
    _older_store(path, monkeypatch)

    with Workspace.open(tmp_path, clock=FixedClock(NOW)) as ws:
        assert ws.store.schema_version == migrations.latest_version()

    [copy] = backups_in(tmp_path / "backups")
    assert copy.name == "fieldapp-20261123-100000-before-migration-v2.fabak"
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("SELECT head_name FROM household").fetchall() == [("Lò Văn Pọm",)]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    # Opening an up-to-date store, or creating a new one, makes no copy.
    Workspace.open(tmp_path, clock=FixedClock(NOW)).close()
    Workspace.open(tmp_path / "new", clock=FixedClock(NOW)).close()
    assert len(backups_in(tmp_path / "backups")) == 1
    assert not (tmp_path / "new" / "backups").exists()


def test_migration_waits_when_the_copy_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the pre-migration copy fails, the store is not migrated and keeps its data."""
    path = tmp_path / STORE_FILENAME
    _older_store(path, monkeypatch)
    (tmp_path / "backups").write_text("a file where the folder should be")

    with pytest.raises(BackupError) as caught:
        Workspace.open(tmp_path, clock=FixedClock(NOW))

    assert caught.value.code == "backup_before_migration"
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    finally:
        conn.close()


def test_restored_older_backup_is_migrated_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backup at an older schema restores, and the app migrates it when it opens it."""
    old = tmp_path / "old" / STORE_FILENAME
    old.parent.mkdir()
    _older_store(old, monkeypatch)
    data_dir = tmp_path / "data"
    restore(old, data_dir=data_dir)
    ws = Workspace.open(data_dir, clock=FixedClock(NOW))
    try:
        assert ws.store.schema_version == migrations.latest_version()
        assert ws.households.get("h1").head_name == "Lò Văn Pọm"
    finally:
        ws.close()


# -- command line ---------------------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_backup_and_restore_with_pin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pin set, backup --pin --to USB, restore on another folder; a wrong PIN fails on stderr."""
    monkeypatch.setenv("FIELDAPP_LANG", "vi")
    monkeypatch.setenv("FIELDAPP_PIN", PIN)
    data, usb, other = tmp_path / "data", tmp_path / "usb", tmp_path / "other"
    ws = Workspace.open(data)
    ws.households.add(province_code="15", commune_code="99001", village="Bản Phố", head_name="Lò A")
    ws.close()

    code, out, err = _run(capsys, "--data-dir", str(data), "pin", "set")
    assert code == 0, err
    assert "Đã đặt mã PIN" in out

    code, out, err = _run(capsys, "--data-dir", str(data), "backup", "--pin", "--to", str(usb))
    assert code == 0, err
    [on_stick] = backups_in(usb)
    assert on_stick.read_bytes().startswith(MAGIC)
    assert "Đã sao lưu" in out and str(on_stick) in out

    monkeypatch.setenv("FIELDAPP_PIN", "9999")
    code, out, err = _run(capsys, "--data-dir", str(other), "restore", str(on_stick))
    assert code == 1
    assert "Sai mã PIN hoặc tệp sao lưu bị hỏng" in err
    assert not (other / STORE_FILENAME).exists()

    monkeypatch.setenv("FIELDAPP_PIN", PIN)
    monkeypatch.setenv("FIELDAPP_LANG", "en")
    code, out, err = _run(capsys, "--data-dir", str(other), "restore", str(on_stick), "--pin")
    assert code == 0, err
    assert "Restored" in out
    assert [h[1] for h in _households(other)] == ["Lò A"]


def test_cli_backup_with_pin_needs_a_pin_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """backup --pin before any PIN is set fails with a message that says how to set one."""
    monkeypatch.setenv("FIELDAPP_LANG", "vi")
    monkeypatch.setenv("FIELDAPP_PIN", PIN)
    code, _, err = _run(capsys, "--data-dir", str(tmp_path), "backup", "--pin")
    assert code == 1
    assert "fieldapp pin set" in err
    assert not (tmp_path / "backups").exists() or not backups_in(tmp_path / "backups")
