"""A supervisor's change of a household's or a member's fields: stamped by the server's own clock,
written into the record and into the change feed for the laptops."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.protocol import wire
from sync.protocol.clock import Clock, iso_utc
from sync.protocol.hlc import HybridClock
from sync.server import feed
from sync.server.schema import households, members

# The device id in the clock stamps the server makes itself.
SERVER_DEVICE = "server"


def moved(
    *,
    household_id: str,
    old_commune: str,
    new_commune: str,
    hlc: str,
    now: str,
    origin_device_id: str | None = None,
) -> dict[str, Any]:
    """The feed entry that tells the old commune's laptops a household left for another: they
    would otherwise never hear of it (the household's own change goes to the new commune)."""
    return feed.entry(
        entity=wire.HOUSEHOLD_MOVED,
        entity_id=household_id,
        data={"commune_code": new_commune},
        hlc=hlc,
        now=now,
        commune_code=old_commune,
        origin_device_id=origin_device_id,
    )


def edit_fields(
    conn: Connection,
    *,
    entity: str,
    stored: sa.Row[Any],
    changes: dict[str, Any],
    clock: Clock,
    seen: Iterable[str] = (),
) -> tuple[str, int]:
    """Write `changes` into a stored household or member; returns the new stamp and the feed
    cursor of the change.

    The stamp is after every clock the record's fields (and `seen`) carry, so each laptop takes
    the new values on its next pull whatever it had; clocks out of bounds (stored before they
    were refused) are not followed. A household that changes commune also tells the laptops of
    the commune it left. The caller holds feed.lock(conn) and has checked the supervisor's
    rights over the record and the values.
    """
    table = households if entity == wire.HOUSEHOLD else members
    current, field_hlc = dict(stored.data), dict(stored.field_hlc)
    now_ms = int(clock.now().timestamp() * 1000)
    hlc = HybridClock(SERVER_DEVICE)
    for stamp in (*field_hlc.values(), *seen):
        hlc.observe(stamp, now_ms=now_ms)
    stamp = hlc.tick(now_ms)
    current.update(changes)
    field_hlc.update(dict.fromkeys(changes, stamp))
    now = iso_utc(clock.now())
    keys: dict[str, Any] = {}
    if entity == wire.HOUSEHOLD:
        commune = str(current["commune_code"])
        keys["commune_code"] = commune
    else:
        keys["household_id"] = current["household_id"]
        commune = str(
            conn.execute(
                sa.select(households.c.commune_code).where(
                    households.c.id == current["household_id"]
                )
            ).scalar()
        )
    conn.execute(
        table.update()
        .where(table.c.id == stored.id)
        .values(data=current, field_hlc=field_hlc, updated_at=now, **keys)
    )
    if entity == wire.HOUSEHOLD and str(stored.commune_code) != commune:
        feed.append(
            conn,
            moved(
                household_id=stored.id,
                old_commune=str(stored.commune_code),
                new_commune=commune,
                hlc=stamp,
                now=now,
            ),
        )
    cursor = feed.append(
        conn,
        feed.entry(
            entity=entity,
            entity_id=stored.id,
            data=current,
            field_hlc=field_hlc,
            hlc=stamp,
            now=now,
            commune_code=commune,
        ),
    )
    return stamp, cursor
