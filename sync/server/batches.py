"""Applying uploaded batches: one transaction per batch, idempotent by batch id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from fieldapp.clock import Clock, iso_utc
from sync import protocol
from sync.server import feed
from sync.server.devices import Device
from sync.server.errors import ServerError
from sync.server.schema import (
    IMMUTABLE_TABLES,
    agent_communes,
    batches,
    field_conflicts,
    households,
    members,
    pledges,
    receipt_books,
    receipts,
)

Via = Literal["http", "file"]


class _Refused(Exception):
    """Raised inside one record's savepoint: the record is refused, the batch goes on."""

    def __init__(self, code: str, vi: str, en: str) -> None:
        super().__init__(en)
        self.problem = protocol.RecordProblem(code, vi, en)


@dataclass
class _Context:
    conn: Connection
    device: Device
    batch_id: str
    communes: frozenset[str]
    now: str
    conflicts: int = field(default=0)


def receive(
    engine: Engine, *, device: Device, batch: protocol.Batch, clock: Clock, via: Via = "http"
) -> protocol.Ack:
    """Apply a validated batch from this device, or return the ack stored for it before.

    The HTTP upload and the USB file import both come through here.
    """
    if batch["device_id"] != device.id:
        raise ServerError(
            "Lô dữ liệu ghi mã thiết bị khác với thiết bị gửi",
            "The batch names a different device than the one sending it",
            code="device_mismatch",
            status=403,
        )
    with engine.begin() as conn:
        # Taken first: it also makes the batch-id check below race-free between workers.
        feed.lock(conn)
        known = conn.execute(
            sa.select(batches.c.device_id, batches.c.ack).where(
                batches.c.batch_id == batch["batch_id"]
            )
        ).first()
        if known is not None:
            if known.device_id != device.id:
                raise ServerError(
                    "Mã lô này đã được một thiết bị khác dùng",
                    "This batch id was already used by another device",
                    code="batch_id_taken",
                    status=409,
                )
            stored: protocol.Ack = known.ack
            return stored
        now = iso_utc(clock.now())
        ack = _apply(conn, device, batch, now)
        conn.execute(
            batches.insert().values(
                batch_id=batch["batch_id"], device_id=device.id, received_at=now, via=via, ack=ack
            )
        )
    return ack


def _apply(conn: Connection, device: Device, batch: protocol.Batch, now: str) -> protocol.Ack:
    communes = conn.execute(
        sa.select(agent_communes.c.commune_code).where(agent_communes.c.agent_id == device.agent_id)
    ).scalars()
    ctx = _Context(conn, device, batch["batch_id"], frozenset(communes), now)
    accepted: list[int] = []
    refused: list[protocol.Refusal] = []
    for record in batch["records"]:
        problem = protocol.check_record(dict(record), device_id=device.id)
        if problem is None:
            try:
                # A savepoint per record: a refusal half-way leaves nothing of that record.
                with conn.begin_nested():
                    _APPLY[record["entity"]](ctx, record)
            except _Refused as refusal:
                problem = refusal.problem
        if problem is None:
            accepted.append(record["seq"])
        else:
            refused.append(problem.refusal(dict(record)))
    return protocol.Ack(
        protocol=protocol.PROTOCOL_VERSION,
        batch_id=batch["batch_id"],
        accepted=accepted,
        refused=refused,
        conflicts=ctx.conflicts,
        server_time=now,
    )


# ---------------------------------------------------------------------------------------------
# Scope


def _authorise(ctx: _Context, commune_code: str) -> None:
    if commune_code not in ctx.communes:
        raise _Refused(
            "out_of_scope",
            f"Xã {commune_code} không thuộc địa bàn được giao cho nhân viên này",
            f"Commune {commune_code} is not assigned to this agent",
        )


def _household_commune(ctx: _Context, household_id: str) -> str:
    commune = ctx.conn.execute(
        sa.select(households.c.commune_code).where(households.c.id == household_id)
    ).scalar()
    if commune is None:
        raise _Refused(
            "unknown_household",
            f"Máy chủ chưa có hộ gia đình {household_id}",
            f"The server has no household {household_id}",
        )
    return str(commune)


