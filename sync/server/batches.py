"""Applying uploaded batches: one transaction per batch, idempotent by device and batch id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import field
from typing import Any, Generic, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from sync.protocol import wire
from sync.protocol.clock import Clock, iso_utc
from sync.protocol.frozen import frozen, kept_dataclass
from sync.protocol.hlc import hlc_compare, hlc_parse
from sync.server import edits, feed
from sync.server.devices import Device
from sync.server.errors import ServerError
from sync.server.schema import (
    COPIED_FIELDS,
    IMMUTABLE_TABLES,
    JsonText,
    agent_communes,
    batches,
    devices,
    dumps_json,
    field_conflicts,
    households,
    insert_many,
    members,
    pledges,
    receipt_books,
    receipts,
    takes_json_text,
)

Via = Literal["http", "file"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Keys per `IN (…)`: well inside every database's limit on bound parameters.
_CHUNK = 500


class _Refused(Exception):
    """Raised while checking one record: the record is refused, the batch goes on."""

    def __init__(self, code: str, vi: str, en: str) -> None:
        super().__init__(en)
        self.problem = wire.RecordProblem(code, vi, en)


# ---------------------------------------------------------------------------------------------
# Reading what the batch refers to, in bulk


def _ids() -> sa.BindParameter[Any]:
    return sa.bindparam("ids", expanding=True)


_SELECT_HOUSEHOLDS = sa.select(households).where(households.c.id.in_(_ids())).with_for_update()
_SELECT_MEMBERS = sa.select(members).where(members.c.id.in_(_ids())).with_for_update()
_SELECT_HOUSEHOLD_COMMUNES = sa.select(households.c.id, households.c.commune_code).where(
    households.c.id.in_(_ids())
)
_SELECT_MEMBER_HOUSEHOLDS = sa.select(members.c.id, members.c.household_id).where(
    members.c.id.in_(_ids())
)
# Pledges and receipts: the household each belongs to, for the records that refer to them.
_SELECT_PARENT_HOUSEHOLDS = {
    entity: sa.select(table.c.id, table.c.household_id).where(table.c.id.in_(_ids()))
    for entity, table in ((wire.PLEDGE, pledges), (wire.RECEIPT, receipts))
}
# Pledges and receipts: the agent whose device sent each. Only that agent may change, void or
# take money for them (a laptop of theirs); another agent's device is refused.
_SELECT_OWNERS = {
    entity: sa.select(table.c.id, devices.c.agent_id)
    .join(devices, devices.c.id == table.c.device_id)
    .where(table.c.id.in_(_ids()))
    for entity, table in ((wire.PLEDGE, pledges), (wire.RECEIPT, receipts))
}
# Records that name no household but the pledge or receipt they concern (in `<parent>_id`),
# with what that record is called in Vietnamese.
_PARENTS = {
    wire.PLEDGE_EVENT: (wire.PLEDGE, "cam kết"),
    wire.RECEIPT_VOID: (wire.RECEIPT, "biên lai"),
}
_SELECT_BOOKS = sa.select(receipt_books).where(receipt_books.c.id.in_(_ids()))
_SELECT_FACTS = {
    entity: sa.select(table.c.id, table.c.data).where(table.c.id.in_(_ids()))
    for entity, table in IMMUTABLE_TABLES.items()
}


def _chunks(keys: Sequence[K]) -> Iterable[Sequence[K]]:
    for start in range(0, len(keys), _CHUNK):
        yield keys[start : start + _CHUNK]


def _rows_by_id(
    statement: sa.Select[Any],
) -> Callable[[Connection, Sequence[str]], dict[str, Row[Any]]]:
    def load(conn: Connection, ids: Sequence[str]) -> dict[str, Row[Any]]:
        found: dict[str, Row[Any]] = {}
        for chunk in _chunks(ids):
            found.update((row.id, row) for row in conn.execute(statement, {"ids": list(chunk)}))
        return found

    return load


def _column_by_id(
    statement: sa.Select[Any],
) -> Callable[[Connection, Sequence[str]], dict[str, Any]]:
    """A loader of the second column of `statement` by the first (the id)."""

    def load(conn: Connection, ids: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for chunk in _chunks(ids):
            found.update(tuple(row) for row in conn.execute(statement, {"ids": list(chunk)}))
        return found

    return load


def _load_receipt_numbers(
    conn: Connection, keys: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], str]:
    found: dict[tuple[str, int], str] = {}
    pair = sa.tuple_(receipts.c.series, receipts.c.number)
    for chunk in _chunks(keys):
        rows = conn.execute(
            sa.select(receipts.c.series, receipts.c.number, receipts.c.id).where(
                pair.in_(list(chunk))
            )
        )
        found.update(((row.series, row.number), row.id) for row in rows)
    return found


class _Known(Generic[K, V]):
    """What the database holds for some keys, as this batch has changed it so far.

    Keys are read in bulk before the records are applied; a key missed there is read on first
    use, so a lookup answers the same as a query in the same transaction would.
    """

    def __init__(
        self, conn: Connection, load: Callable[[Connection, Sequence[K]], dict[K, V]]
    ) -> None:
        self._conn = conn
        self._load = load
        self._values: dict[K, V | None] = {}

    def prefetch(self, keys: Iterable[K]) -> None:
        missing = [key for key in dict.fromkeys(keys) if key not in self._values]
        if missing:
            found = self._load(self._conn, missing)
            for key in missing:
                self._values[key] = found.get(key)

    def get(self, key: K) -> V | None:
        if key not in self._values:
            self.prefetch([key])
        return self._values[key]

    def set(self, key: K, value: V) -> None:
        self._values[key] = value

    def values(self) -> Iterable[V | None]:
        return self._values.values()


@kept_dataclass
class _Mergeable:
    """A household or member: its merged values, their clocks and its key column."""

    id: str
    data: dict[str, Any]
    field_hlc: dict[str, str]
    # commune_code of a household, household_id of a member: the column scope is read from.
    key: str | None
    stored: bool
    changed: bool = False


@frozen
class _Fact:
    """An immutable record's stored content."""

    data: Any


