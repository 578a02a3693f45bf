"""The sync client against the real server on a loopback port, with laptops on real store files."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from fieldapp import syncstate
from fieldapp.cli import main as fieldapp_main
from fieldapp.store import Store
from fieldapp.workspace import Workspace
from sync.client import SyncClient
from sync.protocol import signing, wire
from sync.protocol.ids import is_uuid
from sync.server import admin
from sync.server.cli import main as server_main
from tests.sync.client_fixtures import (
    COMMUNE,
    OTHER,
    Crash,
    ForwardingTransport,
    Laptop,
    laptop_factory,
    server_batches,
    server_counts,
)
from tests.sync.conftest import Server

MakeLaptop = Callable[[str], Laptop]


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    """Laptops by name, each on its own store file, talking to the real server."""
    yield from laptop_factory(server, tmp_path)


def _batch_id(request: httpx.Request) -> str:
    return str(json.loads(gzip.decompress(request.content))["batch_id"])


def _fill(laptop: Laptop) -> tuple[str, str]:
    """A household with two members, a visit and a pledge; returns (household id, member id)."""
    home = laptop.add_household()
    head = laptop.ws.members.add(home, full_name="Nguyễn Văn An", relation="chủ hộ", sex="male")
    laptop.ws.members.add(home, full_name="Lò Thị Hương", relation="vợ", sex="female")
    laptop.ws.visits.record(home, outcome="pledged", topics=["bhyt_household"])
    laptop.ws.pledges.pledge_bhyt_household(
        home, member_ids=[head.id], months=12, start=dt.date(2026, 12, 1)
    )
    return home, head.id


def test_two_agents_sharing_a_commune_see_each_others_work(
    server: Server, laptops: MakeLaptop
) -> None:
    """A's records reach the server once; B pulls them, edits a name, and A pulls the edit."""
    a, b = laptops("a"), laptops("b")
    a.enrol(server.add_agent("Trần Thị Bình", [COMMUNE]))
    b.enrol(server.add_agent("Lê Văn Cường", [COMMUNE, OTHER]))
    home, head = _fill(a)
    sent = a.pending()
    result = a.sync()
    assert result.ok, result.as_dict()
    assert (result.sent, result.accepted, result.refused) == (sent, sent, [])
    assert a.pending() == 0
    expected = {"household": 1, "member": 2, "visit": 1, "pledge": 1, "pledge_event": 1}
    counts = server_counts(server)
    assert {k: counts[k] for k in expected} == expected
    again = a.sync()
    assert again.ok and again.sent == 0
    assert server_counts(server) == counts

    pulled = b.sync()
    assert pulled.ok and pulled.pulled >= 6
    assert b.pending() == 0, "applying pulled changes must not fill the outbox"
    assert b.ws.households.get(home).head_name == "Nguyễn Văn An"
    assert [h.full_name for h in b.ws.search.find("nguyen van an")][:1] == ["Nguyễn Văn An"]
    assert len(b.ws.pledges.of_household(home)) == 1

    b.clock.advance(minutes=5)
    b.ws.members.update(head, full_name="Nguyễn Văn Ân")
    assert b.pending() == 1
    assert b.sync().ok
    assert a.sync().ok
    assert a.ws.members.get(head).full_name == "Nguyễn Văn Ân"
    assert a.pending() == 0
    assert server_counts(server)["open_conflicts"] == 0


