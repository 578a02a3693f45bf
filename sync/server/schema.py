"""The provincial server's tables, database engine and migrations."""

from __future__ import annotations

import json
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine

from sync.protocol import wire
from sync.protocol.fields import (
    CHOICE_LENGTH,
    FIELDS,
    NAME_LENGTH,
    VERSION_LENGTH,
    Field,
    synced_fields,
)

metadata = sa.MetaData()
_SQLITE_DIALECT = sqlite_dialect.dialect()

# Timestamps are stored as fixed-width ISO UTC text (fieldapp.clock.iso_utc): they sort as
# text and read back the same on SQLite and PostgreSQL.
Stamp = sa.String(32)
Id = sa.String(36)
# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Cursor = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# A short code out of a fixed set: an entity, a scheme, a role.
Choice = sa.String(CHOICE_LENGTH)
# Text up to this long goes in a sized column; longer text (notes, reasons) is TEXT.
_SIZED_TEXT = 255


def _column_type(field: Field) -> sa.types.TypeEngine[Any]:
    """The column that holds a wire field, sized by the field's own description."""
    if field.kind in ("text", "digits"):
        assert field.max_length is not None
        return sa.String(field.max_length) if field.max_length <= _SIZED_TEXT else sa.Text()
    return {
        "id": Id,
        "date": sa.String(10),
        "timestamp": Stamp,
        "choice": Choice,
        "money": sa.BigInteger(),
        "count": sa.Integer(),
    }[field.kind]


def field_column(entity: str, name: str, *args: Any, **options: Any) -> sa.Column[Any]:
    """A column copying one field of an entity's records out of their JSON `data`."""
    return sa.Column(name, _column_type(FIELDS[entity][name]), *args, **options)


Commune = _column_type(FIELDS[wire.HOUSEHOLD]["commune_code"])
Series = _column_type(FIELDS[wire.RECEIPT]["series"])


agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
    # An agent who left: their devices are revoked with them; their records stay.
    sa.Column("deactivated_at", Stamp),
)


def _communes(owner: str) -> sa.Table:
    """The communes each agent or supervisor covers."""
    return sa.Table(
        f"{owner}_communes",
        metadata,
        sa.Column(f"{owner}_id", Id, sa.ForeignKey(f"{owner}s.id"), primary_key=True),
        sa.Column("commune_code", Commune, primary_key=True),
    )


agent_communes = _communes("agent")

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("agent_id", Id, sa.ForeignKey("agents.id"), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("device_key", sa.LargeBinary, nullable=False),
    sa.Column("enrolled_at", Stamp, nullable=False),
    sa.Column("revoked_at", Stamp),
    sa.Column("last_seen_at", Stamp),
    sa.Column("last_pending_reported", sa.Integer),
)

enrol_codes = sa.Table(
    "enrol_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("agent_id", Id, sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Column("expires_at", Stamp, nullable=False),
    sa.Column("used_at", Stamp),
    sa.Column("device_id", Id),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("batch_id", Id, nullable=False),
    sa.Column("device_id", Id, sa.ForeignKey("devices.id"), nullable=False),
    sa.Column("received_at", Stamp, nullable=False),
    sa.Column("via", sa.String(8), nullable=False),
    sa.Column("ack", sa.JSON, nullable=False),
    # Per device: batch ids travel in clear in USB files, so another device sending the same
    # id makes a batch of its own instead of blocking this one. The key also serves lookups
    # by device, so device_id needs no index of its own.
    sa.PrimaryKeyConstraint("device_id", "batch_id"),
)


def _mergeable(name: str, *extra: sa.Column[Any]) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", Id, primary_key=True),
        *extra,
        # The current merged values, and the HLC that wrote each field's value.
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("field_hlc", sa.JSON, nullable=False),
        sa.Column("created_by", Id, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
    )


households = _mergeable("households", field_column(wire.HOUSEHOLD, "commune_code", index=True))
members = _mergeable(
    "members", field_column(wire.MEMBER, "household_id", sa.ForeignKey("households.id"), index=True)
)

