"""People who share a CCCD within the province: listed for supervisors, merged into one.

The same resident list imported on two laptops, or one person entered by two agents, leaves
several members with one CCCD. A supervisor picks the record to keep; the others are removed
(a server change that reaches every laptop on its next pull) and the merge is kept on record.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.protocol import wire
from sync.protocol.clock import Clock, iso_utc
from sync.protocol.frozen import frozen
from sync.server import feed
from sync.server.edits import edit_fields
from sync.server.errors import ServerError
from sync.server.schema import agents, devices, households, member_merges, members
from sync.server.web.scope import Communes, OutOfScope

_CCCD = members.c.data["cccd"].as_string()
_REMOVED = members.c.data["removed"].as_boolean()
_PRESENT = sa.or_(_REMOVED.is_(None), sa.false() == _REMOVED)


@frozen
class Person:
    """One member record carrying a shared CCCD, as the supervisor compares them."""

    id: str
    full_name: str
    date_of_birth: str
    head_name: str
    village: str
    commune_code: str
    entered_by: str
    updated_at: str
    in_scope: bool


@frozen
class SharedCccd:
    """Several present member records with one CCCD."""

    cccd: str
    people: tuple[Person, ...]

    @property
    def mergeable(self) -> bool:
        """A supervisor may merge only a group all of whose records are in their communes."""
        return all(p.in_scope for p in self.people)


@frozen
class Merged:
    cccd: str
    kept: str
    merged: tuple[str, ...]
    # The communes of the records merged (for the audit log).
    communes: tuple[str, ...] = ()


def _in(communes: Communes, commune: str) -> bool:
    return communes is None or commune in communes


def _people(conn: Connection, where: sa.ColumnElement[bool], communes: Communes) -> list[Any]:
    return conn.execute(
        sa.select(
            members.c.id,
            members.c.data,
            members.c.updated_at,
            households.c.commune_code,
            households.c.data.label("household"),
            agents.c.name.label("agent"),
        )
        .join(households, households.c.id == members.c.household_id)
        .outerjoin(devices, devices.c.id == members.c.created_by)
        .outerjoin(agents, agents.c.id == devices.c.agent_id)
        .where(where, _PRESENT)
        .order_by(households.c.commune_code, members.c.id)
    ).all()


def _person(row: Any, communes: Communes) -> Person:
    data, household = dict(row.data), dict(row.household)
    return Person(
        id=row.id,
        full_name=str(data.get("full_name") or ""),
        date_of_birth=str(data.get("date_of_birth") or ""),
        head_name=str(household.get("head_name") or ""),
        village=str(household.get("village") or ""),
        commune_code=str(row.commune_code),
        entered_by=str(row.agent or "—"),
        updated_at=str(row.updated_at),
        in_scope=_in(communes, str(row.commune_code)),
    )


def shared_cccd(conn: Connection, communes: Communes) -> list[SharedCccd]:
    """Every CCCD held by two or more present members, where one of them is in scope."""
    shared = (
        sa.select(_CCCD)
        .where(_CCCD.is_not(None), _CCCD != "", _PRESENT)
        .group_by(_CCCD)
        .having(sa.func.count() > 1)
    )
    grouped: dict[str, list[Person]] = defaultdict(list)
    for row in _people(conn, _CCCD.in_(shared), communes):
        grouped[str(row.data.get("cccd"))].append(_person(row, communes))
    return [
        SharedCccd(cccd, tuple(people))
        for cccd, people in sorted(grouped.items())
        if any(p.in_scope for p in people)
    ]


def merge(
    conn: Connection, *, keep: str, communes: Communes, supervisor: str, clock: Clock
) -> Merged:
    """Merge into `keep` every other present member with its CCCD: they are removed.

    Refused (nothing changed) when the record is unknown, removed, has no CCCD, shares it with
    nobody, or when any record of the group lies outside the supervisor's communes.
    """
    feed.lock(conn)
    kept = conn.execute(sa.select(members.c.data).where(members.c.id == keep, _PRESENT)).scalar()
    cccd = None if kept is None else dict(kept).get("cccd")
    if not cccd:
        raise OutOfScope()
    group = _people(conn, cccd == _CCCD, communes)
    others = [row for row in group if row.id != keep]
    if not others:
        raise ServerError(
            "Không còn bản ghi nào khác trùng số CCCD này",
            "No other record shares this CCCD any more",
            code="nothing_to_merge",
        )
    if not all(_in(communes, str(row.commune_code)) for row in group):
        raise ServerError(
            "Có bản ghi trùng CCCD thuộc xã ngoài địa bàn của bạn; cán bộ cấp tỉnh mới gộp được",
            "A record with this CCCD is in a commune outside yours; the province can merge them",
            code="out_of_scope",
            status=403,
        )
    now = iso_utc(clock.now())
    for row in others:
        stored = conn.execute(sa.select(members).where(members.c.id == row.id)).one()
        edit_fields(conn, entity=wire.MEMBER, stored=stored, changes={"removed": True}, clock=clock)
        conn.execute(
            member_merges.insert().values(
                cccd=cccd,
                kept_id=keep,
                merged_id=row.id,
                commune_code=str(row.commune_code),
                merged_by=supervisor,
                merged_at=now,
            )
        )
    return Merged(
        str(cccd),
        keep,
        tuple(row.id for row in others),
        tuple(sorted({str(row.commune_code) for row in group})),
    )


def recent_merges(conn: Connection, communes: Communes, *, limit: int = 50) -> list[Any]:
    """The latest merges in scope, newest first."""
    query = sa.select(member_merges).order_by(member_merges.c.id.desc()).limit(limit)
    if communes is not None:
        query = query.where(member_merges.c.commune_code.in_(sorted(communes)))
    return list(conn.execute(query).all())
