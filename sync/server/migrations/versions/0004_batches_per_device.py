"""Stored batches are keyed by (device, batch id): no other device can take a batch id first."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync.server.errors import ServerError
from sync.server.migrations.steps import ID, STAMP, create_indexes, drop_indexes

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# PostgreSQL's name for the key 0001 made; SQLite keeps no name, so the table is described.
PRIMARY_KEY = "batches_pkey"


def _batches(*key: str) -> sa.Table:
    """The batches table as it stands with this primary key, for SQLite's copy of it."""
    return sa.Table(
        "batches",
        sa.MetaData(),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("received_at", STAMP, nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("ack", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.PrimaryKeyConstraint(*key, name=PRIMARY_KEY),
    )


def _rekey(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    with op.batch_alter_table("batches", copy_from=_batches(*old)) as batch_op:
        batch_op.drop_constraint(PRIMARY_KEY, type_="primary")
        batch_op.create_primary_key(PRIMARY_KEY, list(new))


def upgrade() -> None:
    # The new key starts with device_id: its own index would only be written, never needed.
    drop_indexes("batches", "device_id")
    _rekey(("batch_id",), ("device_id", "batch_id"))


def downgrade() -> None:
    shared = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT batch_id FROM batches GROUP BY batch_id HAVING count(*) > 1 "
                "ORDER BY batch_id"
            )
        )
        .scalars()
        .all()
    )
    if shared:
        # Dropping either device's row would let that device's batch be applied a second time.
        listed = ", ".join(shared[:5]) + (" …" if len(shared) > 5 else "")
        raise ServerError(
            f"Không thể hạ cấp: {len(shared)} mã lô được nhiều thiết bị dùng ({listed});"
            " một mã lô chỉ được lưu cho một thiết bị ở phiên bản trước",
            f"Cannot downgrade: {len(shared)} batch ids are used by more than one device"
            f" ({listed}); the earlier version stores a batch id for one device only",
            code="batch_id_shared",
        )
    _rekey(("device_id", "batch_id"), ("batch_id",))
    create_indexes("batches", "device_id")