field_conflicts = sa.Table(
    "field_conflicts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity", Choice, nullable=False),
    sa.Column("entity_id", Id, nullable=False, index=True),
    sa.Column("field", sa.String(64), nullable=False),
    sa.Column("commune_code", Commune),
    sa.Column("server_value", sa.JSON),
    sa.Column("server_hlc", sa.String(80), nullable=False),
    sa.Column("incoming_value", sa.JSON),
    sa.Column("incoming_hlc", sa.String(80), nullable=False),
    sa.Column("winner", sa.String(8), nullable=False),
    sa.Column("device_id", Id, nullable=False),
    sa.Column("batch_id", Id, nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Column("resolved_at", Stamp),
    sa.Column("resolution", sa.JSON),
)


def _immutable(name: str, *extra: sa.Column[Any] | sa.Constraint | sa.Index) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", Id, primary_key=True),
        *extra,
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("hlc", sa.String(80), nullable=False),
        sa.Column("device_id", Id, nullable=False, index=True),
        sa.Column("received_at", Stamp, nullable=False),
    )


def _copied(entity: str, *names: str, index: bool = False) -> list[sa.Column[Any]]:
    """Fields of an immutable record copied into columns, to look records up or add them up."""
    return [field_column(entity, name, nullable=False, index=index) for name in names]


visits = _immutable("visits", *_copied(wire.VISIT, "household_id", index=True))
pledges = _immutable("pledges", *_copied(wire.PLEDGE, "household_id", index=True))
pledge_events = _immutable("pledge_events", *_copied(wire.PLEDGE_EVENT, "pledge_id", index=True))
receipts = _immutable(
    "receipts",
    *_copied(wire.RECEIPT, "household_id", index=True),
    *_copied(wire.RECEIPT, "series", "number", "amount"),
    sa.UniqueConstraint("series", "number", name="uq_receipts_series_number"),
)
receipt_voids = _immutable("receipt_voids", *_copied(wire.RECEIPT_VOID, "receipt_id", index=True))
# An agent's end-of-day cash handover. Not tied to a household: it belongs to the agent of the
# device that sent it. A correction is another row; per device, day and scheme the row with
# the highest clock stamp counts. Money is integer đồng.
cash_handovers = _immutable(
    "cash_handovers",
    sa.Column("agent_id", Id, sa.ForeignKey("agents.id"), nullable=False),
    *_copied(wire.CASH_HANDOVER, *synced_fields(wire.CASH_HANDOVER)),
    sa.CheckConstraint(
        "expected >= 0 AND handed_over >= 0 AND difference = handed_over - expected",
        name="ck_cash_handovers_amounts",
    ),
    sa.Index("ix_cash_handovers_agent_day", "agent_id", "day"),
)