def _load_mergeable(
    statement: sa.Select[Any], key: str
) -> Callable[[Connection, Sequence[str]], dict[str, _Mergeable]]:
    rows = _rows_by_id(statement)

    def load(conn: Connection, ids: Sequence[str]) -> dict[str, _Mergeable]:
        return {
            id_: _Mergeable(
                id_, dict(row.data), dict(row.field_hlc), getattr(row, key), stored=True
            )
            for id_, row in rows(conn, ids).items()
        }

    return load


def _load_facts(entity: str) -> Callable[[Connection, Sequence[str]], dict[str, _Fact]]:
    rows = _rows_by_id(_SELECT_FACTS[entity])

    def load(conn: Connection, ids: Sequence[str]) -> dict[str, _Fact]:
        return {id_: _Fact(row.data) for id_, row in rows(conn, ids).items()}

    return load


# ---------------------------------------------------------------------------------------------
# One batch


@kept_dataclass
class _Context:
    conn: Connection
    device: Device
    batch_id: str
    communes: frozenset[str]
    now: str
    conflicts: int = 0
    households: _Known[str, _Mergeable] = field(init=False)
    members: _Known[str, _Mergeable] = field(init=False)
    household_commune: _Known[str, str | None] = field(init=False)
    member_household: _Known[str, str | None] = field(init=False)
    # The household of each pledge and receipt, by entity.
    parent_household: dict[str, _Known[str, str]] = field(init=False)
    # The agent each pledge and receipt belongs to, by entity.
    owner: dict[str, _Known[str, str]] = field(init=False)
    books: _Known[str, Row[Any]] = field(init=False)
    receipt_numbers: _Known[tuple[str, int], str] = field(init=False)
    facts: dict[str, _Known[str, _Fact]] = field(init=False)
    # What to write once every record has been checked, in record order.
    fact_rows: dict[str, list[dict[str, Any]]] = field(init=False)
    conflict_rows: list[dict[str, Any]] = field(default_factory=list)
    feed_rows: list[dict[str, Any]] = field(default_factory=list)
    _hand_entered: list[Row[Any]] | None = None

    def hand_entered_books(self) -> list[Row[Any]]:
        """The agent's books registered as started by hand (read once per batch, if needed)."""
        if self._hand_entered is None:
            self._hand_entered = list(
                self.conn.execute(
                    sa.select(receipt_books).where(
                        receipt_books.c.agent_id == self.device.agent_id,
                        receipt_books.c.origin == "hand_entered",
                    )
                )
            )
        return self._hand_entered

    def __post_init__(self) -> None:
        conn = self.conn
        self.households = _Known(conn, _load_mergeable(_SELECT_HOUSEHOLDS, "commune_code"))
        self.members = _Known(conn, _load_mergeable(_SELECT_MEMBERS, "household_id"))
        self.household_commune = _Known(conn, _column_by_id(_SELECT_HOUSEHOLD_COMMUNES))
        self.member_household = _Known(conn, _column_by_id(_SELECT_MEMBER_HOUSEHOLDS))
        self.parent_household = {
            entity: _Known(conn, _column_by_id(statement))
            for entity, statement in _SELECT_PARENT_HOUSEHOLDS.items()
        }
        self.owner = {
            entity: _Known(conn, _column_by_id(statement))
            for entity, statement in _SELECT_OWNERS.items()
        }
        self.books = _Known(conn, _rows_by_id(_SELECT_BOOKS))
        self.receipt_numbers = _Known(conn, _load_receipt_numbers)
        self.facts = {entity: _Known(conn, _load_facts(entity)) for entity in IMMUTABLE_TABLES}
        self.fact_rows = {entity: [] for entity in IMMUTABLE_TABLES}


