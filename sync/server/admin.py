"""Supervisor operations: agents, receipt books, targets, policies, conflicts, statistics."""

from __future__ import annotations

import hmac
import re
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from sync.protocol import wire
from sync.protocol.clock import VIETNAM_TZ, Clock, iso_utc
from sync.protocol.fields import NAME_LENGTH, moment
from sync.protocol.hlc import hlc_format
from sync.protocol.ids import is_uuid, uuid7
from sync.protocol.receipt_qr import is_signature, receipt_signature
from sync.server import audit, edits, feed
from sync.server.devices import active_agent, agent_name_and_communes, get, revoke
from sync.server.errors import ServerError
from sync.server.schema import (
    IMMUTABLE_TABLES,
    MERGEABLE_TABLES,
    agent_communes,
    agents,
    area_targets,
    devices,
    enrol_codes,
    field_conflicts,
    households,
    policies,
    receipt_books,
    receipt_voids,
    receipts,
    targets,
)

_COMMUNE = re.compile(r"^\d{5}$")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
SCHEMES = {"bhyt": "bhyt_household", "bhxh": "bhxh_voluntary"}


def _to_laptops(conn: Connection, clock: Clock, now: str, **change: Any) -> None:
    """Put what a supervisor set in the change feed (feed.entry's fields): for one agent's
    laptops, or for all."""
    # Server-made entries carry an HLC too, so laptops order them like any other change.
    stamp = hlc_format(int(clock.now().timestamp() * 1000), 0, "server")
    feed.append(conn, feed.entry(hlc=stamp, now=now, **change))


def add_agent(conn: Connection, *, name: str, communes: list[str], clock: Clock) -> str:
    """A new agent assigned to communes (5-digit codes); returns the agent id."""
    name = name.strip()
    if not name:
        raise ServerError("Tên nhân viên không được trống", "Agent name is empty", code="bad_value")
    communes = _checked_communes(communes)
    agent_id = uuid7(clock)
    now = iso_utc(clock.now())
    feed.lock(conn)
    conn.execute(agents.insert().values(id=agent_id, name=name, created_at=now))
    _assign(conn, clock, now, agent_id=agent_id, name=name, communes=communes)
    return agent_id


def _assign(
    conn: Connection, clock: Clock, now: str, *, agent_id: str, name: str, communes: list[str]
) -> None:
    """Store the agent's communes and send the assignment to the agent's laptops."""
    conn.execute(
        agent_communes.insert(), [{"agent_id": agent_id, "commune_code": c} for c in communes]
    )
    _to_laptops(
        conn,
        clock,
        now,
        entity=wire.ASSIGNMENT,
        entity_id=agent_id,
        data={"agent_id": agent_id, "agent_name": name, "communes": communes},
        agent_id=agent_id,
    )


def _checked_communes(communes: list[str]) -> list[str]:
    bad = [c for c in communes if not _COMMUNE.match(c)]
    if bad or not communes:
        raise ServerError(
            f"Mã xã phải gồm 5 chữ số: {', '.join(bad) or '(trống)'}",
            f"Commune codes must be 5 digits: {', '.join(bad) or '(none)'}",
            code="bad_value",
        )
    return sorted(set(communes))


def set_agent_communes(
    conn: Connection, *, agent_id: str, communes: list[str], clock: Clock
) -> tuple[list[str], list[str]]:
    """Replace an agent's communes; returns (before, after).

    The agent's laptops learn it on their next pull: the new assignment, then, for each
    household of a commune taken away, the same "household moved" entry a household that
    moves out of their communes sends, so the laptop takes it off its lists (keeping its
    history) and refuses edits of it before they reach the outbox.
    """
    after = _checked_communes(communes)
    name, before = active_agent(conn, agent_id)
    if after == before:
        return before, after
    now = iso_utc(clock.now())
    feed.lock(conn)
    conn.execute(agent_communes.delete().where(agent_communes.c.agent_id == agent_id))
    _assign(conn, clock, now, agent_id=agent_id, name=name, communes=after)
    removed = sorted(set(before) - set(after))
    if removed:
        stamp = hlc_format(int(clock.now().timestamp() * 1000), 0, edits.SERVER_DEVICE)
        left = conn.execute(
            sa.select(households.c.id, households.c.commune_code)
            .where(households.c.commune_code.in_(removed))
            .order_by(households.c.id)
        ).all()
        # Addressed to this agent only: other laptops of these communes still serve them.
        feed.append_many(
            conn,
            [
                {
                    **edits.moved(
                        household_id=row.id,
                        old_commune=row.commune_code,
                        new_commune=row.commune_code,
                        hlc=stamp,
                        now=now,
                    ),
                    "commune_code": None,
                    "agent_id": agent_id,
                }
                for row in left
            ],
        )
    return before, after