receipt_books = sa.Table(
    "receipt_books",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("agent_id", Id, sa.ForeignKey("agents.id"), nullable=False, index=True),
    sa.Column("series", Series, nullable=False),
    sa.Column("first", sa.Integer, nullable=False),
    sa.Column("last", sa.Integer, nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
    # "allocated" by the province, or "hand_entered": a book the agent started on the laptop
    # before the province knew of it, registered so that its receipts verify.
    sa.Column("origin", sa.String(16), nullable=False, server_default="allocated"),
)

targets = sa.Table(
    "targets",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("agent_id", Id, sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("scheme", Choice, nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("updated_at", Stamp, nullable=False),
    sa.UniqueConstraint("agent_id", "scheme", "month", name="uq_targets_agent_scheme_month"),
)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("version", sa.String(VERSION_LENGTH), primary_key=True),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("published_at", Stamp, nullable=False),
)

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("cursor", Cursor, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.String(32), nullable=False),
    sa.Column("entity_id", sa.String(64), nullable=False),
    # Scope: a commune (records), an agent (assignment, books, targets) or neither (policy).
    sa.Column("commune_code", Commune, index=True),
    sa.Column("agent_id", Id, index=True),
    sa.Column("origin_device_id", Id),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("field_hlc", sa.JSON),
    sa.Column("hlc", sa.String(80), nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
)

# Supervisor web pages: accounts, their communes, browser sessions and login back-off.
supervisors = sa.Table(
    "supervisors",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
)

supervisor_communes = _communes("supervisor")

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("supervisor_id", Id, sa.ForeignKey("supervisors.id"), nullable=False, index=True),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Column("expires_at", Stamp, nullable=False),
)

# Wrong logins counted per typed user name (kind "name"; known or not, so a lockout says
# nothing about who exists) and per client address (kind "address"), so that neither many
# guesses at one name nor a few at many names get far. A row is forgotten, and deleted, once
# forget_at has passed: the table holds only recent failures.
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("subject", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_until", Stamp),
    sa.Column("forget_at", Stamp, nullable=False, index=True),
)

# Request limits per device (sync.server.ratelimit): a token bucket each, kept here so that
# every worker and machine serving the province draws on the same one. `refilled_at` is in
# seconds since the epoch. One row per device that has made a request.
rate_buckets = sa.Table(
    "rate_buckets",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("refilled_at", sa.Float, nullable=False),
)

# A supervisor's merge of people who share a CCCD: the member kept, one merged into it (and
# removed, on the server and on the laptops), by whom and when. Append-only.
member_merges = sa.Table(
    "member_merges",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("cccd", field_column(wire.MEMBER, "cccd").type, nullable=False),
    sa.Column("kept_id", Id, nullable=False, index=True),
    sa.Column("merged_id", Id, nullable=False),
    sa.Column("commune_code", Commune, nullable=False, index=True),
    sa.Column("merged_by", sa.String(64), nullable=False),
    sa.Column("merged_at", Stamp, nullable=False),
)

# A commune's BHYT coverage target set on the supervisor pages: the share of residents insured
# (in tenths of a percent, 950 = 95.0 %) to reach by a day, who set it and when. One per commune.
coverage_targets = sa.Table(
    "coverage_targets",
    metadata,
    sa.Column("commune_code", Commune, primary_key=True),
    sa.Column("percent_tenths", sa.Integer, nullable=False),
    sa.Column("due_on", sa.String(10), nullable=False),
    sa.Column("set_by", sa.String(64), nullable=False),
    sa.Column("updated_at", Stamp, nullable=False),
    sa.CheckConstraint(
        "percent_tenths >= 0 AND percent_tenths <= 1000", name="ck_coverage_targets_percent"
    ),
)

# Who did what and when: every supervisor action on the pages, every enrolment and revocation.
# Append-only: nothing in the code updates or deletes a row. commune_code scopes an entry to
# the commune supervisors who may read it (None: the province's administrators only).
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # One action touching several communes is one row per commune, sharing this id.
    sa.Column("entry", Id, nullable=False),
    sa.Column("at", Stamp, nullable=False, index=True),
    sa.Column("actor", sa.String(64), nullable=False),
    # "supervisor" (a web login), "device" (an enrolment), "operator" (the server's command line).
    sa.Column("actor_kind", sa.String(16), nullable=False),
    sa.Column("action", sa.String(48), nullable=False),
    sa.Column("target", sa.String(128)),
    sa.Column("commune_code", Commune, index=True),
    sa.Column("detail", sa.JSON, nullable=False),
)

# Monthly targets for a commune (village "") or one of its villages, per scheme, set on the
# pages by form or from an uploaded XLSX. Per-agent targets stay in `targets`.
area_targets = sa.Table(
    "area_targets",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("commune_code", Commune, nullable=False),
    sa.Column("village", sa.String(NAME_LENGTH), nullable=False, server_default=""),
    sa.Column("scheme", Choice, nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("set_by", sa.String(64), nullable=False),
    sa.Column("updated_at", Stamp, nullable=False),
    sa.CheckConstraint("count >= 0", name="ck_area_targets_count"),
    sa.UniqueConstraint(
        "commune_code", "village", "scheme", "month", name="uq_area_targets_area_month"
    ),
)

# A .fabatch file a supervisor uploaded on the pages (an agent's USB stick at the office): who,
# when, which device's batch, and what it applied and refused (the ack itself is in `batches`).
batch_uploads = sa.Table(
    "batch_uploads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uploaded_at", Stamp, nullable=False),
    sa.Column("uploaded_by", sa.String(64), nullable=False),
    sa.Column("device_id", Id, sa.ForeignKey("devices.id"), nullable=False, index=True),
    sa.Column("batch_id", Id, nullable=False),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("applied", sa.Integer, nullable=False),
    sa.Column("refused", sa.Integer, nullable=False),
)