def receive(
    engine: Engine, *, device: Device, batch: wire.Batch, clock: Clock, via: Via = "http"
) -> wire.Ack:
    """Apply a validated batch from this device, or return the ack stored for it before.

    The HTTP upload and the USB file import both come through here.
    """
    with engine.begin() as conn:
        return receive_in(conn, device=device, batch=batch, clock=clock, via=via)


def receive_in(
    conn: Connection, *, device: Device, batch: wire.Batch, clock: Clock, via: Via = "http"
) -> wire.Ack:
    """receive() inside the caller's transaction (a supervisor's upload records who uploaded
    it and the audit entry in the same one)."""
    if batch["device_id"] != device.id:
        raise ServerError(
            "Lô dữ liệu ghi mã thiết bị khác với thiết bị gửi",
            "The batch names a different device than the one sending it",
            code="device_mismatch",
            status=403,
        )
    # Taken first: it also makes the batch-id check below race-free between workers.
    feed.lock(conn)
    # Keyed by device and batch id: batch ids travel in clear in USB files, and the same id
    # from another device is that device's own batch, never this one's stored ack.
    known = conn.execute(
        sa.select(batches.c.ack).where(
            batches.c.device_id == device.id, batches.c.batch_id == batch["batch_id"]
        )
    ).first()
    if known is not None:
        stored: wire.Ack = known.ack
        return stored
    now = iso_utc(clock.now())
    ack = _apply(conn, device, batch, now)
    conn.execute(
        batches.insert().values(
            batch_id=batch["batch_id"], device_id=device.id, received_at=now, via=via, ack=ack
        )
    )
    return ack


def _apply(conn: Connection, device: Device, batch: wire.Batch, now: str) -> wire.Ack:
    """Check every record against what the database and the earlier records hold, then write.

    Records are checked one by one in batch order against an in-memory view (read in bulk up
    front, updated as records are taken), and nothing is written until the end: a refused
    record leaves nothing behind without needing a savepoint of its own.
    """
    communes = conn.execute(
        sa.select(agent_communes.c.commune_code).where(agent_communes.c.agent_id == device.agent_id)
    ).scalars()
    ctx = _Context(conn, device, batch["batch_id"], frozenset(communes), now)
    moment = dt.datetime.fromisoformat(now)
    records = batch["records"]
    checked = list(
        zip(records, wire.check_records(records, device_id=device.id, now=moment), strict=True)
    )
    _prefetch(ctx, [record for record, problem in checked if problem is None])
    # Receipt books first: a receipt is checked against the books the batch brings too, even
    # when the book comes after it (a book entered before the laptop learnt to send books
    # joined its outbox after the receipts from it).
    order = sorted(range(len(checked)), key=lambda i: checked[i][0]["entity"] != wire.RECEIPT_BOOK)
    problems: dict[int, wire.RecordProblem | None] = {}
    for index in order:
        record, problem = checked[index]
        if problem is None:
            try:
                _APPLY[record["entity"]](ctx, record)
            except _Refused as refusal:
                problem = refusal.problem
        problems[index] = problem
    accepted: list[int] = []
    refused: list[wire.Refusal] = []
    for index, (record, _) in enumerate(checked):
        problem = problems[index]
        if problem is None:
            accepted.append(record["seq"])
        else:
            refused.append(problem.refusal(dict(record)))
    _write(ctx)
    return wire.Ack(
        protocol=wire.PROTOCOL_VERSION,
        batch_id=batch["batch_id"],
        accepted=accepted,
        refused=refused,
        conflicts=ctx.conflicts,
        server_time=now,
    )


