"""A receipt book entered by hand on a laptop reaches the province by itself: it becomes the
sending device's agent's book (origin hand_entered) and its receipts are taken without a
supervisor registering it — real laptops (real Workspaces) and the real server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sync.protocol import wire
from sync.protocol.fields import MAX_BOOK_SIZE, MAX_RECEIPT_NUMBER
from sync.protocol.hlc import hlc_format
from sync.server.schema import receipt_books
from tests.sync.client_fixtures import COMMUNE, Laptop, laptop_factory
from tests.sync.conftest import START, Server, household, new_id, receipt

MakeLaptop = Callable[[str], Laptop]
SERIES = "LC-TAY-26"


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    yield from laptop_factory(server, tmp_path)


def _paid_receipt(laptop: Laptop) -> str:
    """A household whose head pledged BHYT and paid on the next receipt number; its id."""
    ws = laptop.ws
    home = laptop.add_household()
    head = ws.members.add(home, full_name="Nguyễn Văn An", relation="chủ hộ", sex="male")
    [pledge] = ws.pledges.pledge_bhyt_household(
        home, member_ids=[head.id], months=12, start=dt.date(2026, 12, 1)
    )
    return str(ws.receipts.issue(pledge_ids=[pledge.id]).id)


def _books(server: Server) -> list[tuple[str, str, str, int, int, str]]:
    with server.engine.connect() as conn:
        rows = conn.execute(sa.select(receipt_books).order_by(receipt_books.c.created_at))
        return [(r.id, r.agent_id, r.series, r.first, r.last, r.origin) for r in rows]


def test_a_book_entered_by_hand_reaches_the_server_before_its_receipts(
    server: Server, laptops: MakeLaptop
) -> None:
    """The book's outbox row comes before its receipt's; one sync is accepted whole and the
    server holds the book under the laptop's id, as the agent's hand-entered book."""
    agent = server.add_agent("Lò Thị Hoa", [COMMUNE])
    laptop = laptops("a")
    laptop.enrol(agent)
    book = laptop.ws.receipts.add_book(series=SERIES.lower(), first=1, last=50)
    receipt_id = _paid_receipt(laptop)
    order = [
        r["entity"]
        for r in laptop.ws.store.query(
            "SELECT entity FROM outbox WHERE entity IN ('receipt_book', 'receipt') ORDER BY seq"
        )
    ]
    assert order == ["receipt_book", "receipt"]

    result = laptop.sync()
    assert result.ok, result.as_dict()
    assert result.refused == []
    assert laptop.pending() == 0
    assert _books(server) == [(book.id, agent, SERIES, 1, 50, "hand_entered")]
    assert server.count("receipts") == 1
    with server.engine.connect() as conn:
        number = conn.execute(
            sa.text("SELECT number FROM receipts WHERE id = :id"), {"id": receipt_id}
        )
        assert number.scalar() == 1
    # The laptop does not get its own book back, nor a second outbox row from a later sync.
    assert laptop.sync().ok
    assert laptop.ws.store.scalar("SELECT count(*) FROM receipt_book") == 1
    assert laptop.ws.store.scalar("SELECT count(*) FROM outbox WHERE entity = 'receipt_book'") == 1


def test_a_book_pulled_from_the_server_is_not_sent_back(
    server: Server, laptops: MakeLaptop
) -> None:
    """An allocated book arrives in the change feed: the laptop stores it and sends nothing."""
    agent = server.add_agent("Lò Thị Hoa", [COMMUNE])
    server.add_book(agent, SERIES, 1, 50)
    laptop = laptops("a")
    laptop.enrol(agent)
    assert laptop.sync().ok
    assert [b.source for b in laptop.ws.receipts.books()] == ["server"]
    assert laptop.ws.store.scalar("SELECT count(*) FROM outbox") == 0


def test_a_book_overlapping_another_is_refused_and_so_are_its_receipts(
    server: Server, laptops: MakeLaptop
) -> None:
    """A hand-entered range inside numbers the province allocated to someone else is refused
    with its reason; the receipts from it are refused too, and nothing is stored for them."""
    agent = server.add_agent("Lò Thị Hoa", [COMMUNE])
    other = server.add_agent("Vàng A Páo", [COMMUNE])
    allocated = server.add_book(other, SERIES, 1, 100)
    laptop = laptops("a")
    laptop.enrol(agent)
    book = laptop.ws.receipts.add_book(series=SERIES, first=40, last=60)
    receipt_id = _paid_receipt(laptop)

    result = laptop.sync()
    refused = {(r.entity, r.entity_id): r for r in result.refused}
    assert set(refused) == {("receipt_book", book.id), ("receipt", receipt_id)}
    overlap = refused[("receipt_book", book.id)]
    assert overlap.code == "book_overlap"
    assert f"trùng số với quyển {SERIES} 1–100" in overlap.vi
    assert f"overlaps book {SERIES} 1-100" in overlap.en
    assert refused[("receipt", receipt_id)].code == "receipt_book_mismatch"
    assert [b[0] for b in _books(server)] == [allocated]
    assert server.count("receipts") == 0


def _book(first: int = 1, last: int = 50, **fields: Any) -> dict[str, Any]:
    return {"id": new_id(), "series": SERIES, "first": first, "last": last, **fields}


def test_the_same_book_again_is_taken_once(server: Server) -> None:
    """A batch sent twice is applied once; the same book in a later batch is accepted and
    changes nothing; another book under its id is refused."""
    agent = server.add_agent("Lò Thị Hoa", [COMMUNE])
    laptop = server.laptop(agent)
    home = household(COMMUNE)
    book = _book()
    batch = laptop.batch(
        [
            laptop.record("household", home),
            laptop.record("receipt_book", book),
            laptop.record("receipt", receipt(home["id"], book["id"], 7, series=SERIES)),
        ]
    )
    first = laptop.upload(batch)
    again = laptop.upload(batch)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["refused"] == [] and len(first.json()["accepted"]) == 3
    assert laptop.send(laptop.record("receipt_book", book))["refused"] == []
    assert _books(server) == [(book["id"], agent, SERIES, 1, 50, "hand_entered")]
    assert server.count("receipts") == 1

    changed = laptop.send(laptop.record("receipt_book", {**book, "last": 60}))
    assert [r["code"] for r in changed["refused"]] == ["conflicting_duplicate"]
    assert _books(server) == [(book["id"], agent, SERIES, 1, 50, "hand_entered")]


def test_a_book_after_its_receipts_in_one_batch_is_taken_first(server: Server) -> None:
    """Books of a batch are taken before its other records (a book enqueued by the upgrade
    comes after the receipts already waiting), and the ack lists records in batch order."""
    agent = server.add_agent("Lò Thị Hoa", [COMMUNE])
    laptop = server.laptop(agent)
    home = household(COMMUNE)
    assert laptop.send(laptop.record("household", home))["refused"] == []
    book = _book()
    records = [
        laptop.record("receipt", receipt(home["id"], book["id"], 1, series=SERIES)),
        laptop.record("receipt", receipt(home["id"], book["id"], 2, series=SERIES)),
        laptop.record("receipt_book", book),
    ]
    ack = laptop.send(*records)
    assert ack["refused"] == []
    assert ack["accepted"] == [r["seq"] for r in records]
    assert server.count("receipts") == 2


def test_the_book_is_the_sending_devices_agents(server: Server) -> None:
    """A book record cannot name an agent: the device's agent owns it, and another agent's
    receipts in its range are refused."""
    agent = server.add_agent("Lò Thị Hoa", [COMMUNE])
    other = server.add_agent("Vàng A Páo", [COMMUNE])
    mine, theirs = server.laptop(agent), server.laptop(other)
    claimed = theirs.send(theirs.record("receipt_book", _book(agent_id=agent)))
    assert [r["code"] for r in claimed["refused"]] == ["unknown_field"]
    assert _books(server) == []

    book = _book()
    assert mine.send(mine.record("receipt_book", book))["refused"] == []
    home = household(COMMUNE)
    assert theirs.send(theirs.record("household", home))["refused"] == []
    stolen = theirs.send(
        theirs.record("receipt", receipt(home["id"], book["id"], 3, series=SERIES))
    )
    assert [r["code"] for r in stolen["refused"]] == ["receipt_book_mismatch"]
    assert [(b[1], b[5]) for b in _books(server)] == [(agent, "hand_entered")]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"series": ""}, "invalid_field"),
        ({"series": "X" * 33}, "invalid_field"),
        ({"first": 0}, "invalid_field"),
        ({"last": MAX_RECEIPT_NUMBER + 1}, "invalid_field"),
        ({"first": 60, "last": 50}, "invalid_field"),
        ({"first": 1, "last": MAX_BOOK_SIZE + 1}, "invalid_field"),
        ({"first": "1"}, "invalid_field"),
        ({"agent_id": new_id()}, "unknown_field"),
    ],
)
def test_a_bad_book_record_is_refused(data: dict[str, Any], code: str) -> None:
    """A book's series follows a receipt's rules, its numbers the server's limits."""
    record = wire.Record(
        seq=1,
        entity="receipt_book",
        id=(book := _book(**data))["id"],
        op="insert",
        hlc=hlc_format(int(START.timestamp() * 1000), 0, new_id()),
        data=book,
        base=None,
    )
    problem = wire.check_record(dict(record))
    assert problem is not None and problem.code == code, problem
    # And never as an update.
    good = _book()
    update = {**record, "id": good["id"], "data": good, "op": "update"}
    assert getattr(wire.check_record(update), "code", None) == "immutable"