IMMUTABLE_TABLES = {
    wire.VISIT: visits,
    wire.PLEDGE: pledges,
    wire.PLEDGE_EVENT: pledge_events,
    wire.RECEIPT: receipts,
    wire.RECEIPT_VOID: receipt_voids,
    wire.CASH_HANDOVER: cash_handovers,
}
MERGEABLE_TABLES = {wire.HOUSEHOLD: households, wire.MEMBER: members}
# The fields each immutable record has copied out of its JSON into columns of their own.
COPIED_FIELDS = {
    entity: tuple(c.name for c in table.columns if c.name != "id" and c.name in FIELDS[entity])
    for entity, table in IMMUTABLE_TABLES.items()
}

MIGRATIONS = Path(__file__).parent / "migrations"


def database_url_for(data_dir: Path) -> str:
    """The default store: one SQLite file in the data directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'server.sqlite3'}"


class JsonText(str):
    """A JSON column's value already encoded (by dumps_json): a batch writes the same record to
    its table and to the change feed, and encodes it once for both."""

    __slots__ = ()


def dumps_json(value: object) -> str:
    """The text a JSON column stores: compact UTF-8 JSON.

    orjson writes a batch's records about eight times faster than json.dumps (encoding them
    was about a tenth of the server's time on an upload). What orjson refuses (an integer past 64
    bits, a lone surrogate) goes to json.dumps, which stores it as it always did.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def encode_json(value: object) -> str:
    """The engines' JSON encoder: dumps_json, and JsonText as it is."""
    if type(value) is JsonText:
        return str(value)
    return dumps_json(value)


def takes_json_text(conn: Connection) -> bool:
    """Whether this connection's engine writes JsonText as it is (made by open_engine)."""
    return getattr(conn.dialect, "_json_serializer", None) is encode_json


def insert_many(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT rows (dicts with the same keys) in one executemany, in list order.

    On SQLite through open_engine the rows go to the driver as they are: SQLAlchemy would
    otherwise process every value of every row (about 4 µs a row, a third of writing a
    batch's change feed), and none of these columns needs it. JSON values are written as the
    engine's encoder writes them: JsonText as it is, None as JSON null, anything else
    encoded. Other engines, and a table with a column that needs processing, take the usual
    path; both store the same.
    """
    if not rows:
        return
    compiled = (
        _driver_insert(table, tuple(rows[0]))
        if conn.dialect.name == "sqlite" and takes_json_text(conn)
        else None
    )
    if compiled is None:
        conn.execute(table.insert(), rows)
        return
    sql, keys, json_keys = compiled
    if len(keys) == 1:
        params = [(row[keys[0]],) for row in rows]
    else:
        params = list(map(itemgetter(*keys), rows))
    json_at = [index for index, key in enumerate(keys) if key in json_keys]
    if json_at:
        # JSON already encoded (JsonText, as a batch's write passes it) goes as it is.
        for number, values in enumerate(params):
            for index in json_at:
                if type(values[index]) is not JsonText:
                    params[number] = tuple(
                        encode_json(value) if at in json_at else value
                        for at, value in enumerate(values)
                    )
                    break
    conn.exec_driver_sql(sql, params)


_DRIVER_INSERTS: dict[
    tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...], frozenset[str]] | None
] = {}


def _driver_insert(
    table: sa.Table, keys: tuple[str, ...]
) -> tuple[str, tuple[str, ...], frozenset[str]] | None:
    """The SQLite INSERT for these columns, their order, and which of them hold JSON; None
    when a column's type needs its values processed (then SQLAlchemy writes the rows)."""
    cache_key = (table.name, keys)
    if cache_key in _DRIVER_INSERTS:
        return _DRIVER_INSERTS[cache_key]
    dialect = _SQLITE_DIALECT
    json_keys = frozenset(key for key in keys if isinstance(table.c[key].type, sa.JSON))
    plain = not any(table.c[key].type.none_as_null for key in json_keys) and all(
        table.c[key].type.dialect_impl(dialect).bind_processor(dialect) is None
        for key in keys
        if key not in json_keys
    )
    compiled = table.insert().compile(dialect=dialect, column_keys=list(keys))
    positions = compiled.positiontup or ()
    result = (str(compiled), tuple(positions), json_keys) if plain else None
    _DRIVER_INSERTS[cache_key] = result
    return result


def open_engine(url: str) -> Engine:
    """An engine for a database URL; SQLite gets WAL, foreign keys and write-locking BEGIN."""
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True, json_serializer=encode_json)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        json_serializer=encode_json,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front: two batches never interleave their
        # read-merge-write steps, and no transaction fails late on a lock upgrade.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (alembic upgrade head)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
