"""Login failures are counted per user name and per address, atomically, in a bounded table."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync.server.migrations.steps import STAMP, create_indexes, drop_indexed_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NAME = "name"


def _old_table() -> sa.TableClause:
    return sa.table(
        "login_failures",
        sa.column("username", sa.String()),
        sa.column("failures", sa.Integer()),
        sa.column("locked_until", sa.String()),
    )


def _new_table() -> sa.TableClause:
    return sa.table(
        "login_failures",
        sa.column("kind", sa.String()),
        sa.column("subject", sa.String()),
        sa.column("failures", sa.Integer()),
        sa.column("locked_until", sa.String()),
        sa.column("forget_at", sa.String()),
    )


def upgrade() -> None:
    # Locks in force carry over; a count below the lock is forgotten (at most a few guesses
    # more for that name), since 0002 kept no time to forget it by.
    old = _old_table()
    locked = (
        op.get_bind()
        .execute(sa.select(old).where(old.c.locked_until.is_not(None)).order_by(old.c.username))
        .all()
    )
    op.drop_table("login_failures")
    op.create_table(
        "login_failures",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", STAMP, nullable=True),
        sa.Column("forget_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("kind", "subject"),
    )
    create_indexes("login_failures", "forget_at")
    if locked:
        op.bulk_insert(
            _new_table(),
            [
                {
                    "kind": NAME,
                    "subject": row.username,
                    "failures": row.failures,
                    "locked_until": row.locked_until,
                    "forget_at": row.locked_until,
                }
                for row in locked
            ],
        )


def downgrade() -> None:
    new = _new_table()
    names = (
        op.get_bind()
        .execute(sa.select(new).where(new.c.kind == NAME).order_by(new.c.subject))
        .all()
    )
    drop_indexed_table("login_failures", "forget_at")
    op.create_table(
        "login_failures",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", STAMP, nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )
    if names:
        op.bulk_insert(
            _old_table(),
            [
                {"username": r.subject, "failures": r.failures, "locked_until": r.locked_until}
                for r in names
            ],
        )