def deactivate_agent(
    conn: Connection,
    *,
    agent_id: str,
    clock: Clock,
    actor: str,
    actor_kind: audit.ActorKind = "supervisor",
    reason: str = "",
) -> list[str]:
    """An agent who left: marked deactivated, every device of theirs revoked (each revocation
    in the audit log) and their unused enrolment codes expired; returns the revoked device ids.
    Their records stay."""
    active_agent(conn, agent_id)
    now = iso_utc(clock.now())
    conn.execute(agents.update().where(agents.c.id == agent_id).values(deactivated_at=now))
    conn.execute(
        enrol_codes.update()
        .where(
            enrol_codes.c.agent_id == agent_id,
            enrol_codes.c.used_at.is_(None),
            enrol_codes.c.expires_at > now,
        )
        .values(expires_at=now)
    )
    active = conn.execute(
        sa.select(devices.c.id)
        .where(devices.c.agent_id == agent_id, devices.c.revoked_at.is_(None))
        .order_by(devices.c.enrolled_at, devices.c.id)
    ).scalars()
    revoked = [str(device_id) for device_id in active]
    for device_id in revoked:
        revoke(
            conn,
            device_id=device_id,
            clock=clock,
            actor=actor,
            actor_kind=actor_kind,
            reason=reason,
        )
    return revoked


def list_agents(conn: Connection) -> list[dict[str, Any]]:
    out = []
    for row in conn.execute(sa.select(agents).order_by(agents.c.name, agents.c.id)):
        _, communes = agent_name_and_communes(conn, row.id)
        out.append({"id": row.id, "name": row.name, "communes": communes})
    return out


def add_receipt_book(
    conn: Connection,
    *,
    agent_id: str,
    series: str,
    first: int,
    last: int,
    clock: Clock,
    origin: str = "allocated",
    book_id: str | None = None,
) -> str:
    """Allocate receipt numbers first..last of a series to an agent; ranges never overlap.

    A book entered by hand on a laptop keeps the laptop's id (`book_id`, origin
    "hand_entered"): its receipts name that id, and the laptop already holds the book.
    """
    agent_name_and_communes(conn, agent_id)
    series = series.strip()
    if not series or first < 1 or last < first:
        raise ServerError(
            "Cần ký hiệu và khoảng số hợp lệ (1 ≤ từ ≤ đến)",
            "Need a series and a valid range (1 <= from <= to)",
            code="bad_value",
        )
    feed.lock(conn)
    overlap = conn.execute(
        sa.select(receipt_books).where(
            receipt_books.c.series == series,
            receipt_books.c.first <= last,
            receipt_books.c.last >= first,
        )
    ).first()
    if overlap is not None:
        raise ServerError(
            f"Khoảng số trùng với quyển {overlap.series} {overlap.first}–{overlap.last}",
            f"Range overlaps book {overlap.series} {overlap.first}-{overlap.last}",
            code="overlapping_book",
        )
    book_id = book_id or uuid7(clock)
    now = iso_utc(clock.now())
    conn.execute(
        receipt_books.insert().values(
            id=book_id,
            agent_id=agent_id,
            series=series,
            first=first,
            last=last,
            created_at=now,
            origin=origin,
        )
    )
    _to_laptops(
        conn,
        clock,
        now,
        entity=wire.RECEIPT_BOOK,
        entity_id=book_id,
        data={"id": book_id, "agent_id": agent_id, "series": series, "first": first, "last": last},
        agent_id=agent_id,
    )
    return book_id


def register_hand_entered_book(
    conn: Connection,
    *,
    agent_id: str,
    book_id: str | None,
    series: str,
    first: int,
    last: int,
    clock: Clock,
) -> str:
    """Register a book an agent started on the laptop before the province knew of it, so that
    the receipts the laptop sends from it are taken: they are matched by series and number
    (the series and range printed on the paper book are enough), or by the laptop's own id for
    the book when it is given."""
    if not book_id:
        book_id = str(uuid.uuid4())
    if not is_uuid(book_id):
        raise ServerError(
            "Mã quyển trên máy phải là mã UUID gồm 36 ký tự (như trên máy của nhân viên thu)",
            "The book's id on the laptop must be a 36-character UUID",
            code="bad_value",
        )
    book_id = book_id.lower()
    taken = conn.execute(
        sa.select(receipt_books.c.series).where(receipt_books.c.id == book_id)
    ).first()
    if taken is not None:
        raise ServerError(
            f"Mã quyển {book_id} đã được đăng ký (quyển {taken.series})",
            f"Book id {book_id} is already registered (book {taken.series})",
            code="book_id_taken",
        )
    return add_receipt_book(
        conn,
        agent_id=agent_id,
        series=series,
        first=first,
        last=last,
        clock=clock,
        origin="hand_entered",
        book_id=book_id,
    )


