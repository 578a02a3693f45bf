"""The store side of sync: outbox batches and acks, and applying changes pulled from the server."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import field
from typing import Any

from fieldapp.model import HOUSEHOLD_FIELDS, MEMBER_FIELDS
from fieldapp.records import reindex_household
from fieldapp.store import Store, dumps, loads
from fieldapp.text import name_sort_text
from sync.protocol import wire
from sync.protocol.frozen import frozen, kept_dataclass
from sync.protocol.hlc import hlc_parse
from sync.protocol.wire import HOUSEHOLD_MOVED

CURSOR_KEY = "sync_cursor"

MERGEABLE_FIELDS = {"household": HOUSEHOLD_FIELDS, "member": MEMBER_FIELDS}

# Columns kept as JSON text, and NOT NULL text columns a null from the wire must not break.
_JSON_COLUMNS = {"groups", "best_months", "warnings", "topics", "materials", "params", "pledge_ids"}
_TEXT_NOT_NULL = {
    "household": {"village", "address", "notes"},
    "member": {"relation", "ethnicity", "bhxh_status"},
    "visit": {"notes"},
    "pledge_event": {"reason"},
    "receipt": {"payer_address", "period_from", "period_to", "verification_code", "qr_payload"},
}

# Immutable facts: the local columns each one fills, in table order.
IMMUTABLE_COLUMNS = {
    "visit": (
        "id",
        "household_id",
        "agent_id",
        "at",
        "outcome",
        "topics",
        "materials",
        "next_visit",
        "notes",
    ),
    "pledge": (
        "id",
        "household_id",
        "member_id",
        "scheme",
        "params",
        "gross",
        "central_support",
        "local_support",
        "payable",
        "policy_version",
        "start_date",
        "due_date",
        "created_at",
    ),
    "pledge_event": ("id", "pledge_id", "status", "at", "reason", "receipt_id"),
    "receipt": (
        "id",
        "book_id",
        "series",
        "number",
        "payer_name",
        "payer_bhxh_code",
        "payer_address",
        "household_id",
        "pledge_ids",
        "amount",
        "description",
        "period_from",
        "period_to",
        "issued_at",
        "issued_by",
        "verification_code",
        "qr_payload",
    ),
    "receipt_void": ("id", "receipt_id", "reason", "at"),
}

# Rows a fact refers to; a fact whose parent this laptop does not hold (another agent's
# receipt book, a household outside the assignment) is skipped rather than blocking the pull.
_PARENTS = {
    "member": (("household_id", "household"),),
    "visit": (("household_id", "household"),),
    "pledge": (("household_id", "household"), ("member_id", "member")),
    "pledge_event": (("pledge_id", "pledge"),),
    "receipt": (("book_id", "receipt_book"), ("household_id", "household")),
    "receipt_void": (("receipt_id", "receipt"),),
}

# Fields kept only on the laptop (derived from other fields); never sent.
LOCAL_ONLY_FIELDS = {"member": frozenset({"sort_key"})}


# -- outbox: batches and acknowledgements -------------------------------------------------------


@frozen
class RefusedRecord:
    """An outbox row the server refused, with its reason; kept and shown, never dropped."""

    seq: int
    entity: str
    entity_id: str
    code: str
    vi: str
    en: str
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """As the wire names it: the record's id is "id"."""
        values = dataclasses.asdict(self)
        values["id"] = values.pop("entity_id")
        return values


@frozen
class AckOutcome:
    """What one acknowledgement did to the outbox."""

    accepted: int
    refused: tuple[RefusedRecord, ...]
    unacknowledged: int


