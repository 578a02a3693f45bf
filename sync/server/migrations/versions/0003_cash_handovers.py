"""Cash handovers: each agent's end-of-day handover, synced from the laptops."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cash_handovers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("expected", sa.BigInteger(), nullable=False),
        sa.Column("handed_over", sa.BigInteger(), nullable=False),
        sa.Column("difference", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("hlc", sa.String(length=80), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("received_at", sa.String(length=32), nullable=False),
        sa.CheckConstraint(
            "expected >= 0 AND handed_over >= 0 AND difference = handed_over - expected",
            name="ck_cash_handovers_amounts",
        ),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cash_handovers", schema=None) as batch_op:
        batch_op.create_index("ix_cash_handovers_agent_day", ["agent_id", "day"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cash_handovers_device_id"), ["device_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cash_handovers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cash_handovers_device_id"))
        batch_op.drop_index("ix_cash_handovers_agent_day")
    op.drop_table("cash_handovers")
