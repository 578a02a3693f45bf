"""The change feed: every change laptops may pull, in one monotonic sequence."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.protocol import wire
from sync.server.schema import agent_communes, changes, insert_many

# Any fixed number: the PostgreSQL advisory lock that orders appends to the feed.
_FEED_LOCK = 0x46_45_45_44
_INSERT = changes.insert()


def lock(conn: Connection) -> None:
    """Serialise writers of the feed until this transaction ends.

    Cursors must become visible in order, or a laptop pulling between two commits could step
    over a change that commits later with a smaller cursor. SQLite already serialises writers
    (BEGIN IMMEDIATE); PostgreSQL takes a transaction-scoped advisory lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FEED_LOCK})


def entry(
    *,
    entity: str,
    entity_id: str,
    data: dict[str, Any],
    hlc: str,
    now: str,
    commune_code: str | None = None,
    agent_id: str | None = None,
    origin_device_id: str | None = None,
    field_hlc: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One change as the row append_many writes (the cursor is left to the database)."""
    return {
        "entity": entity,
        "entity_id": entity_id,
        "commune_code": commune_code,
        "agent_id": agent_id,
        "origin_device_id": origin_device_id,
        "data": data,
        "field_hlc": field_hlc,
        "hlc": hlc,
        "created_at": now,
    }


def append(conn: Connection, change: dict[str, Any]) -> int:
    """Add one change made by entry(); its cursor. The caller holds lock(conn)."""
    key = conn.execute(_INSERT, change).inserted_primary_key
    assert key is not None
    return int(key[0])


def append_many(conn: Connection, entries: list[dict[str, Any]]) -> None:
    """Add changes made by entry(), in list order; the caller holds lock(conn).

    One executemany: SQLite and psycopg both run the rows in order, so cursors follow the list.
    """
    insert_many(conn, changes, entries)


def _field_clocks(entity: str, field_hlc: dict[str, str], hlc: str) -> dict[str, str] | None:
    """The field clocks a change is sent with.

    A member's fields nearly all carry the change's own clock: those are left out (about half
    the bytes of a first sync), since laptops take a missing field clock as the change's.
    None when nothing is left. Households are sent whole.
    """
    if entity != wire.MEMBER:
        return field_hlc
    older = {name: stamp for name, stamp in field_hlc.items() if stamp != hlc}
    return older or None


def page(
    conn: Connection, *, agent_id: str, device_id: str, since: int, limit: int
) -> wire.ChangePage:
    """The changes after `since` that this device's agent may see and does not already have."""
    # Read the head first: every change up to it has committed (appends are serialised), so
    # a cursor handed out here never skips a change that commits later.
    head = conn.execute(sa.select(sa.func.max(changes.c.cursor))).scalar() or 0
    communes = sa.select(agent_communes.c.commune_code).where(agent_communes.c.agent_id == agent_id)
    in_scope = sa.or_(
        changes.c.commune_code.in_(communes),
        changes.c.agent_id == agent_id,
        sa.and_(changes.c.commune_code.is_(None), changes.c.agent_id.is_(None)),
    )
    not_own = sa.or_(changes.c.origin_device_id.is_(None), changes.c.origin_device_id != device_id)
    rows = conn.execute(
        sa.select(changes)
        .where(changes.c.cursor > since, changes.c.cursor <= head, in_scope, not_own)
        .order_by(changes.c.cursor)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    out: list[wire.Change] = []
    for row in rows:
        change = wire.Change(
            cursor=int(row.cursor),
            entity=row.entity,
            id=row.entity_id,
            data=row.data,
            hlc=row.hlc,
        )
        if row.field_hlc is not None:
            clocks = _field_clocks(row.entity, row.field_hlc, row.hlc)
            if clocks is not None:
                change["field_hlc"] = clocks
        out.append(change)
    cursor = out[-1]["cursor"] if more else max(head, since)
    return wire.ChangePage(protocol=wire.PROTOCOL_VERSION, changes=out, cursor=cursor, more=more)
