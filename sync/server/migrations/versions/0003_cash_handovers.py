"""Cash handovers: each agent's end-of-day handover, synced from the laptops."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync.server.migrations.steps import ID, STAMP, create_record_table, drop_indexed_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_record_table(
        "cash_handovers",
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("expected", sa.BigInteger(), nullable=False),
        sa.Column("handed_over", sa.BigInteger(), nullable=False),
        sa.Column("difference", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", STAMP, nullable=False),
        sa.CheckConstraint(
            "expected >= 0 AND handed_over >= 0 AND difference = handed_over - expected",
            name="ck_cash_handovers_amounts",
        ),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"]),
    )
    with op.batch_alter_table("cash_handovers", schema=None) as batch_op:
        batch_op.create_index("ix_cash_handovers_agent_day", ["agent_id", "day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cash_handovers", schema=None) as batch_op:
        batch_op.drop_index("ix_cash_handovers_agent_day")
    drop_indexed_table("cash_handovers", "device_id")