def pending_count(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'"))


def local_count(store: Store) -> int:
    """Changes to demo data: kept on this laptop, never sent."""
    return int(store.scalar("SELECT count(*) FROM outbox WHERE state = 'local'"))


@kept_dataclass(frozen=True, slots=True)
class StoredRow:
    """One pending outbox row with its JSON columns as the store holds them (not decoded)."""

    seq: int
    entity: str
    entity_id: str
    op: str
    hlc: str
    data: str
    base: str | None


@frozen
class StoredBatch:
    """Rows that carry one batch id, as stored: sent, and resent after any failure, exactly
    like this (the upload encodes them straight from their JSON text)."""

    batch_id: str
    rows: tuple[StoredRow, ...]


# About how many bytes of records a new batch carries at most. A batch is cut by count (the
# caller's limit) and by size: the server refuses a body over wire.MAX_BATCH_COMPRESSED, and
# records of long notes and names could pass it in a batch of the most records it takes.
# Counted on the stored JSON text, which gzip does not make larger by more than a few bytes.
BATCH_BYTES = wire.MAX_BATCH_COMPRESSED // 2
# A row's envelope on the wire besides its data and base (seq, entity, id, op, hlc and keys).
_ENVELOPE_BYTES = 200
# The oldest rows without a batch, up to a count (first parameter) and until their bytes reach
# a budget (second parameter): a row is taken while the rows before it are under the budget,
# so the first row always is.
_NEXT_LOOSE = (
    "SELECT seq FROM (SELECT seq, SUM(size) OVER (ORDER BY seq) - size AS before FROM ("
    "SELECT seq, length(CAST(data AS BLOB)) + ifnull(length(CAST(base AS BLOB)), 0) "
    f"+ {_ENVELOPE_BYTES} AS size FROM outbox WHERE state = 'pending' AND batch_id IS NULL "
    "ORDER BY seq LIMIT ?)) WHERE before < ?"
)
_BATCH_ROWS = (
    "SELECT seq, entity, entity_id, op, hlc, data, base FROM outbox "
    "WHERE batch_id = ? AND state = 'pending' ORDER BY seq"
)


def _stored_rows(conn: sqlite3.Connection, batch_id: str) -> tuple[StoredRow, ...]:
    return tuple(StoredRow(*row) for row in conn.execute(_BATCH_ROWS, (batch_id,)))


def claim_batch(
    store: Store, *, limit: int, exclude: str | None = None, max_bytes: int = BATCH_BYTES
) -> StoredBatch | None:
    """The oldest pending batch other than `exclude`: one already given an id (resent as is),
    else up to `limit` of the oldest rows without one (and about `max_bytes` of their JSON,
    see _NEXT_LOOSE), under a new id.

    The batch id is written onto the rows and committed before anything is sent, so a retry
    after a crash finds the same rows under the same id. `exclude` is a batch still on its way
    to the server, so the next one can be made ready meanwhile.
    """
    with store.transaction() as conn:
        if exclude is None:
            first = conn.execute(
                "SELECT batch_id FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT 1"
            ).fetchone()
        else:
            first = conn.execute(
                "SELECT batch_id FROM outbox WHERE state = 'pending' AND batch_id IS NOT ? "
                "ORDER BY seq LIMIT 1",
                (exclude,),
            ).fetchone()
        if first is None:
            return None
        batch_id = first[0]
        if batch_id is None:
            batch_id = store.new_id()
            conn.execute(
                f"UPDATE outbox SET batch_id = ? WHERE seq IN ({_NEXT_LOOSE})",
                (batch_id, limit, max_bytes),
            )
        return StoredBatch(str(batch_id), _stored_rows(conn, str(batch_id)))


def all_batches(store: Store, *, limit: int, max_bytes: int = BATCH_BYTES) -> list[StoredBatch]:
    """Every pending row in batches (new ids for rows without one), oldest first."""
    with store.transaction() as conn:
        while True:
            loose = [r[0] for r in conn.execute(_NEXT_LOOSE, (limit, max_bytes))]
            if not loose:
                break
            batch_id = store.new_id()
            conn.executemany(
                "UPDATE outbox SET batch_id = ? WHERE seq = ?", [(batch_id, s) for s in loose]
            )
        ids = [
            str(r[0])
            for r in conn.execute(
                "SELECT batch_id FROM outbox WHERE state = 'pending' "
                "GROUP BY batch_id ORDER BY min(seq)"
            )
        ]
        return [StoredBatch(b, _stored_rows(conn, b)) for b in ids]


def forget_batch_ids(store: Store) -> None:
    """Clear batch ids of pending rows (a new enrolment: the old ids belong to another device)."""
    with store.transaction() as conn:
        conn.execute("UPDATE outbox SET batch_id = NULL WHERE state = 'pending'")


def apply_ack(
    store: Store,
    *,
    batch_id: str,
    accepted: Iterable[int],
    refused: Iterable[Mapping[str, Any]],
) -> AckOutcome:
    """Mark what the server acknowledged for one batch, all in one transaction.

    Only rows carrying this batch id are touched. Rows the ack does not mention were not
    taken by the server: their batch id is cleared so they go out again in a new batch.
    """
    refusals = {int(r["seq"]): r for r in refused}
    accepted_seqs = {int(s) for s in accepted} - set(refusals)
    with store.transaction() as conn:
        rows = {
            int(r[0])
            for r in conn.execute(
                "SELECT seq FROM outbox WHERE batch_id = ? AND state = 'pending'", (batch_id,)
            )
        }
        done = accepted_seqs & rows
        if done == rows:
            # The usual answer, everything taken: one statement over the batch.
            conn.execute(
                "UPDATE outbox SET state = 'acked' WHERE batch_id = ? AND state = 'pending'",
                (batch_id,),
            )
        else:
            conn.executemany(
                "UPDATE outbox SET state = 'acked' WHERE seq = ?", [(s,) for s in sorted(done)]
            )
        out: list[RefusedRecord] = []
        for seq in sorted(set(refusals) & rows):
            reason = refusals[seq]
            refusal = {
                "code": str(reason.get("code", "")),
                "vi": str(reason.get("vi", "")),
                "en": str(reason.get("en", "")),
            }
            conn.execute(
                "UPDATE outbox SET state = 'refused', refusal = ? WHERE seq = ?",
                (dumps(refusal), seq),
            )
            row = conn.execute(
                "SELECT entity, entity_id, data FROM outbox WHERE seq = ?", (seq,)
            ).fetchone()
            out.append(
                RefusedRecord(
                    seq,
                    str(row["entity"]),
                    str(row["entity_id"]),
                    refusal["code"],
                    refusal["vi"],
                    refusal["en"],
                    loads(row["data"]),
                )
            )
        left = rows - done - set(refusals)
        conn.executemany(
            "UPDATE outbox SET batch_id = NULL WHERE seq = ?", [(s,) for s in sorted(left)]
        )
    return AckOutcome(len(done), tuple(out), len(left))


def refused_records(store: Store) -> list[RefusedRecord]:
    out = []
    for row in store.query("SELECT * FROM outbox WHERE state = 'refused' ORDER BY seq"):
        reason = loads(row["refusal"]) or {}
        out.append(
            RefusedRecord(
                int(row["seq"]),
                str(row["entity"]),
                str(row["entity_id"]),
                str(reason.get("code", "")),
                str(reason.get("vi", "")),
                str(reason.get("en", "")),
                loads(row["data"]),
            )
        )
    return out


# -- sync log -----------------------------------------------------------------------------------


def log_run(
    store: Store,
    *,
    kind: str,
    ok: bool,
    sent: int = 0,
    accepted: int = 0,
    refused: int = 0,
    pulled: int = 0,
    message: str = "",
) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO sync_log (at, kind, ok, sent, accepted, refused, pulled, message) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (store.now_iso(), kind, int(ok), sent, accepted, refused, pulled, message),
        )


