"""An open workspace follows the agent the store names: enrolment takes effect without reopening."""

from __future__ import annotations

from fieldapp.store import loads
from fieldapp.workspace import Workspace

ENROLLED = "0190f1c2-0000-7000-8000-00000000a9e1"


def _household(ws: Workspace) -> str:
    home = ws.households.add(
        province_code="04", commune_code="04001", village="Bản Phố", head_name="Giàng Seo Sử"
    )
    return str(home.id)


def test_visits_carry_the_agent_the_store_names_now(workspace: Workspace) -> None:
    """Before enrolment visits carry the device id; once the store names an agent (as
    enrolment writes it), the same open services, and references to them, use it at once."""
    home = _household(workspace)
    visits = workspace.visits
    before = visits.record(home, outcome="consulted")
    assert before.agent_id == workspace.store.device_id == workspace.agent_id

    # What SyncClient.enrol writes into the store of an open workspace.
    workspace.store.set_meta("agent_id", ENROLLED)

    assert workspace.agent_id == ENROLLED and visits.agent_id == ENROLLED
    after = visits.record(home, outcome="pledged")
    assert after.agent_id == ENROLLED
    assert workspace.visits.get(after.id).agent_id == ENROLLED
    sent = workspace.store.one("SELECT data FROM outbox WHERE entity_id = ?", (after.id,))
    assert sent is not None and loads(sent["data"])["agent_id"] == ENROLLED
    # The earlier visit is a fact: it keeps the agent it was recorded with.
    assert workspace.visits.get(before.id).agent_id == workspace.store.device_id


def test_assigning_the_agent_after_enrolment_is_harmless(workspace: Workspace) -> None:
    """Callers that refreshed the agent by hand after enrolment keep working."""
    workspace.store.set_meta("agent_id", ENROLLED)
    workspace.visits.agent_id = workspace.agent_id
    visit = workspace.visits.record(_household(workspace), outcome="consulted")
    assert visit.agent_id == ENROLLED


def test_an_empty_agent_in_the_store_means_the_device(workspace: Workspace) -> None:
    """An agent id written empty names no agent: visits carry the device id, as before
    enrolment, and the workspace says the same."""
    workspace.store.set_meta("agent_id", "")
    visit = workspace.visits.record(_household(workspace), outcome="consulted")
    assert visit.agent_id == workspace.agent_id == workspace.store.device_id