def test_crash_between_send_and_ack_resends_the_same_batch(
    server: Server, laptops: MakeLaptop
) -> None:
    """The server applied the batch but the laptop died first: a restart resends it once."""
    a = laptops("a")
    a.enrol(server.add_agent("A", [COMMUNE]))
    _fill(a)

    def die_after_response(
        request: httpx.Request, forward: Callable[[], httpx.Response]
    ) -> httpx.Response:
        response = forward()
        if request.url.path == wire.BATCHES_PATH:
            raise Crash()
        return response

    dying = ForwardingTransport(die_after_response)
    with pytest.raises(Crash):
        a.sync(transport=dying)
    first = _batch_id(dying.requests[-1])
    assert server_batches(server) == [first]
    assert a.pending() > 0
    stored = {r["batch_id"] for r in a.ws.store.query("SELECT batch_id FROM outbox")}
    assert stored == {first}

    a.reopen()
    watching = ForwardingTransport(lambda request, forward: forward())
    result = a.sync(transport=watching)
    assert result.ok, result.as_dict()
    posted = [_batch_id(r) for r in watching.requests if r.url.path == wire.BATCHES_PATH]
    assert posted == [first]
    assert a.pending() == 0
    assert server_batches(server) == [first]
    assert server_counts(server)["member"] == 2


