"""The local store: one SQLite file, opened durably, migrated in order, written in transactions."""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from fieldapp import migrations

if TYPE_CHECKING:
    import sqlite_utils
from fieldapp.errors import Problem, StoreVersionError, raise_if_errors
from sync.protocol.clock import Clock, iso_utc
from sync.protocol.fields import FIELDS
from sync.protocol.hlc import HybridClock, usable
from sync.protocol.ids import uuid7

STORE_FILENAME = "fieldapp.sqlite3"

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    """FIELDAPP_DATA_DIR when set, else the user data folder platformdirs gives for the OS."""
    env = os.environ.get("FIELDAPP_DATA_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("fieldapp", appauthor=False))


def stored_version(path: Path) -> int:
    """Schema version of an existing store, read without writing anything to it."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


class _Unread:
    """The household of a change, not yet read."""


UNREAD = _Unread()

# The agent this device works for, as SQL: the one enrolment wrote, else the device itself
# (`:device`). One expression, so a query can read it with the rows it needs.
AGENT_SQL = "coalesce(nullif((SELECT value FROM meta WHERE key = 'agent_id'), ''), :device)"


class Store:
    """One open store file. Writes go through `transaction()`; reads through `query`/`one`."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock,
        before_migration: Callable[[Store, int], object] | None = None,
    ) -> None:
        """Open (creating or upgrading) the store at `path`.

        :param before_migration: called with the store and the first pending migration's
            version before an existing store is upgraded (the workspace backs it up there).
        """
        self.path = Path(path)
        self.clock = clock
        self._tx_lock = threading.RLock()
        self._depth = 0
        if self.path.exists():
            found = stored_version(self.path)
            if found > migrations.latest_version():
                raise StoreVersionError(
                    f"Dữ liệu tại {self.path} được tạo bởi phiên bản mới hơn của ứng dụng "
                    f"(lược đồ {found}, ứng dụng này hiểu đến {migrations.latest_version()}). "
                    "Hãy cập nhật ứng dụng; dữ liệu không bị thay đổi.",
                    f"The store at {self.path} was written by a newer version of the app "
                    f"(schema {found}, this app knows up to {migrations.latest_version()}). "
                    "Update the app; nothing was changed.",
                    code="store_too_new",
                )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE, so that
        # a write never starts a transaction by accident and readers are never blocked.
        self.conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self._migrate(before_migration)
        self.device_id = self._ensure_meta("device_id", lambda: uuid7(clock))
        self.hlc = HybridClock(self.device_id)
        # The clock resumes after the newest timestamp this store has written or seen; the
        # outbox holds every local one, so no extra write is needed per change.
        # Local stamps are appended in clock order, so the newest outbox row holds the largest.
        newest = self.scalar("SELECT hlc FROM outbox ORDER BY seq DESC LIMIT 1")
        now_ms = self._now_ms()
        known = [str(stamp) for stamp in (self.meta("hlc_seen"), newest) if stamp]
        for stamp in known:
            self.hlc.observe(stamp, now_ms=now_ms)
        if not all(usable(stamp, now_ms=now_ms) for stamp in known):
            # A stamp from the future (a forged clock pulled before such stamps were refused)
            # reached this store: take it out everywhere before it decides another merge.
            self._repair_clocks(now_ms)

    @functools.cached_property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils' view of the same connection; inside `transaction()` its writes join it.

        sqlite-utils nests its own writes in a savepoint when a transaction is open, so they
        commit or roll back with ours.
        """
        import sqlite_utils  # loaded on first use: it costs a tenth of a second at start-up

        # By default it would switch on recursive triggers for our connection and look for
        # installed plugins to run against it (about 20 ms): the store keeps its own settings.
        return sqlite_utils.Database(self.conn, recursive_triggers=False, execute_plugins=False)

    # -- schema -------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, before: Callable[[Store, int], object] | None) -> None:
        pending = migrations.MIGRATIONS[self.schema_version :]
        if pending and self.schema_version > 0 and before is not None:
            before(self, pending[0].version)
        for step in pending:
            with self.transaction():
                step.apply(self.conn)
                self.conn.execute(f"PRAGMA user_version = {int(step.version)}")

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested use joins the outer one. Commits at the end or rolls back."""
        with self._tx_lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self._depth = 0

    # -- reads --------------------------------------------------------------------------

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return list(self.conn.execute(sql, params))

    def one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def scalar(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    # -- meta ---------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        value = self.scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @property
    def agent_id(self) -> str:
        """The agent this device works for; the device id until the device is enrolled.

        Read from the store each time: an enrolment (which writes it) is followed at once.
        """
        return str(self.scalar(f"SELECT {AGENT_SQL}", {"device": self.device_id}))

    def _ensure_meta(self, key: str, make: Any) -> str:
        value = self.meta(key)
        if value is None:
            value = str(make())
            self.set_meta(key, value)
        return value

    # -- helpers for services -----------------------------------------------------------

    def now_iso(self) -> str:
        return iso_utc(self.clock.now())

    def new_id(self) -> str:
        return uuid7(self.clock)

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def tick(self) -> str:
        """Next hybrid-clock timestamp, for a change that writes it to the outbox."""
        return self.hlc.tick(self._now_ms())

    def see(self, remote_hlc: str) -> None:
        """Move the clock past a stamp for this session only (within bounds); `observe` keeps
        it across restarts."""
        self.hlc.observe(remote_hlc, now_ms=self._now_ms())

    def observe(self, remote_hlc: str) -> None:
        """Move the clock past a timestamp received from another device (kept across restarts);
        a stamp out of bounds for this laptop's clock is not followed."""
        if self.hlc.observe(remote_hlc, now_ms=self._now_ms()):
            self.set_meta("hlc_seen", self.hlc.last)

    def usable_stamp(self, stamp: object) -> bool:
        """A well-formed clock stamp within bounds for this laptop's clock."""
        return usable(stamp, now_ms=self._now_ms())

    def _repair_clocks(self, now_ms: int) -> None:
        """Replace every stamp out of bounds (field clocks, pending outbox rows) with a new one.

        A replaced field clock is taken as written now, on this laptop; a pending row with such
        a stamp is stamped again and leaves its batch, so it is sent afresh.
        """
        repaired = 0
        with self.transaction() as conn:
            for table in ("household", "member"):
                for row in conn.execute(f"SELECT id, clocks FROM {table}").fetchall():
                    clocks = loads(row["clocks"]) or {}
                    bad = [k for k, v in clocks.items() if not usable(v, now_ms=now_ms)]
                    if bad:
                        clocks.update({k: self.tick() for k in bad})
                        conn.execute(
                            f"UPDATE {table} SET clocks = ? WHERE id = ?",
                            (dumps(clocks), row["id"]),
                        )
                        repaired += len(bad)
            # Pending changes, and those the province refused for their clock (this laptop's
            # clock was set ahead when they were made): stamped again, they are sent afresh.
            unsent = conn.execute(
                "SELECT seq, hlc, base, state FROM outbox WHERE state = 'pending' OR "
                "(state = 'refused' AND json_extract(refusal, '$.code') = 'clock_out_of_range') "
                "ORDER BY seq"
            ).fetchall()
            for row in unsent:
                base = loads(row["base"])
                bad_base = [
                    k for k, v in (base or {}).items() if v and not usable(v, now_ms=now_ms)
                ]
                if usable(row["hlc"], now_ms=now_ms) and not bad_base:
                    continue
                for name in bad_base:
                    base[name] = None
                conn.execute(
                    "UPDATE outbox SET hlc = ?, base = ?, batch_id = NULL, state = 'pending', "
                    "refusal = NULL WHERE seq = ?",
                    (self.tick(), None if base is None else dumps(base), row["seq"]),
                )
                repaired += 1
            self.set_meta("hlc_seen", self.hlc.last)
        log.warning("clock stamps from the future replaced: %d", repaired)

    def append_outbox(
        self,
        *,
        entity: str,
        entity_id: str,
        op: str,
        hlc: str,
        data: dict[str, Any],
        base: dict[str, str | None] | None = None,
        household: sqlite3.Row | _Unread | None = UNREAD,
        created_at: str | None = None,
    ) -> int:
        """Record a change for sync; must be called inside the transaction that makes it.

        Text longer than the wire allows, and a change to a household that moved to a commune
        this laptop does not serve, are refused here with the change they belong to: nothing
        enters the outbox that the provincial server would refuse for ever. A change to a demo
        household, or to anything of it, is kept on this laptop ('local'): it is never sent.

        A caller that has read the household in the same transaction passes it as `household`
        (its head_name, moved_to and demo), and it is not read again; one that has just read
        the clock may pass the moment as `created_at` (ISO UTC).
        """
        if not self._depth:
            raise RuntimeError("outbox rows are written only inside a transaction")
        if isinstance(household, _Unread):
            household = self._household_of(entity, entity_id, data)
        # A void belongs to the agent who issued the receipt, wherever the household went.
        moved = [] if entity == "receipt_void" else _moved_away(household)
        raise_if_errors(too_long(entity, data) + moved)
        local = household is not None and bool(household["demo"])
        cur = self.conn.execute(
            "INSERT INTO outbox (entity, entity_id, op, hlc, data, base, created_at, state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entity,
                entity_id,
                op,
                hlc,
                dumps(data),
                None if base is None else dumps(base),
                created_at or self.now_iso(),
                "local" if local else "pending",
            ),
        )
        return int(cur.lastrowid or 0)

    def _household_of(
        self, entity: str, entity_id: str, data: dict[str, Any]
    ) -> sqlite3.Row | None:
        """The household a change concerns (as the wire names it), or None for a change of no
        household (a cash handover)."""
        if entity == "household":
            household_id: Any = entity_id
        elif entity == "pledge_event":
            household_id = self.scalar(
                "SELECT household_id FROM pledge WHERE id = ?", (data.get("pledge_id"),)
            )
        elif entity == "receipt_void":
            household_id = self.scalar(
                "SELECT household_id FROM receipt WHERE id = ?", (data.get("receipt_id"),)
            )
        else:
            household_id = data.get("household_id")
        if household_id is None:
            return None
        return self.one(
            "SELECT head_name, moved_to, demo FROM household WHERE id = ?", (household_id,)
        )

    def integrity_ok(self) -> bool:
        return bool(self.scalar("PRAGMA integrity_check") == "ok")

    def close(self) -> None:
        self.conn.close()


