"""What a first sync costs on the wire: change-feed pages go gzip-compressed to a client that
takes it, and a member change leaves out the field clocks equal to its own."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from fieldapp import syncstate
from fieldapp.workspace import Workspace
from sync.protocol import wire
from sync.protocol.clock import FixedClock
from sync.server.app import _accepts_gzip
from sync.server.schema import members
from tests.sync.conftest import START, Laptop, Server, household, member

COMMUNE = "04001"


def _family(laptop: Laptop, count: int = 4) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    home = household(COMMUNE)
    people = [member(home["id"], full_name=f"Lò Thị Hương {n}") for n in range(count)]
    records = [laptop.record("household", home), *(laptop.record("member", p) for p in people)]
    assert laptop.send(*records)["refused"] == []
    return home, people


def _raw(laptop: Laptop, encoding: str) -> tuple[dict[str, str], bytes]:
    with laptop.http.stream(
        "GET", wire.CHANGES_PATH, params={"since": 0}, headers={"Accept-Encoding": encoding}
    ) as response:
        assert response.status_code == 200
        return dict(response.headers), b"".join(response.iter_raw())


def test_a_page_is_gzip_when_asked_and_plain_when_not(server: Server) -> None:
    sender = server.laptop(server.add_agent("A", [COMMUNE]))
    _family(sender)
    viewer = server.laptop(server.add_agent("V", [COMMUNE]))
    zipped_head, zipped = _raw(viewer, "gzip")
    plain_head, plain = _raw(viewer, "identity")
    assert zipped_head["content-encoding"] == "gzip" and zipped[:2] == b"\x1f\x8b"
    assert "content-encoding" not in plain_head
    assert zipped_head["vary"] == plain_head["vary"] == "Accept-Encoding"
    assert int(zipped_head["content-length"]) == len(zipped) < len(plain)
    page = wire.validate_change_page(json.loads(gzip.decompress(zipped)))
    assert page == json.loads(plain)
    assert [c["entity"] for c in page["changes"]].count("member") == 4
    # httpx asks for gzip by default and decodes it: the same page.
    response = viewer.http.get(wire.CHANGES_PATH, params={"since": 0})
    assert response.headers["content-encoding"] == "gzip" and response.json() == page


def test_accept_encoding_is_read_with_its_weights() -> None:
    assert _accepts_gzip("gzip, deflate, br") and _accepts_gzip("br;q=1.0, GZIP;q=0.5")
    assert _accepts_gzip("*")
    assert not _accepts_gzip("") and not _accepts_gzip("identity")
    assert not _accepts_gzip("gzip;q=0") and not _accepts_gzip("deflate, gzip;q=0.0")


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
