"""/web/agents and device revocation on the real server: adding an agent, changing their
communes (which their laptops learn on the next pull), deactivating one who left (their devices
get 401), revoking one device, the enrolment code's QR code; scope, CSRF and hostile input
refused with nothing changed, and every action in the audit log."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
import sqlalchemy as sa

from sync.protocol import wire
from sync.server import audit
from sync.server.schema import agent_communes, agents, devices
from tests.sync.client_fixtures import Laptop as RealLaptop
from tests.sync.client_fixtures import laptop_factory
from tests.sync.conftest import Laptop, Server, household
from tests.sync.test_web import COMMUNE, OTHER, add_supervisor, csrf_of, signed_in

MakeLaptop = Callable[[str], RealLaptop]


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    yield from laptop_factory(server, tmp_path)


@pytest.fixture
def supervisors(server: Server) -> Server:
    """A provincial admin "tinh", and commune supervisors "xa1" (04001) and "xa2" (04099)."""
    add_supervisor(server, "tinh", "admin", [])
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    add_supervisor(server, "xa2", "commune", [OTHER])
    return server


def _entries(server: Server, action: str | None = None) -> list[audit.Entry]:
    with server.engine.connect() as conn:
        return audit.entries(conn, None, action=action)


def _agents(server: Server) -> dict[str, tuple[str, list[str], str | None]]:
    """Every agent: name, communes, deactivated_at."""
    with server.engine.connect() as conn:
        rows = conn.execute(sa.select(agents)).all()
        links = conn.execute(
            sa.select(agent_communes).order_by(agent_communes.c.commune_code)
        ).all()
    return {
        r.id: (
            r.name,
            [link.commune_code for link in links if link.agent_id == r.id],
            r.deactivated_at,
        )
        for r in rows
    }


def _state(server: Server) -> tuple[Any, ...]:
    """What an action may change: agents, devices, the change feed and the audit log."""
    with server.engine.connect() as conn:
        revoked = conn.execute(sa.select(devices.c.id, devices.c.revoked_at)).all()
    return (
        _agents(server),
        sorted(revoked),
        server.count("changes"),
        server.count("audit_log"),
        server.count("enrol_codes"),
    )


def _csrf(client: httpx.Client, path: str = "/web/agents") -> str:
    return csrf_of(client.get(path).text)


def _message(response: httpx.Response) -> str:
    found = re.search(r'<p class="alert" role="alert">(.*?)</p>', response.text, re.S)
    assert found is not None, response.text
    return " ".join(found.group(1).split())


def _unauthorised(laptop: Laptop) -> bool:
    """The device's next request (a pull) is refused with 401."""
    response = laptop.http.get(wire.CHANGES_PATH, params={"since": 0, "limit": 10})
    return response.status_code == 401


# -- adding an agent -----------------------------------------------------------------------------


def test_an_admin_adds_an_agent_who_is_listed_and_logged(supervisors: Server) -> None:
    server = supervisors
    with signed_in(server, "tinh") as client:
        added = client.post(
            "/web/agents",
            data={"csrf": _csrf(client), "name": "  Nguyễn   Thị Lan ", "communes": "04002, 04001"},
        )
        assert added.status_code == 303
        assert added.headers["location"] == "/web/agents?done=added"
        page = client.get(added.headers["location"]).text
    [(agent_id, (name, communes, gone))] = _agents(server).items()
    assert (name, communes, gone) == ("Nguyễn Thị Lan", ["04001", "04002"], None)
    assert "Đã thêm nhân viên thu." in page
    assert "Nguyễn Thị Lan" in page and "04001, 04002" in page and "Đang hoạt động" in page
    [entry] = _entries(server)
    assert (entry.action, entry.actor, entry.actor_kind, entry.target) == (
        "agent_add",
        "tinh",
        "supervisor",
        agent_id,
    )
    assert entry.communes == ("04001", "04002")
    assert entry.detail == {"name": "Nguyễn Thị Lan", "communes": ["04001", "04002"]}


