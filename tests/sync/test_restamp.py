"""Work made before enrolment, and records the province refused: re-stamped for the enrolled
agent, moved to an assigned commune or discarded with a reason — real laptops (real
Workspaces on SQLite files) against the real server on a loopback port."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from fieldapp import refusals
from fieldapp.cli import main as fieldapp_main
from fieldapp.errors import ValidationError
from fieldapp.visits import Visits
from sync.protocol.errors import FieldappError
from sync.server import admin
from tests.sync.client_fixtures import COMMUNE, OTHER, Laptop, laptop_factory, server_counts
from tests.sync.conftest import Server

MakeLaptop = Callable[[str], Laptop]
SERIES = "LC-TAY-26"


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    yield from laptop_factory(server, tmp_path)


def _day_of_work(laptop: Laptop, commune: str = COMMUNE) -> dict[str, str]:
    """A household with its head, a visit, a BHYT pledge paid on a receipt from a book the
    laptop started by hand; the ids."""
    ws = laptop.ws
    home = laptop.add_household(commune)
    head = ws.members.add(home, full_name="Nguyễn Văn An", relation="chủ hộ", sex="male")
    visit = ws.visits.record(home, outcome="pledged")
    [pledge] = ws.pledges.pledge_bhyt_household(
        home, member_ids=[head.id], months=12, start=dt.date(2026, 12, 1)
    )
    if not ws.receipts.books():
        ws.receipts.add_book(series=SERIES, first=1, last=50)
    receipt = ws.receipts.issue(pledge_ids=[pledge.id])
    return {
        "household": home,
        "visit": str(visit.id),
        "pledge": str(pledge.id),
        "receipt": str(receipt.id),
    }


def _register_hand_book(server: Server, agent_id: str) -> None:
    with server.engine.begin() as conn:
        admin.register_hand_entered_book(
            conn,
            agent_id=agent_id,
            book_id=None,
            series=SERIES,
            first=1,
            last=50,
            clock=server.clock,
        )


def _server_value(server: Server, table: str, field: str, record_id: str) -> object:
    """A field of the server's copy of a record (as the laptop sent it)."""
    query = sa.select(sa.table(table, sa.column("id"), sa.column("data", sa.JSON)).c.data)
    with server.engine.connect() as conn:
        data = conn.execute(query.where(sa.column("id") == record_id)).scalar()
    assert isinstance(data, dict), data
    return data[field]


def test_work_before_enrolment_is_restamped_and_the_whole_day_is_accepted(
    server: Server, laptops: MakeLaptop
) -> None:
    """A visit, a pledge and a receipt made before enrolment carry the laptop's own id (the
    visit) and no collector (the receipt); enrolment gives them the agent, logs each one, and
    the sync is accepted whole: the book entered by hand goes with it, no supervisor needed."""
    laptop = laptops("a")
    device_id = laptop.ws.store.device_id
    ids = _day_of_work(laptop)
    assert laptop.ws.store.scalar("SELECT agent_id FROM visit") == device_id
    assert laptop.ws.store.scalar("SELECT issued_by FROM receipt") == ""
    assert refusals.restamps(laptop.ws.store) == []

    agent = server.add_agent("Lò Thị Hoa", [COMMUNE])
    with laptop.client() as client:
        enrolment = client.enrol(server.base_url, server.enrol_code(agent))
    logged = {
        (r.entity, r.entity_id, r.field, r.old_agent, r.new_agent, r.cause)
        for r in refusals.restamps(laptop.ws.store)
    }
    assert logged == {
        ("visit", ids["visit"], "agent_id", device_id, agent, "enrolment"),
        ("receipt", ids["receipt"], "issued_by", "", "Lò Thị Hoa", "enrolment"),
    }
    assert len(enrolment.restamped) == 2
    assert enrolment.restamped_note() is not None
    # The stored records and the outbox payloads both carry the agent now.
    assert laptop.ws.store.scalar("SELECT agent_id FROM visit") == agent
    assert laptop.ws.store.scalar("SELECT issued_by FROM receipt") == "Lò Thị Hoa"
    payload = laptop.ws.store.scalar(
        "SELECT json_extract(data, '$.agent_id') FROM outbox WHERE entity = 'visit'"
    )
    assert payload == agent

    result = laptop.sync()
    assert result.ok, result.as_dict()
    assert result.refused == []
    assert laptop.pending() == 0
    with server.engine.connect() as conn:
        books = conn.execute(sa.text("SELECT agent_id, series, origin FROM receipt_books"))
        assert [tuple(b) for b in books] == [(agent, SERIES, "hand_entered")]
    counts = server_counts(server)
    assert {k: counts[k] for k in ("visit", "pledge", "receipt")} == {
        "visit": 1,
        "pledge": 1,
        "receipt": 1,
    }
    assert _server_value(server, "visits", "agent_id", ids["visit"]) == agent


