"""Receipts, their voids and pledge events belong to the agent who issued the receipt or made the
pledge: another agent's device is refused record by record, and nothing of it is stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sync.protocol import wire
from sync.server.schema import changes
from sync.server.web import overview
from tests.sync import client_fixtures
from tests.sync.client_fixtures import COMMUNE, laptop_factory, server_counts
from tests.sync.conftest import Laptop, Server, household, member, new_id, pledge, receipt

PAID_AT = "2026-11-23T08:10:00.000Z"
NOT_YOURS = "not_your_record"

MakeLaptop = Callable[[str], client_fixtures.Laptop]


def _event(pledge_id: str, status: str, receipt_id: str | None = None) -> dict[str, Any]:
    return {
        "id": new_id(),
        "pledge_id": pledge_id,
        "status": status,
        "at": PAID_AT,
        "reason": None if status != "cancelled" else "Hộ đổi ý",
        "receipt_id": receipt_id,
    }


def _void(receipt_id: str) -> dict[str, Any]:
    return {"id": new_id(), "receipt_id": receipt_id, "reason": "In sai tên", "at": PAID_AT}


@dataclass
class Paid:
    """A household with a member whose pledge was paid on a receipt, all by one laptop."""

    household_id: str
    member_id: str
    pledge_id: str
    receipt_id: str


def _pay(laptop: Laptop, book_id: str, number: int) -> Paid:
    home = household(COMMUNE)
    person = member(home["id"])
    promise = pledge(home["id"], person["id"])
    bill = receipt(home["id"], book_id, number, pledge_ids=[promise["id"]])
    ack = laptop.send(
        laptop.record("household", home),
        laptop.record("member", person),
        laptop.record("pledge", promise),
        laptop.record("pledge_event", _event(promise["id"], "pledged")),
        laptop.record("receipt", bill),
        laptop.record("pledge_event", _event(promise["id"], "paid", bill["id"])),
    )
    assert ack["refused"] == [], ack["refused"]
    return Paid(home["id"], person["id"], promise["id"], bill["id"])


def _facts(server: Server) -> dict[str, int]:
    tables = ("receipts", "receipt_voids", "pledges", "pledge_events")
    return {table: server.count(table) for table in tables}


def _feed_from(server: Server, device_id: str) -> list[str]:
    with server.engine.connect() as conn:
        rows = conn.execute(
            sa.select(changes.c.entity).where(changes.c.origin_device_id == device_id)
        )
        return [row.entity for row in rows]


def _agent_progress(server: Server, agent_id: str) -> int:
    with server.engine.connect() as conn:
        shown = overview.progress(conn, None, "2026-11", server.clock)
    return sum(row.achieved for row in shown.agents if row.key == agent_id)


def test_another_agent_cannot_void_pay_or_cancel_what_is_not_theirs(server: Server) -> None:
    """Agent C voids A's receipt, marks A's pledge paid and cancelled, takes money for A's
    pledge on a receipt of C's own book, and pays C's own pledge on A's receipt: each record
    is refused as not C's, with the reason in both languages; C's own records in the same batch
    are taken, and nothing of the refused ones is stored, fed to laptops or counted."""
    agent_a = server.add_agent("Trần Thị Bình", [COMMUNE])
    agent_c = server.add_agent("Lê Văn Cường", [COMMUNE])
    book_a = server.add_book(agent_a, "AA/26", 1, 50)
    book_c = server.add_book(agent_c, "CC/26", 1, 50)
    a, c = server.laptop(agent_a, "máy A"), server.laptop(agent_c, "máy C")
    paid = _pay(a, book_a, 1)
    open_home = household(COMMUNE)
    open_person = member(open_home["id"])
    open_pledge = pledge(open_home["id"], open_person["id"])
    assert (
        a.send(
            a.record("household", open_home),
            a.record("member", open_person),
            a.record("pledge", open_pledge),
        )["refused"]
        == []
    )
    before = _facts(server)
    progress_of_a = _agent_progress(server, agent_a)

    c.now_ms = a.now_ms + 60_000
    own_pledge = pledge(paid.household_id, paid.member_id)
    takes_money = receipt(
        open_home["id"], book_c, 1, series="CC/26", pledge_ids=[open_pledge["id"]]
    )
    records = [
        void := c.record("receipt_void", _void(paid.receipt_id)),
        marks_paid := c.record("pledge_event", _event(open_pledge["id"], "paid")),
        cancels := c.record("pledge_event", _event(paid.pledge_id, "cancelled")),
        covers := c.record("receipt", takes_money),
        c.record("pledge", own_pledge),
        c.record("pledge_event", _event(own_pledge["id"], "pledged")),
        on_foreign := c.record("pledge_event", _event(own_pledge["id"], "paid", paid.receipt_id)),
    ]
    ack = c.send(*records)

    refused = {r["seq"]: r for r in ack["refused"]}
    assert sorted(refused) == sorted(
        r["seq"] for r in (void, marks_paid, cancels, covers, on_foreign)
    )
    assert {r["code"] for r in refused.values()} == {NOT_YOURS}
    assert ack["accepted"] == [records[4]["seq"], records[5]["seq"]]
    assert "another agent" in refused[void["seq"]]["en"]
    assert "nhân viên thu khác" in refused[void["seq"]]["vi"]
    assert paid.receipt_id in refused[void["seq"]]["en"]
    assert open_pledge["id"] in refused[marks_paid["seq"]]["en"]
    assert open_pledge["id"] in refused[covers["seq"]]["en"]
    assert paid.receipt_id in refused[on_foreign["seq"]]["vi"]

    after = _facts(server)
    assert after == {
        **before,
        "pledges": before["pledges"] + 1,
        "pledge_events": before["pledge_events"] + 1,
    }
    assert _feed_from(server, c.device_id) == ["pledge", "pledge_event"]
    assert _agent_progress(server, agent_c) == 0
    assert _agent_progress(server, agent_a) == progress_of_a == 1
    # Sent again in a batch of their own: refused again, and nothing changes.
    again = c.upload(c.batch(records[:4]))
    assert again.status_code == 200
    assert {r["code"] for r in again.json()["refused"]} == {NOT_YOURS}
    assert _facts(server) == after


def test_the_agent_s_other_laptop_may_void_and_change_their_records(server: Server) -> None:
    """Ownership is the agent's, not the device's: A's new laptop voids A's receipt and
    reopens A's pledge; both are stored and reach the feed."""
    agent_a = server.add_agent("Trần Thị Bình", [COMMUNE])
    book_a = server.add_book(agent_a, "AA/26", 1, 50)
    old, new = server.laptop(agent_a, "máy cũ"), server.laptop(agent_a, "máy mới")
    paid = _pay(old, book_a, 1)
    new.now_ms = old.now_ms + 60_000
    ack = new.send(
        new.record("receipt_void", _void(paid.receipt_id)),
        new.record("pledge_event", _event(paid.pledge_id, "pledged")),
    )
    assert ack["refused"] == [] and ack["accepted"] == [1, 2]
    assert server.count("receipt_voids") == 1 and server.count("pledge_events") == 3
    assert _feed_from(server, new.device_id) == ["receipt_void", "pledge_event"]