def test_a_name_typed_in_nfd_is_stored_in_nfc(supervisors: Server) -> None:
    import unicodedata

    with signed_in(supervisors, "xa1") as client:
        typed = unicodedata.normalize("NFD", "Lò Văn Hùng")
        response = client.post(
            "/web/agents", data={"csrf": _csrf(client), "name": typed, "communes": COMMUNE}
        )
    assert response.status_code == 303
    [(name, communes, _)] = _agents(supervisors).values()
    assert name == "Lò Văn Hùng" and communes == [COMMUNE]


def test_a_commune_supervisor_adds_agents_only_in_their_communes(supervisors: Server) -> None:
    server = supervisors
    with signed_in(server, "xa1") as client:
        before = _state(server)
        refused = client.post(
            "/web/agents",
            data={"csrf": _csrf(client), "name": "Giàng A Pó", "communes": f"{COMMUNE}, {OTHER}"},
        )
        assert refused.status_code == 403
        assert f"không giao được xã {OTHER}" in _message(refused)
        assert _state(server) == before
        added = client.post(
            "/web/agents", data={"csrf": _csrf(client), "name": "Giàng A Pó", "communes": COMMUNE}
        )
        assert added.status_code == 303
    assert [v[:2] for v in _agents(server).values()] == [("Giàng A Pó", [COMMUNE])]
    [entry] = _entries(server)
    assert entry.action == "agent_add" and entry.actor == "xa1"