def _moved_away(household: sqlite3.Row | None) -> list[Problem]:
    """A problem when the change concerns a household that moved out of this laptop's
    communes (the province would refuse it as out of scope)."""
    if household is None or household["moved_to"] is None:
        return []
    name, to = household["head_name"], household["moved_to"]
    return [
        Problem(
            "household_id",
            "household_moved",
            f"Hộ {name} đã được chuyển sang xã {to}, không còn thuộc địa bàn của máy này; "
            "không ghi thay đổi được.",
            f"The household of {name} was moved to commune {to}, outside this laptop's "
            "communes; the change cannot be recorded.",
        )
    ]


def too_long(entity: str, data: dict[str, Any]) -> list[Problem]:
    """A problem for each text field of a synced record longer than the wire's limit for it."""
    problems = []
    for name, max_length in _text_limits(entity):
        value = data.get(name)
        if isinstance(value, str) and len(value) > max_length:
            limit, length = f"{max_length:,}".replace(",", "."), len(value)
            problems.append(
                Problem(
                    name,
                    "too_long",
                    f"{name}: dài quá {limit} ký tự (đang có {length}); hãy rút gọn.",
                    f"{name}: longer than {max_length:,} characters ({length}); shorten it.",
                )
            )
    return problems


@functools.cache
def _text_limits(entity: str) -> tuple[tuple[str, int], ...]:
    """The text fields of an entity on the wire and their length limits, in field order."""
    return tuple(
        (name, field.max_length)
        for name, field in FIELDS.get(entity, {}).items()
        if field.kind == "text" and field.max_length is not None
    )


# One encoder for every write: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def dumps(value: Any) -> str:
    """Compact JSON that keeps Vietnamese text readable in the file."""
    return _ENCODER.encode(value)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
