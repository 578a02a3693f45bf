"""Steps the migration scripts share: indexes named as Alembic names them, and record tables.

Migrations are history: what a script creates must never change, so a step here is only ever
added, never edited once a script uses it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

ID = sa.String(length=36)
STAMP = sa.String(length=32)


def create_indexes(table: str, *columns: str) -> None:
    """One index per column, named ix_<table>_<column>."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def drop_indexes(table: str, *columns: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))


def create_record_table(name: str, *columns: Any, indexed: tuple[str, ...] = ()) -> None:
    """A table of immutable records: the id, the columns copied out of the record (and its
    constraints), then the record itself, its clock, the device that sent it and when.

    Indexed: the sending device, and the copied columns named in `indexed`.
    """
    op.create_table(
        name,
        sa.Column("id", ID, nullable=False),
        *columns,
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("hlc", sa.String(length=80), nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("received_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes(name, "device_id", *indexed)


def drop_indexed_table(name: str, *indexed: str) -> None:
    """Drop a table and the ix_<table>_<column> indexes of the columns named."""
    drop_indexes(name, *indexed)
    op.drop_table(name)
