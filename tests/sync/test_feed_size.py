"""What a first sync costs on the wire: a member change in the feed leaves out the field
clocks equal to its own, and the laptop still takes each field with the server's clock."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from fieldapp import syncstate
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from sync.server.schema import members
from tests.sync.conftest import START, Laptop, Server, household, member

COMMUNE = "04001"


def _family(laptop: Laptop, count: int = 4) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    home = household(COMMUNE)
    people = [member(home["id"], full_name=f"Lò Thị Hương {n}") for n in range(count)]
    records = [laptop.record("household", home), *(laptop.record("member", p) for p in people)]
    assert laptop.send(*records)["refused"] == []
    return home, people


def test_member_changes_carry_only_the_field_clocks_older_than_their_own(
    server: Server, tmp_path: Path
) -> None:
    sender = server.laptop(server.add_agent("A", [COMMUNE]))
    home, people = _family(sender, count=2)
    kept, edited = people
    # The second member's name and ethnicity change later; its relation is not sent.
    later = {k: v for k, v in edited.items() if k not in ("id", "relation")}
    later.update(full_name="Lò Thị Hạnh", ethnicity="Mông")
    update = sender.record("member", later, op="update", record_id=edited["id"])
    assert sender.send(update)["refused"] == []

    viewer = server.laptop(server.add_agent("V", [COMMUNE]))
    changes, cursor = viewer.pull()
    by_member = [c for c in changes if c["entity"] == "member"]
    first = next(c for c in by_member if c["id"] == kept["id"])
    assert "field_hlc" not in first
    last = [c for c in by_member if c["id"] == edited["id"]][-1]
    assert last["hlc"] == update["hlc"] and last["data"]["full_name"] == "Lò Thị Hạnh"
    with server.engine.connect() as conn:
        stored = dict(
            conn.execute(
                sa.select(members.c.field_hlc).where(members.c.id == edited["id"])
            ).scalar_one()
        )
    assert stored["relation"] != update["hlc"]
    # Fields sent again with an unchanged value keep their older clock, as relation does.
    older = {k: v for k, v in stored.items() if v != update["hlc"]}
    assert last["field_hlc"] == older and "relation" in older
    assert stored["full_name"] == stored["ethnicity"] == update["hlc"]
    households = [c for c in changes if c["entity"] == "household"]
    assert set(households[0]["field_hlc"]) == set(home) - {"id"}  # households are sent whole

    # The laptop takes each field with the clock the server keeps for it.
    clock = FixedClock(START + dt.timedelta(days=1))
    with Workspace.open(tmp_path, clock=clock) as ws:
        syncstate.apply_page(ws.store, [dict(c) for c in changes], new_cursor=cursor)
        for person in (kept, edited):
            row = ws.store.one("SELECT * FROM member WHERE id = ?", (person["id"],))
            assert row is not None
            with server.engine.connect() as conn:
                on_server = conn.execute(
                    sa.select(members.c.data, members.c.field_hlc).where(
                        members.c.id == person["id"]
                    )
                ).one()
            assert json.loads(row["clocks"]) == dict(on_server.field_hlc)
            assert row["full_name"] == on_server.data["full_name"]
            assert row["relation"] == on_server.data["relation"]