def _prefetch(ctx: _Context, records: list[wire.Record]) -> None:
    """Read, a few statements per table, everything the well-formed records will look up."""
    by_entity: dict[str, list[wire.Record]] = {entity: [] for entity in wire.ENTITIES}
    for record in records:
        by_entity[record["entity"]].append(record)

    def ids(entity: str) -> list[str]:
        return [record["id"] for record in by_entity[entity]]

    def refs(entity: str, name: str) -> list[Any]:
        return [record["data"][name] for record in by_entity[entity]]

    # What refers to a record this batch brings new (a member's household, an event's pledge)
    # is learnt when that record is applied, earlier in the batch: it is not read here. A
    # lookup that finds nothing learnt (the record was refused, or comes later) reads it then.
    new = {
        entity: {record["id"] for record in by_entity[entity] if record["op"] == "insert"}
        for entity in (wire.HOUSEHOLD, wire.MEMBER, wire.PLEDGE, wire.RECEIPT)
    }

    def elsewhere(entity: str, keys: Iterable[Any]) -> list[Any]:
        return [key for key in keys if key not in new[entity]]

    ctx.households.prefetch(ids(wire.HOUSEHOLD))
    ctx.members.prefetch(ids(wire.MEMBER))
    ctx.member_household.prefetch(elsewhere(wire.MEMBER, refs(wire.PLEDGE, "member_id")))
    for entity, (parent, _) in _PARENTS.items():
        referred = elsewhere(parent, refs(entity, f"{parent}_id"))
        ctx.parent_household[parent].prefetch(referred)
        ctx.owner[parent].prefetch(referred)
    # Pledges a receipt takes money for, and receipts a pledge event names.
    ctx.owner[wire.PLEDGE].prefetch(
        elsewhere(wire.PLEDGE, (p for taken in refs(wire.RECEIPT, "pledge_ids") for p in taken))
    )
    ctx.owner[wire.RECEIPT].prefetch(
        elsewhere(wire.RECEIPT, (r for r in refs(wire.PLEDGE_EVENT, "receipt_id") if r))
    )
    for entity in IMMUTABLE_TABLES:
        ctx.facts[entity].prefetch(ids(entity))
    # Households whose commune decides a record's scope: its own, or its parent's.
    wanted = [
        *refs(wire.MEMBER, "household_id"),
        *(member.key for member in ctx.members.values() if member is not None),
        *refs(wire.VISIT, "household_id"),
        *refs(wire.PLEDGE, "household_id"),
        *refs(wire.RECEIPT, "household_id"),
        *(household for known in ctx.parent_household.values() for household in known.values()),
    ]
    ctx.household_commune.prefetch(
        elsewhere(wire.HOUSEHOLD, (str(h) for h in wanted if h is not None))
    )
    ctx.books.prefetch([*refs(wire.RECEIPT, "book_id"), *ids(wire.RECEIPT_BOOK)])
    # Only numbers inside the agent's book are ever looked up (others cannot be stored).
    ctx.receipt_numbers.prefetch(
        (record["data"]["series"], record["data"]["number"])
        for record in by_entity[wire.RECEIPT]
        if _in_book(ctx, record["data"])
    )


def _write(ctx: _Context) -> None:
    """Write what the taken records changed: a few executemany statements per table.

    A record's table row and its change-feed row hold the same data: each is encoded once.
    """
    conn = ctx.conn
    once = _encoder(conn)
    for table, rows, column in (
        (households, ctx.households, "commune_code"),
        (members, ctx.members, "household_id"),
    ):
        written = [row for row in rows.values() if row is not None and row.changed]
        inserts = [
            {
                "id": row.id,
                "data": once(row.data),
                "field_hlc": once(row.field_hlc),
                "created_by": ctx.device.id,
                "updated_at": ctx.now,
                column: row.key,
            }
            for row in written
            if not row.stored
        ]
        updates = [
            {
                "b_id": row.id,
                "data": once(row.data),
                "field_hlc": once(row.field_hlc),
                "updated_at": ctx.now,
                column: row.key,
            }
            for row in written
            if row.stored
        ]
        insert_many(conn, table, inserts)
        if updates:
            conn.execute(_UPDATES[table.name], updates)
    # The rows below were made for this write alone: their values are encoded in place.
    for entity, table in IMMUTABLE_TABLES.items():
        facts = ctx.fact_rows[entity]
        for row in facts:
            row["data"] = once(row["data"])
        insert_many(conn, table, facts)
    insert_many(conn, field_conflicts, ctx.conflict_rows)
    for row in ctx.feed_rows:
        row["data"] = once(row["data"])
        row["field_hlc"] = once(row["field_hlc"])
    feed.append_many(conn, ctx.feed_rows)


