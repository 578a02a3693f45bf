"""Backups of the local store (consistent while the app writes), optionally encrypted, and restore.

A backup is made with SQLite's online backup API from a separate read connection, so it is one
committed snapshot even while the app keeps writing. Unencrypted backups are plain SQLite files
that any SQLite tool opens. Encrypted backups use the FABK1 container:

    offset  size  content
    0       5     magic b"FABK1"
    5       16    salt: the scrypt salt of the PIN key (lock.key_from_pin, n=2**14, r=8, p=1),
                  so the PIN alone opens the file on another laptop; random for a raw device key
    21      12    nonce, random for every file
    33      ...   AES-256-GCM ciphertext of the SQLite file followed by the 16-byte tag

The 33 header bytes are the associated data, so a changed salt or nonce also fails the tag check.
Files are written whole or not at all: temporary file, fsync, rename, fsync of the folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fieldapp import migrations
from fieldapp.lock import KEY_BYTES, KEY_SALT, SALT_BYTES, key_from_pin
from fieldapp.store import STORE_FILENAME, Store
from sync.protocol.clock import VIETNAM_TZ, Clock, SystemClock
from sync.protocol.errors import FieldappError

log = logging.getLogger(__name__)

MAGIC = b"FABK1"
NONCE_BYTES = 12
HEADER_BYTES = len(MAGIC) + SALT_BYTES + NONCE_BYTES
SQLITE_MAGIC = b"SQLite format 3\x00"
BACKUP_DIRNAME = "backups"
SUFFIX = ".fabak"
DEFAULT_KEEP = 10
LAST_AUTO_DAY = "backup.last_auto_day"

# Tables every fieldapp store has had since schema 1.
REQUIRED_TABLES = ("meta", "household", "member", "visit", "pledge", "pledge_event", "outbox")

_NAME = re.compile(r"^fieldapp-(\d{8})-(\d{6})-([a-z0-9][a-z0-9-]*)\.fabak$")
_REASON = re.compile(r"[^a-z0-9-]+")


class BackupError(FieldappError):
    """A backup could not be written, or a backup file cannot be restored."""


def _wrong_key() -> BackupError:
    return BackupError(
        "Sai mã PIN hoặc tệp sao lưu bị hỏng. Dữ liệu hiện tại không bị thay đổi.",
        "Wrong PIN or damaged backup file. The current data was not changed.",
        code="backup_wrong_key",
    )


def _damaged(vi: str, en: str) -> BackupError:
    return BackupError(
        f"Tệp sao lưu bị hỏng hoặc không phải dữ liệu fieldapp ({vi}). "
        "Dữ liệu hiện tại không bị thay đổi.",
        f"The backup file is damaged or is not fieldapp data ({en}). "
        "The current data was not changed.",
        code="backup_damaged",
    )


# -- writing ------------------------------------------------------------------------------------


def backup_dir(data_dir: Path) -> Path:
    return Path(data_dir) / BACKUP_DIRNAME


class Backups:
    """Copies of one open store: on demand, the day's first at app start, before an upgrade."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def make(
        self,
        *,
        to_dir: Path | None = None,
        reason: str = "manual",
        key: bytes | None = None,
        keep: int = DEFAULT_KEEP,
    ) -> Path:
        """Back up the store into <data dir>/backups/ (and `to_dir`); returns the local file.

        :param to_dir: a second folder (a USB stick) that gets the same file.
        :param reason: a short word in the file name (manual, auto, before-migration-v3…).
        :param key: 32-byte key (PinLock.derive_key or a device key); the file is encrypted
            when given.
        :param keep: how many backups each folder keeps; older fieldapp backups there are
            deleted.
        """
        store = self.store
        if key is not None and len(key) != KEY_BYTES:
            raise ValueError("a backup key is 32 bytes (AES-256)")
        _require_keep(keep)
        local_dir = backup_dir(store.path.parent)
        local_dir.mkdir(parents=True, exist_ok=True)
        payload = snapshot(store.path)
        if key is not None:
            salt_hex = store.meta(KEY_SALT)
            salt = bytes.fromhex(salt_hex) if salt_hex else secrets.token_bytes(SALT_BYTES)
            payload = encrypt(payload, key=key, salt=salt)
        name = _file_name(local_dir, store.clock, reason, also=to_dir)
        local = local_dir / name
        _write_atomically(local, payload)
        rotate(local_dir, keep=keep)
        log.info("backup written: %s (%d bytes, encrypted=%s)", local.name, len(payload), bool(key))
        if to_dir is not None:
            try:
                Path(to_dir).mkdir(parents=True, exist_ok=True)
                _write_atomically(Path(to_dir) / name, payload)
                rotate(Path(to_dir), keep=keep)
            except OSError as exc:
                log.warning("backup copy to the second folder failed: %s", exc.strerror)
                raise BackupError(
                    f"Đã sao lưu trong máy ({local}) nhưng không ghi được vào {to_dir}: "
                    f"{exc.strerror}.",
                    f"Backed up on this laptop ({local}) but could not write to {to_dir}: "
                    f"{exc.strerror}.",
                    code="backup_to_dir",
                ) from exc
        return local

    def start_of_day(
        self,
        *,
        to_dir: Path | None = None,
        key: bytes | None = None,
        keep: int = DEFAULT_KEEP,
    ) -> Path | None:
        """The day's automatic backup, taken at app start; None when today's is already done."""
        today = self.store.clock.today().isoformat()
        if self.store.meta(LAST_AUTO_DAY) == today:
            return None
        path = self.make(to_dir=to_dir, reason="auto", key=key, keep=keep)
        self.store.set_meta(LAST_AUTO_DAY, today)
        return path

    def before_migration(self, version: int) -> Path:
        """A plain copy taken before migration `version` runs on an existing store.

        Unencrypted because the PIN is not known while the store opens; it sits next to the
        (equally unencrypted) store in the data folder, so it exposes nothing new.
        """
        try:
            return self.make(reason=f"before-migration-v{version}")
        except (OSError, sqlite3.Error) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise BackupError(
                f"Không sao lưu được dữ liệu trước khi nâng cấp ({why}); dữ liệu chưa bị "
                "thay đổi. Hãy giải phóng dung lượng ổ đĩa rồi mở lại ứng dụng.",
                f"Could not back up the data before upgrading it ({why}); nothing was "
                "changed. Free some disk space and start the app again.",
                code="backup_before_migration",
            ) from exc