def test_without_the_restamp_the_province_refuses_the_visit(
    server: Server, laptops: MakeLaptop
) -> None:
    """The check the re-stamp answers: a visit still naming the laptop's own id is refused as
    another agent's — then the refusal action re-stamps it, and the next sync is accepted."""
    laptop = laptops("a")
    agent = server.add_agent("Lò Thị Hoa", [COMMUNE])
    laptop.enrol(agent)
    home = laptop.add_household()
    # As an app that kept the agent it opened with did: the visit names the laptop's own id.
    stale = Visits(laptop.ws.store, agent_id=laptop.ws.store.device_id).record(
        home, outcome="consulted"
    )
    first = laptop.sync()
    [refused] = first.refused
    assert (refused.entity, refused.entity_id, refused.code) == (
        "visit",
        stale.id,
        "agent_mismatch",
    )
    assert refusals.actions_for(laptop.ws.store, refused.seq) == (
        refusals.RESTAMP,
        refusals.DISCARD,
    )

    stamped = refusals.restamp_refused(laptop.ws.store, refused.seq)
    assert (stamped.old_agent, stamped.new_agent, stamped.cause) == (
        laptop.ws.store.device_id,
        agent,
        "refusal_action",
    )
    assert laptop.pending() == 1
    second = laptop.sync()
    assert second.ok, second.as_dict()
    assert laptop.ws.store.scalar("SELECT count(*) FROM outbox WHERE state = 'refused'") == 0
    assert _server_value(server, "visits", "agent_id", stale.id) == agent
    # Nothing left to act on.
    with pytest.raises(FieldappError) as gone:
        refusals.restamp_refused(laptop.ws.store, refused.seq)
    assert gone.value.code == "not_refused"


def test_another_enrolled_agents_work_is_never_restamped(
    server: Server, laptops: MakeLaptop
) -> None:
    """A laptop enrolled for A, then re-enrolled for B: A's unsent visit keeps A's id, is not
    in the re-stamp log, and the re-stamp action refuses it (only discarding is offered)."""
    laptop = laptops("a")
    agent_a = server.add_agent("Lò Thị Hoa", [COMMUNE])
    agent_b = server.add_agent("Vàng A Páo", [COMMUNE])
    laptop.enrol(agent_a)
    home = laptop.add_household()
    visit_a = laptop.ws.visits.record(home, outcome="consulted")
    assert laptop.ws.store.scalar("SELECT agent_id FROM visit") == agent_a

    laptop.enrol(agent_b)
    assert refusals.restamps(laptop.ws.store) == []
    assert laptop.ws.store.scalar("SELECT agent_id FROM visit WHERE id = ?", (visit_a.id,)) == (
        agent_a
    )
    result = laptop.sync()
    [refused] = result.refused
    assert (refused.entity_id, refused.code) == (visit_a.id, "agent_mismatch")
    assert refusals.actions_for(laptop.ws.store, refused.seq) == (refusals.DISCARD,)
    with pytest.raises(FieldappError) as other:
        refusals.restamp_refused(laptop.ws.store, refused.seq)
    assert other.value.code == "other_agents_work"
    assert laptop.ws.store.scalar("SELECT agent_id FROM visit WHERE id = ?", (visit_a.id,)) == (
        agent_a
    )
    assert refusals.restamps(laptop.ws.store) == []


