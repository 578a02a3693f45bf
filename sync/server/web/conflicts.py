"""Edit conflicts for supervisors: list, side-by-side detail, and settling a field into the feed."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.protocol import wire
from sync.protocol.clock import Clock, iso_utc
from sync.protocol.frozen import frozen, kept_dataclass
from sync.protocol.hlc import hlc_moment, hlc_parse, is_hlc
from sync.server import feed
from sync.server.edits import SERVER_DEVICE, edit_fields
from sync.server.errors import ServerError
from sync.server.schema import agents, devices, field_conflicts, households, members
from sync.server.web.scope import (
    ENTITY_LABELS,
    FIELD_LABELS,
    Communes,
    OutOfScope,
    in_scope,
    show_value,
)

Choice = Literal["server", "incoming"]


@kept_dataclass
class Side:
    """One of the two values: what it is, and which agent's device wrote it when."""

    value: Any
    shown: str
    hlc: str
    who: str
    when: dt.datetime | None


@kept_dataclass
class Conflict:
    id: int
    entity: str
    entity_id: str
    entity_label: str
    record_label: str
    field: str
    field_label: str
    commune_code: str
    created_at: str
    server: Side
    incoming: Side
    current: str
    winner: str
    resolved_at: str | None
    resolution: dict[str, Any] | None
    # The value it was settled with, as shown; and how many conflicts that closed at once.
    chosen: str | None = None
    closed_together: int = 1
    # Other open conflicts over the same field of the same record (settled together with it).
    siblings: list[int] = dataclasses.field(default_factory=list)


@frozen
class Settled:
    """What settling a field did: the value written, its clock, and every conflict closed."""

    entity: str
    entity_id: str
    field: str
    value: Any
    hlc: str
    cursor: int
    closed: tuple[int, ...]


def _who(conn: Connection, hlc: str, fallback_device: str | None = None) -> str:
    device_id = hlc_parse(hlc).device_id if is_hlc(hlc) else fallback_device
    if device_id == SERVER_DEVICE:
        return "Máy chủ (giám sát viên)"
    row = conn.execute(
        sa.select(devices.c.name, agents.c.name.label("agent"))
        .join(agents, agents.c.id == devices.c.agent_id)
        .where(devices.c.id == (device_id or ""))
    ).first()
    return "Thiết bị không rõ" if row is None else f"{row.agent} — máy {row.name}"


def _when(hlc: str) -> dt.datetime | None:
    return hlc_moment(hlc)


def _record(conn: Connection, entity: str, entity_id: str) -> dict[str, Any]:
    table = households if entity == wire.HOUSEHOLD else members
    data = conn.execute(sa.select(table.c.data).where(table.c.id == entity_id)).scalar()
    return dict(data or {})


def _label(entity: str, data: dict[str, Any]) -> str:
    if entity == wire.HOUSEHOLD:
        return f"Hộ {data.get('head_name') or '?'} — {data.get('village') or ''}".strip(" —")
    return str(data.get("full_name") or "?")


def _conflict(conn: Connection, row: sa.Row[Any]) -> Conflict:
    data = _record(conn, row.entity, row.entity_id)
    resolution = row.resolution
    return Conflict(
        id=int(row.id),
        entity=row.entity,
        entity_id=row.entity_id,
        entity_label=ENTITY_LABELS.get(row.entity, row.entity),
        record_label=_label(row.entity, data),
        field=row.field,
        field_label=FIELD_LABELS.get(row.field, row.field),
        commune_code=row.commune_code or "",
        created_at=row.created_at,
        server=Side(
            row.server_value,
            show_value(row.server_value),
            row.server_hlc,
            _who(conn, row.server_hlc),
            _when(row.server_hlc),
        ),
        incoming=Side(
            row.incoming_value,
            show_value(row.incoming_value),
            row.incoming_hlc,
            _who(conn, row.incoming_hlc, row.device_id),
            _when(row.incoming_hlc),
        ),
        current=show_value(data.get(row.field)),
        winner=row.winner,
        resolved_at=row.resolved_at,
        resolution=resolution,
        chosen=None if resolution is None else show_value(resolution.get("value")),
        closed_together=1 if resolution is None else len(resolution.get("closed") or [row.id]),
    )