# None in a JSON column is stored as JSON null (the columns are not none_as_null).
_JSON_NULL = JsonText("null")


def _encoder(conn: Connection) -> Callable[[Any], Any]:
    """Encodes each JSON value once per write, by identity (every value is alive until the
    write ends); on an engine that would not take JsonText, leaves values as they are."""
    if not takes_json_text(conn):
        return lambda value: value
    done: dict[int, JsonText] = {}

    def once(value: Any) -> Any:
        if value is None:
            return _JSON_NULL
        text = done.get(id(value))
        if text is None:
            text = done[id(value)] = JsonText(dumps_json(value))
        return text

    return once


_UPDATES = {
    table.name: table.update().where(table.c.id == sa.bindparam("b_id"))
    for table in (households, members)
}


# ---------------------------------------------------------------------------------------------
# Scope


def _authorise(ctx: _Context, commune_code: str) -> None:
    if commune_code not in ctx.communes:
        raise _Refused(
            "out_of_scope",
            f"Xã {commune_code} không thuộc địa bàn được giao cho nhân viên này",
            f"Commune {commune_code} is not assigned to this agent",
        )


def _household_commune(ctx: _Context, household_id: str) -> str:
    commune = ctx.household_commune.get(household_id)
    if commune is None:
        raise _Refused(
            "unknown_household",
            f"Máy chủ chưa có hộ gia đình {household_id}",
            f"The server has no household {household_id}",
        )
    return str(commune)


def _scope_of(ctx: _Context, entity: str, data: dict[str, Any]) -> tuple[str, str]:
    """(household id, commune code) an immutable record belongs to."""
    household_id: Any
    if entity in _PARENTS:
        parent, called = _PARENTS[entity]
        parent_id = data[f"{parent}_id"]
        household_id = ctx.parent_household[parent].get(parent_id)
        if household_id is None:
            raise _Refused(
                f"unknown_{parent}",
                f"Máy chủ chưa có {called} {parent_id}",
                f"The server has no {parent} {parent_id}",
            )
    else:
        household_id = data["household_id"]
    return str(household_id), _household_commune(ctx, str(household_id))


# ---------------------------------------------------------------------------------------------
# Mergeable records: field-wise last-writer-wins


def _merge(
    ctx: _Context,
    record: wire.Record,
    commune: str,
    current: dict[str, Any],
    field_hlc: dict[str, str],
) -> bool:
    """Fold the record's fields into current/field_hlc in place; True when anything changed."""
    base = record["base"] or {}
    changed = False
    for name, value in record["data"].items():
        if name == "id" or current.get(name) == value:
            continue
        stored_hlc = field_hlc.get(name)
        wins = stored_hlc is None or hlc_compare(record["hlc"], stored_hlc) > 0
        # The laptop changed a value it had not seen the latest version of, and that version
        # came from someone else: keep both for a supervisor, current value by clock order.
        if (
            stored_hlc is not None
            and base.get(name) != stored_hlc
            and hlc_parse(stored_hlc).device_id != ctx.device.id
        ):
            ctx.conflict_rows.append(
                {
                    "entity": record["entity"],
                    "entity_id": record["id"],
                    "field": name,
                    "commune_code": commune,
                    "server_value": current.get(name),
                    "server_hlc": stored_hlc,
                    "incoming_value": value,
                    "incoming_hlc": record["hlc"],
                    "winner": "incoming" if wins else "server",
                    "device_id": ctx.device.id,
                    "batch_id": ctx.batch_id,
                    "created_at": ctx.now,
                }
            )
            ctx.conflicts += 1
        if wins:
            current[name] = value
            field_hlc[name] = record["hlc"]
            changed = True
    return changed