def _scope_of(ctx: _Context, entity: str, data: dict[str, Any]) -> tuple[str, str]:
    """(household id, commune code) an immutable record belongs to."""
    if entity == protocol.PLEDGE_EVENT:
        household_id = ctx.conn.execute(
            sa.select(pledges.c.household_id).where(pledges.c.id == data["pledge_id"])
        ).scalar()
        if household_id is None:
            raise _Refused(
                "unknown_pledge",
                f"Máy chủ chưa có cam kết {data['pledge_id']}",
                f"The server has no pledge {data['pledge_id']}",
            )
    elif entity == protocol.RECEIPT_VOID:
        household_id = ctx.conn.execute(
            sa.select(receipts.c.household_id).where(receipts.c.id == data["receipt_id"])
        ).scalar()
        if household_id is None:
            raise _Refused(
                "unknown_receipt",
                f"Máy chủ chưa có biên lai {data['receipt_id']}",
                f"The server has no receipt {data['receipt_id']}",
            )
    else:
        household_id = data["household_id"]
    return str(household_id), _household_commune(ctx, str(household_id))


# ---------------------------------------------------------------------------------------------
# Mergeable records: field-wise last-writer-wins


def _merge(
    ctx: _Context,
    record: protocol.Record,
    commune: str,
    current: dict[str, Any],
    field_hlc: dict[str, str],
) -> bool:
    """Fold the record's fields into current/field_hlc in place; True when anything changed."""
    base = record["base"] or {}
    changed = False
    for name, value in record["data"].items():
        if name == "id" or current.get(name) == value:
            continue
        stored_hlc = field_hlc.get(name)
        wins = stored_hlc is None or protocol.hlc_compare(record["hlc"], stored_hlc) > 0
        # The laptop changed a value it had not seen the latest version of, and that version
        # came from someone else: keep both for a supervisor, current value by clock order.
        if (
            stored_hlc is not None
            and base.get(name) != stored_hlc
            and protocol.hlc_parse(stored_hlc).device_id != ctx.device.id
        ):
            ctx.conn.execute(
                field_conflicts.insert().values(
                    entity=record["entity"],
                    entity_id=record["id"],
                    field=name,
                    commune_code=commune,
                    server_value=current.get(name),
                    server_hlc=stored_hlc,
                    incoming_value=value,
                    incoming_hlc=record["hlc"],
                    winner="incoming" if wins else "server",
                    device_id=ctx.device.id,
                    batch_id=ctx.batch_id,
                    created_at=ctx.now,
                )
            )
            ctx.conflicts += 1
        if wins:
            current[name] = value
            field_hlc[name] = record["hlc"]
            changed = True
    return changed


def _apply_mergeable(ctx: _Context, record: protocol.Record) -> None:
    entity, data = record["entity"], record["data"]
    table = households if entity == protocol.HOUSEHOLD else members
    stored = ctx.conn.execute(
        sa.select(table).where(table.c.id == record["id"]).with_for_update()
    ).first()
    if entity == protocol.HOUSEHOLD:
        commune = str(data["commune_code"])
    else:
        commune = _household_commune(ctx, str(data["household_id"]))
    _authorise(ctx, commune)
    if stored is None:
        if record["op"] == "update":
            raise _Refused(
                f"unknown_{entity}",
                f"Máy chủ chưa có bản ghi {record['id']} để sửa",
                f"The server has no {entity} {record['id']} to update",
            )
        current = {"id": record["id"], **data}
        field_hlc = {name: record["hlc"] for name in data if name != "id"}
        keys = _key_columns(entity, current)
        ctx.conn.execute(
            table.insert().values(
                id=record["id"],
                data=current,
                field_hlc=field_hlc,
                created_by=ctx.device.id,
                updated_at=ctx.now,
                **keys,
            )
        )
    else:
        # Moving a record needs rights over where it was, as well as where it goes.
        if entity == protocol.HOUSEHOLD:
            _authorise(ctx, str(stored.commune_code))
        elif stored.household_id != data["household_id"]:
            _authorise(ctx, _household_commune(ctx, str(stored.household_id)))
        current, field_hlc = dict(stored.data), dict(stored.field_hlc)
        if not _merge(ctx, record, commune, current, field_hlc):
            return
        keys = _key_columns(entity, current)
        ctx.conn.execute(
            table.update()
            .where(table.c.id == record["id"])
            .values(data=current, field_hlc=field_hlc, updated_at=ctx.now, **keys)
        )
        if entity == protocol.HOUSEHOLD:
            commune = str(current["commune_code"])
    feed.append(
        ctx.conn,
        entity=entity,
        entity_id=record["id"],
        data=current,
        field_hlc=field_hlc,
        hlc=max(field_hlc.values()),
        now=ctx.now,
        commune_code=commune,
        origin_device_id=ctx.device.id,
    )


