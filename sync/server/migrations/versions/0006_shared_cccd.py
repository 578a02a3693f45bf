"""People who share a CCCD within the province: the merges supervisors made of them."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync.server.migrations.steps import ID, STAMP, create_indexes, drop_indexed_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_merges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cccd", sa.String(length=32), nullable=False),
        sa.Column("kept_id", ID, nullable=False),
        sa.Column("merged_id", ID, nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("merged_by", sa.String(length=64), nullable=False),
        sa.Column("merged_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("member_merges", "kept_id", "commune_code")


def downgrade() -> None:
    drop_indexed_table("member_merges", "kept_id", "commune_code")
