"""The provincial server's tables, database engine and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

metadata = sa.MetaData()

# Timestamps are stored as fixed-width ISO UTC text (fieldapp.clock.iso_utc): they sort as
# text and read back the same on SQLite and PostgreSQL.
Stamp = sa.String(32)
Id = sa.String(36)
# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Cursor = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
)

agent_communes = sa.Table(
    "agent_communes",
    metadata,
    sa.Column("agent_id", Id, sa.ForeignKey("agents.id"), primary_key=True),
    sa.Column("commune_code", sa.String(5), primary_key=True),
)

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
    sa.Column("batch_id", Id, primary_key=True),
    sa.Column("device_id", Id, sa.ForeignKey("devices.id"), nullable=False, index=True),
    sa.Column("received_at", Stamp, nullable=False),
    sa.Column("via", sa.String(8), nullable=False),
    sa.Column("ack", sa.JSON, nullable=False),
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


households = _mergeable("households", sa.Column("commune_code", sa.String(5), index=True))
members = _mergeable(
    "members", sa.Column("household_id", Id, sa.ForeignKey("households.id"), index=True)
)

field_conflicts = sa.Table(
    "field_conflicts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.String(16), nullable=False),
    sa.Column("entity_id", Id, nullable=False, index=True),
    sa.Column("field", sa.String(64), nullable=False),
    sa.Column("commune_code", sa.String(5)),
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


visits = _immutable("visits", sa.Column("household_id", Id, nullable=False, index=True))
pledges = _immutable("pledges", sa.Column("household_id", Id, nullable=False, index=True))
pledge_events = _immutable("pledge_events", sa.Column("pledge_id", Id, nullable=False, index=True))
receipts = _immutable(
    "receipts",
    sa.Column("household_id", Id, nullable=False, index=True),
    sa.Column("series", sa.String(32), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("series", "number", name="uq_receipts_series_number"),
)
receipt_voids = _immutable("receipt_voids", sa.Column("receipt_id", Id, nullable=False, index=True))
# An agent's end-of-day cash handover. Not tied to a household: it belongs to the agent of the
# device that sent it. A correction is another row; per device, day and scheme the row with
# the highest clock stamp counts. Money is integer đồng.
cash_handovers = _immutable(
    "cash_handovers",
    sa.Column("agent_id", Id, sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("scheme", sa.String(16), nullable=False),
    sa.Column("expected", sa.BigInteger, nullable=False),
    sa.Column("handed_over", sa.BigInteger, nullable=False),
    sa.Column("difference", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", Stamp, nullable=False),
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
    sa.Column("series", sa.String(32), nullable=False),
    sa.Column("first", sa.Integer, nullable=False),
    sa.Column("last", sa.Integer, nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
)

targets = sa.Table(
    "targets",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("agent_id", Id, sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("scheme", sa.String(16), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("updated_at", Stamp, nullable=False),
    sa.UniqueConstraint("agent_id", "scheme", "month", name="uq_targets_agent_scheme_month"),
)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),
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
    sa.Column("commune_code", sa.String(5), index=True),
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

supervisor_communes = sa.Table(
    "supervisor_communes",
    metadata,
    sa.Column("supervisor_id", Id, sa.ForeignKey("supervisors.id"), primary_key=True),
    sa.Column("commune_code", sa.String(5), primary_key=True),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("supervisor_id", Id, sa.ForeignKey("supervisors.id"), nullable=False, index=True),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Column("expires_at", Stamp, nullable=False),
)

# Keyed by the typed user name, known or not, so a lockout says nothing about who exists.
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_until", Stamp),
)

IMMUTABLE_TABLES = {
    "visit": visits,
    "pledge": pledges,
    "pledge_event": pledge_events,
    "receipt": receipts,
    "receipt_void": receipt_voids,
    "cash_handover": cash_handovers,
}
MERGEABLE_TABLES = {"household": households, "member": members}

MIGRATIONS = Path(__file__).parent / "migrations"


def database_url_for(data_dir: Path) -> str:
    """The default store: one SQLite file in the data directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'server.sqlite3'}"


def open_engine(url: str) -> Engine:
    """An engine for a database URL; SQLite gets WAL, foreign keys and write-locking BEGIN."""
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

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
