"""Initial schema: agents, devices, records, conflicts, reference data, change feed."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync.server.migrations.steps import (
    ID,
    STAMP,
    create_indexes,
    create_record_table,
    drop_indexed_table,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "changes",
        sa.Column(
            "cursor",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=True),
        sa.Column("agent_id", ID, nullable=True),
        sa.Column("origin_device_id", ID, nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("field_hlc", sa.JSON(), nullable=True),
        sa.Column("hlc", sa.String(length=80), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("cursor"),
    )
    create_indexes("changes", "agent_id", "commune_code")

    op.create_table(
        "field_conflicts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("entity_id", ID, nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=True),
        sa.Column("server_value", sa.JSON(), nullable=True),
        sa.Column("server_hlc", sa.String(length=80), nullable=False),
        sa.Column("incoming_value", sa.JSON(), nullable=True),
        sa.Column("incoming_hlc", sa.String(length=80), nullable=False),
        sa.Column("winner", sa.String(length=8), nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("resolved_at", STAMP, nullable=True),
        sa.Column("resolution", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("field_conflicts", "entity_id")

    op.create_table(
        "households",
        sa.Column("id", ID, nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("field_hlc", sa.JSON(), nullable=False),
        sa.Column("created_by", ID, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("households", "commune_code")

    create_record_table(
        "pledge_events", sa.Column("pledge_id", ID, nullable=False), indexed=("pledge_id",)
    )
    create_record_table(
        "pledges", sa.Column("household_id", ID, nullable=False), indexed=("household_id",)
    )
    op.create_table(
        "policies",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("published_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    create_record_table(
        "receipt_voids", sa.Column("receipt_id", ID, nullable=False), indexed=("receipt_id",)
    )
    create_record_table(
        "receipts",
        sa.Column("household_id", ID, nullable=False),
        sa.Column("series", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("series", "number", name="uq_receipts_series_number"),
        indexed=("household_id",),
    )
    create_record_table(
        "visits", sa.Column("household_id", ID, nullable=False), indexed=("household_id",)
    )

    op.create_table(
        "agent_communes",
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
        ),
        sa.PrimaryKeyConstraint("agent_id", "commune_code"),
    )
    op.create_table(
        "devices",
        sa.Column("id", ID, nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("device_key", sa.LargeBinary(), nullable=False),
        sa.Column("enrolled_at", STAMP, nullable=False),
        sa.Column("revoked_at", STAMP, nullable=True),
        sa.Column("last_seen_at", STAMP, nullable=True),
        sa.Column("last_pending_reported", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    create_indexes("devices", "agent_id")

    op.create_table(
        "enrol_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("expires_at", STAMP, nullable=False),
        sa.Column("used_at", STAMP, nullable=True),
        sa.Column("device_id", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
        ),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    op.create_table(
        "members",
        sa.Column("id", ID, nullable=False),
        sa.Column("household_id", ID, nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("field_hlc", sa.JSON(), nullable=False),
        sa.Column("created_by", ID, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("members", "household_id")

    op.create_table(
        "receipt_books",
        sa.Column("id", ID, nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("series", sa.String(length=32), nullable=False),
        sa.Column("first", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("receipt_books", "agent_id")

    op.create_table(
        "targets",
        sa.Column("id", ID, nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agent_id", "scheme", "month", name="uq_targets_agent_scheme_month"),
    )
    op.create_table(
        "batches",
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("received_at", STAMP, nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("ack", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
        ),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    create_indexes("batches", "device_id")


def downgrade() -> None:
    drop_indexed_table("batches", "device_id")
    op.drop_table("targets")
    drop_indexed_table("receipt_books", "agent_id")
    drop_indexed_table("members", "household_id")
    op.drop_table("enrol_codes")
    drop_indexed_table("devices", "agent_id")
    op.drop_table("agent_communes")
    drop_indexed_table("visits", "household_id", "device_id")
    drop_indexed_table("receipts", "household_id", "device_id")
    drop_indexed_table("receipt_voids", "receipt_id", "device_id")
    op.drop_table("policies")
    drop_indexed_table("pledges", "household_id", "device_id")
    drop_indexed_table("pledge_events", "pledge_id", "device_id")
    drop_indexed_table("households", "commune_code")
    drop_indexed_table("field_conflicts", "entity_id")
    drop_indexed_table("changes", "commune_code", "agent_id")
    op.drop_table("agents")