def last_run(store: Store) -> dict[str, Any] | None:
    row = store.one("SELECT * FROM sync_log ORDER BY id DESC LIMIT 1")
    if row is None:
        return None
    out = {k: row[k] for k in row.keys() if k != "id"}  # noqa: SIM118 (sqlite3.Row)
    out["ok"] = bool(out["ok"])
    return out


# -- pull: applying the server's changes --------------------------------------------------------


@kept_dataclass
class PageResult:
    """What applying one page of pulled changes did."""

    applied: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # Households that left this laptop's communes: (head's name, the commune they went to).
    moved: list[tuple[str, str]] = field(default_factory=list)


def cursor(store: Store) -> int:
    return int(store.meta(CURSOR_KEY) or 0)


def apply_page(
    store: Store,
    changes: Sequence[Mapping[str, Any]],
    *,
    new_cursor: int,
    on_change: Callable[[int], None] | None = None,
) -> PageResult:
    """Apply one page of the change feed and advance the cursor, in one transaction.

    Nothing here writes the outbox: these changes came from the server. `on_change` is called
    inside the transaction after each change (progress; an exception undoes the whole page).
    """
    result = PageResult()
    with store.transaction():
        newest: str | None = None
        for index, change in enumerate(changes):
            if change["entity"] == HOUSEHOLD_MOVED:
                gone = _household_moved(store, str(change["id"]), dict(change["data"]))
                if gone is not None:
                    result.moved.append(gone)
                    result.applied += 1
            elif _apply_change(store, change):
                result.applied += 1
            else:
                result.skipped.append((str(change["entity"]), str(change["id"])))
            stamp = str(change["hlc"])
            if store.usable_stamp(stamp) and (
                newest is None or hlc_parse(stamp) > hlc_parse(newest)
            ):
                newest = stamp
            if on_change is not None:
                on_change(index + 1)
        if newest is not None:
            store.observe(newest)
        store.set_meta(CURSOR_KEY, str(new_cursor))
    return result