def set_target(
    conn: Connection, *, agent_id: str, scheme: str, month: str, count: int, clock: Clock
) -> str:
    """Set (or replace) an agent's target of new participants for a scheme and month."""
    agent_name_and_communes(conn, agent_id)
    if scheme not in SCHEMES or not _MONTH.match(month) or count < 0:
        raise ServerError(
            "Cần chế độ bhyt|bhxh, tháng YYYY-MM và số lượng ≥ 0",
            "Need scheme bhyt|bhxh, month YYYY-MM and count >= 0",
            code="bad_value",
        )
    now = iso_utc(clock.now())
    feed.lock(conn)
    row = conn.execute(
        sa.select(targets.c.id).where(
            targets.c.agent_id == agent_id,
            targets.c.scheme == SCHEMES[scheme],
            targets.c.month == month,
        )
    ).first()
    if row is None:
        target_id = uuid7(clock)
        conn.execute(
            targets.insert().values(
                id=target_id,
                agent_id=agent_id,
                scheme=SCHEMES[scheme],
                month=month,
                count=count,
                updated_at=now,
            )
        )
    else:
        target_id = row.id
        conn.execute(
            targets.update().where(targets.c.id == target_id).values(count=count, updated_at=now)
        )
    _to_laptops(
        conn,
        clock,
        now,
        entity=wire.TARGET,
        entity_id=target_id,
        data={
            "id": target_id,
            "agent_id": agent_id,
            "scheme": SCHEMES[scheme],
            "month": month,
            "count": count,
        },
        agent_id=agent_id,
    )
    return str(target_id)


MAX_TARGET_COUNT = 100_000


def set_area_target(
    conn: Connection,
    *,
    commune_code: str,
    village: str,
    scheme: str,
    month: str,
    count: int,
    set_by: str,
    clock: Clock,
) -> str:
    """Set (or replace) a commune's (village "") or a village's target for a scheme and month."""
    scheme = SCHEMES.get(scheme, scheme)
    if (
        not _COMMUNE.match(commune_code)
        or len(village) > NAME_LENGTH
        or scheme not in SCHEMES.values()
        or not _MONTH.match(month)
        or not 0 <= count <= MAX_TARGET_COUNT
    ):
        raise ServerError(
            f"Cần mã xã 5 chữ số, tên thôn tối đa {NAME_LENGTH} ký tự, chế độ bhyt|bhxh,"
            f" tháng YYYY-MM và chỉ tiêu từ 0 đến {MAX_TARGET_COUNT:_}".replace("_", "."),
            f"Need a 5-digit commune, a village of at most {NAME_LENGTH} characters, scheme"
            f" bhyt|bhxh, month YYYY-MM and a count from 0 to {MAX_TARGET_COUNT}",
            code="bad_value",
        )
    now = iso_utc(clock.now())
    # Two supervisors saving the same area at once: one after the other, never a duplicate.
    feed.lock(conn)
    key = (
        area_targets.c.commune_code == commune_code,
        area_targets.c.village == village,
        area_targets.c.scheme == scheme,
        area_targets.c.month == month,
    )
    found = conn.execute(sa.select(area_targets.c.id).where(*key)).first()
    if found is not None:
        conn.execute(
            area_targets.update()
            .where(area_targets.c.id == found.id)
            .values(count=count, set_by=set_by, updated_at=now)
        )
        return str(found.id)
    target_id = uuid7(clock)
    conn.execute(
        area_targets.insert().values(
            id=target_id,
            commune_code=commune_code,
            village=village,
            scheme=scheme,
            month=month,
            count=count,
            set_by=set_by,
            updated_at=now,
        )
    )
    return target_id


