"""/web/books on the real server: books with numbers used, voided and left; allocating a range
and registering a book entered by hand on a laptop (whose receipts are then taken), each sent
to the agent's laptop and written to the audit log; scope, CSRF and bad input change nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sync.server import audit
from sync.server.schema import receipt_books
from tests.sync.conftest import Server, household, new_id, receipt
from tests.sync.test_web import COMMUNE, OTHER, World, build_world, csrf_of, signed_in


@pytest.fixture
def world(server: Server) -> World:
    return build_world(server)


def _books(server: Server) -> list[tuple[str, str, int, int, str]]:
    with server.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                receipt_books.c.agent_id,
                receipt_books.c.series,
                receipt_books.c.first,
                receipt_books.c.last,
                receipt_books.c.origin,
            ).order_by(receipt_books.c.series, receipt_books.c.first)
        ).all()
    return [tuple(r) for r in rows]


def _entries(server: Server) -> list[audit.Entry]:
    with server.engine.connect() as conn:
        return audit.entries(conn, None)


def _book_row(page: str, series: str, first: int) -> list[str]:
    """The cells of the book row of a series starting at `first`."""
    for row in re.findall(r'<tr class="book">(.*?)</tr>', page, re.S):
        cells = [
            " ".join(re.sub(r"<[^>]+>", " ", c).split())
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if cells[:2] == [series, str(first)]:
            return cells
    raise AssertionError(f"no book {series} {first}")


def _post(client: httpx.Client, path: str, **form: Any) -> httpx.Response:
    csrf = csrf_of(client.get("/web/books").text)
    return client.post(path, data={"csrf": csrf, **{k: str(v) for k, v in form.items()}})


def test_books_show_used_voided_and_left_per_agent_in_scope(server: Server, world: World) -> None:
    """The near agent used 1 and 2 of AA/26 1–50 and voided 2; the far agent used 51."""
    with signed_in(server, "tinh") as client:
        page = client.get("/web/books").text
    assert _book_row(page, "AA/26", 1)[2:] == ["50", "Tỉnh cấp", "2", "1", "48 / 50", "23/11/2026"]
    assert _book_row(page, "AA/26", 51)[4:7] == ["1", "0", "49 / 50"]
    with signed_in(server, "xa1") as client:
        page = client.get("/web/books").text
    assert "Trần Thị Bình" in page and "Lê Văn Cường" not in page
    assert 'class="book"' in page and "51" not in re.findall(r"<td class=\"num\">(\d+)", page)


def test_allocate_a_range_reaches_the_laptop_and_the_audit_log(
    server: Server, world: World
) -> None:
    laptop = server.laptop(world.near_agent, "thêm")
    _, cursor = laptop.pull()
    with signed_in(server, "xa1") as client:
        done = _post(
            client,
            "/web/books/allocate",
            agent_id=world.near_agent,
            series="lc-nta-26",
            first=1,
            last=100,
        )
        assert done.status_code == 303
        page = client.get(done.headers["location"]).text
    assert "Đã cấp quyển biên lai." in page
    assert _book_row(page, "LC-NTA-26", 1)[2:7] == ["100", "Tỉnh cấp", "0", "0", "100 / 100"]
    assert (world.near_agent, "LC-NTA-26", 1, 100, "allocated") in _books(server)
    changes, _ = laptop.pull(cursor)
    (book,) = [c for c in changes if c["entity"] == "receipt_book"]
    assert (book["data"]["series"], book["data"]["first"], book["data"]["last"]) == (
        "LC-NTA-26",
        1,
        100,
    )
    entry = _entries(server)[0]
    assert (entry.action, entry.actor, entry.target, entry.communes) == (
        "book_allocate",
        "xa1",
        book["data"]["id"],
        (COMMUNE,),
    )
    assert entry.detail == {
        "agent": "Trần Thị Bình",
        "series": "LC-NTA-26",
        "first": 1,
        "last": 100,
    }


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"series": "AA/26", "first": 40, "last": 60}, "Khoảng số trùng với quyển AA/26 1–50"),
        ({"series": "BB", "first": 10, "last": 5}, "phải từ 1 và không lớn hơn số cuối"),
        ({"series": "BB", "first": 0, "last": 5}, "phải từ 1"),
        ({"series": "BB", "first": -3, "last": 5}, "Số đầu phải là số nguyên dương"),
        ({"series": "BB", "first": 1, "last": 10**12}, "Số cuối phải là số nguyên dương"),
        ({"series": "BB", "first": 1, "last": 10_000_000}, "Số cuối tối đa 9.999.999"),
        ({"series": "BB", "first": 1, "last": 200_000}, "một quyển tối đa 100.000 số"),
        ({"series": "BB", "first": "một", "last": 5}, "Số đầu phải là số nguyên dương"),
        ({"series": "", "first": 1, "last": 5}, "Ký hiệu biên lai"),
        ({"series": "=cmd|x", "first": 1, "last": 5}, "Ký hiệu biên lai"),
        ({"series": "Á" * 30, "first": 1, "last": 5}, "Ký hiệu biên lai"),
    ],
)
def test_bad_ranges_are_refused_and_nothing_is_stored(
    server: Server, world: World, form: dict[str, Any], message: str
) -> None:
    before, logged = _books(server), len(_entries(server))
    with signed_in(server, "tinh") as client:
        refused = _post(client, "/web/books/allocate", agent_id=world.near_agent, **form)
    assert refused.status_code == 400
    assert message in refused.text
    assert _books(server) == before and len(_entries(server)) == logged


def test_unknown_agent_out_of_scope_partly_in_scope_and_no_csrf(
    server: Server, world: World
) -> None:
    both = server.add_agent("Hà Thị Dung", [COMMUNE, OTHER])
    before, logged = _books(server), len(_entries(server))
    book = {"series": "CC", "first": 1, "last": 10}
    with signed_in(server, "xa1") as client:
        for path in ("/web/books/allocate", "/web/books/register"):
            extra = {"book_id": new_id()} if path.endswith("register") else {}
            assert _post(client, path, agent_id=world.far_agent, **book, **extra).status_code == 404
            assert _post(client, path, agent_id="không-có", **book, **extra).status_code == 404
            partly = _post(client, path, agent_id=both, **book, **extra)
            assert partly.status_code == 403
            assert "còn được giao xã ngoài địa bàn" in partly.text
            no_csrf = client.post(path, data={"agent_id": world.near_agent, **book, **extra})
            assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
        assert "Hà Thị Dung" not in client.get("/web/books").text
    with signed_in(server, "tinh") as client:
        assert _post(client, "/web/books/allocate", agent_id=new_id(), **book).status_code == 404
    assert _books(server) == before and len(_entries(server)) == logged


def test_a_registered_hand_entered_book_makes_its_receipts_accepted(
    server: Server, world: World
) -> None:
    """A laptop's receipt from a book the server does not know is refused; once a supervisor
    registers the book (the laptop's id, series and range), the same receipt is taken."""
    laptop = server.laptop(world.near_agent, "máy có quyển tay")
    home = household(COMMUNE)
    assert laptop.send(laptop.record("household", home))["refused"] == []
    hand_book = new_id()
    bill = receipt(home["id"], hand_book, 7, series="TAY-01")
    first = laptop.send(laptop.record("receipt", bill))
    assert [r["code"] for r in first["refused"]] == ["receipt_book_mismatch"]
    _, cursor = laptop.pull()

    with signed_in(server, "xa1") as client:
        # A wrong id, or an id already taken, is refused with nothing stored.
        bad = _post(
            client,
            "/web/books/register",
            agent_id=world.near_agent,
            series="TAY-01",
            first=1,
            last=50,
            book_id="0193-không-phải-uuid",
        )
        assert bad.status_code == 400 and "Mã quyển trên máy" in bad.text
        taken = _post(
            client,
            "/web/books/register",
            agent_id=world.near_agent,
            series="TAY-02",
            first=1,
            last=50,
            book_id=_book_id(server, "AA/26", 1),
        )
        assert taken.status_code == 400 and "đã được đăng ký" in taken.text
        overlapping = _post(
            client,
            "/web/books/register",
            agent_id=world.near_agent,
            series="AA/26",
            first=50,
            last=60,
            book_id=hand_book,
        )
        assert overlapping.status_code == 400 and "trùng với quyển AA/26 1–50" in overlapping.text
        assert all(b[1] != "TAY-01" for b in _books(server))

        done = _post(
            client,
            "/web/books/register",
            agent_id=world.near_agent,
            series="tay-01",
            first=1,
            last=50,
            book_id=hand_book.upper(),
        )
        assert done.status_code == 303
        page = client.get(done.headers["location"]).text
    assert "Đã đăng ký quyển tự nhập." in page
    assert _book_row(page, "TAY-01", 1)[2:7] == ["50", "Tự nhập trên máy", "0", "0", "50 / 50"]
    assert _book_id(server, "TAY-01", 1) == hand_book
    assert (world.near_agent, "TAY-01", 1, 50, "hand_entered") in _books(server)

    again = laptop.send(laptop.record("receipt", bill))
    assert again["refused"] == [] and len(again["accepted"]) == 1
    assert server.count("receipts") == 4
    changes, _ = laptop.pull(cursor)
    assert [c["id"] for c in changes if c["entity"] == "receipt_book"] == [hand_book]
    with signed_in(server, "tinh") as client:
        assert _book_row(client.get("/web/books").text, "TAY-01", 1)[4:7] == ["1", "0", "49 / 50"]
    entry = _entries(server)[0]
    assert (entry.action, entry.actor, entry.target, entry.communes) == (
        "book_register",
        "xa1",
        hand_book,
        (COMMUNE,),
    )
    assert entry.detail["series"] == "TAY-01"
    assert [e.action for e in _entries(server)].count("book_register") == 1


def _book_id(server: Server, series: str, first: int) -> str:
    with server.engine.connect() as conn:
        return str(
            conn.execute(
                sa.select(receipt_books.c.id).where(
                    receipt_books.c.series == series, receipt_books.c.first == first
                )
            ).scalar_one()
        )


def test_a_book_registered_from_its_paper_cover_is_enough(server: Server, world: World) -> None:
    """The supervisor types only what is printed on the paper book (series and range): the
    laptop's receipts from it, sent under the laptop's own id for the book, are taken; a number
    outside the range, or another agent's receipt in that series, still is not."""
    laptop = server.laptop(world.near_agent, "máy có quyển tay")
    home = household(COMMUNE)
    assert laptop.send(laptop.record("household", home))["refused"] == []
    laptop_book = new_id()
    inside = receipt(home["id"], laptop_book, 7, series="TAY-09")
    outside = receipt(home["id"], laptop_book, 51, series="TAY-09")
    assert len(laptop.send(laptop.record("receipt", inside))["refused"]) == 1
    with signed_in(server, "xa1") as client:
        done = _post(
            client,
            "/web/books/register",
            agent_id=world.near_agent,
            series="TAY-09",
            first=1,
            last=50,
            book_id="",
        )
        assert done.status_code == 303
    assert (world.near_agent, "TAY-09", 1, 50, "hand_entered") in _books(server)
    again = laptop.send(laptop.record("receipt", inside), laptop.record("receipt", outside))
    assert len(again["accepted"]) == 1
    assert [r["code"] for r in again["refused"]] == ["receipt_book_mismatch"]
    other = server.laptop(world.far_agent, "máy khác")
    far_home = household(OTHER)
    assert other.send(other.record("household", far_home))["refused"] == []
    stolen = receipt(far_home["id"], new_id(), 8, series="TAY-09")
    refused = other.send(other.record("receipt", stolen))["refused"]
    assert [r["code"] for r in refused] == ["receipt_book_mismatch"]