def test_the_same_batch_uploaded_twice_is_applied_once(server: Server, laptops: MakeLaptop) -> None:
    """Posting one batch again returns the stored ack and changes nothing on the server."""
    a = laptops("a")
    a.enrol(server.add_agent("A", [COMMUNE]))
    _fill(a)
    with a.client() as client:
        pending = syncstate.claim_batch(a.ws.store, limit=500)
        assert pending is not None
        sent = client.wire_batch(pending)
        assert client.run().ok
    counts = server_counts(server)
    token = a.ws.store.meta("device_token")
    with server.http(headers={"Authorization": f"Bearer {token}"}) as http:
        response = http.post(
            wire.BATCHES_PATH,
            content=wire.encode_body(sent),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
    assert response.status_code == 200
    ack = wire.validate_ack(response.json())
    assert ack["batch_id"] == sent["batch_id"] and len(ack["accepted"]) == len(sent["records"])
    assert server_counts(server) == counts
    assert server_batches(server) == [sent["batch_id"]]


def test_refused_record_is_listed_with_its_reason_and_stays_refused(
    server: Server, laptops: MakeLaptop, capsys: pytest.CaptureFixture[str]
) -> None:
    """A household outside the assignment is refused, shown in status, and never resent."""
    a = laptops("a")
    a.enrol(server.add_agent("A", [COMMUNE]))
    a.add_household(COMMUNE)
    outside = a.add_household(OTHER, head="Phạm Văn Dũng")
    result = a.sync()
    assert not result.ok
    assert result.accepted == 1
    assert [(r.entity_id, r.code) for r in result.refused] == [(outside, "out_of_scope")]
    state = SyncClient(a.ws).status()
    assert state.pending == 0
    assert [(r.entity_id, r.code) for r in state.refused] == [(outside, "out_of_scope")]
    assert "04099" in state.refused[0].vi and "04099" in state.refused[0].en
    assert state.last_sync is not None and state.last_sync["ok"] is False

    again = a.sync()
    assert again.ok and again.sent == 0
    assert len(SyncClient(a.ws).status().refused) == 1
    assert a.ws.households.get(outside).commune_code == OTHER

    a.ws.close()
    assert fieldapp_main(["--data-dir", str(a.data_dir), "sync", "status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["pending"] == 0 and shown["last_sync"]["ok"] is True
    assert [(r["id"], r["code"]) for r in shown["refused"]] == [(outside, "out_of_scope")]
    a.reopen()


def test_usb_export_import_and_ack_file(
    server: Server, laptops: MakeLaptop, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Export to a file, import it at the office, apply the ack file: nothing is left pending."""
    a = laptops("a")
    a.enrol(server.add_agent("A", [COMMUNE]))
    _fill(a)
    sent = a.pending()
    a.ws.close()
    data = ["--data-dir", str(a.data_dir)]
    usb = tmp_path / "usb" / "lo.fieldapp"
    usb.parent.mkdir()
    assert fieldapp_main([*data, "sync", "export", "--out", str(usb)]) == 0
    assert usb.exists()
    assert server_main(["--database-url", server.database_url, "import", str(usb)]) == 0
    ack_file = Path(f"{usb}.ack")
    assert ack_file.exists()
    assert server_counts(server)["member"] == 2

    tampered = tmp_path / "tampered.ack"
    envelope = json.loads(ack_file.read_bytes())
    envelope["ack"]["accepted"] = envelope["ack"]["accepted"][:1]
    tampered.write_text(json.dumps(envelope), encoding="utf-8")
    capsys.readouterr()
    assert fieldapp_main([*data, "sync", "ack", str(tampered)]) == 1
    assert "chữ ký" in capsys.readouterr().err.lower()
    a.reopen()
    assert a.pending() == sent
    a.ws.close()

    assert fieldapp_main([*data, "sync", "ack", str(ack_file)]) == 0
    a.reopen()
    assert a.pending() == 0
    assert a.ws.store.scalar("SELECT count(*) FROM outbox WHERE state = 'acked'") == sent
    # The network sync that follows sends nothing again and the server still has one copy.
    result = a.sync()
    assert result.ok and result.sent == 0
    assert server_counts(server)["member"] == 2
    assert len(server_batches(server)) == 1


def test_exported_batch_sent_later_over_http_is_applied_once(
    server: Server, laptops: MakeLaptop, tmp_path: Path
) -> None:
    """A batch exported to a file and then uploaded over HTTP keeps its id: one copy, one ack."""
    a = laptops("a")
    a.enrol(server.add_agent("A", [COMMUNE]))
    _fill(a)
    exported = a.carry_by_usb(tmp_path, imports=2)
    result = a.sync()
    assert result.ok and result.accepted == exported.sent
    assert len(server_batches(server)) == 1
    assert server_counts(server)["member"] == 2


def test_pull_applies_a_page_whole_or_not_at_all(server: Server, laptops: MakeLaptop) -> None:
    """A failure half-way through a page leaves both the data and the cursor as they were."""
    a, b = laptops("a"), laptops("b")
    a.enrol(server.add_agent("A", [COMMUNE]))
    b.enrol(server.add_agent("B", [COMMUNE]))
    home, _ = _fill(a)
    assert a.sync().ok

    class Broken(Exception):
        pass

    def progress(done: int, total: int) -> None:
        # total 0 is the pull; fail after two changes were written inside the page.
        if total == 0 and done == 2:
            raise Broken()

    with b.client(progress=progress) as client, pytest.raises(Broken):
        client.pull()
    assert syncstate.cursor(b.ws.store) == 0
    assert b.ws.store.scalar("SELECT count(*) FROM household") == 0
    assert b.ws.store.scalar("SELECT count(*) FROM member") == 0

    with b.client() as client:
        result = client.pull()
    assert result.ok and result.pulled >= 6
    assert syncstate.cursor(b.ws.store) > 0
    assert b.ws.households.get(home).village == "Bản Phố"
    assert b.ws.store.scalar("SELECT count(*) FROM outbox") == 0


def test_pull_brings_receipt_books_targets_policies_and_assignment(
    server: Server, laptops: MakeLaptop
) -> None:
    """Reference data from the supervisor lands in the laptop's tables."""
    agent = server.add_agent("A", [COMMUNE])
    with server.engine.begin() as conn:
        book = admin.add_receipt_book(
            conn, agent_id=agent, series="AA/26", first=101, last=150, clock=server.clock
        )
        admin.set_target(
            conn, agent_id=agent, scheme="bhyt", month="2026-12", count=40, clock=server.clock
        )
        admin.publish_policy(conn, document={"version": "vn-2026.12"}, clock=server.clock)
    a = laptops("a")
    a.enrol(agent)
    assert a.sync().ok
    store = a.ws.store
    row = store.one("SELECT * FROM receipt_book WHERE id = ?", (book,))
    assert row is not None
    assert (row["series"], row["first_number"], row["last_number"]) == ("AA/26", 101, 150)
    assert (row["next_number"], row["source"]) == (101, "server")
    target = store.one("SELECT scheme, month, count FROM target")
    assert target is not None and (target["month"], target["count"]) == ("2026-12", 40)
    assert store.scalar("SELECT version FROM policy_document") == "vn-2026.12"
    assert [r[0] for r in store.query("SELECT commune_code FROM assignment")] == [COMMUNE]
    assert store.meta("commune_code") == COMMUNE


def test_enrol_stores_the_device_identity(server: Server, laptops: MakeLaptop) -> None:
    """Enrolment keeps the token, device id (the laptop's own), agent, key and server address."""
    agent = server.add_agent("Trần Thị Bình", [COMMUNE])
    a = laptops("a")
    a.enrol(agent)
    store = a.ws.store
    assert store.meta("agent_id") == agent and a.ws.agent_id == agent
    assert store.meta("agent_name") == "Trần Thị Bình"
    assert store.meta("server_url") == server.base_url
    assert is_uuid(store.meta("server_device_id"))
    # The server adopts the laptop's own id, so its clock stamps need no translation.
    assert store.meta("server_device_id") == store.device_id
    assert len(signing.decode_device_key(store.meta("device_key") or "")) == 32
    assert store.meta("device_token")
    with a.client() as client, pytest.raises(Exception) as refused:
        client.enrol(server.base_url, "WRONGCODE1")
    assert getattr(refused.value, "status", None) == 403


def test_5xx_is_retried_with_backoff_and_4xx_is_not(server: Server, laptops: MakeLaptop) -> None:
    """Two 503s then success sleeps twice with jitter; a 400 is reported at once, rows kept."""
    a = laptops("a")
    a.enrol(server.add_agent("A", [COMMUNE]))
    a.add_household()
    failures = iter([503, 503])

    def flaky(request: httpx.Request, forward: Callable[[], httpx.Response]) -> httpx.Response:
        if request.url.path == wire.BATCHES_PATH:
            status = next(failures, None)
            if status is not None:
                return httpx.Response(status, json={"code": "busy", "vi": "bận", "en": "busy"})
        return forward()

    sleeps: list[float] = []
    result = a.sync(
        transport=ForwardingTransport(flaky), sleep=sleeps.append, random=lambda: 0.5, backoff=2.0
    )
    assert result.ok, result.as_dict()
    assert sleeps == [1.0, 2.0]

    a.add_household(head="Hoàng Văn Em")

    def bad_request(
        request: httpx.Request, forward: Callable[[], httpx.Response]
    ) -> httpx.Response:
        if request.url.path == wire.BATCHES_PATH:
            return httpx.Response(400, json={"code": "bad", "vi": "sai", "en": "wrong"})
        return forward()

    sleeps.clear()
    result = a.sync(transport=ForwardingTransport(bad_request), sleep=sleeps.append)
    assert not result.ok and sleeps == []
    assert [(e.code, getattr(e, "status", None)) for e in result.errors] == [("bad", 400)]
    assert a.pending() == 1


def test_timeouts_never_count_as_success(server: Server, laptops: MakeLaptop) -> None:
    """The server applied the batch but every answer timed out: the run fails, rows stay."""
    a = laptops("a")
    a.enrol(server.add_agent("A", [COMMUNE]))
    a.add_household()

    def slow(request: httpx.Request, forward: Callable[[], httpx.Response]) -> httpx.Response:
        response = forward()
        if request.url.path == wire.BATCHES_PATH:
            raise httpx.ReadTimeout("timed out", request=request)
        return response

    sleeps: list[float] = []
    result = a.sync(transport=ForwardingTransport(slow), sleep=sleeps.append, max_attempts=3)
    assert not result.ok and result.accepted == 0
    assert [e.code for e in result.errors] == ["timeout"]
    assert len(sleeps) == 2
    assert a.pending() == 1
    log = syncstate.last_run(a.ws.store)
    assert log is not None and log["ok"] is False
    assert a.sync().ok and a.pending() == 0
    assert len(server_batches(server)) == 1


def test_cancel_stops_before_sending(server: Server, laptops: MakeLaptop) -> None:
    """A cancel is honoured before the next request; nothing is marked sent."""
    a = laptops("a")
    a.enrol(server.add_agent("A", [COMMUNE]))
    a.add_household()
    result = a.sync(should_cancel=lambda: True)
    assert result.cancelled and not result.ok and result.accepted == 0
    assert a.pending() == 1
    assert server_batches(server) == []


def test_batches_are_bounded_and_sent_in_order(server: Server, laptops: MakeLaptop) -> None:
    """With a small batch size the outbox goes out in several batches, oldest first."""
    a = laptops("a")
    a.enrol(server.add_agent("A", [COMMUNE]))
    home = a.add_household()
    for name in ("Lò Văn Thành", "Lò Thị Mai", "Lò Văn Tâm", "Lò Thị Hoa"):
        a.ws.members.add(home, full_name=name)
    seen: list[int] = []
    result = a.sync(batch_size=2, progress=lambda done, total: seen.append(done) if total else None)
    assert result.ok and result.accepted == 5
    assert len(server_batches(server)) == 3
    assert seen[-1] == 5


def test_restarted_store_keeps_batch_ids_until_acknowledged(tmp_path: Path) -> None:
    """Batch ids are committed before sending, so a reopened store finds the same batch."""
    from sync.protocol.clock import FixedClock

    ws = Workspace.open(tmp_path, clock=FixedClock(dt.datetime(2026, 11, 23, tzinfo=dt.UTC)))
    for head in ("Lò Văn An", "Lò Văn Bình", "Lò Văn Cường"):
        ws.households.add(
            province_code="04", commune_code=COMMUNE, village="Bản Phố", head_name=head
        )
    first = syncstate.claim_batch(ws.store, limit=2)
    assert first is not None and [r.seq for r in first.rows] == [1, 2]
    ws.close()
    store = Store(tmp_path / "fieldapp.sqlite3", clock=FixedClock(dt.datetime.now(dt.UTC)))
    again = syncstate.claim_batch(store, limit=2)
    assert again == first
    outcome = syncstate.apply_ack(store, batch_id=first.batch_id, accepted=[1], refused=[])
    assert (outcome.accepted, outcome.unacknowledged) == (1, 1)
    following = syncstate.claim_batch(store, limit=2)
    assert following is not None and following.batch_id != first.batch_id
    assert [r.seq for r in following.rows] == [2, 3]
    store.close()


def test_every_sync_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`fieldapp sync <command> --help` works for each command, in Vietnamese by default."""
    for command in ("enrol", "run", "status", "export", "ack"):
        with pytest.raises(SystemExit) as done:
            fieldapp_main(["sync", command, "--help"])
        assert done.value.code == 0
        assert "usage:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        fieldapp_main(["sync", "--help"])
    assert "đồng bộ" in capsys.readouterr().out.lower()


def test_cli_run_reports_and_fails_without_a_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sync run` on a laptop that never enrolled says so and exits non-zero; status is logged."""
    monkeypatch.setenv("FIELDAPP_LANG", "en")
    data = ["--data-dir", str(tmp_path)]
    assert fieldapp_main([*data, "sync", "run"]) == 1
    assert "not enrolled" in capsys.readouterr().err
    assert fieldapp_main([*data, "sync", "status"]) == 0
    out = capsys.readouterr().out
    assert "Pending: 0" in out and "failed" in out


def test_receipt_on_a_server_book_is_accepted(server: Server, laptops: MakeLaptop) -> None:
    """A receipt numbered from a book pulled from the server is accepted with its paid event."""
    agent = server.add_agent("A", [COMMUNE])
    with server.engine.begin() as conn:
        admin.add_receipt_book(
            conn, agent_id=agent, series="AA/26", first=1, last=50, clock=server.clock
        )
    a = laptops("a")
    a.enrol(agent)
    assert a.sync().ok
    home, _ = _fill(a)
    pledge = a.ws.pledges.of_household(home)[0]
    receipt = a.ws.receipts.issue(pledge_ids=[pledge.id])
    assert receipt.number == 1
    result = a.sync()
    assert result.ok, result.as_dict()
    counts = server_counts(server)
    assert (counts["receipt"], counts["pledge_event"]) == (1, 2)


def test_ca_file_from_the_environment_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FIELDAPP_CA_FILE pins the trusted CA; a missing file is reported, not ignored."""
    from sync.protocol.clock import FixedClock

    monkeypatch.setenv("FIELDAPP_CA_FILE", str(tmp_path / "missing-ca.pem"))
    with (
        Workspace.open(tmp_path, clock=FixedClock(dt.datetime.now(dt.UTC))) as ws,
        SyncClient(ws) as client,
        pytest.raises(Exception) as failed,
    ):
        client.enrol("https://127.0.0.1:9", "ABCDEFGHJK")
    assert getattr(failed.value, "code", None) == "bad_ca_file"


def test_reachable_asks_the_health_check_with_the_sync_settings(
    server: Server, laptops: MakeLaptop, tmp_path: Path
) -> None:
    """The probe uses the client's own connection settings: an unreadable pinned CA file or a
    dead address is "not reachable", never an exception, and never a retry loop."""
    ws = laptops("a").ws
    with SyncClient(ws, server_url=server.base_url) as client:
        assert client.reachable(timeout=5)
    with SyncClient(ws, server_url="http://127.0.0.1:9", max_attempts=5) as client:
        assert not client.reachable(timeout=2)
    missing = tmp_path / "no-such-ca.pem"
    with SyncClient(ws, server_url=server.base_url, ca_file=missing) as client:
        assert not client.reachable(timeout=5)
    with SyncClient(ws) as client:  # not enrolled, no address
        assert not client.reachable()


def test_pulled_targets_and_assignment_replace_what_was_there(tmp_path: Path) -> None:
    """A target pulled again takes its new count; a new assignment drops the communes it no
    longer lists; a page that fails half-way leaves both as they were."""
    from sync.protocol.clock import FixedClock

    def change(n: int, entity: str, id_: str, data: dict[str, object]) -> dict[str, object]:
        return {"cursor": n, "entity": entity, "id": id_, "hlc": f"{n:015d}-00000-s", "data": data}

    def state(store: Store) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], int]:
        targets = [tuple(r) for r in store.query("SELECT id, month, count FROM target")]
        communes = [
            tuple(r)
            for r in store.query(
                "SELECT commune_code, province_code, name FROM assignment ORDER BY commune_code"
            )
        ]
        return targets, communes, syncstate.cursor(store)

    target = {"scheme": "bhyt_household", "month": "2026-12", "count": 40}
    both = [{"commune_code": COMMUNE, "province_code": "15", "name": "Xã A"}, OTHER]
    store = Store(tmp_path / "fieldapp.sqlite3", clock=FixedClock(dt.datetime.now(dt.UTC)))
    try:
        syncstate.apply_page(
            store,
            [change(1, "target", "t1", target), change(2, "assignment", "a", {"communes": both})],
            new_cursor=2,
        )
        first = ([("t1", "2026-12", 40)], [(COMMUNE, "15", "Xã A"), (OTHER, "", "")], 2)
        assert state(store) == first
        only = [{"commune_code": OTHER, "province_code": "15", "name": "Xã B"}]
        second = [
            change(3, "target", "t1", {**target, "count": 45}),
            change(4, "assignment", "a", {"communes": only}),
        ]

        def fail_after_both(done: int) -> None:
            if done == len(second):
                raise Crash()

        with pytest.raises(Crash):
            syncstate.apply_page(store, second, new_cursor=4, on_change=fail_after_both)
        assert state(store) == first

        syncstate.apply_page(store, second, new_cursor=4)
        assert state(store) == ([("t1", "2026-12", 45)], [(OTHER, "15", "Xã B")], 4)
        assert store.meta("commune_code") == OTHER
    finally:
        store.close()
