"""A batch's records are written to their tables and to the change feed with their JSON encoded
once for both, and read back the same whichever engine wrote them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from sync.protocol.clock import FixedClock
from sync.server import batches
from sync.server.app import create_app
from sync.server.schema import changes, households, members, takes_json_text, visits
from tests.sync.conftest import START, Server, household, member, serving, visit

COMMUNE = "04001"


def _send_family(server: Server) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Two households, a member and a visit from one laptop, in one batch."""
    agent = server.add_agent("Lò Thị Mai", [COMMUNE])
    laptop = server.laptop(agent)
    homes = [household(COMMUNE, head_name="Giàng Seo Sử"), household(COMMUNE, notes="Nhà sàn")]
    person = member(homes[0]["id"], full_name="Lò Thị Hương")
    went = visit(homes[1]["id"], agent, topics=["bhyt_household"], materials=["Tờ rơi BHYT"])
    records = [laptop.record("household", home) for home in homes]
    records += [laptop.record("member", person), laptop.record("visit", went)]
    ack = laptop.send(*records)
    assert ack["refused"] == [] and len(ack["accepted"]) == 4, ack
    return homes, person, went


def _stored(server: Server) -> dict[str, Any]:
    """What the tables and the feed hold, as read back through the engine."""
    with server.engine.connect() as conn:
        fed = {
            row.entity_id: (row.entity, row.data, row.field_hlc)
            for row in conn.execute(sa.select(changes).where(changes.c.entity_id.is_not(None)))
        }
        homes = conn.execute(sa.select(households))
        people = conn.execute(sa.select(members))
        return {
            "households": {r.id: (r.data, r.field_hlc) for r in homes},
            "members": {r.id: (r.data, r.field_hlc) for r in people},
            "visits": {r.id: r.data for r in conn.execute(sa.select(visits))},
            "feed": fed,
        }


def _check_stored(
    stored: dict[str, Any],
    homes: list[dict[str, Any]],
    person: dict[str, Any],
    went: dict[str, Any],
) -> None:
    for home in homes:
        data, clocks = stored["households"][home["id"]]
        assert data == home
        assert set(clocks) == set(home) - {"id"}
        assert stored["feed"][home["id"]] == ("household", data, clocks)
    data, clocks = stored["members"][person["id"]]
    assert data == person
    assert stored["feed"][person["id"]][:2] == ("member", data)
    assert stored["visits"][went["id"]] == went
    assert stored["feed"][went["id"]] == ("visit", went, None)


def test_each_value_of_a_batch_is_encoded_once(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A household's data and field clocks, a member's, and a visit's data: each is encoded
    once though it goes to its table and to the feed, and both read back as sent."""
    encoded: list[Any] = []

    def counting(value: Any) -> str:
        encoded.append(value)
        return json.dumps(value)

    monkeypatch.setattr(batches, "dumps_json", counting)
    with server.engine.connect() as conn:
        assert takes_json_text(conn)
    homes, person, went = _send_family(server)
    # 2 per household, 2 for the member, 1 for the visit (a visit's feed row has no clocks);
    # each would be encoded twice if the table and the feed encoded their own.
    assert len(encoded) == 7, encoded
    assert len({id(value) for value in encoded}) == 7
    _check_stored(_stored(server), homes, person, went)


@pytest.fixture
def plain_server(database_url: str) -> Iterator[Server]:
    """The real server on an engine made without the server's JSON encoder."""
    engine = sa.create_engine(database_url)
    clock = FixedClock(START)
    with serving(create_app(engine, clock=clock), engine, clock, database_url) as running:
        yield running


def test_an_engine_without_the_encoder_stores_the_same(plain_server: Server) -> None:
    """An engine made elsewhere (json.dumps as its encoder) gets plain values, not encoded
    text it would encode again as a JSON string."""
    with plain_server.engine.connect() as conn:
        assert not takes_json_text(conn)
    homes, person, went = _send_family(plain_server)
    _check_stored(_stored(plain_server), homes, person, went)