def _apply_mergeable(ctx: _Context, record: wire.Record) -> None:
    entity, data = record["entity"], record["data"]
    is_household = entity == wire.HOUSEHOLD
    rows = ctx.households if is_household else ctx.members
    stored = rows.get(record["id"])
    if is_household:
        commune = str(data["commune_code"])
    else:
        commune = _household_commune(ctx, str(data["household_id"]))
    _authorise(ctx, commune)
    if stored is None:
        if record["op"] == "update":
            raise _Refused(
                f"unknown_{entity}",
                f"Máy chủ chưa có bản ghi {record['id']} để sửa",
                f"The server has no {entity} {record['id']} to update",
            )
        current = {"id": record["id"], **data}
        field_hlc = {name: record["hlc"] for name in data if name != "id"}
        written = _Mergeable(record["id"], current, field_hlc, None, stored=False)
    else:
        # Moving a record needs rights over where it was, as well as where it goes.
        if is_household:
            _authorise(ctx, str(stored.key))
        elif stored.key != data["household_id"]:
            _authorise(ctx, _household_commune(ctx, str(stored.key)))
        current, field_hlc = dict(stored.data), dict(stored.field_hlc)
        if not _merge(ctx, record, commune, current, field_hlc):
            return
        written = _Mergeable(record["id"], current, field_hlc, None, stored=stored.stored)
        if is_household:
            commune = str(current["commune_code"])
    written.changed = True
    if is_household:
        if stored is not None and str(stored.key) != commune:
            ctx.feed_rows.append(
                edits.moved(
                    household_id=record["id"],
                    old_commune=str(stored.key),
                    new_commune=commune,
                    hlc=max(field_hlc.values()),
                    now=ctx.now,
                    origin_device_id=ctx.device.id,
                )
            )
        written.key = current["commune_code"]
        ctx.household_commune.set(record["id"], written.key)
    else:
        written.key = current["household_id"]
        ctx.member_household.set(record["id"], written.key)
    rows.set(record["id"], written)
    ctx.feed_rows.append(
        feed.entry(
            entity=entity,
            entity_id=record["id"],
            data=current,
            field_hlc=field_hlc,
            hlc=max(field_hlc.values()),
            now=ctx.now,
            commune_code=commune,
            origin_device_id=ctx.device.id,
        )
    )


# ---------------------------------------------------------------------------------------------
# Immutable records: insert if absent, never overwrite


def _already_taken(ctx: _Context, entity: str, data: dict[str, Any]) -> bool:
    """True when the server holds this very fact; a different fact under its id is refused."""
    existing = ctx.facts[entity].get(data["id"])
    if existing is None:
        return False
    if wire.canonical_json(existing.data) == wire.canonical_json(data):
        return True
    raise _Refused(
        "conflicting_duplicate",
        "Máy chủ đã có bản ghi cùng mã nhưng nội dung khác; bản ghi cũ được giữ nguyên",
        "The server already has a record with this id and different content; it is kept",
    )


def _take_fact(ctx: _Context, record: wire.Record, data: dict[str, Any], **columns: Any) -> None:
    """Keep an immutable record for writing, its copied fields in their own columns."""
    entity = record["entity"]
    ctx.facts[entity].set(record["id"], _Fact(data))
    ctx.fact_rows[entity].append(
        {
            "id": record["id"],
            "data": data,
            "hlc": record["hlc"],
            "device_id": ctx.device.id,
            "received_at": ctx.now,
            **{name: data[name] for name in COPIED_FIELDS[entity]},
            **columns,
        }
    )


def _apply_immutable(ctx: _Context, record: wire.Record) -> None:
    entity = record["entity"]
    data = {"id": record["id"], **record["data"]}
    household_id, commune = _scope_of(ctx, entity, data)
    _authorise(ctx, commune)
    if _already_taken(ctx, entity, data):
        return
    _CHECKS.get(entity, _no_check)(ctx, data, household_id)
    _take_fact(ctx, record, data)
    if entity in ctx.parent_household:
        ctx.parent_household[entity].set(record["id"], data["household_id"])
    if entity in ctx.owner:
        ctx.owner[entity].set(record["id"], ctx.device.agent_id)
    if entity == wire.RECEIPT:
        ctx.receipt_numbers.set((data["series"], data["number"]), record["id"])
    ctx.feed_rows.append(
        feed.entry(
            entity=entity,
            entity_id=record["id"],
            data=data,
            hlc=record["hlc"],
            now=ctx.now,
            commune_code=commune,
            origin_device_id=ctx.device.id,
        )
    )


