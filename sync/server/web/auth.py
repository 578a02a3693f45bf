"""Supervisor accounts: scrypt passwords, browser sessions, CSRF tokens and login back-off."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.protocol.clock import Clock, iso_utc
from sync.protocol.ids import uuid7
from sync.server.errors import ServerError
from sync.server.schema import login_failures, supervisor_communes, supervisors, web_sessions

Role = Literal["admin", "commune"]
ROLES: tuple[Role, ...] = ("admin", "commune")
SESSION_HOURS = 12
MIN_PASSWORD = 8
FREE_FAILURES = 5
FIRST_LOCKOUT_SECONDS = 60
MAX_LOCKOUT_SECONDS = 24 * 3600

# scrypt at N=2**14, r=8: 16 MB and a few tens of milliseconds per check.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_COMMUNE = re.compile(r"^\d{5}$")


@dataclass(frozen=True)
class Supervisor:
    """A signed-in supervisor; communes is None for a provincial admin (sees everything)."""

    id: str
    username: str
    role: Role
    communes: frozenset[str] | None


class LoginLocked(ServerError):
    """Too many wrong passwords for this user name; try again after `seconds`."""

    def __init__(self, seconds: int) -> None:
        minutes = max(1, -(-seconds // 60))
        super().__init__(
            f"Sai mật khẩu quá nhiều lần. Hãy thử lại sau {minutes} phút.",
            f"Too many wrong passwords. Try again in {minutes} minute(s).",
            code="login_locked",
            status=429,
        )
        self.seconds = seconds


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A self-describing scrypt hash: scrypt$N$r$p$salt$digest (hex)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        actual = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(digest) // 2,
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual.hex(), digest)


# Checked when the user name is unknown, so both answers take the same time.
_DUMMY_HASH = hash_password("not a password", salt=b"\0" * 16)


def normalise_username(username: str) -> str:
    return username.strip().lower()


def add_supervisor(
    conn: Connection,
    *,
    username: str,
    password: str,
    role: str,
    communes: list[str],
    clock: Clock,
) -> str:
    """A new supervisor account; a commune supervisor needs at least one 5-digit commune."""
    username = normalise_username(username)
    if not _USERNAME.match(username):
        raise ServerError(
            "Tên đăng nhập gồm 2–64 ký tự: chữ thường không dấu, số, dấu chấm, gạch",
            "User name: 2-64 of a-z, 0-9, dot, dash, underscore",
            code="bad_value",
        )
    if role not in ROLES:
        raise ServerError(
            "Vai trò phải là admin hoặc commune", "Role must be admin or commune", code="bad_value"
        )
    if len(password) < MIN_PASSWORD:
        raise ServerError(
            f"Mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự",
            f"The password needs at least {MIN_PASSWORD} characters",
            code="bad_value",
        )
    bad = [c for c in communes if not _COMMUNE.match(c)]
    if bad or (role == "commune" and not communes) or (role == "admin" and communes):
        raise ServerError(
            "Giám sát viên xã cần ít nhất một mã xã 5 chữ số; quản trị tỉnh thì không ghi xã",
            "A commune supervisor needs 5-digit commune codes; a provincial admin takes none",
            code="bad_value",
        )
    taken = conn.execute(
        sa.select(supervisors.c.id).where(supervisors.c.username == username)
    ).first()
    if taken is not None:
        raise ServerError(
            f"Tên đăng nhập {username} đã có",
            f"User name {username} is taken",
            code="username_taken",
        )
    supervisor_id = uuid7(clock)
    conn.execute(
        supervisors.insert().values(
            id=supervisor_id,
            username=username,
            password_hash=hash_password(password),
            role=role,
            created_at=iso_utc(clock.now()),
        )
    )
    if communes:
        conn.execute(
            supervisor_communes.insert(),
            [{"supervisor_id": supervisor_id, "commune_code": c} for c in sorted(set(communes))],
        )
    return supervisor_id


def _supervisor(conn: Connection, row: sa.Row[tuple[object, ...]]) -> Supervisor:
    role: Role = "admin" if row.role == "admin" else "commune"
    communes = None
    if role == "commune":
        communes = frozenset(
            conn.execute(
                sa.select(supervisor_communes.c.commune_code).where(
                    supervisor_communes.c.supervisor_id == row.id
                )
            ).scalars()
        )
    return Supervisor(id=str(row.id), username=str(row.username), role=role, communes=communes)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def log_in(conn: Connection, *, username: str, password: str, clock: Clock) -> str | None:
    """A new session token for the right password, None for a wrong one.

    After FREE_FAILURES wrong passwords for a user name, each further one locks that name for
    a minute, doubling each time; while locked nothing is checked (LoginLocked).
    """
    username = normalise_username(username)[:64]
    now = clock.now()
    failed = conn.execute(
        sa.select(login_failures).where(login_failures.c.username == username)
    ).first()
    if failed is not None and failed.locked_until is not None:
        until = dt.datetime.fromisoformat(failed.locked_until.replace("Z", "+00:00"))
        if until > now:
            raise LoginLocked(math.ceil((until - now).total_seconds()))
    row = conn.execute(sa.select(supervisors).where(supervisors.c.username == username)).first()
    ok = check_password(password, row.password_hash if row is not None else _DUMMY_HASH)
    if row is None or not ok:
        failures = (failed.failures if failed is not None else 0) + 1
        locked_until = None
        if failures >= FREE_FAILURES:
            seconds = min(
                FIRST_LOCKOUT_SECONDS * 2 ** (failures - FREE_FAILURES), MAX_LOCKOUT_SECONDS
            )
            locked_until = iso_utc(now + dt.timedelta(seconds=seconds))
        values = {"failures": failures, "locked_until": locked_until}
        if failed is None:
            conn.execute(login_failures.insert().values(username=username, **values))
        else:
            conn.execute(
                login_failures.update().where(login_failures.c.username == username).values(values)
            )
        return None
    conn.execute(login_failures.delete().where(login_failures.c.username == username))
    token = secrets.token_urlsafe(32)
    conn.execute(
        web_sessions.insert().values(
            token_hash=_token_hash(token),
            supervisor_id=row.id,
            created_at=iso_utc(now),
            expires_at=iso_utc(now + dt.timedelta(hours=SESSION_HOURS)),
        )
    )
    # Expired sessions are swept here rather than by a background job.
    conn.execute(web_sessions.delete().where(web_sessions.c.expires_at <= iso_utc(now)))
    return token


def session_supervisor(conn: Connection, *, token: str, clock: Clock) -> Supervisor | None:
    """Who a session cookie belongs to, or None when it is unknown or expired."""
    row = conn.execute(
        sa.select(supervisors)
        .join(web_sessions, web_sessions.c.supervisor_id == supervisors.c.id)
        .where(
            web_sessions.c.token_hash == _token_hash(token),
            web_sessions.c.expires_at > iso_utc(clock.now()),
        )
    ).first()
    return None if row is None else _supervisor(conn, row)


def log_out(conn: Connection, *, token: str) -> None:
    conn.execute(web_sessions.delete().where(web_sessions.c.token_hash == _token_hash(token)))


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: derived from the HttpOnly cookie, so never stored."""
    return hmac.new(session_token.encode(), b"fieldapp-csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_token: str, sent: str) -> bool:
    return hmac.compare_digest(csrf_token(session_token), sent)
