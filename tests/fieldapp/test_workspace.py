"""The workspace's own small services: the agent's name and phone kept in the store's meta."""

from __future__ import annotations

from pathlib import Path

from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock


def test_set_agent_is_kept_across_reopening(
    workspace: Workspace, tmp_path: Path, clock: FixedClock
) -> None:
    """set_agent stores a cleaned (NFC, trimmed) name and phone that a reopened store still has."""
    assert workspace.agent_name == "" and workspace.agent_phone == ""
    before = workspace.pending_sync()
    workspace.set_agent(name="  Lo\u0300 Thi\u0323  Mai ", phone=" 0912 345 678 ")
    assert workspace.agent_name == "Lò Thị Mai"
    assert workspace.agent_phone == "0912 345 678"
    assert workspace.pending_sync() == before
    workspace.close()
    again = Workspace.open(tmp_path / "data", clock=clock)
    try:
        assert (again.agent_name, again.agent_phone) == ("Lò Thị Mai", "0912 345 678")
    finally:
        again.close()