def _apply_handover(ctx: _Context, record: wire.Record) -> None:
    """A cash handover: insert if absent, credited to the agent of the sending device.

    It concerns no household, so no commune scope applies: a device may only ever report its
    own agent's cash. It is not put in the change feed either: no laptop needs another's
    handovers, and the sending laptop has its own.
    """
    data = {"id": record["id"], **record["data"]}
    if not _already_taken(ctx, wire.CASH_HANDOVER, data):
        _take_fact(ctx, record, data, agent_id=ctx.device.agent_id)


def _apply_book(ctx: _Context, record: wire.Record) -> None:
    """A receipt book entered by hand on a laptop: the sending device's agent's book, as if a
    supervisor had registered it on /web/books (origin "hand_entered", no overlap with any
    other book). Written at once, so the batch's receipts (checked after the books) and any
    later book see it; taking the same book again changes nothing."""
    data = record["data"]
    series, first, last = data["series"], data["first"], data["last"]
    known = ctx.books.get(record["id"])
    if known is not None:
        if (known.agent_id, known.series, known.first, known.last) == (
            ctx.device.agent_id,
            series,
            first,
            last,
        ):
            return
        raise _Refused(
            "conflicting_duplicate",
            "Máy chủ đã có quyển biên lai cùng mã nhưng khác nhân viên, ký hiệu hoặc dải số",
            "The server already has a receipt book with this id and another agent, series or range",
        )
    overlap = ctx.conn.execute(
        sa.select(receipt_books).where(
            receipt_books.c.series == series,
            receipt_books.c.first <= last,
            receipt_books.c.last >= first,
        )
    ).first()
    if overlap is not None:
        # The same book a supervisor already registered for this agent from its paper cover
        # (under another id): nothing to add, its receipts are taken by series and number.
        if (overlap.agent_id, overlap.origin, overlap.first, overlap.last) == (
            ctx.device.agent_id,
            "hand_entered",
            first,
            last,
        ):
            return
        raise _Refused(
            "book_overlap",
            f"Quyển biên lai {series} {first}–{last} trùng số với quyển {overlap.series}"
            f" {overlap.first}–{overlap.last} đã có trên máy chủ; biên lai của quyển này không"
            " được nhận. Hãy báo cán bộ tỉnh",
            f"Receipt book {series} {first}-{last} overlaps book {overlap.series}"
            f" {overlap.first}-{overlap.last} already on the server; its receipts are not"
            " taken. Tell the provincial office",
        )
    row = {
        "id": record["id"],
        "agent_id": ctx.device.agent_id,
        "series": series,
        "first": first,
        "last": last,
        "created_at": ctx.now,
        "origin": "hand_entered",
    }
    ctx.conn.execute(receipt_books.insert().values(**row))
    stored = ctx.conn.execute(
        sa.select(receipt_books).where(receipt_books.c.id == record["id"])
    ).one()
    ctx.books.set(record["id"], stored)
    ctx.hand_entered_books().append(stored)
    # The agent's other laptops learn the book as they learn a registered one (admin).
    ctx.feed_rows.append(
        feed.entry(
            entity=wire.RECEIPT_BOOK,
            entity_id=record["id"],
            data={"id": record["id"], "agent_id": ctx.device.agent_id, **data},
            hlc=record["hlc"],
            now=ctx.now,
            agent_id=ctx.device.agent_id,
            origin_device_id=ctx.device.id,
        )
    )


def _no_check(ctx: _Context, data: dict[str, Any], household_id: str) -> None:
    return None


def _check_visit(ctx: _Context, data: dict[str, Any], household_id: str) -> None:
    if data["agent_id"] != ctx.device.agent_id:
        raise _Refused(
            "agent_mismatch",
            "Lượt thăm ghi tên nhân viên khác với chủ thiết bị",
            "The visit names another agent than the device's",
        )


def _check_pledge(ctx: _Context, data: dict[str, Any], household_id: str) -> None:
    if ctx.member_household.get(data["member_id"]) != household_id:
        raise _Refused(
            "unknown_member",
            f"Máy chủ chưa có thành viên {data['member_id']} trong hộ này",
            f"The server has no member {data['member_id']} in this household",
        )