def list_conflicts(
    conn: Connection, communes: Communes, *, include_resolved: bool = False
) -> list[Conflict]:
    query = (
        sa.select(field_conflicts)
        .where(in_scope(field_conflicts.c.commune_code, communes))
        .order_by(field_conflicts.c.id.desc())
        .limit(500)
    )
    if not include_resolved:
        query = query.where(field_conflicts.c.resolved_at.is_(None))
    return [_conflict(conn, row) for row in conn.execute(query)]


def get_conflict(conn: Connection, conflict_id: int, communes: Communes) -> Conflict:
    """One conflict; OutOfScope when unknown or outside the supervisor's communes."""
    row = conn.execute(
        sa.select(field_conflicts).where(
            field_conflicts.c.id == conflict_id,
            in_scope(field_conflicts.c.commune_code, communes),
        )
    ).first()
    if row is None:
        raise OutOfScope()
    conflict = _conflict(conn, row)
    if row.resolved_at is None:
        conflict.siblings = [
            int(other.id)
            for other in conn.execute(_open_for_field(row, communes))
            if other.id != row.id
        ]
    return conflict


def _open_for_field(row: sa.Row[Any], communes: Communes) -> sa.Select[Any]:
    """The open conflicts over the same field of the same record, in the supervisor's scope."""
    return (
        sa.select(field_conflicts)
        .where(
            field_conflicts.c.entity == row.entity,
            field_conflicts.c.entity_id == row.entity_id,
            field_conflicts.c.field == row.field,
            field_conflicts.c.resolved_at.is_(None),
            in_scope(field_conflicts.c.commune_code, communes),
        )
        .order_by(field_conflicts.c.id)
    )


def _side(value: Any, row: sa.Row[Any]) -> str:
    """Which side of one conflict a settled value is: server, incoming, or neither."""
    if value == row.server_value:
        return "server"
    if value == row.incoming_value:
        return "incoming"
    return "other"


def resolve(
    conn: Connection,
    *,
    conflict_id: int,
    choice: Choice,
    communes: Communes,
    supervisor: str,
    clock: Clock,
) -> Settled:
    """Settle a field with one side of a conflict, and close every open conflict over it.

    Several laptops may have edited the same field of the same record, leaving several open
    conflicts; the value chosen settles the field for all of them. It is written once, with a
    new server HLC, into the record and the feed; every open conflict over that field (in the
    supervisor's scope) is marked settled with it. The new HLC is after every clock the
    record's fields and those conflicts carry, so each laptop takes the value on its next pull
    whichever side it had.
    """
    feed.lock(conn)
    row = conn.execute(
        sa.select(field_conflicts)
        .where(
            field_conflicts.c.id == conflict_id,
            in_scope(field_conflicts.c.commune_code, communes),
        )
        .with_for_update()
    ).first()
    if row is None:
        raise OutOfScope()
    if row.resolved_at is not None:
        raise ServerError(
            "Xung đột này đã được xử lý", "This conflict was already settled", code="resolved"
        )
    value = row.server_value if choice == "server" else row.incoming_value
    table = households if row.entity == wire.HOUSEHOLD else members
    stored = conn.execute(sa.select(table).where(table.c.id == row.entity_id)).first()
    if stored is None:
        raise OutOfScope()
    if row.entity == wire.HOUSEHOLD:
        if row.field == "commune_code" and communes is not None and value not in communes:
            # Moving a household needs rights over where it goes as well.
            raise OutOfScope()
    elif row.field == "household_id":
        target = conn.execute(
            sa.select(households.c.commune_code).where(households.c.id == value)
        ).scalar()
        if target is None or (communes is not None and target not in communes):
            raise OutOfScope()
    together = conn.execute(_open_for_field(row, communes).with_for_update()).all()
    stamp, cursor = edit_fields(
        conn,
        entity=row.entity,
        stored=stored,
        changes={row.field: value},
        clock=clock,
        seen=[s for other in together for s in (other.server_hlc, other.incoming_hlc)],
    )
    now = iso_utc(clock.now())
    closed = [int(other.id) for other in together]
    for other in together:
        conn.execute(
            field_conflicts.update()
            .where(field_conflicts.c.id == other.id)
            .values(
                resolved_at=now,
                resolution={
                    "choice": _side(value, other),
                    "value": value,
                    "by": supervisor,
                    "hlc": stamp,
                    "picked": conflict_id,
                    "closed": closed,
                },
            )
        )
    return Settled(
        entity=row.entity,
        entity_id=row.entity_id,
        field=row.field,
        value=value,
        hlc=stamp,
        cursor=cursor,
        closed=tuple(closed),
    )
