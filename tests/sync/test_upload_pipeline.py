"""The upload path: batch bodies built from the stored outbox text, and batches overlapped with
the server's work without weakening what is committed before and after each one."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from fieldapp import syncstate
from fieldapp.store import dumps
from fieldapp.syncstate import StoredBatch, StoredRow
from fieldapp.workspace import Workspace
from sync.client import SyncClient
from sync.protocol import wire
from sync.protocol.clock import FixedClock
from sync.protocol.hlc import EPOCH_MS, hlc_format, hlc_parse
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
OTHER_DEVICE = "0190f1c2-0000-7000-8000-00000000beef"


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    yield from laptop_factory(server, tmp_path)


def _posted(request: httpx.Request) -> dict[str, object]:
    body = json.loads(gzip.decompress(request.content))
    assert isinstance(body, dict)
    return body


def _varied_outbox(ws: Workspace) -> None:
    """Inserts and updates of every kind, with text JSON must escape and Vietnamese in NFD."""
    home = ws.households.add(
        province_code="04",
        commune_code=COMMUNE,
        village="Bản Phố",
        head_name="Nguye\u0302\u0303n Va\u0306n An",
        phone="0912345678",
        groups=["farmer", "poor"],
        best_months=[7, 8],
    )
    head = ws.members.add(home.id, full_name="Nguyễn Văn An", relation="chủ hộ", sex="male")
    ws.members.update(head.id, full_name="Nguyễn Văn Ân")
    ws.households.update(home.id, phone="0987654321", notes='Hẹn "sau" vụ\\mùa\n\ttab 😀')
    ws.visits.record(home.id, outcome="pledged", topics=["bhyt_household"], notes="Đã gặp")
    ws.pledges.pledge_bhyt_household(
        home.id, member_ids=[head.id], months=12, start=dt.date(2026, 12, 1)
    )


@pytest.mark.parametrize("server_device", ["own", "other"])
def test_batch_body_is_the_protocol_encoding_of_the_batch(
    tmp_path: Path, server_device: str
) -> None:
    """Built from the stored JSON text, the body is byte for byte wire.encode_body's."""
    ws = Workspace.open(tmp_path, clock=FixedClock(dt.datetime(2026, 11, 23, 1, tzinfo=dt.UTC)))
    try:
        device = ws.store.device_id if server_device == "own" else OTHER_DEVICE
        ws.store.set_meta("server_device_id", device)
        _varied_outbox(ws)
        batch = syncstate.claim_batch(ws.store, limit=500)
        assert batch is not None and len(batch.rows) >= 7
        # A base clock from another device is sent as it is; the laptop's own are renamed.
        # (Outbox JSON is always written by store.dumps: compact, keys sorted.)
        foreign = hlc_format(EPOCH_MS, 0, "0190f1c2-0000-7000-8000-0000000000aa")
        own = f"{batch.rows[-1].hlc}"
        extra = StoredRow(
            seq=batch.rows[-1].seq + 1,
            entity="member",
            entity_id=batch.rows[1].entity_id,
            op="update",
            hlc=own,
            data=batch.rows[1].data,
            base=dumps({"full_name": own, "phone": None, "sex": foreign}),
        )
        batch = StoredBatch(batch.batch_id, (*batch.rows, extra))
        client = SyncClient(ws)
        outgoing = client.wire_batch(batch)
        body = client.batch_body(batch)
        expected = wire.encode_body(outgoing)
        assert gzip.decompress(body).decode() == gzip.decompress(expected).decode()
        assert body == expected
        sent = json.loads(gzip.decompress(body))
        assert all("sort_key" not in r["data"] for r in sent["records"])
        assert {hlc_parse(r["hlc"]).device_id for r in sent["records"]} == {device}
        assert sent["records"][-1]["base"]["sex"] == foreign
        assert hlc_parse(sent["records"][-1]["base"]["full_name"]).device_id == device
        assert sent["records"][0]["data"]["head_name"] == "Nguyễn Văn An"
    finally:
        ws.close()


NAMES = ["An", "Bình", "Cường", "Dũng", "Em", "Giang", "Hà", "Khánh", "Lâm", "Minh", "Ngọc"]


def _many(laptop: Laptop, households: int) -> None:
    with laptop.ws.store.transaction():
        for index in range(households):
            laptop.add_household(head=f"Lò Văn {NAMES[index % len(NAMES)]}")


