"""The audit log on the real server: enrolments, revocations and supervisor actions are written
in the action's transaction, scoped to communes, read on /web/audit, and a refused action
writes nothing."""

from __future__ import annotations

import re

import sqlalchemy as sa

from sync.server import audit, devices
from sync.server.schema import audit_log
from tests.sync.conftest import Server
from tests.sync.test_web import COMMUNE, OTHER, add_supervisor, csrf_of, signed_in


def _entries(server: Server, communes: list[str] | None = None) -> list[audit.Entry]:
    with server.engine.connect() as conn:
        return audit.entries(conn, communes)


def _rows(page: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>|\s+", " ", row).strip()
        for row in re.findall(r"<tr>(.*?)</tr>", page, re.S)
        if "<td" in row and "empty" not in row
    ]


def test_enrolment_and_revocation_are_logged(server: Server) -> None:
    agent = server.add_agent("Trần Thị Bình", [COMMUNE])
    laptop = server.laptop(agent, name="Máy của Bình")
    with server.engine.begin() as conn:
        devices.revoke(
            conn, device_id=laptop.device_id, clock=server.clock, actor="quantri", reason="mất máy"
        )
    revoked, enrolled = _entries(server)
    assert (enrolled.action, enrolled.actor, enrolled.actor_kind) == (
        "device_enrol",
        "Trần Thị Bình",
        "device",
    )
    assert (enrolled.target, enrolled.communes) == (laptop.device_id, (COMMUNE,))
    assert enrolled.detail["device_name"] == "Máy của Bình"
    assert (revoked.action, revoked.actor, revoked.actor_kind) == (
        "device_revoke",
        "quantri",
        "operator",
    )
    assert revoked.detail["reason"] == "mất máy"
    assert revoked.at == enrolled.at  # the server's clock stands still in the tests


def test_a_refused_revocation_writes_nothing(server: Server) -> None:
    agent = server.add_agent("Trần Thị Bình", [COMMUNE])
    laptop = server.laptop(agent)
    with server.engine.begin() as conn:
        devices.revoke(conn, device_id=laptop.device_id, clock=server.clock)
    before = server.count("audit_log")
    for device_id in (laptop.device_id, "no-such-device"):
        try:
            with server.engine.begin() as conn:
                devices.revoke(conn, device_id=device_id, clock=server.clock)
        except Exception as exc:
            assert getattr(exc, "code", "") in ("already_revoked", "unknown_device")
        else:
            raise AssertionError("a second revocation was accepted")
    assert server.count("audit_log") == before


def test_a_supervisors_action_is_on_the_audit_page_of_its_communes_only(server: Server) -> None:
    add_supervisor(server, "tinh", "admin", [])
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    add_supervisor(server, "xa2", "commune", [OTHER])
    agent = server.add_agent("Trần Thị Bình", [COMMUNE])
    with signed_in(server, "xa1") as client:
        page = client.get("/web/devices").text
        made = client.post(
            "/web/devices/enrol-code",
            data={"csrf": csrf_of(page), "agent_id": agent, "valid_hours": "24"},
        )
        assert made.status_code == 200
        # Refused: no CSRF token, and a validity the server does not allow. Neither is logged.
        assert (
            client.post(
                "/web/devices/enrol-code", data={"agent_id": agent, "valid_hours": "24"}
            ).status_code
            == 403
        )
        refused = client.post(
            "/web/devices/enrol-code",
            data={"csrf": csrf_of(page), "agent_id": agent, "valid_hours": "99999"},
        )
        assert refused.status_code == 400
        mine = _rows(client.get("/web/audit").text)
    (entry,) = _entries(server)
    assert (entry.action, entry.actor, entry.actor_kind, entry.target) == (
        "enrol_code",
        "xa1",
        "supervisor",
        agent,
    )
    assert entry.detail == {"agent": "Trần Thị Bình", "valid_hours": 24.0}
    assert len(mine) == 1 and "Tạo mã đăng ký thiết bị" in mine[0] and "xa1" in mine[0]
    assert COMMUNE in mine[0]
    with signed_in(server, "tinh") as client:
        assert len(_rows(client.get("/web/audit").text)) == 1
    with signed_in(server, "xa2") as client:
        page = client.get("/web/audit").text
        assert _rows(page) == []
        assert "Chưa có thao tác nào." in page


def test_the_page_filters_by_action_and_pages_back(server: Server) -> None:
    add_supervisor(server, "tinh", "admin", [])
    with server.engine.begin() as conn:
        for n in range(105):
            audit.record(
                conn,
                clock=server.clock,
                actor="tinh",
                actor_kind="supervisor",
                action="target_set" if n % 2 else "book_allocate",
                target=f"muc-{n:03d}",
                communes=[COMMUNE, OTHER] if n == 0 else [COMMUNE],
            )
    with signed_in(server, "tinh") as client:
        first = client.get("/web/audit").text
        rows = _rows(first)
        assert len(rows) == 100
        assert "muc-104" in rows[0] and "muc-005" in rows[-1]
        older = re.search(r'href="(/web/audit\?before=\d+)"', first)
        assert older is not None
        rest = _rows(client.get(older.group(1)).text)
        # The first action touched two communes: one entry, both communes shown.
        assert len(rest) == 5 and "muc-000" in rest[-1] and f"{COMMUNE}, {OTHER}" in rest[-1]
        only = _rows(client.get("/web/audit", params={"action": "target_set"}).text)
        assert len(only) == 52 and all("Đặt chỉ tiêu" in row for row in only)
        # An unknown action is no filter; a bad page number is refused, not a server error.
        assert len(_rows(client.get("/web/audit", params={"action": "x" * 40}).text)) == 100
        assert client.get("/web/audit", params={"before": "-1"}).status_code == 400
    with server.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar() == 106


def test_the_audit_page_needs_a_login(server: Server) -> None:
    with server.http() as client:
        response = client.get("/web/audit", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/web/login")
