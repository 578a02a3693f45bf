"""A member's participation (BHYT group, card dates, BHXH state) travels like any member field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.server import admin
from tests.sync.client_fixtures import COMMUNE, Laptop, laptop_factory
from tests.sync.conftest import Server, household, member

PARTICIPATION = {
    "bhyt_group": "near_poor",
    "bhyt_valid_from": "2027-01-03",
    "bhyt_expiry": "2028-01-02",
    "bhxh_participating": True,
    "bhxh_income": 1_500_000,
    "bhxh_paid_through": "2026-12-31",
    "bhxh_supported_months": 24,
    "old_id": "063123456",
}


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[Any]:
    yield from laptop_factory(server, tmp_path)


def test_participation_fields_reach_another_agent(server: Server) -> None:
    a = server.laptop(server.add_agent("A", [COMMUNE]))
    home = household(COMMUNE)
    person = member(home["id"], **PARTICIPATION)
    ack = a.send(a.record("household", home), a.record("member", person))
    assert ack["refused"] == []
    viewer = server.laptop(server.add_agent("V", [COMMUNE]))
    changes, _ = viewer.pull()
    (pulled,) = [c for c in changes if c["entity"] == "member"]
    assert {k: pulled["data"][k] for k in PARTICIPATION} == PARTICIPATION


def test_a_member_from_an_older_laptop_without_the_new_fields_is_taken(server: Server) -> None:
    """Laptops in the field before the per-person rules send members without these fields."""
    a = server.laptop(server.add_agent("A", [COMMUNE]))
    home = household(COMMUNE)
    person = member(home["id"])
    assert not set(PARTICIPATION) - {"bhyt_expiry"} & set(person)
    ack = a.send(a.record("household", home), a.record("member", person))
    assert ack["refused"] == []
    assert server.count("members") == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bhyt_group", "household_head"),
        ("bhyt_valid_from", "2027-02-30"),
        ("bhxh_participating", "yes"),
        ("bhxh_income", -1),
        ("bhxh_income", 1.5),
        ("bhxh_supported_months", 5000),
        ("bhxh_supported_months", -1),
        ("old_id", "9" * 40),
    ],
)
def test_a_bad_participation_value_refuses_the_member_with_a_reason(
    server: Server, field: str, value: object
) -> None:
    a = server.laptop(server.add_agent("A", [COMMUNE]))
    home = household(COMMUNE)
    ack = a.send(
        a.record("household", home), a.record("member", member(home["id"], **{field: value}))
    )
    (refusal,) = ack["refused"]
    assert refusal["code"] == "invalid_field"
    assert f"member.{field}" in refusal["en"]
    assert server.count("members") == 0


def test_a_payment_on_one_laptop_updates_the_card_on_the_other(
    server: Server, laptops: Any
) -> None:
    a: Laptop = laptops("a")
    b: Laptop = laptops("b")
    agent = server.add_agent("Trần Thị Bình", [COMMUNE])
    with server.engine.begin() as conn:
        admin.add_receipt_book(
            conn, agent_id=agent, series="LC-TB-26", first=1, last=10, clock=server.clock
        )
    a.enrol(agent)
    b.enrol(server.add_agent("Lê Văn Cường", [COMMUNE]))
    assert a.sync().ok
    home = a.add_household()
    person = a.ws.members.add(home, full_name="Lò Thị Hương", bhyt_group="household")
    pledges = a.ws.pledges.pledge_bhyt_household(
        home, member_ids=[person.id], months=12, start=a.ws.today()
    )
    a.ws.receipts.issue(pledge_ids=[p.id for p in pledges])
    paid = a.ws.members.get(person.id)
    assert paid.bhyt_valid_from is not None
    assert a.sync().ok
    assert b.sync().ok
    seen = b.ws.members.get(person.id)
    assert (seen.bhyt_group, seen.bhyt_valid_from, seen.bhyt_expiry) == (
        "household",
        paid.bhyt_valid_from,
        paid.bhyt_expiry,
    )
    assert dt.date.fromisoformat(seen.bhyt_valid_from or "") > a.ws.today()


def test_a_member_phone_reaches_another_agent(server: Server) -> None:
    a = server.laptop(server.add_agent("A", [COMMUNE]))
    home = household(COMMUNE)
    person = member(home["id"], phone="0987111222")
    ack = a.send(a.record("household", home), a.record("member", person))
    assert ack["refused"] == []
    changes, _ = server.laptop(server.add_agent("V", [COMMUNE])).pull()
    (pulled,) = [c for c in changes if c["entity"] == "member"]
    assert pulled["data"]["phone"] == "0987111222"


def test_a_member_without_a_phone_from_an_older_laptop_is_taken(server: Server) -> None:
    a = server.laptop(server.add_agent("A", [COMMUNE]))
    home = household(COMMUNE)
    person = member(home["id"])
    assert "phone" not in person
    ack = a.send(a.record("household", home), a.record("member", person))
    assert ack["refused"] == []
    assert server.count("members") == 1


@pytest.mark.parametrize("value", ["9" * 40, 912345678])
def test_a_bad_member_phone_refuses_the_member(server: Server, value: object) -> None:
    a = server.laptop(server.add_agent("A", [COMMUNE]))
    home = household(COMMUNE)
    ack = a.send(a.record("household", home), a.record("member", member(home["id"], phone=value)))
    (refusal,) = ack["refused"]
    assert refusal["code"] == "invalid_field"
    assert "member.phone" in refusal["en"]
    assert server.count("members") == 0


def test_a_phone_set_on_one_laptop_is_searchable_on_the_other(server: Server, laptops: Any) -> None:
    """Added with the member, then changed as an edit: both reach the other laptop, whose
    search finds the member by the number."""
    a: Laptop = laptops("a")
    b: Laptop = laptops("b")
    a.enrol(server.add_agent("Trần Thị Bình", [COMMUNE]))
    b.enrol(server.add_agent("Lê Văn Cường", [COMMUNE]))
    home = a.add_household()
    person = a.ws.members.add(home, full_name="Lò Thị Hương", phone="+84 987 111 222")
    assert person.phone == "0987111222"
    assert a.sync().ok
    assert b.sync().ok
    assert b.ws.members.get(person.id).phone == "0987111222"
    assert person.id in [h.member_id for h in b.ws.search.find("111222")]

    a.ws.members.update(person.id, phone="0365432100")
    outbox = a.ws.store.one(
        "SELECT data FROM outbox WHERE entity = 'member' AND op = 'update' ORDER BY seq DESC"
    )
    assert outbox is not None and '"phone":"0365432100"' in outbox["data"]
    assert a.sync().ok
    assert b.sync().ok
    assert b.ws.members.get(person.id).phone == "0365432100"
    assert person.id in [h.member_id for h in b.ws.search.find("0365432100")]
    assert person.id not in [h.member_id for h in b.ws.search.find("0987111222")]
