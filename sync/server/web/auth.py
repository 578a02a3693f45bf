"""Supervisor accounts: scrypt passwords, browser sessions, CSRF tokens and login back-off."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import math
import re
import secrets
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from sync.protocol.clock import Clock, iso_utc
from sync.protocol.frozen import frozen
from sync.protocol.ids import uuid7
from sync.server.errors import ServerError
from sync.server.schema import login_failures, supervisor_communes, supervisors, web_sessions

Role = Literal["admin", "commune"]
ROLES: tuple[Role, ...] = ("admin", "commune")
SESSION_HOURS = 12
MIN_PASSWORD = 8
# Wrong passwords before a lock: per user name, and per client address over all names (an
# office behind one address has several supervisors, and typos add up).
FREE_FAILURES = 5
ADDRESS_FREE_FAILURES = 20
FIRST_LOCKOUT_SECONDS = 60
MAX_LOCKOUT_SECONDS = 24 * 3600
# A count is forgotten this long after its last failure or the end of its lock, and its row
# deleted: the table holds only recent failures.
FORGET_AFTER = dt.timedelta(hours=24)
NAME, ADDRESS = "name", "address"
# Locks double from FIRST_LOCKOUT_SECONDS; after this many doublings they stay at the maximum.
_DOUBLINGS = math.ceil(math.log2(MAX_LOCKOUT_SECONDS / FIRST_LOCKOUT_SECONDS))
# Rows of forgotten counts deleted per login at most, so one login never waits on a big sweep.
_FORGET_BATCH = 500

# scrypt at N=2**14, r=8: 16 MB and a few tens of milliseconds per check.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_COMMUNE = re.compile(r"^\d{5}$")


@frozen
class Supervisor:
    """A signed-in supervisor; communes is None for a provincial admin (sees everything)."""

    id: str
    username: str
    role: Role
    communes: frozenset[str] | None


class LoginLocked(ServerError):
    """Too many wrong passwords for this user name or from this address; try again after
    `seconds`."""

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


def address_key(host: str | None) -> str:
    """What a client's failures are counted under: its IPv4 address, or its IPv6 /64 (one
    household or office is given a whole /64, so single IPv6 addresses would count nothing)."""
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        digest = hashlib.sha256((host or "").encode("utf-8", "replace")).hexdigest()
        return f"?{digest[:32]}"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _lockout_seconds(count: int, free: int) -> int:
    return min(FIRST_LOCKOUT_SECONDS * 2 ** (count - free), MAX_LOCKOUT_SECONDS)


def _by_count(counted: Any, free: int, now: dt.datetime, *, forget: bool) -> Any:
    """The lock end (or, with forget, the forget time) for a count, as one SQL expression:
    below `free` no lock, then a minute doubling with each failure up to a day."""
    after = FORGET_AFTER if forget else dt.timedelta(0)
    below: Any = iso_utc(now + FORGET_AFTER) if forget else sa.null()
    ends = [
        (counted == free + extra, iso_utc(now + dt.timedelta(seconds=seconds) + after))
        for extra in range(_DOUBLINGS)
        for seconds in [_lockout_seconds(free + extra, free)]
    ]
    longest = iso_utc(now + dt.timedelta(seconds=MAX_LOCKOUT_SECONDS) + after)
    return sa.case((counted < free, below), *ends, else_=longest)


def _count_attempt(conn: Connection, kind: str, subject: str, free: int, now: dt.datetime) -> Any:
    """Count one login attempt against (kind, subject) and lock it once `free` are used up;
    raises LoginLocked, counting nothing, while it is locked. Returns the lock this attempt set
    (None for none).

    One INSERT … ON CONFLICT DO UPDATE … RETURNING, so concurrent attempts each get their own
    number and no two can pass on the same one; the attempt is counted before the password is
    checked, and a right password gives it back.
    """
    t = login_failures
    stamp = iso_utc(now)
    counted = sa.case((t.c.forget_at <= stamp, 1), else_=t.c.failures + 1)
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(t)
    statement = (
        insert.values(
            kind=kind,
            subject=subject,
            failures=1,
            locked_until=_by_count(sa.literal(1), free, now, forget=False),
            forget_at=_by_count(sa.literal(1), free, now, forget=True),
        )
        .on_conflict_do_update(
            index_elements=[t.c.kind, t.c.subject],
            set_={
                "failures": counted,
                "locked_until": _by_count(counted, free, now, forget=False),
                "forget_at": _by_count(counted, free, now, forget=True),
            },
            where=sa.or_(t.c.locked_until.is_(None), t.c.locked_until <= stamp),
        )
        .returning(t.c.locked_until)
    )
    taken = conn.execute(statement).first()
    if taken is not None:
        return taken.locked_until
    until = conn.execute(
        sa.select(t.c.locked_until).where(t.c.kind == kind, t.c.subject == subject)
    ).scalar_one()
    moment = dt.datetime.fromisoformat(until.replace("Z", "+00:00"))
    raise LoginLocked(max(1, math.ceil((moment - now).total_seconds())))


def _forget_old(conn: Connection, now: dt.datetime) -> None:
    """Delete counts whose time to be forgotten has come, a batch at a time; rows another
    login holds are skipped (PostgreSQL), so the sweep never waits or deadlocks."""
    t = login_failures
    stale = (
        sa.select(t.c.kind, t.c.subject)
        .where(t.c.forget_at <= iso_utc(now))
        .limit(_FORGET_BATCH)
        .with_for_update(skip_locked=True)
    )
    conn.execute(t.delete().where(sa.tuple_(t.c.kind, t.c.subject).in_(stale)))


def log_in(
    engine: Engine, *, username: str, password: str, address: str | None, clock: Clock
) -> str | None:
    """A new session token for the right password, None for a wrong one.

    Each attempt counts against its user name and its client address (address_key). After
    FREE_FAILURES for a name, or ADDRESS_FREE_FAILURES from an address, the next attempt waits
    a minute, doubling with each further failure; while locked nothing is checked
    (LoginLocked). A right password clears its name's count and gives the address its attempt
    back. Text that cannot be a user name is counted against the address only.
    """
    username = normalise_username(username)
    where = address_key(address)
    now = clock.now()
    with engine.begin() as conn:
        _forget_old(conn, now)
    # Address first, then name, in every transaction: concurrent logins lock rows in one order.
    with engine.begin() as conn:
        address_lock = _count_attempt(conn, ADDRESS, where, ADDRESS_FREE_FAILURES, now)
        row = None
        if _USERNAME.match(username):
            _count_attempt(conn, NAME, username, FREE_FAILURES, now)
            row = conn.execute(
                sa.select(supervisors).where(supervisors.c.username == username)
            ).first()
    # The slow check runs outside any transaction: no row stays locked while it runs.
    ok = check_password(password, row.password_hash if row is not None else _DUMMY_HASH)
    if row is None or not ok:
        return None
    token = secrets.token_urlsafe(32)
    t = login_failures
    given_back: dict[str, Any] = {"failures": t.c.failures - 1}
    if address_lock is not None:  # the lock this attempt set, unless a later one replaced it
        given_back["locked_until"] = sa.case(
            (t.c.locked_until == address_lock, sa.null()), else_=t.c.locked_until
        )
    with engine.begin() as conn:
        conn.execute(
            t.update()
            .where(t.c.kind == ADDRESS, t.c.subject == where, t.c.failures > 0)
            .values(given_back)
        )
        conn.execute(t.delete().where(t.c.kind == NAME, t.c.subject == username))
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
