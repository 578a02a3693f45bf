"""Agents' devices: enrolment codes, enrolment, token authentication and revocation."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.protocol import signing, wire
from sync.protocol.clock import Clock, iso_utc
from sync.protocol.frozen import frozen
from sync.protocol.ids import is_uuid, uuid7
from sync.server import audit
from sync.server.errors import ServerError
from sync.server.schema import agent_communes, agents, devices, enrol_codes

# No 0/O, 1/I/L: codes are read aloud over the phone and typed on a laptop keyboard.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
# A code is meant for the next few days; past 30 days it is a typo (or a code valid until
# year 7730), and infinity or NaN cannot become an expiry time at all.
MAX_ENROL_HOURS = 30 * 24


@frozen
class Device:
    """An enrolled laptop, as the server knows it."""

    id: str
    agent_id: str
    name: str
    device_key: bytes
    revoked_at: str | None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normalise_code(code: str) -> str:
    """Codes are typed by hand: ignore case, spaces and dashes."""
    return "".join(ch for ch in code.upper() if ch not in " -")


def agent_name_and_communes(conn: Connection, agent_id: str) -> tuple[str, list[str]]:
    name = conn.execute(sa.select(agents.c.name).where(agents.c.id == agent_id)).scalar()
    if name is None:
        raise ServerError(
            f"Không có nhân viên thu {agent_id}",
            f"No such agent: {agent_id}",
            code="unknown_agent",
            status=404,
        )
    communes = conn.execute(
        sa.select(agent_communes.c.commune_code)
        .where(agent_communes.c.agent_id == agent_id)
        .order_by(agent_communes.c.commune_code)
    ).scalars()
    return str(name), list(communes)


def active_agent(conn: Connection, agent_id: str) -> tuple[str, list[str]]:
    """The agent's name and communes; refused once the agent has been deactivated. The agent's
    row stays locked until the transaction ends (PostgreSQL), so two supervisors' changes of
    the same agent take turns."""
    name, communes = agent_name_and_communes(conn, agent_id)
    gone = conn.execute(
        sa.select(agents.c.deactivated_at).where(agents.c.id == agent_id).with_for_update()
    ).scalar_one()
    if gone is not None:
        raise ServerError(
            f"Nhân viên thu {name} đã ngừng hoạt động",
            f"Agent {name} has been deactivated",
            code="agent_deactivated",
        )
    return name, communes


def new_enrol_code(conn: Connection, *, agent_id: str, clock: Clock, valid_hours: float) -> str:
    """A one-time code for enrolling one device of this agent; only its hash is stored."""
    active_agent(conn, agent_id)
    if not (math.isfinite(valid_hours) and 0 < valid_hours <= MAX_ENROL_HOURS):
        raise ServerError(
            f"Thời hạn của mã đăng ký phải lớn hơn 0 và tối đa {MAX_ENROL_HOURS} giờ (30 ngày)",
            f"An enrolment code's validity must be more than 0 and at most {MAX_ENROL_HOURS}"
            " hours (30 days)",
            code="bad_value",
        )
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    now = clock.now()
    conn.execute(
        enrol_codes.insert().values(
            code_hash=sha256_hex(code),
            agent_id=agent_id,
            created_at=iso_utc(now),
            expires_at=iso_utc(now + dt.timedelta(hours=valid_hours)),
        )
    )
    return code


def enrol(
    conn: Connection,
    *,
    code: str,
    device_name: str,
    clock: Clock,
    device_id: str | None = None,
) -> wire.EnrolResponse:
    """Exchange a one-time code for a device id, a bearer token and a device key."""
    now = iso_utc(clock.now())
    row = conn.execute(
        sa.select(enrol_codes)
        .where(enrol_codes.c.code_hash == sha256_hex(normalise_code(code)))
        .with_for_update()
    ).first()
    if row is None:
        raise ServerError(
            "Mã đăng ký không đúng",
            "Unknown enrolment code",
            code="enrol_code_unknown",
            status=403,
        )
    if row.used_at is not None:
        raise ServerError(
            "Mã đăng ký đã được dùng; hãy xin mã mới",
            "Enrolment code already used; ask for a new one",
            code="enrol_code_used",
            status=403,
        )
    if row.expires_at <= now:
        raise ServerError(
            "Mã đăng ký đã hết hạn; hãy xin mã mới",
            "Enrolment code expired; ask for a new one",
            code="enrol_code_expired",
            status=403,
        )
    name, communes = agent_name_and_communes(conn, row.agent_id)
    # The laptop's own id is kept when it is a UUID no device has yet: the laptop's clock
    # stamps carry it. A re-enrolled laptop gets a new id, which its client maps.
    if (
        device_id is None
        or not is_uuid(device_id)
        or conn.execute(sa.select(devices.c.id).where(devices.c.id == device_id)).first()
        is not None
    ):
        device_id = uuid7(clock)
    token = secrets.token_urlsafe(32)
    key = signing.new_device_key()
    # The device key is kept in clear: it must verify signatures later. Encrypting it at
    # rest (a key from the environment or a KMS) is left to the deployment.
    conn.execute(
        devices.insert().values(
            id=device_id,
            agent_id=row.agent_id,
            name=device_name,
            token_hash=sha256_hex(token),
            device_key=key,
            enrolled_at=now,
        )
    )
    # Only one of two racing enrolments with the same code can flip used_at.
    used = conn.execute(
        enrol_codes.update()
        .where(enrol_codes.c.code_hash == row.code_hash, enrol_codes.c.used_at.is_(None))
        .values(used_at=now, device_id=device_id)
    )
    if used.rowcount != 1:
        raise ServerError(
            "Mã đăng ký đã được dùng; hãy xin mã mới",
            "Enrolment code already used; ask for a new one",
            code="enrol_code_used",
            status=403,
        )
    audit.record(
        conn,
        clock=clock,
        actor=name,
        actor_kind="device",
        action="device_enrol",
        target=device_id,
        communes=communes,
        detail={"device_name": device_name[:200], "agent_id": row.agent_id},
    )
    return wire.EnrolResponse(
        device_id=device_id,
        token=token,
        agent_id=row.agent_id,
        agent_name=name,
        communes=communes,
        device_key=signing.encode_device_key(key),
    )


def _device(row: sa.Row[tuple[object, ...]]) -> Device:
    return Device(
        id=str(row.id),
        agent_id=str(row.agent_id),
        name=str(row.name),
        device_key=bytes(row.device_key),
        revoked_at=row.revoked_at,
    )


def authenticate(
    conn: Connection, *, token: str, clock: Clock, pending: int | None = None
) -> Device:
    """The device a bearer token belongs to; revoked or unknown tokens are refused."""
    row = conn.execute(sa.select(devices).where(devices.c.token_hash == sha256_hex(token))).first()
    if row is None or row.revoked_at is not None:
        raise ServerError(
            "Thiết bị chưa đăng ký hoặc đã bị thu hồi",
            "Device not enrolled or revoked",
            code="unauthorized",
            status=401,
        )
    values: dict[str, object] = {"last_seen_at": iso_utc(clock.now())}
    if pending is not None:
        values["last_pending_reported"] = pending
    conn.execute(devices.update().where(devices.c.id == row.id).values(**values))
    return _device(row)


def get(conn: Connection, device_id: str) -> Device | None:
    row = conn.execute(sa.select(devices).where(devices.c.id == device_id)).first()
    return None if row is None else _device(row)


def revoke(
    conn: Connection,
    *,
    device_id: str,
    clock: Clock,
    actor: str = "cli",
    actor_kind: audit.ActorKind = "operator",
    reason: str = "",
) -> None:
    """Refuse the device's token from now on (its past receipts still verify); the audit log
    says who revoked it and why."""
    result = conn.execute(
        devices.update()
        .where(devices.c.id == device_id, devices.c.revoked_at.is_(None))
        .values(revoked_at=iso_utc(clock.now()))
    )
    if result.rowcount != 1:
        if get(conn, device_id) is None:
            raise ServerError(
                f"Không có thiết bị {device_id}",
                f"No such device: {device_id}",
                code="unknown_device",
                status=404,
            )
        raise ServerError(
            "Thiết bị này đã bị thu hồi trước đó",
            "Device was already revoked",
            code="already_revoked",
        )
    row = conn.execute(
        sa.select(devices.c.agent_id, devices.c.name).where(devices.c.id == device_id)
    ).one()
    _, communes = agent_name_and_communes(conn, row.agent_id)
    audit.record(
        conn,
        clock=clock,
        actor=actor,
        actor_kind=actor_kind,
        action="device_revoke",
        target=device_id,
        communes=communes,
        detail={"device_name": row.name, "agent_id": row.agent_id, "reason": reason[:500]},
    )