@pytest.mark.parametrize(
    ("name", "communes", "message"),
    [
        ("", COMMUNE, "Hãy nhập họ và tên nhân viên thu."),
        ("   ", COMMUNE, "Hãy nhập họ và tên nhân viên thu."),
        ("A" * 101, COMMUNE, "Họ và tên dài quá 100 ký tự."),
        ("Lò\x00Văn", COMMUNE, "Họ và tên có ký tự không hợp lệ."),
        ("Lò Văn Hùng", "", "Hãy nhập ít nhất một mã xã (5 chữ số)."),
        ("Lò Văn Hùng", "4001", "Mã xã phải gồm đúng 5 chữ số: “4001”."),
        ("Lò Văn Hùng", "04001, 0400a", "Mã xã phải gồm đúng 5 chữ số: “0400a”."),
        ("Lò Văn Hùng", "０４００１", "Mã xã phải gồm đúng 5 chữ số: “０４００１”."),
        ("Lò Văn Hùng", "040011", "Mã xã phải gồm đúng 5 chữ số: “040011”."),
        ("Lò Văn Hùng", "0" * 201, "Danh sách mã xã dài quá 200 ký tự."),
        (
            "Lò Văn Hùng",
            ",".join(f"{n:05d}" for n in range(21)),
            "Một nhân viên thu được giao tối đa 20 xã.",
        ),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_stored(
    supervisors: Server, name: str, communes: str, message: str
) -> None:
    server = supervisors
    with signed_in(server, "tinh") as client:
        before = _state(server)
        response = client.post(
            "/web/agents", data={"csrf": _csrf(client), "name": name, "communes": communes}
        )
    assert response.status_code == 400
    assert _message(response) == message
    assert _state(server) == before


# -- changing an agent's communes ----------------------------------------------------------------


def test_changed_communes_reach_the_agents_laptop_on_its_next_pull(supervisors: Server) -> None:
    """The laptop pulls the new assignment, then a "household moved" entry for each household
    of the commune taken away, addressed to this agent only."""
    server = supervisors
    agent = server.add_agent("Lò Thị Mai", [COMMUNE, OTHER])
    other_agent = server.add_agent("Vàng A Dính", [OTHER])
    laptop, neighbour = server.laptop(agent), server.laptop(other_agent)
    home = household(OTHER)
    laptop.send(laptop.record("household", home))
    _, cursor = laptop.pull()
    _, neighbour_cursor = neighbour.pull()
    with signed_in(server, "tinh") as client:
        form = client.get(f"/web/agents/{agent}/communes").text
        assert f'value="{COMMUNE}, {OTHER}"' in form
        changed = client.post(
            f"/web/agents/{agent}/communes", data={"csrf": csrf_of(form), "communes": COMMUNE}
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == "/web/agents?done=communes"
    assert _agents(server)[agent][1] == [COMMUNE]
    changes, _ = laptop.pull(since=cursor)
    assert [(c["entity"], c["id"]) for c in changes] == [
        (wire.ASSIGNMENT, agent),
        (wire.HOUSEHOLD_MOVED, home["id"]),
    ]
    assert changes[0]["data"] == {
        "agent_id": agent,
        "agent_name": "Lò Thị Mai",
        "communes": [COMMUNE],
    }
    assert changes[1]["data"] == {"commune_code": OTHER}
    # Another agent who still serves the commune hears nothing of it.
    assert neighbour.pull(since=neighbour_cursor)[0] == []
    # The laptop can no longer send anything about that commune.
    ack = laptop.send(laptop.phone_change(home, "0987654321", seen=changes[1]["hlc"]))
    assert [r["id"] for r in ack["refused"]] == [home["id"]]
    [entry] = _entries(server, "agent_communes")
    assert (entry.actor, entry.target, entry.communes) == ("tinh", agent, (COMMUNE, OTHER))
    assert entry.detail == {"agent": "Lò Thị Mai", "before": [COMMUNE, OTHER], "after": [COMMUNE]}


def test_a_real_laptop_takes_the_removed_communes_households_off_its_lists(
    supervisors: Server, laptops: MakeLaptop
) -> None:
    """As with a household that moved away: off the lists and the search, with a note; its
    history stays on the laptop."""
    server = supervisors
    agent = server.add_agent("Lò Thị Mai", [COMMUNE, OTHER])
    laptop = laptops("mai")
    laptop.enrol(agent)
    stays = laptop.add_household(COMMUNE, head="Hà Văn Tư")
    leaves = laptop.add_household(OTHER, head="Vàng Seo Sử")
    assert laptop.sync().ok
    with signed_in(server, "tinh") as client:
        page = client.get(f"/web/agents/{agent}/communes").text
        response = client.post(
            f"/web/agents/{agent}/communes", data={"csrf": csrf_of(page), "communes": COMMUNE}
        )
        assert response.status_code == 303
    result = laptop.sync()
    assert result.ok and result.moved == [("Vàng Seo Sử", OTHER)]
    assert laptop.ws.households.count() == 1
    assert laptop.ws.households.get(leaves).moved_to == OTHER
    assert laptop.ws.households.get(stays).moved_to is None
    assert laptop.ws.search.find("vang seo su") == []


def test_unchanged_communes_write_nothing(supervisors: Server) -> None:
    server = supervisors
    agent = server.add_agent("Lò Thị Mai", [COMMUNE])
    with signed_in(server, "xa1") as client:
        before = _state(server)
        response = client.post(
            f"/web/agents/{agent}/communes",
            data={"csrf": _csrf(client), "communes": f" {COMMUNE} "},
        )
        assert response.status_code == 303
        assert "Các xã phụ trách không thay đổi." in client.get(response.headers["location"]).text
    assert _state(server) == before


@pytest.mark.parametrize(
    ("communes", "status", "message"),
    [
        ("", 400, "Hãy nhập ít nhất một mã xã (5 chữ số)."),
        ("04001;abcde", 400, "Mã xã phải gồm đúng 5 chữ số: “abcde”."),
        (
            f"{COMMUNE} {OTHER}",
            403,
            f"Bạn chỉ giao được các xã thuộc địa bàn của mình; không giao được xã {OTHER}.",
        ),
    ],
)
def test_bad_communes_change_nothing(
    supervisors: Server, communes: str, status: int, message: str
) -> None:
    server = supervisors
    agent = server.add_agent("Lò Thị Mai", [COMMUNE])
    with signed_in(server, "xa1") as client:
        before = _state(server)
        response = client.post(
            f"/web/agents/{agent}/communes", data={"csrf": _csrf(client), "communes": communes}
        )
    assert response.status_code == status
    assert _message(response) == message
    assert _state(server) == before


# -- scope, unknown agents, CSRF -----------------------------------------------------------------


def test_a_commune_supervisor_neither_sees_nor_changes_another_communes_agent(
    supervisors: Server,
) -> None:
    server = supervisors
    theirs = server.add_agent("Vàng A Dính", [OTHER])
    shared = server.add_agent("Sùng Thị Mỷ", [COMMUNE, OTHER])
    mine = server.add_agent("Lò Thị Mai", [COMMUNE])
    theirs_laptop, shared_laptop = server.laptop(theirs), server.laptop(shared)
    with signed_in(server, "xa1") as client:
        listed = client.get("/web/agents").text
        assert "Lò Thị Mai" in listed
        assert "Vàng A Dính" not in listed and "Sùng Thị Mỷ" not in listed
        devices_page = client.get("/web/devices").text
        assert theirs_laptop.device_id not in devices_page
        token = _csrf(client)
        before = _state(server)
        for agent, status in ((theirs, 404), (shared, 403)):
            for step in ("communes", "deactivate"):
                assert client.get(f"/web/agents/{agent}/{step}").status_code == status
            changed = client.post(
                f"/web/agents/{agent}/communes", data={"csrf": token, "communes": COMMUNE}
            )
            assert changed.status_code == status
            stopped = client.post(f"/web/agents/{agent}/deactivate", data={"csrf": token})
            assert stopped.status_code == status
        for laptop, status in ((theirs_laptop, 404), (shared_laptop, 403)):
            path = f"/web/devices/{laptop.device_id}/revoke"
            assert client.get(path).status_code == status
            assert client.post(path, data={"csrf": token}).status_code == status
        assert "còn được giao xã ngoài địa bàn của bạn" in _message(
            client.get(f"/web/agents/{shared}/communes")
        )
        assert client.get(f"/web/agents/{mine}/communes").status_code == 200
    assert _state(server) == before
    assert not _unauthorised(theirs_laptop) and not _unauthorised(shared_laptop)


def test_unknown_agents_and_devices_are_not_found(supervisors: Server) -> None:
    """Unknown looks the same as out of scope (404), for the province too; nothing changes."""
    server = supervisors
    server.add_agent("Lò Thị Mai", [COMMUNE])
    with signed_in(server, "tinh") as client:
        token = _csrf(client)
        before = _state(server)
        for agent in ("no-such-agent", "x" * 5000):
            for step in ("communes", "deactivate"):
                assert client.get(f"/web/agents/{agent}/{step}").status_code == 404
            response = client.post(
                f"/web/agents/{agent}/communes", data={"csrf": token, "communes": COMMUNE}
            )
            assert response.status_code == 404
            assert _message(response) == "Không tìm thấy trang hoặc bản ghi này."
            assert (
                client.post(f"/web/agents/{agent}/deactivate", data={"csrf": token}).status_code
                == 404
            )
            path = f"/web/devices/{agent}/revoke"
            assert client.get(path).status_code == 404
            assert client.post(path, data={"csrf": token}).status_code == 404
    assert _state(server) == before


def test_no_action_without_the_csrf_token(supervisors: Server) -> None:
    server = supervisors
    agent = server.add_agent("Lò Thị Mai", [COMMUNE])
    laptop = server.laptop(agent)
    posts: list[tuple[str, dict[str, str]]] = [
        ("/web/agents", {"name": "Giàng A Pó", "communes": COMMUNE}),
        (f"/web/agents/{agent}/communes", {"communes": "04002"}),
        (f"/web/agents/{agent}/deactivate", {"reason": "nghỉ việc"}),
        (f"/web/devices/{laptop.device_id}/revoke", {"reason": "mất máy"}),
    ]
    with signed_in(server, "tinh") as client:
        before = _state(server)
        for path, data in posts:
            for token in ({}, {"csrf": "forged"}):
                response = client.post(path, data={**data, **token})
                assert response.status_code == 403, path
                assert "CSRF" in _message(response)
    assert _state(server) == before
    assert not _unauthorised(laptop)


def test_the_list_says_only_what_it_knows(supervisors: Server) -> None:
    """The message after an action is chosen from a fixed list; anything else in the query
    shows nothing (and is not a 422)."""
    with signed_in(supervisors, "xa1") as client:
        for done in ("<script>alert(1)</script>", "x" * 5000):
            response = client.get("/web/agents", params={"done": done})
            assert response.status_code == 200
            assert 'role="status"' not in response.text and "<script>" not in response.text
        assert 'role="status"' in client.get("/web/agents?done=added").text


def test_signed_out_gets_the_login_page(supervisors: Server) -> None:
    with supervisors.http() as client:
        for path in ("/web/agents", "/web/agents/x/communes", "/web/devices/x/revoke"):
            response = client.get(path)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/web/login?next=")


# -- deactivating an agent -----------------------------------------------------------------------


def test_deactivation_revokes_every_device_in_one_step(supervisors: Server) -> None:
    server = supervisors
    agent = server.add_agent("Lò Thị Mai", [COMMUNE])
    first, second = server.laptop(agent, "Máy cũ"), server.laptop(agent, "Máy mới")
    unused_code = server.enrol_code(agent)
    kept = server.add_agent("Hà Văn Tư", [COMMUNE])
    kept_laptop = server.laptop(kept)
    with signed_in(server, "xa1") as client:
        confirm = client.get(f"/web/agents/{agent}/deactivate").text
        assert "Máy cũ" in confirm and "Máy mới" in confirm
        assert "<strong>2 thiết bị</strong>" in confirm
        done = client.post(
            f"/web/agents/{agent}/deactivate",
            data={"csrf": csrf_of(confirm), "reason": "Nghỉ việc từ 01/12/2026"},
        )
        assert done.status_code == 303
        listed = client.get(done.headers["location"]).text
        assert "Ngừng hoạt động từ 23/11/2026" in listed
        assert "Đã ngừng hoạt động nhân viên thu" in listed
        # Done once: a second time, or a change of communes afterwards, is refused.
        before = _state(server)
        again = client.post(f"/web/agents/{agent}/deactivate", data={"csrf": csrf_of(confirm)})
        assert again.status_code == 400
        assert _message(again) == "Nhân viên thu Lò Thị Mai đã ngừng hoạt động"
        moved = client.post(
            f"/web/agents/{agent}/communes", data={"csrf": csrf_of(confirm), "communes": COMMUNE}
        )
        assert moved.status_code == 400
        assert _state(server) == before
        assert "đã ngừng hoạt động từ" in client.get(f"/web/agents/{agent}/deactivate").text
    assert _agents(server)[agent][2] is not None
    assert _unauthorised(first) and _unauthorised(second)
    assert not _unauthorised(kept_laptop)
    # The code made before the agent left no longer enrols a laptop.
    with server.http() as http:
        enrol = http.post(wire.ENROL_PATH, json={"code": unused_code, "device_name": "x"})
    assert enrol.status_code == 403
    stopped, *revocations = _entries(server, "agent_deactivate") + _entries(server, "device_revoke")
    assert (stopped.actor, stopped.target, stopped.communes) == ("xa1", agent, (COMMUNE,))
    assert stopped.detail == {
        "agent": "Lò Thị Mai",
        "devices_revoked": 2,
        "reason": "Nghỉ việc từ 01/12/2026",
    }
    assert sorted(e.target or "" for e in revocations) == sorted(
        [first.device_id, second.device_id]
    )
    assert {(e.actor, e.actor_kind, e.detail["reason"]) for e in revocations} == {
        ("xa1", "supervisor", "Nghỉ việc từ 01/12/2026")
    }


def test_a_too_long_reason_is_refused(supervisors: Server) -> None:
    server = supervisors
    agent = server.add_agent("Lò Thị Mai", [COMMUNE])
    laptop = server.laptop(agent)
    with signed_in(server, "tinh") as client:
        token = _csrf(client)
        before = _state(server)
        for path in (f"/web/agents/{agent}/deactivate", f"/web/devices/{laptop.device_id}/revoke"):
            response = client.post(path, data={"csrf": token, "reason": "x" * 501})
            assert response.status_code == 400
            assert _message(response) == "Lý do dài quá 500 ký tự."
    assert _state(server) == before
    assert not _unauthorised(laptop)


# -- revoking one device -------------------------------------------------------------------------


def test_a_revoked_device_gets_401_on_its_next_request(supervisors: Server) -> None:
    server = supervisors
    agent = server.add_agent("Lò Thị Mai", [COMMUNE])
    lost, other = server.laptop(agent, "Máy bị mất"), server.laptop(agent, "Máy dự phòng")
    with signed_in(server, "xa1") as client:
        listed = client.get("/web/devices").text
        assert f'href="/web/devices/{lost.device_id}/revoke"' in listed
        confirm = client.get(f"/web/devices/{lost.device_id}/revoke").text
        assert "Máy bị mất" in confirm and "Lò Thị Mai" in confirm
        assert "Xác nhận thu hồi" in confirm
        assert not _unauthorised(lost)  # nothing happens on the confirmation page
        done = client.post(
            f"/web/devices/{lost.device_id}/revoke",
            data={"csrf": csrf_of(confirm), "reason": "Mất máy ở chợ phiên"},
        )
        assert done.status_code == 303
        after = client.get(done.headers["location"]).text
        assert "Đã thu hồi thiết bị này lúc 23/11/2026" in after
        assert "Xác nhận thu hồi" not in after
        listed = client.get("/web/devices").text
        assert f'href="/web/devices/{lost.device_id}/revoke"' not in listed
        assert f'href="/web/devices/{other.device_id}/revoke"' in listed
        again = client.post(
            f"/web/devices/{lost.device_id}/revoke", data={"csrf": csrf_of(confirm)}
        )
        assert again.status_code == 400
        assert _message(again) == "Thiết bị này đã bị thu hồi trước đó"
    response = lost.upload(lost.batch([lost.record("household", household(COMMUNE))]))
    assert response.status_code == 401
    assert _unauthorised(lost) and not _unauthorised(other)
    [entry] = _entries(server, "device_revoke")
    assert (entry.actor, entry.actor_kind, entry.target) == ("xa1", "supervisor", lost.device_id)
    assert entry.detail["reason"] == "Mất máy ở chợ phiên"
    assert entry.detail["device_name"] == "Máy bị mất"


# -- the enrolment code's QR code ----------------------------------------------------------------


def test_the_new_enrolment_code_comes_with_its_qr_code(supervisors: Server) -> None:
    server = supervisors
    agent = server.add_agent("Lò Thị Mai", [COMMUNE])
    with signed_in(server, "xa1") as client:
        page = client.post(
            "/web/devices/enrol-code",
            data={"csrf": _csrf(client, "/web/devices"), "agent_id": agent, "valid_hours": "24"},
        ).text
    found = re.search(r'<p class="enrol-code">([A-Z0-9]{5}-[A-Z0-9]{5})</p>', page)
    assert found is not None
    code = found.group(1)
    svg = re.search(r'<svg [^>]*class="qr".*?</svg>', page, re.S)
    assert svg is not None
    # The picture is the QR code (not Micro QR) of exactly the code shown.
    expected = segno.make(code, error="m", micro=False)
    assert not expected.is_micro
    assert svg.group(0) == expected.svg_inline(
        scale=5, border=4, dark="#000", light="#fff", svgclass="qr", title=f"Mã QR: {code}"
    )
    # The code it shows enrols a laptop (dash and all).
    with server.http() as http:
        enrol = http.post(wire.ENROL_PATH, json={"code": code, "device_name": "Máy mới"})
    assert enrol.status_code == 200 and enrol.json()["agent_id"] == agent


def test_no_enrolment_code_for_a_deactivated_agent(supervisors: Server) -> None:
    """A deactivated agent is not offered on the devices page, and a code asked for them
    anyway (an old form, a script) is refused with nothing stored."""
    server = supervisors
    agent = server.add_agent("Lò Thị Mai", [COMMUNE])
    with signed_in(server, "xa1") as client:
        confirm = client.get(f"/web/agents/{agent}/deactivate").text
        done = client.post(
            f"/web/agents/{agent}/deactivate", data={"csrf": csrf_of(confirm), "reason": "Nghỉ"}
        )
        assert done.status_code == 303
        page = client.get("/web/devices").text
        assert f'value="{agent}"' not in page
        codes = server.count("enrol_codes")
        refused = client.post(
            "/web/devices/enrol-code",
            data={"csrf": csrf_of(page), "agent_id": agent, "valid_hours": "24"},
        )
    assert refused.status_code == 400
    assert "đã ngừng hoạt động" in _message(refused)
    assert server.count("enrol_codes") == codes
