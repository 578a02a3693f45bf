"""How the outbox is cut into batches: by count, and by bytes so the server takes every body."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from fieldapp import syncstate
from fieldapp.validation import MAX_NAME_LENGTH
from sync.client import DEFAULT_BATCH_SIZE
from sync.protocol import wire
from sync.protocol.fields import ADDRESS_LENGTH, NOTE_LENGTH
from tests.sync.client_fixtures import (
    COMMUNE,
    ForwardingTransport,
    Laptop,
    laptop_factory,
    server_batches,
    server_counts,
)
from tests.sync.conftest import Server

MakeLaptop = Callable[[str], Laptop]
# Letters an agent types, most of them two or three bytes in UTF-8.
LETTERS = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxy àảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ"
)


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    yield from laptop_factory(server, tmp_path)


def _text(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(length)).strip() or "a"


def _add_households(laptop: Laptop, count: int, *, long: bool) -> None:
    rng = random.Random(7)
    with laptop.ws.store.transaction():
        for _ in range(count):
            laptop.ws.households.add(
                province_code="04",
                commune_code=COMMUNE,
                village="Bản Phố",
                head_name=_text(rng, MAX_NAME_LENGTH) if long else "Giàng Seo Sử",
                address=_text(rng, ADDRESS_LENGTH) if long else "",
                notes=_text(rng, NOTE_LENGTH) if long else "",
            )


def test_a_batch_is_cut_by_its_bytes_as_well_as_its_count(laptops: MakeLaptop) -> None:
    a = laptops("a")
    _add_households(a, 3, long=False)
    store = a.ws.store
    # A budget smaller than any row still takes one row a batch: nothing is left unsendable.
    files = syncstate.all_batches(store, limit=10, max_bytes=1)
    assert [len(b.rows) for b in files] == [1, 1, 1]
    syncstate.forget_batch_ids(store)
    first = syncstate.claim_batch(store, limit=10, max_bytes=1)
    assert first is not None and [r.seq for r in first.rows] == [1]
    following = syncstate.claim_batch(store, limit=10, exclude=first.batch_id)
    assert following is not None and [r.seq for r in following.rows] == [2, 3]
    syncstate.forget_batch_ids(store)
    assert [len(b.rows) for b in syncstate.all_batches(store, limit=2)] == [2, 1]


def test_long_records_go_in_batches_the_server_takes(server: Server, laptops: MakeLaptop) -> None:
    """Households with every text at its longest: fewer of them than the count limit fill a
    batch's byte budget, so the upload goes in several bodies, each one the server takes."""
    a = laptops("a")
    a.enrol(server.add_agent("A", [COMMUNE]))
    count = 400
    _add_households(a, count, long=True)
    assert count < DEFAULT_BATCH_SIZE
    bodies: list[bytes] = []

    def note(request: httpx.Request, forward: Callable[[], httpx.Response]) -> httpx.Response:
        if request.url.path == wire.BATCHES_PATH:
            bodies.append(request.content)
        return forward()

    result = a.sync(transport=ForwardingTransport(note))
    assert result.ok, result.as_dict()
    assert (result.sent, result.accepted, a.pending()) == (count, count, 0)
    assert server_counts(a.server)["household"] == count
    assert len(bodies) >= 2 and len(server_batches(server)) == len(bodies)
    for body in bodies:
        assert len(body) <= wire.MAX_BATCH_COMPRESSED
        text = gzip.decompress(body)
        records = json.loads(text)["records"]
        # Rows are taken while those before them are under the budget: the last may cross it
        # (by its data and envelope), and the batch's own header comes on top.
        largest = max(len(json.dumps(r["data"], ensure_ascii=False).encode()) for r in records)
        assert len(text) <= syncstate.BATCH_BYTES + largest + 400
