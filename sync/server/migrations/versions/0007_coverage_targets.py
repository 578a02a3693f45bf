"""BHYT coverage targets per commune, set on the supervisor pages."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync.server.migrations.steps import STAMP

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coverage_targets",
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("percent_tenths", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.String(length=10), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.CheckConstraint(
            "percent_tenths >= 0 AND percent_tenths <= 1000", name="ck_coverage_targets_percent"
        ),
        sa.PrimaryKeyConstraint("commune_code"),
    )


def downgrade() -> None:
    op.drop_table("coverage_targets")
