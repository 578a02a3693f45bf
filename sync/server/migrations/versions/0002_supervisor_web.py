"""Supervisor web pages: supervisor accounts, their communes, sessions, login back-off."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync.server.migrations.steps import ID, STAMP, create_indexes, drop_indexed_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervisors",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "supervisor_communes",
        sa.Column("supervisor_id", ID, nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.ForeignKeyConstraint(["supervisor_id"], ["supervisors.id"]),
        sa.PrimaryKeyConstraint("supervisor_id", "commune_code"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("supervisor_id", ID, nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("expires_at", STAMP, nullable=False),
        sa.ForeignKeyConstraint(["supervisor_id"], ["supervisors.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    create_indexes("web_sessions", "supervisor_id")
    op.create_table(
        "login_failures",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", STAMP, nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )


def downgrade() -> None:
    op.drop_table("login_failures")
    drop_indexed_table("web_sessions", "supervisor_id")
    op.drop_table("supervisor_communes")
    op.drop_table("supervisors")
