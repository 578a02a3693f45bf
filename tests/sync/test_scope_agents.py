"""A supervisor acts on an agent only when every commune of the agent is theirs (admins: all)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa

from sync.server import admin
from sync.server.schema import enrol_codes
from tests.sync.conftest import Server, new_id
from tests.sync.test_web import add_supervisor, csrf_of, signed_in

COMMUNE = "04001"
OTHER = "04099"
SHORT = "Nộp thiếu vì thu hộ xã bên"


@dataclass
class Scene:
    """An agent of one commune, and one who works in that commune and another."""

    local_agent: str
    shared_agent: str


@pytest.fixture
def scene(server: Server) -> Scene:
    add_supervisor(server, "tinh", "admin", [])
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    add_supervisor(server, "xa12", "commune", [COMMUNE, OTHER])
    local_agent = server.add_agent("Trần Thị Bình", [COMMUNE])
    shared_agent = server.add_agent("Lê Văn Cường", [COMMUNE, OTHER])
    with server.engine.begin() as conn:
        for agent_id, count in ((local_agent, 4), (shared_agent, 10)):
            admin.set_target(
                conn,
                agent_id=agent_id,
                scheme="bhyt",
                month="2026-11",
                count=count,
                clock=server.clock,
            )
    laptop = server.laptop(shared_agent, "máy-của-cường")
    handover = {
        "id": new_id(),
        "day": "2026-11-23",
        "scheme": "all",
        "expected": 200_000,
        "handed_over": 150_000,
        "difference": -50_000,
        "reason": SHORT,
        "at": "2026-11-23T00:30:00.000Z",
    }
    assert laptop.send(laptop.record("cash_handover", handover))["refused"] == []
    server.enrol_code(shared_agent)
    return Scene(local_agent, shared_agent)


def _codes(server: Server, agent_id: str) -> int:
    with server.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(enrol_codes)
                .where(enrol_codes.c.agent_id == agent_id)
            ).scalar_one()
        )


def _mint(client: httpx.Client, agent_id: str) -> httpx.Response:
    csrf = csrf_of(client.get("/web/devices").text)
    return client.post(
        "/web/devices/enrol-code", data={"csrf": csrf, "agent_id": agent_id, "valid_hours": "24"}
    )


def test_a_commune_supervisor_cannot_mint_a_code_for_an_agent_who_also_works_elsewhere(
    server: Server, scene: Scene
) -> None:
    """Minting an enrolment code for an agent of two communes, from a supervisor of one of them,
    is refused (403, with the reason) and no code is made: the new laptop would pull the other
    commune's households and write there. Their own commune's agent still gets a code."""
    before = _codes(server, scene.shared_agent)
    with signed_in(server, "xa1") as client:
        refused = _mint(client, scene.shared_agent)
        assert refused.status_code == 403
        assert "xã ngoài địa bàn" in refused.text
        assert "enrol-code" not in refused.text and "Lê Văn Cường" not in refused.text
        assert _mint(client, scene.local_agent).status_code == 200
    assert _codes(server, scene.shared_agent) == before
    assert _codes(server, scene.local_agent) == 1


def test_a_supervisor_of_all_the_agents_communes_or_the_province_may_act(
    server: Server, scene: Scene
) -> None:
    """Whoever covers every commune of the agent sees them and mints their codes."""
    before = _codes(server, scene.shared_agent)
    for username in ("xa12", "tinh"):
        with signed_in(server, username) as client:
            assert "Lê Văn Cường" in client.get("/web/devices").text
            made = _mint(client, scene.shared_agent)
            assert made.status_code == 200 and 'class="enrol-code"' in made.text
    assert _codes(server, scene.shared_agent) == before + 2


def test_a_commune_supervisor_does_not_see_an_agent_who_also_works_elsewhere(
    server: Server, scene: Scene
) -> None:
    """The agent of two communes, their devices, codes, targets and cash handovers are not on
    the pages or exports of a supervisor of one commune; the commune's own figures still are."""
    with signed_in(server, "xa1") as client:
        pages = [
            client.get("/web/?month=2026-11").text,
            client.get("/web/devices").text,
            client.get("/web/handovers?month=2026-11").text,
            client.get(f"/web/handovers?month=2026-11&agent={scene.shared_agent}").text,
        ]
        for page in pages:
            assert "Lê Văn Cường" not in page and "máy-của-cường" not in page
            assert SHORT not in page
        assert "Trần Thị Bình" in pages[1]
        exported = client.get(
            f"/web/export/handovers.csv?month=2026-11&agent={scene.shared_agent}"
        ).content.decode("utf-8-sig")
        assert len(list(csv.reader(io.StringIO(exported)))) == 1
        progress = client.get("/web/export/progress.csv?month=2026-11").content.decode()
        rows = list(csv.DictReader(io.StringIO(progress.lstrip("\ufeff"))))
    assert "Lê Văn Cường" not in progress
    # The commune's target is still the sum over every agent assigned to it.
    commune = next(r for r in rows if r["Mã"] == COMMUNE and r["Chế độ"].startswith("BHYT"))
    assert commune["Chỉ tiêu"] == "14"