def test_discarding_keeps_the_row_and_its_reason_and_stops_sending_it(
    server: Server, laptops: MakeLaptop
) -> None:
    """A discarded refusal needs a reason; the row stays in the store with it, is no longer
    listed as refused, and later syncs do not send it."""
    laptop = laptops("a")
    agent_a = server.add_agent("Lò Thị Hoa", [COMMUNE])
    laptop.enrol(agent_a)
    home = laptop.add_household()
    visit_a = laptop.ws.visits.record(home, outcome="consulted")
    laptop.enrol(server.add_agent("Vàng A Páo", [COMMUNE]))
    [refused] = laptop.sync().refused

    with pytest.raises(ValidationError):
        refusals.discard(laptop.ws.store, refused.seq, "   ")
    assert laptop.ws.store.scalar("SELECT state FROM outbox WHERE seq = ?", (refused.seq,)) == (
        "refused"
    )
    gone = refusals.discard(laptop.ws.store, refused.seq, "Lượt thăm của chị Hoa, chị tự nhập lại")
    assert (gone.entity_id, gone.refusal_code) == (visit_a.id, "agent_mismatch")
    assert refusals.discarded(laptop.ws.store) == [gone]
    row = laptop.ws.store.one("SELECT state, data FROM outbox WHERE seq = ?", (refused.seq,))
    assert row is not None and row["state"] == "discarded" and visit_a.id in row["data"]
    with laptop.client() as client:
        assert client.status().refused == []
    again = laptop.sync()
    assert again.ok and again.sent == 0, again.as_dict()
    assert server_counts(server)["visit"] == 0
    with pytest.raises(FieldappError):
        refusals.discard(laptop.ws.store, refused.seq, "lần nữa")


def test_moving_the_household_to_an_assigned_commune_gets_it_and_its_work_accepted(
    server: Server, laptops: MakeLaptop
) -> None:
    """A household recorded before enrolment in a commune the agent is not assigned: it is
    refused as out of scope and its work as unknown; moving it to the assigned commune is an
    edit of its own, and the next sync takes the household and everything on it."""
    laptop = laptops("a")
    ids = _day_of_work(laptop, commune=OTHER)
    agent = server.add_agent("Lò Thị Hoa", [COMMUNE])
    laptop.enrol(agent)
    # Registered by a supervisor from its paper cover as well: the laptop's copy of the book
    # (under its own id) is then taken as the same book, not refused as an overlap.
    _register_hand_book(server, agent)
    first = laptop.sync()
    codes = {r.entity: r.code for r in first.refused}
    assert codes["household"] == "out_of_scope"
    assert codes["visit"] == "unknown_household"
    household_row = next(r for r in first.refused if r.entity == "household")
    assert refusals.actions_for(laptop.ws.store, household_row.seq) == (
        refusals.MOVE_COMMUNE,
        refusals.DISCARD,
    )
    assert [c.commune_code for c in refusals.assigned_communes(laptop.ws.store)] == [COMMUNE]
    with pytest.raises(ValidationError):
        refusals.move_to_assigned_commune(laptop.ws.store, household_row.seq, "04555")

    requeued = refusals.move_to_assigned_commune(laptop.ws.store, household_row.seq, COMMUNE)
    assert requeued == len(first.refused)
    assert laptop.ws.households.get(ids["household"]).commune_code == COMMUNE
    # The move itself is an edit in the outbox, like any other.
    edits = laptop.ws.store.query(
        "SELECT data FROM outbox WHERE entity = 'household' AND op = 'update' AND state = 'pending'"
    )
    assert len(edits) == 1 and f'"commune_code":"{COMMUNE}"' in edits[0]["data"]

    second = laptop.sync()
    assert second.ok, second.as_dict()
    assert laptop.ws.store.scalar("SELECT count(*) FROM outbox WHERE state = 'refused'") == 0
    assert _server_value(server, "households", "commune_code", ids["household"]) == COMMUNE
    counts = server_counts(server)
    assert {k: counts[k] for k in ("household", "member", "visit", "pledge", "receipt")} == {
        "household": 1,
        "member": 1,
        "visit": 1,
        "pledge": 1,
        "receipt": 1,
    }
    logged = laptop.ws.store.scalar(
        "SELECT count(*) FROM refusal_action WHERE action = 'move_commune'"
    )
    assert logged == requeued


def test_the_command_line_says_what_enrolment_restamped(
    server: Server,
    laptops: MakeLaptop,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`fieldapp sync enrol` names how many records made before enrolment now carry the agent."""
    monkeypatch.setenv("FIELDAPP_LANG", "vi")
    laptop = laptops("a")
    home = laptop.add_household()
    laptop.ws.visits.record(home, outcome="consulted")
    laptop.ws.visits.record(home, outcome="follow_up")
    agent = server.add_agent("Lò Thị Hoa", [COMMUNE])
    code = server.enrol_code(agent)
    data = ["--data-dir", str(laptop.data_dir)]
    assert fieldapp_main([*data, "sync", "enrol", "--server", server.base_url, "--code", code]) == 0
    out = capsys.readouterr().out
    assert "2 bản ghi làm trước khi đăng ký đã được ghi lại cho Lò Thị Hoa" in out
    assert [r.new_agent for r in refusals.restamps(laptop.ws.store)] == [agent, agent]