def _key_columns(entity: str, data: dict[str, Any]) -> dict[str, Any]:
    if entity == protocol.HOUSEHOLD:
        return {"commune_code": data["commune_code"]}
    if entity == protocol.MEMBER:
        return {"household_id": data["household_id"]}
    if entity == protocol.PLEDGE_EVENT:
        return {"pledge_id": data["pledge_id"]}
    if entity == protocol.RECEIPT_VOID:
        return {"receipt_id": data["receipt_id"]}
    if entity == protocol.RECEIPT:
        return {
            "household_id": data["household_id"],
            "series": data["series"],
            "number": data["number"],
            "amount": data["amount"],
        }
    return {"household_id": data["household_id"]}


# ---------------------------------------------------------------------------------------------
# Immutable records: insert if absent, never overwrite


def _apply_immutable(ctx: _Context, record: protocol.Record) -> None:
    entity = record["entity"]
    table = IMMUTABLE_TABLES[entity]
    data = {"id": record["id"], **record["data"]}
    household_id, commune = _scope_of(ctx, entity, data)
    _authorise(ctx, commune)
    existing = ctx.conn.execute(sa.select(table.c.data).where(table.c.id == record["id"])).first()
    if existing is not None:
        if protocol.canonical_json(existing.data) == protocol.canonical_json(data):
            return
        raise _Refused(
            "conflicting_duplicate",
            "Máy chủ đã có bản ghi cùng mã nhưng nội dung khác; bản ghi cũ được giữ nguyên",
            "The server already has a record with this id and different content; it is kept",
        )
    _CHECKS.get(entity, _no_check)(ctx, data, household_id)
    ctx.conn.execute(
        table.insert().values(
            id=record["id"],
            data=data,
            hlc=record["hlc"],
            device_id=ctx.device.id,
            received_at=ctx.now,
            **_key_columns(entity, data),
        )
    )
    feed.append(
        ctx.conn,
        entity=entity,
        entity_id=record["id"],
        data=data,
        hlc=record["hlc"],
        now=ctx.now,
        commune_code=commune,
        origin_device_id=ctx.device.id,
    )


def _no_check(ctx: _Context, data: dict[str, Any], household_id: str) -> None:
    return None


def _check_visit(ctx: _Context, data: dict[str, Any], household_id: str) -> None:
    if data["agent_id"] != ctx.device.agent_id:
        raise _Refused(
            "agent_mismatch",
            "Lượt thăm ghi tên nhân viên khác với chủ thiết bị",
            "The visit names another agent than the device's",
        )


def _check_pledge(ctx: _Context, data: dict[str, Any], household_id: str) -> None:
    member_household = ctx.conn.execute(
        sa.select(members.c.household_id).where(members.c.id == data["member_id"])
    ).scalar()
    if member_household != household_id:
        raise _Refused(
            "unknown_member",
            f"Máy chủ chưa có thành viên {data['member_id']} trong hộ này",
            f"The server has no member {data['member_id']} in this household",
        )


def _check_receipt(ctx: _Context, data: dict[str, Any], household_id: str) -> None:
    book = ctx.conn.execute(
        sa.select(receipt_books).where(receipt_books.c.id == data["book_id"])
    ).first()
    if (
        book is None
        or book.agent_id != ctx.device.agent_id
        or book.series != data["series"]
        or not book.first <= data["number"] <= book.last
    ):
        raise _Refused(
            "receipt_book_mismatch",
            f"Biên lai {data['series']} số {data['number']} không thuộc quyển biên lai được cấp",
            f"Receipt {data['series']} {data['number']} is not in a book allocated to this agent",
        )
    used = ctx.conn.execute(
        sa.select(receipts.c.id).where(
            receipts.c.series == data["series"], receipts.c.number == data["number"]
        )
    ).first()
    if used is not None:
        raise _Refused(
            "receipt_number_used",
            f"Số biên lai {data['series']} {data['number']} đã được dùng cho biên lai khác",
            f"Receipt number {data['series']} {data['number']} is already used",
        )


_CHECKS: dict[str, Callable[[_Context, dict[str, Any], str], None]] = {
    protocol.VISIT: _check_visit,
    protocol.PLEDGE: _check_pledge,
    protocol.RECEIPT: _check_receipt,
}

_APPLY: dict[str, Callable[[_Context, protocol.Record], None]] = {
    **{entity: _apply_mergeable for entity in protocol.MERGEABLE},
    **{entity: _apply_immutable for entity in protocol.IMMUTABLE},
}