# Households, members and facts are written one change at a time with plain SQL: each must see
# what the page wrote before it (a pledge, then its status event), so they cannot be gathered
# into one insert_all, and sqlite-utils reads the table's columns on every single insert
# (0.07 ms against 0.002 ms), which makes a page of 1,000 new records about a quarter slower.
# Reference data is rare and its upserts read better through sqlite-utils.
def _apply_change(store: Store, change: Mapping[str, Any]) -> bool:
    entity = str(change["entity"])
    data = dict(change["data"])
    if entity in MERGEABLE_FIELDS:
        return _merge(store, entity, str(change["id"]), data, change)
    if entity in IMMUTABLE_COLUMNS:
        return _insert_fact(store, entity, str(change["id"]), data)
    if entity == "assignment":
        apply_assignment(store, data.get("communes", []))
        return True
    # Insert-if-absent stays SQL: ON CONFLICT DO NOTHING passes over only a row that is already
    # there, where sqlite-utils' ignore=True (INSERT OR IGNORE) would also drop, unseen, a row
    # that breaks a CHECK, such as a receipt book whose last number is before its first.
    if entity == "policy":
        store.conn.execute(
            "INSERT INTO policy_document (version, document, received_at) VALUES (?, ?, ?) "
            "ON CONFLICT (version) DO NOTHING",
            (str(change["id"]), dumps(data), store.now_iso()),
        )
        return True
    if entity == "target":
        target = {
            "id": str(change["id"]),
            "scheme": data["scheme"],
            "month": data["month"],
            "count": int(data["count"]),
            "data": dumps(data),
        }
        store.db.table("target").upsert(target, pk="id")
        return True
    if entity == "receipt_book":
        first = int(data["first"])
        store.conn.execute(
            "INSERT INTO receipt_book (id, series, first_number, last_number, next_number, "
            "source, created_at) VALUES (?, ?, ?, ?, ?, 'server', ?) ON CONFLICT DO NOTHING",
            (str(change["id"]), data["series"], first, int(data["last"]), first, store.now_iso()),
        )
        return True
    # Entities this version does not know yet (e.g. conflict resolutions) are passed over.
    return False


def _column(name: str, value: Any, table: str) -> Any:
    if value is None and name in _TEXT_NOT_NULL.get(table, ()):
        return ""
    if name in _JSON_COLUMNS:
        return dumps(value if value is not None else [])
    if isinstance(value, bool):
        return int(value)
    return value


def _parents_present(store: Store, entity: str, data: Mapping[str, Any]) -> bool:
    for key, table in _PARENTS.get(entity, ()):
        if data.get(key) is None:
            continue
        if store.one(f"SELECT 1 FROM {table} WHERE id = ?", (data[key],)) is None:
            return False
    return True


def _household_moved(
    store: Store, household_id: str, data: dict[str, Any]
) -> tuple[str, str] | None:
    """Take a household off the lists: it moved to a commune this laptop does not serve.

    Nothing of it is deleted (its visits, pledges and receipts stay with this laptop); a change
    of it from the province, once it is back in scope, brings it back.
    """
    row = store.one("SELECT head_name FROM household WHERE id = ?", (household_id,))
    commune = str(data.get("commune_code") or "")
    served = store.one("SELECT 1 FROM assignment WHERE commune_code = ?", (commune,))
    if row is None or served is not None:  # unknown here, or moved within this laptop's own
        return None
    store.conn.execute("UPDATE household SET moved_to = ? WHERE id = ?", (commune, household_id))
    reindex_household(store.conn, household_id)
    return str(row["head_name"]), commune


def _later(incoming: str, local: str | None) -> bool:
    return local is None or hlc_parse(incoming) > hlc_parse(local)


def _clocks_in(store: Store, change: Mapping[str, Any], fields: Iterable[str]) -> dict[str, str]:
    """The clock of each incoming field's value; one out of bounds (a forged clock the server
    took before such stamps were refused) is taken as written now, on this laptop."""
    field_hlc: Mapping[str, str] = change.get("field_hlc") or {}
    stamp = str(change["hlc"])
    clocks = {k: str(field_hlc.get(k, stamp)) for k in fields}
    usable = {k: store.usable_stamp(v) for k, v in clocks.items()}
    for name, value in clocks.items():
        if usable[name]:
            store.see(value)  # so that a replacement below comes after it
    return {k: v if usable[k] else store.tick() for k, v in clocks.items()}