def test_each_batch_id_is_committed_before_it_is_posted_one_batch_at_a_time(
    server: Server, laptops: MakeLaptop
) -> None:
    """While one batch is on the wire the next is made ready; never two posts at once."""
    a = laptops("a")
    a.enrol(server.add_agent("A", [COMMUNE]))
    _many(a, 23)
    lock = threading.Lock()
    flying = 0
    most = 0
    committed: list[tuple[str, list[int], list[int]]] = []

    def watch(request: httpx.Request, forward: Callable[[], httpx.Response]) -> httpx.Response:
        nonlocal flying, most
        if request.url.path != wire.BATCHES_PATH:
            return forward()
        body = _posted(request)
        # What another reader of the store file sees: only committed rows.
        reader = sqlite3.connect(f"{a.ws.store.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            stored = [
                int(r[0])
                for r in reader.execute(
                    "SELECT seq FROM outbox WHERE batch_id = ? AND state = 'pending' ORDER BY seq",
                    (body["batch_id"],),
                )
            ]
        finally:
            reader.close()
        records = body["records"]
        assert isinstance(records, list)
        committed.append((str(body["batch_id"]), [r["seq"] for r in records], stored))
        with lock:
            flying += 1
            most = max(most, flying)
        try:
            return forward()
        finally:
            with lock:
                flying -= 1

    seen: list[int] = []
    result = a.sync(
        transport=ForwardingTransport(watch),
        batch_size=5,
        progress=lambda done, total: seen.append(done) if total else None,
    )
    assert result.ok and result.accepted == 23 and result.sent == 23
    assert most == 1
    assert [len(seqs) for _b, seqs, _s in committed] == [5, 5, 5, 5, 3]
    assert all(seqs == stored for _b, seqs, stored in committed)
    assert [s for _b, seqs, _s in committed for s in seqs] == list(range(1, 24))
    assert sorted(server_batches(server)) == sorted(b for b, _seqs, _s in committed)
    assert len({b for b, _seqs, _s in committed}) == 5
    assert seen == [0, 5, 10, 15, 20, 23]
    assert a.pending() == 0


def test_a_failure_mid_upload_resends_the_same_batches_once(
    server: Server, laptops: MakeLaptop
) -> None:
    """Batch 2 refused with a 400: batch 1 stays acknowledged, 2 and the one made ready after
    it keep their ids, and the next run sends exactly those, each applied once."""
    a = laptops("a")
    a.enrol(server.add_agent("A", [COMMUNE]))
    _many(a, 12)
    posts: list[str] = []

    def second_fails(
        request: httpx.Request, forward: Callable[[], httpx.Response]
    ) -> httpx.Response:
        if request.url.path == wire.BATCHES_PATH:
            posts.append(str(_posted(request)["batch_id"]))
            if len(posts) == 2:
                return httpx.Response(400, json={"code": "bad", "vi": "sai", "en": "wrong"})
        return forward()

    result = a.sync(transport=ForwardingTransport(second_fails), batch_size=5)
    assert not result.ok and result.accepted == 5
    assert [e.code for e in result.errors] == ["bad"]
    assert a.pending() == 7
    ids = [r[0] for r in a.ws.store.query("SELECT DISTINCT batch_id FROM outbox ORDER BY seq")]
    assert ids[:2] == posts and len(ids) == 3, "the third batch was made ready meanwhile"

    again: list[str] = []

    def record(request: httpx.Request, forward: Callable[[], httpx.Response]) -> httpx.Response:
        if request.url.path == wire.BATCHES_PATH:
            again.append(str(_posted(request)["batch_id"]))
        return forward()

    assert a.sync(transport=ForwardingTransport(record), batch_size=5).ok
    assert again == ids[1:]
    assert sorted(server_batches(server)) == sorted(ids)
    assert server_counts(server)["household"] == 12
    assert a.pending() == 0


def test_cancel_mid_upload_keeps_what_was_acknowledged(server: Server, laptops: MakeLaptop) -> None:
    """A cancel after the first answer: that batch is marked, nothing further is posted."""
    a = laptops("a")
    a.enrol(server.add_agent("A", [COMMUNE]))
    _many(a, 12)
    answered = threading.Event()

    def note(request: httpx.Request, forward: Callable[[], httpx.Response]) -> httpx.Response:
        response = forward()
        if request.url.path == wire.BATCHES_PATH:
            answered.set()
        return response

    result = a.sync(
        transport=ForwardingTransport(note), batch_size=5, should_cancel=answered.is_set
    )
    assert result.cancelled and result.accepted == 5
    assert len(server_batches(server)) == 1
    assert a.pending() == 7
    assert a.sync(batch_size=5).ok and a.pending() == 0
    assert server_counts(server)["household"] == 12
