"""Running the province from the web: the audit log, agents deactivated, receipt books entered
by hand on a laptop, targets per commune and village, batch files uploaded by a supervisor."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync.server.migrations.steps import ID, STAMP

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry", ID, nullable=False),
        sa.Column("at", STAMP, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=True),
        sa.Column("commune_code", sa.String(length=5), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_log_commune_code"), ["commune_code"], unique=False
        )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deactivated_at", STAMP, nullable=True))
    with op.batch_alter_table("receipt_books", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.String(length=16), nullable=False, server_default="allocated")
        )
    op.create_table(
        "area_targets",
        sa.Column("id", ID, nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("village", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.CheckConstraint("count >= 0", name="ck_area_targets_count"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "commune_code", "village", "scheme", "month", name="uq_area_targets_area_month"
        ),
    )
    op.create_table(
        "batch_uploads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uploaded_at", STAMP, nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("applied", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("batch_uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_uploads_device_id"), ["device_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("batch_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_uploads_device_id"))
    op.drop_table("batch_uploads")
    op.drop_table("area_targets")
    with op.batch_alter_table("receipt_books", schema=None) as batch_op:
        batch_op.drop_column("origin")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("deactivated_at")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_commune_code"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
    op.drop_table("audit_log")