def _merge(
    store: Store, table: str, entity_id: str, data: dict[str, Any], change: Mapping[str, Any]
) -> bool:
    """Field-wise last-writer-wins: a field is taken only when its clock is after the local one."""
    fields = MERGEABLE_FIELDS[table]
    incoming = {k: data[k] for k in fields if k in data}
    clocks_in = _clocks_in(store, change, incoming)
    row = store.one(f"SELECT * FROM {table} WHERE id = ?", (entity_id,))
    now = store.now_iso()
    if row is None:
        if not _parents_present(store, table, incoming):
            return False
        values = {k: _column(k, v, table) for k, v in incoming.items()}
        for name in _TEXT_NOT_NULL.get(table, ()):
            values.setdefault(name, "")
        if table == "member":
            values["sort_key"] = name_sort_text(str(incoming.get("full_name") or ""))
        values.update(id=entity_id, clocks=dumps(clocks_in), created_at=now, updated_at=now)
        names = list(values)
        store.conn.execute(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            [values[n] for n in names],
        )
        household_id = entity_id if table == "household" else str(incoming["household_id"])
        reindex_household(store.conn, household_id)
        return True
    if table == "household" and row["moved_to"] is not None:
        # The province sends a household only to the laptops it is in scope for: it is back.
        store.conn.execute("UPDATE household SET moved_to = NULL WHERE id = ?", (entity_id,))
        reindex_household(store.conn, entity_id)
    clocks: dict[str, str] = loads(row["clocks"]) or {}
    wins = {k: v for k, v in incoming.items() if _later(clocks_in[k], clocks.get(k))}
    if "household_id" in wins and not _parents_present(store, table, wins):
        del wins["household_id"]
    if not wins:
        return True
    clocks.update({k: clocks_in[k] for k in wins})
    values = {k: _column(k, v, table) for k, v in wins.items()}
    if table == "member" and "full_name" in wins:
        values["sort_key"] = name_sort_text(str(wins["full_name"]))
    sets = ", ".join(f"{k} = ?" for k in values)
    store.conn.execute(
        f"UPDATE {table} SET {sets}, clocks = ?, updated_at = ? WHERE id = ?",
        [*values.values(), dumps(clocks), now, entity_id],
    )
    household_id = entity_id if table == "household" else str(row["household_id"])
    reindex_household(store.conn, household_id)
    if table == "member" and "household_id" in wins and wins["household_id"] != household_id:
        reindex_household(store.conn, str(wins["household_id"]))
    return True


def _insert_fact(store: Store, table: str, entity_id: str, data: dict[str, Any]) -> bool:
    """Insert an immutable fact if absent; an existing one is never changed."""
    if store.one(f"SELECT 1 FROM {table} WHERE id = ?", (entity_id,)) is not None:
        return True
    if not _parents_present(store, table, data):
        return False
    columns = IMMUTABLE_COLUMNS[table]
    values = {**data, "id": entity_id}
    store.conn.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
        [_column(c, values.get(c), table) for c in columns],
    )
    return True


def apply_assignment(store: Store, communes: Iterable[Any]) -> None:
    """Replace the assigned communes; with exactly one, it becomes the default for new households.

    Entries are commune codes, or objects with commune_code and optionally province_code, name.
    """
    entries: list[dict[str, Any]] = []
    for item in communes:
        if isinstance(item, Mapping):
            entries.append(dict(item))
        else:
            entries.append({"commune_code": str(item)})
    rows = [
        {
            "commune_code": str(entry["commune_code"]),
            "province_code": str(entry.get("province_code") or ""),
            "name": str(entry.get("name") or ""),
            "data": dumps(entry),
        }
        for entry in entries
    ]
    with store.transaction() as conn:
        codes = [row["commune_code"] for row in rows]
        conn.execute(
            f"DELETE FROM assignment WHERE commune_code NOT IN ({', '.join('?' for _ in codes)})",
            codes,
        )
        store.db.table("assignment").upsert_all(rows, pk="commune_code")
        if len(entries) == 1:
            only = entries[0]
            store.set_meta("commune_code", str(only["commune_code"]))
            if only.get("province_code"):
                store.set_meta("province_code", str(only["province_code"]))
            if only.get("name"):
                store.set_meta("commune_name", str(only["name"]))