def snapshot(path: Path) -> bytes:
    """The bytes of a consistent copy of the SQLite file at `path`, as one self-contained file."""
    with _temp_path(Path(path).parent, ".snapshot") as temp:
        source = sqlite3.connect(path, timeout=30)
        try:
            source.execute("PRAGMA query_only = ON")
            dest = sqlite3.connect(temp)
            try:
                # pages=-1 copies everything in one step under one read transaction: in WAL mode
                # that is a committed snapshot, and writers on other connections are not blocked.
                source.backup(dest, pages=-1)
                # The copy would otherwise still say WAL; a backup is one file with no -wal.
                dest.execute("PRAGMA journal_mode = DELETE")
            finally:
                dest.close()
        finally:
            source.close()
        return temp.read_bytes()


def encrypt(plain: bytes, *, key: bytes, salt: bytes) -> bytes:
    """A FABK1 container for `plain` (see the module docstring)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    header = MAGIC + salt + nonce
    return header + AESGCM(key).encrypt(nonce, plain, header)


def decrypt(data: bytes, *, key: bytes | None = None, pin: str | None = None) -> bytes:
    """The SQLite file inside a FABK1 container, opened with a raw key or the agent's PIN."""
    if len(data) < HEADER_BYTES + 16 or not data.startswith(MAGIC):
        raise _wrong_key()
    header = data[:HEADER_BYTES]
    salt = header[len(MAGIC) : len(MAGIC) + SALT_BYTES]
    nonce = header[len(MAGIC) + SALT_BYTES :]
    if key is None:
        if pin is None:
            raise BackupError(
                "Tệp sao lưu này được mã hoá: cần mã PIN.",
                "This backup file is encrypted: the PIN is needed.",
                code="backup_needs_pin",
            )
        key = key_from_pin(pin, salt)
    if len(key) != KEY_BYTES:
        raise _wrong_key()
    try:
        return AESGCM(key).decrypt(nonce, data[HEADER_BYTES:], header)
    except InvalidTag:
        raise _wrong_key() from None


# -- rotation and names -------------------------------------------------------------------------


def backups_in(folder: Path) -> list[Path]:
    """fieldapp backups in a folder, newest first (other files are never touched)."""
    if not Path(folder).is_dir():
        return []
    found = [p for p in Path(folder).iterdir() if p.is_file() and _NAME.match(p.name)]

    def newest(p: Path) -> tuple[str, str, int, str]:
        m = _NAME.match(p.name)
        assert m is not None
        return (m.group(1), m.group(2), p.stat().st_mtime_ns, p.name)

    return sorted(found, key=newest, reverse=True)


def rotate(folder: Path, *, keep: int = DEFAULT_KEEP) -> list[Path]:
    """Delete all but the newest `keep` backups in the folder; returns what was deleted."""
    _require_keep(keep)
    removed = backups_in(folder)[keep:]
    for old in removed:
        old.unlink(missing_ok=True)
    return removed


def _require_keep(keep: int) -> None:
    if keep < 1:
        raise BackupError(
            "Phải giữ lại ít nhất một bản sao lưu.",
            "At least one backup must be kept.",
            code="backup_keep",
        )


def _file_name(folder: Path, clock: Clock, reason: str, *, also: Path | None) -> str:
    local = clock.now().astimezone(VIETNAM_TZ)
    word = _REASON.sub("-", reason.lower()).strip("-") or "manual"
    base = f"fieldapp-{local:%Y%m%d-%H%M%S}-{word}"
    name, n = f"{base}{SUFFIX}", 1
    # Two backups in the same second get a number rather than one replacing the other.
    while (folder / name).exists() or (also is not None and (Path(also) / name).exists()):
        n += 1
        name = f"{base}-{n}{SUFFIX}"
    return name