def test_an_unknown_pledge_or_receipt_is_still_refused_as_unknown(server: Server) -> None:
    """What the server has never seen keeps its own reason: not mistaken for another's."""
    laptop = server.laptop(server.add_agent("Lê Văn Cường", [COMMUNE]))
    ack = laptop.send(
        laptop.record("receipt_void", _void(new_id())),
        laptop.record("pledge_event", _event(new_id(), "paid")),
    )
    assert [r["code"] for r in ack["refused"]] == ["unknown_receipt", "unknown_pledge"]


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    yield from laptop_factory(server, tmp_path)


def test_paying_another_agents_pledge_on_the_laptop_is_refused_with_its_reason(
    server: Server, laptops: MakeLaptop
) -> None:
    """C pulls A's open pledge in the commune they share and takes the money for it on C's
    laptop: the sync refuses the receipt and its paid event as not C's, the laptop keeps them
    with the reason, and the server still shows A's pledge open and C credited with nothing."""
    a, c = laptops("a"), laptops("c")
    agent_a = server.add_agent("Trần Thị Bình", [COMMUNE])
    agent_c = server.add_agent("Lê Văn Cường", [COMMUNE])
    server.add_book(agent_c, "CC/26", 1, 50)
    a.enrol(agent_a)
    c.enrol(agent_c)
    home = a.add_household()
    head = a.ws.members.add(home, full_name="Nguyễn Văn An", relation="chủ hộ", sex="male")
    [promise] = a.ws.pledges.pledge_bhyt_household(
        home, member_ids=[head.id], months=12, start=dt.date(2026, 12, 1)
    )
    assert a.sync().ok and c.sync().ok
    before = server_counts(server)

    c.ws.receipts.issue(pledge_ids=[promise.id])
    result = c.sync()
    assert not result.ok
    assert sorted((r.entity, r.code) for r in result.refused) == [
        (wire.PLEDGE_EVENT, NOT_YOURS),
        (wire.RECEIPT, NOT_YOURS),
    ]
    assert all(promise.id in r.en and promise.id in r.vi for r in result.refused)
    assert server_counts(server) == before
    assert _agent_progress(server, agent_c) == 0
    kept = c.client().status().refused
    assert sorted(r.entity for r in kept) == [wire.PLEDGE_EVENT, wire.RECEIPT]