# Receipts, their voids and pledge events belong to the agent who issued the receipt or made
# the pledge, on whichever of their laptops; a supervisor acts on the web, not through a batch.
NOT_YOURS = "not_your_record"


def _foreign(ctx: _Context, entity: str, record_id: str) -> bool:
    """True when the server holds this pledge or receipt from another agent's device.

    One it has never seen is left to the check that names it as unknown.
    """
    owner = ctx.owner[entity].get(record_id)
    return owner is not None and owner != ctx.device.agent_id


def _in_book(ctx: _Context, data: dict[str, Any]) -> bool:
    book = ctx.books.get(data["book_id"])
    if book is not None:
        return (
            book.agent_id == ctx.device.agent_id
            and book.series == data["series"]
            and book.first <= data["number"] <= book.last
        )
    # A book the agent started by hand on the laptop has the laptop's own id; once a supervisor
    # has registered it (series and range, as printed on the paper book), its receipts are
    # taken by series and number.
    return any(
        hand.series == data["series"] and hand.first <= data["number"] <= hand.last
        for hand in ctx.hand_entered_books()
    )


def _check_receipt(ctx: _Context, data: dict[str, Any], household_id: str) -> None:
    if not _in_book(ctx, data):
        raise _Refused(
            "receipt_book_mismatch",
            f"Biên lai {data['series']} số {data['number']} không thuộc quyển biên lai được cấp",
            f"Receipt {data['series']} {data['number']} is not in a book allocated to this agent",
        )
    if ctx.receipt_numbers.get((data["series"], data["number"])) is not None:
        raise _Refused(
            "receipt_number_used",
            f"Số biên lai {data['series']} {data['number']} đã được dùng cho biên lai khác",
            f"Receipt number {data['series']} {data['number']} is already used",
        )
    foreign = [p for p in data["pledge_ids"] if _foreign(ctx, wire.PLEDGE, p)]
    if foreign:
        listed = ", ".join(foreign)
        raise _Refused(
            NOT_YOURS,
            f"Cam kết {listed} do nhân viên thu khác lập; chỉ người đó mới được thu tiền"
            " cho cam kết này",
            f"Pledge {listed} was made by another agent; only they can take the money for it",
        )


def _check_pledge_event(ctx: _Context, data: dict[str, Any], household_id: str) -> None:
    if _foreign(ctx, wire.PLEDGE, data["pledge_id"]):
        raise _Refused(
            NOT_YOURS,
            f"Cam kết {data['pledge_id']} do nhân viên thu khác lập; chỉ người đó mới được"
            " đổi trạng thái cam kết",
            f"Pledge {data['pledge_id']} was made by another agent; only they can change"
            " its status",
        )
    if data["receipt_id"] and _foreign(ctx, wire.RECEIPT, data["receipt_id"]):
        raise _Refused(
            NOT_YOURS,
            f"Biên lai {data['receipt_id']} do nhân viên thu khác lập; không thể ghi thu tiền"
            " theo biên lai này",
            f"Receipt {data['receipt_id']} was issued by another agent; a payment cannot be"
            " recorded on it",
        )


def _check_receipt_void(ctx: _Context, data: dict[str, Any], household_id: str) -> None:
    if _foreign(ctx, wire.RECEIPT, data["receipt_id"]):
        raise _Refused(
            NOT_YOURS,
            f"Biên lai {data['receipt_id']} do nhân viên thu khác lập; chỉ người đó mới được"
            " huỷ biên lai",
            f"Receipt {data['receipt_id']} was issued by another agent; only they can void it",
        )


_CHECKS: dict[str, Callable[[_Context, dict[str, Any], str], None]] = {
    wire.VISIT: _check_visit,
    wire.PLEDGE: _check_pledge,
    wire.RECEIPT: _check_receipt,
    wire.PLEDGE_EVENT: _check_pledge_event,
    wire.RECEIPT_VOID: _check_receipt_void,
}

_APPLY: dict[str, Callable[[_Context, wire.Record], None]] = {
    **{entity: _apply_mergeable for entity in wire.MERGEABLE},
    **{entity: _apply_immutable for entity in wire.IMMUTABLE},
    wire.CASH_HANDOVER: _apply_handover,
    wire.RECEIPT_BOOK: _apply_book,
}
