"""A receipt printed on an enrolled laptop is checked by the server through its QR code."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sync.protocol.receipt_qr import parse_receipt_qr
from tests.sync.client_fixtures import COMMUNE, Laptop, laptop_factory
from tests.sync.conftest import Server

MakeLaptop = Callable[[str], Laptop]


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    """Laptops by name, each on its own store file, talking to the real server."""
    yield from laptop_factory(server, tmp_path)


def _check(server: Server, qr_payload: str) -> dict[str, object]:
    address = urlsplit(qr_payload)
    with server.http() as client:
        response = client.get(f"{address.path}?{address.query}")
    assert response.status_code == 200
    answer: dict[str, object] = response.json()
    return answer


def test_receipt_from_a_server_book_verifies_then_shows_void(
    server: Server, laptops: MakeLaptop
) -> None:
    """Book from the server → pledge → receipt → sync: its QR address says valid, then voided."""
    agent = server.add_agent("Nguyễn Thị Lan", [COMMUNE])
    server.add_book(agent, "LC/26", 101, 150)
    laptop = laptops("a")
    laptop.enrol(agent)
    assert laptop.sync().ok
    ws = laptop.ws
    assert [(b.series, b.next_number, b.source) for b in ws.receipts.books()] == [
        ("LC/26", 101, "server")
    ]
    household = laptop.add_household(head="Giàng Seo Sử")
    head = ws.members.add(household, full_name="Giàng Seo Sử", relation="Chủ hộ")
    wife = ws.members.add(household, full_name="Sùng Thị Mỷ", relation="Vợ")
    pledges = ws.pledges.pledge_bhyt_household(
        household, member_ids=[head.id, wife.id], months=12, start=dt.date(2026, 12, 1)
    )
    receipt = ws.receipts.issue(pledge_ids=[p.id for p in pledges])
    assert (receipt.series, receipt.number) == ("LC/26", 101)
    assert receipt.amount == sum(p.payable for p in pledges)

    result = laptop.sync()
    assert result.ok, result
    assert laptop.pending() == 0
    parsed = parse_receipt_qr(receipt.qr_payload)
    assert parsed["receipt_id"] == receipt.id
    assert _check(server, receipt.qr_payload) == {
        "status": "valid",
        "series": "LC/26",
        "number": 101,
        "amount": receipt.amount,
        "issued_at": receipt.issued_at,
    }
    # A tampered signature reads as unknown.
    forged = receipt.qr_payload[:-1] + ("0" if receipt.qr_payload[-1] != "0" else "1")
    assert _check(server, forged) == {"status": "unknown"}

    ws.receipts.void(receipt.id, reason="In sai tên")
    assert laptop.sync().ok
    assert _check(server, receipt.qr_payload)["status"] == "voided"