def publish_policy(conn: Connection, *, document: object, clock: Clock) -> tuple[str, bool]:
    """Publish a policy document to every laptop; (version, False) when already published."""
    if not isinstance(document, dict) or not isinstance(document.get("version"), str):
        raise ServerError(
            'Tệp chính sách phải là đối tượng JSON có khoá "version" (chuỗi)',
            'A policy file must be a JSON object with a "version" string',
            code="bad_policy",
        )
    version = document["version"]
    feed.lock(conn)
    existing = conn.execute(
        sa.select(policies.c.document).where(policies.c.version == version)
    ).first()
    if existing is not None:
        if wire.canonical_json(existing.document) == wire.canonical_json(document):
            return version, False
        raise ServerError(
            f"Chính sách phiên bản {version} đã được công bố với nội dung khác;"
            " hãy đặt số phiên bản mới",
            f"Policy version {version} was already published with other content;"
            " give it a new version",
            code="policy_version_taken",
        )
    now = iso_utc(clock.now())
    conn.execute(policies.insert().values(version=version, document=document, published_at=now))
    _to_laptops(conn, clock, now, entity=wire.POLICY, entity_id=version, data=document)
    return version, True


def list_conflicts(conn: Connection, *, include_resolved: bool = False) -> list[dict[str, Any]]:
    query = sa.select(field_conflicts).order_by(field_conflicts.c.id)
    if not include_resolved:
        query = query.where(field_conflicts.c.resolved_at.is_(None))
    return [dict(row._mapping) for row in conn.execute(query)]


def _count(conn: Connection, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    return int(
        conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
    )


def stats(conn: Connection) -> dict[str, Any]:
    """Record counts per entity, and per agent what their devices have sent."""
    per_entity = {
        entity: _count(conn, table)
        for entity, table in {**MERGEABLE_TABLES, **IMMUTABLE_TABLES}.items()
    }
    per_entity["open_conflicts"] = _count(
        conn, field_conflicts, field_conflicts.c.resolved_at.is_(None)
    )
    per_agent: list[dict[str, Any]] = []
    for agent in list_agents(conn):
        device_rows = conn.execute(
            sa.select(
                devices.c.id,
                devices.c.revoked_at,
                devices.c.last_seen_at,
                devices.c.last_pending_reported,
            ).where(devices.c.agent_id == agent["id"])
        ).all()
        device_ids = [d.id for d in device_rows]
        counts = {
            entity: _count(conn, table, table.c.device_id.in_(device_ids))
            for entity, table in IMMUTABLE_TABLES.items()
        }
        counts[wire.HOUSEHOLD] = _count(
            conn, households, households.c.commune_code.in_(agent["communes"])
        )
        per_agent.append(
            {
                **agent,
                "devices": len(device_rows),
                "active_devices": sum(1 for d in device_rows if d.revoked_at is None),
                "last_seen_at": max((d.last_seen_at or "" for d in device_rows), default="")
                or None,
                "pending_reported": sum(d.last_pending_reported or 0 for d in device_rows),
                "counts": counts,
            }
        )
    return {"entities": per_entity, "agents": per_agent}


def stored_receipt_signature(row: Row[Any], device_key: bytes) -> str | None:
    """The signature the laptop printed in a stored receipt's QR code; None without a sane
    issue time (a receipt stored before times were bounded may say year 9999)."""
    issued = moment(row.data.get("issued_at"))
    if issued is None:
        return None
    return receipt_signature(
        receipt_id=row.id,
        series=row.series,
        number=row.number,
        amount=row.amount,
        issued_on=issued.astimezone(VIETNAM_TZ).date(),
        device_key=device_key,
    )


def verify_receipt(conn: Connection, *, receipt_id: str, sig: str) -> dict[str, Any]:
    """What anyone scanning a receipt's QR code may learn: only what is printed on it."""
    unknown: dict[str, Any] = {"status": "unknown"}
    # The signature's form is checked before the record is read: a probe with anything else
    # costs no lookup and learns nothing.
    if not is_uuid(receipt_id) or not is_signature(sig):
        return unknown
    row = conn.execute(sa.select(receipts).where(receipts.c.id == receipt_id)).first()
    if row is None:
        return unknown
    device = get(conn, row.device_id)
    if device is None:
        return unknown
    expected = stored_receipt_signature(row, device.device_key)
    # A wrong signature looks exactly like an unknown receipt: ids cannot be probed.
    if expected is None or not hmac.compare_digest(expected, sig.lower()):
        return unknown
    voided = conn.execute(
        sa.select(receipt_voids.c.id).where(receipt_voids.c.receipt_id == receipt_id)
    ).first()
    return {
        "status": "voided" if voided is not None else "valid",
        "series": row.series,
        "number": row.number,
        "amount": row.amount,
        "issued_at": row.data.get("issued_at"),
    }