# -- files --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _temp_path(folder: Path, suffix: str) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".fieldapp-", suffix=suffix, dir=folder)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
    finally:
        for leftover in (temp, Path(f"{temp}-journal"), Path(f"{temp}-wal"), Path(f"{temp}-shm")):
            leftover.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; Windows cannot open a folder, and does not need to.
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes) -> None:
    with _temp_path(path.parent, ".part") as temp:
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    _fsync_dir(path.parent)


# -- restore ------------------------------------------------------------------------------------


def restore(
    path: Path,
    *,
    data_dir: Path,
    key: bytes | None = None,
    pin: str | None = None,
    clock: Clock | None = None,
) -> Path | None:
    """Put a backup in place of the store in `data_dir`, after checking it thoroughly.

    The current store is kept as ``fieldapp.sqlite3.replaced-<time>`` (with its -wal, so no
    committed change is lost); returns that path, or None when there was no store. Refused
    while the store is open anywhere. Any failure leaves the current store untouched.
    """
    clock = clock or SystemClock()
    data_dir = Path(data_dir)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BackupError(
            f"Không đọc được tệp sao lưu {path}: {exc.strerror}.",
            f"Cannot read the backup file {path}: {exc.strerror}.",
            code="backup_unreadable",
        ) from exc
    if data.startswith(MAGIC):
        data = decrypt(data, key=key, pin=pin)
    if not data.startswith(SQLITE_MAGIC):
        raise _damaged("không phải tệp SQLite", "not an SQLite file")

    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / STORE_FILENAME
    if target.exists():
        _refuse_if_open(target)
    with _temp_path(data_dir, ".restore") as temp:
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _check_restorable(temp)
        kept: Path | None = None
        if target.exists():
            stamp = clock.now().astimezone(VIETNAM_TZ).strftime("%Y%m%d-%H%M%S")
            kept = data_dir / f"{STORE_FILENAME}.replaced-{stamp}"
            n = 1
            while kept.exists():
                n += 1
                kept = data_dir / f"{STORE_FILENAME}.replaced-{stamp}-{n}"
            os.replace(target, kept)
            # The -wal may hold committed changes: it travels with the kept file, which replays
            # it when opened. The -shm is only an index and is rebuilt.
            wal = Path(f"{target}-wal")
            if wal.exists():
                os.replace(wal, Path(f"{kept}-wal"))
            Path(f"{target}-shm").unlink(missing_ok=True)
        os.replace(temp, target)
    _fsync_dir(data_dir)
    log.info("store restored from %s; previous store kept as %s", Path(path).name, kept)
    return kept


def _refuse_if_open(store_path: Path) -> None:
    """Refuse while any connection (this app, another process) has the store open."""
    conn = sqlite3.connect(store_path, timeout=0, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise BackupError(
                "Dữ liệu đang được ứng dụng mở. Hãy đóng ứng dụng rồi khôi phục lại; "
                "dữ liệu hiện tại không bị thay đổi.",
                "The data is open in the app. Close the app, then restore again; "
                "the current data was not changed.",
                code="store_in_use",
            ) from exc
        # Any other error: the store itself is damaged, which is a reason to restore it.
    except sqlite3.DatabaseError:
        pass
    finally:
        conn.close()


def _check_restorable(path: Path) -> None:
    """Refuse a file that is damaged, not a fieldapp store, or newer than this app."""
    # Opened read-write: it is a private copy, and a hand-made copy of a WAL store needs to be
    # able to create its -shm. Nothing is written.
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA query_only = ON")
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        page_count = int(conn.execute("PRAGMA page_count").fetchone()[0])
        if page_size * page_count != path.stat().st_size:
            raise _damaged("tệp bị cắt cụt", "the file is truncated")
        result = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            detail = "integrity_check: " + "; ".join(result[:3])
            raise _damaged(detail, detail)
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise _damaged(str(exc), str(exc)) from exc
    finally:
        conn.close()
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if version < 1 or missing:
        what = ", ".join(missing or ["user_version"])
        raise _damaged(f"thiếu {what}", f"missing {what}")
    if version > migrations.latest_version():
        raise BackupError(
            f"Tệp sao lưu được tạo bởi phiên bản mới hơn của ứng dụng (lược đồ {version}, "
            f"ứng dụng này hiểu đến {migrations.latest_version()}). Hãy cập nhật ứng dụng rồi "
            "khôi phục lại; dữ liệu hiện tại không bị thay đổi.",
            f"The backup was made by a newer version of the app (schema {version}, this app "
            f"knows up to {migrations.latest_version()}). Update the app, then restore again; "
            "the current data was not changed.",
            code="backup_too_new",
        )
