"""Enrolment on an open workspace: visits recorded next carry the new agent and are accepted."""

from __future__ import annotations

from pathlib import Path

from fieldapp.workspace import Workspace
from sync.client import SyncClient
from sync.protocol.clock import FixedClock
from tests.sync.client_fixtures import COMMUNE
from tests.sync.conftest import START, Server


def test_visit_after_enrolment_carries_the_enrolled_agent_without_reopening(
    server: Server, tmp_path: Path
) -> None:
    """As `fieldapp sync enrol` and the Sync page do it: enrol through the open store, record a
    visit with the services already open, and the server takes it as the agent's."""
    ws = Workspace.open(tmp_path / "laptop", clock=FixedClock(START))
    try:
        visits = ws.visits
        agent = server.add_agent("Trần Thị Bình", [COMMUNE])
        with SyncClient(ws) as client:
            enrolment = client.enrol(server.base_url, server.enrol_code(agent))
        assert enrolment.agent_id == agent == ws.agent_id
        home = ws.households.add(
            province_code="04", commune_code=COMMUNE, village="Bản Phố", head_name="Lò Văn Tâm"
        )
        visit = visits.record(home.id, outcome="consulted")
        assert visit.agent_id == agent
        with SyncClient(ws) as client:
            result = client.run()
        assert result.ok, result.as_dict()
        assert result.accepted == 2 and result.refused == []
        assert ws.pending_sync() == 0
    finally:
        ws.close()
