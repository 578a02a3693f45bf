"""Applying one batch: the ack record by record, parents earlier in the batch, feed order, cost."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from sync.protocol import wire
from sync.server.schema import changes, field_conflicts, households
from tests.sync.conftest import (
    Laptop,
    Server,
    household,
    member,
    new_id,
    pledge,
    receipt,
    visit,
)

COMMUNE = "04001"
OTHER = "04099"


def _event(pledge_id: str) -> dict[str, Any]:
    return {
        "id": new_id(),
        "pledge_id": pledge_id,
        "status": "pledged",
        "at": "2026-11-23T08:05:00.000Z",
        "reason": None,
        "receipt_id": None,
    }


def _void(receipt_id: str) -> dict[str, Any]:
    return {
        "id": new_id(),
        "receipt_id": receipt_id,
        "reason": "Ghi sai",
        "at": "2026-11-23T09:00:00.000Z",
    }


def _update(
    laptop: Laptop, record_id: str, base: dict[str, str | None] | None, **fields: Any
) -> wire.Record:
    return laptop.record("household", fields, op="update", base=base, record_id=record_id)


def _refusal(record: wire.Record, code: str, en: str) -> tuple[int, str, str, str, str]:
    return (record["seq"], record["id"], record["entity"], code, en)


def _feed_of(server: Server, device_id: str) -> list[tuple[str, str]]:
    with server.engine.connect() as conn:
        rows = conn.execute(
            sa.select(changes.c.entity, changes.c.entity_id)
            .where(changes.c.origin_device_id == device_id)
            .order_by(changes.c.cursor)
        )
        return [(row.entity, row.entity_id) for row in rows]


@contextmanager
def _statements(server: Server) -> Iterator[list[str]]:
    """The SQL statements sent to the database meanwhile (an executemany counts once)."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(server.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(server.engine, "before_cursor_execute", count)


def test_mixed_batch_gives_the_ack_record_by_record(server: Server) -> None:
    """New, duplicate, conflicting, out-of-scope and orphan records in one batch, each answered."""
    agent = server.add_agent("A", [COMMUNE])
    other_agent = server.add_agent("B", [COMMUNE, OTHER])
    book = server.add_book(agent, "AA/26", 1, 10)
    laptop, other = server.laptop(agent), server.laptop(other_agent)
    home, elsewhere = household(COMMUNE), household(OTHER)
    person = member(home["id"])
    call = visit(home["id"], agent)
    promise = pledge(home["id"], person["id"])
    paid = receipt(home["id"], book, 1)
    created = laptop.record("household", home)
    first = laptop.send(
        created,
        laptop.record("member", person),
        laptop.record("visit", call),
        laptop.record("pledge", promise),
        laptop.record("receipt", paid),
    )
    assert first["refused"] == [] and first["conflicts"] == 0
    other.now_ms = laptop.now_ms + 60_000
    assert (
        other.send(
            other.record("household", elsewhere),
            other.phone_change(home, "0922222222", seen=created["hlc"]),
        )["refused"]
        == []
    )

    new_home, far_home = household(COMMUNE), household(OTHER)
    new_person = member(new_home["id"])
    new_pledge = pledge(new_home["id"], new_person["id"])
    new_receipt = receipt(new_home["id"], book, 2)
    new_call = visit(new_home["id"], agent)
    laptop.now_ms = other.now_ms - 30_000  # edits the phone before B's edit, without seeing it
    records = [
        same_call := laptop.record("visit", call),
        changed_call := laptop.record("visit", {**call, "outcome": "refused"}),
        far := laptop.record("household", far_home),
        far_person := laptop.record("member", member(far_home["id"])),
        laptop.record("household", new_home),
        laptop.record("member", new_person),
        laptop.record("pledge", new_pledge),
        laptop.record("pledge_event", _event(new_pledge["id"])),
        lost_pledge := laptop.record("pledge_event", _event(new_id())),
        laptop.record("receipt", new_receipt),
        reused := laptop.record("receipt", receipt(new_home["id"], book, 2)),
        reused_stored := laptop.record("receipt", receipt(new_home["id"], book, 1)),
        outside_book := laptop.record("receipt", receipt(new_home["id"], book, 11)),
        laptop.record("receipt_void", _void(new_receipt["id"])),
        lost_receipt := laptop.record("receipt_void", _void(new_id())),
        stale := _update(
            laptop, home["id"], {"phone": created["hlc"]}, commune_code=COMMUNE, phone="0911111111"
        ),
        _update(laptop, new_home["id"], None, commune_code=COMMUNE, head_name="Lò Văn Bình"),
        unknown := _update(laptop, new_id(), None, commune_code=COMMUNE, phone="0"),
        moved := laptop.record(
            "member", {"household_id": elsewhere["id"]}, op="update", record_id=person["id"]
        ),
        wrong_member := laptop.record("pledge", pledge(new_home["id"], person["id"])),
        wrong_agent := laptop.record("visit", visit(new_home["id"], other_agent)),
        bad_field := laptop.record("visit", visit(new_home["id"], agent, outcome="maybe")),
        same_promise := laptop.record("pledge", promise),
        laptop.record("visit", new_call),
        same_new_call := laptop.record("visit", new_call),
        changed_new_call := laptop.record("visit", {**new_call, "notes": "khác"}),
    ]
    batch = laptop.batch(records)
    response = laptop.upload(batch)
    assert response.status_code == 200, response.text
    ack = wire.validate_ack(response.json())

    refused = [
        _refusal(
            changed_call,
            "conflicting_duplicate",
            "The server already has a record with this id and different content; it is kept",
        ),
        _refusal(far, "out_of_scope", f"Commune {OTHER} is not assigned to this agent"),
        _refusal(far_person, "unknown_household", f"The server has no household {far_home['id']}"),
        _refusal(
            lost_pledge,
            "unknown_pledge",
            f"The server has no pledge {lost_pledge['data']['pledge_id']}",
        ),
        _refusal(reused, "receipt_number_used", "Receipt number AA/26 2 is already used"),
        _refusal(reused_stored, "receipt_number_used", "Receipt number AA/26 1 is already used"),
        _refusal(
            outside_book,
            "receipt_book_mismatch",
            "Receipt AA/26 11 is not in a book allocated to this agent",
        ),
        _refusal(
            lost_receipt,
            "unknown_receipt",
            f"The server has no receipt {lost_receipt['data']['receipt_id']}",
        ),
        _refusal(
            unknown, "unknown_household", f"The server has no household {unknown['id']} to update"
        ),
        _refusal(moved, "out_of_scope", f"Commune {OTHER} is not assigned to this agent"),
        _refusal(
            wrong_member,
            "unknown_member",
            f"The server has no member {person['id']} in this household",
        ),
        _refusal(wrong_agent, "agent_mismatch", "The visit names another agent than the device's"),
        _refusal(bad_field, "invalid_field", ack["refused"][12]["en"]),
        _refusal(
            changed_new_call,
            "conflicting_duplicate",
            "The server already has a record with this id and different content; it is kept",
        ),
    ]
    assert [(r["seq"], r["id"], r["entity"], r["code"], r["en"]) for r in ack["refused"]] == refused
    assert "visit.outcome" in ack["refused"][12]["en"]
    assert all(r["vi"] for r in ack["refused"])
    refused_seqs = {r[0] for r in refused}
    assert ack["accepted"] == [r["seq"] for r in records if r["seq"] not in refused_seqs]
    assert same_call["seq"] in ack["accepted"]
    assert ack["conflicts"] == 1

    # The feed has one entry per record that changed something, in batch order: not the
    # resent facts, nor the stale phone edit that lost to B's (only its conflict is kept).
    written = [
        r
        for r in records
        if r["seq"] in ack["accepted"] and r not in (same_call, same_promise, same_new_call, stale)
    ]
    feed = _feed_of(server, laptop.device_id)
    assert feed[5:] == [(r["entity"], r["id"]) for r in written]
    with server.engine.connect() as conn:
        conflict = conn.execute(sa.select(field_conflicts)).one()
        stored = dict(conn.execute(sa.select(households.c.id, households.c.data)).all())
    assert (conflict.entity_id, conflict.field, conflict.winner) == (home["id"], "phone", "server")
    assert conflict.batch_id == batch["batch_id"]
    assert conflict.incoming_hlc == stale["hlc"] and conflict.incoming_value == "0911111111"
    assert stored[home["id"]]["phone"] == "0922222222"
    assert stored[new_home["id"]]["head_name"] == "Lò Văn Bình"
    assert far_home["id"] not in stored
    assert server.count("receipts") == 2 and server.count("receipt_voids") == 1
    assert server.count("visits") == 2 and server.count("pledges") == 2

    # The same batch again: the stored ack, and nothing written twice.
    counts = {table: server.count(table) for table in ("changes", "field_conflicts", "visits")}
    again = laptop.upload(batch)
    assert again.json() == response.json()
    assert {table: server.count(table) for table in counts} == counts


def test_record_after_a_refused_parent_is_refused_too(server: Server) -> None:
    """A member whose household was refused earlier in the batch finds no household."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    home = household(COMMUNE, head_name=" ")
    person = member(home["id"])
    ack = laptop.send(laptop.record("household", home), laptop.record("member", person))
    assert [(r["seq"], r["code"]) for r in ack["refused"]] == [
        (1, "invalid_field"),
        (2, "unknown_household"),
    ]
    assert server.count("households") == 0 and server.count("changes WHERE entity = 'member'") == 0


def test_insert_then_edits_in_one_batch_feed_each_step(server: Server) -> None:
    """A household created and edited twice in one batch: stored once, three feed entries."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    viewer = server.laptop(server.add_agent("V", [COMMUNE]))
    home = household(COMMUNE)
    created = laptop.record("household", home)
    phone = _update(laptop, home["id"], {"phone": created["hlc"]}, commune_code=COMMUNE, phone="1")
    person = laptop.record("member", member(home["id"]))
    notes = _update(laptop, home["id"], None, commune_code=COMMUNE, notes="Hẹn lại")
    ack = laptop.send(created, phone, person, notes)
    assert ack["accepted"] == [1, 2, 3, 4] and ack["conflicts"] == 0
    pulled, _ = viewer.pull()
    steps = [c for c in pulled if c["entity"] in ("household", "member")]
    assert [(c["entity"], c["hlc"]) for c in steps] == [
        ("household", created["hlc"]),
        ("household", phone["hlc"]),
        ("member", person["hlc"]),
        ("household", notes["hlc"]),
    ]
    assert [c["data"]["phone"] for c in steps if c["entity"] == "household"] == [
        home["phone"],
        "1",
        "1",
    ]
    assert steps[3]["data"]["notes"] == "Hẹn lại"
    assert steps[3]["field_hlc"]["phone"] == phone["hlc"]
    assert steps[3]["field_hlc"]["head_name"] == created["hlc"]
    assert server.count("households") == 1


def _households_with_children(laptop: Laptop, count: int) -> list[wire.Record]:
    records: list[wire.Record] = []
    for _ in range(count):
        home = household(COMMUNE)
        person = member(home["id"])
        promise = pledge(home["id"], person["id"])
        records += [
            laptop.record("household", home),
            laptop.record("member", person),
            laptop.record("visit", visit(home["id"], laptop.agent_id)),
            laptop.record("pledge", promise),
            laptop.record("pledge_event", _event(promise["id"])),
        ]
    return records


def test_statements_per_batch_do_not_grow_with_its_records(server: Server) -> None:
    """A batch of 2,000 records costs the same few statements as one of 50."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    counts = []
    for households_count in (10, 400):
        records = _households_with_children(laptop, households_count)
        with _statements(server) as seen:
            ack = laptop.send(*records)
        assert len(ack["accepted"]) == len(records)
        counts.append(len(seen))
    assert counts[0] == counts[1] and counts[1] <= 30, counts
    assert server.count("changes WHERE origin_device_id IS NOT NULL") == 2050


def test_references_to_records_new_in_the_batch_are_not_read(server: Server) -> None:
    """A fresh batch's members, pledges and events refer to households, members and pledges
    the same batch brings: the server learns those as it applies them, and reads none of them
    from the database (only the records' own ids, to find resends)."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    records = _households_with_children(laptop, 20)
    with _statements(server) as seen:
        ack = laptop.send(*records)
    assert len(ack["accepted"]) == len(records)
    # The lookups by reference select an id and one column; reads of whole rows are not them.
    lookups = [
        "households.id, households.commune_code",
        "members.id, members.household_id",
        "pledges.id, pledges.household_id",
        "pledges.id, devices.agent_id",
    ]
    read = [s for s in seen if any(re.match(rf"SELECT {c}\s+FROM", s) for c in lookups)]
    assert read == [], read
    # Without the batch's own records these lookups do run (the test would see them).
    with _statements(server) as seen:
        laptop.send(laptop.record("pledge_event", _event(records[3]["id"])))
    assert any(re.match(rf"SELECT {lookups[2]}\s+FROM", s) for s in seen), seen


def test_a_member_after_its_household_is_refused_finds_no_household(server: Server) -> None:
    """A well-formed household refused at apply (another commune) is not learnt: its member
    after it in the batch is judged against the database, which has no such household."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    home = household(OTHER)
    person = member(home["id"])
    ack = laptop.send(laptop.record("household", home), laptop.record("member", person))
    assert [(r["seq"], r["code"]) for r in ack["refused"]] == [
        (1, "out_of_scope"),
        (2, "unknown_household"),
    ]
    assert server.count("members") == 0


def test_a_resent_pledge_and_a_new_event_of_it_are_both_taken(server: Server) -> None:
    """A pledge the server holds, sent again as new beside a new event of it: the resend is
    taken as already held (nothing learnt from it), and the event finds the pledge's household
    and owner in the database."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    viewer = server.laptop(server.add_agent("V", [COMMUNE]))
    home = household(COMMUNE)
    person = member(home["id"])
    promise = pledge(home["id"], person["id"])
    first = [laptop.record("household", home), laptop.record("member", person)]
    first.append(laptop.record("pledge", promise))
    assert laptop.send(*first)["refused"] == []
    again = laptop.record("pledge", promise)
    paid = laptop.record("pledge_event", _event(promise["id"]))
    ack = laptop.send(again, paid)
    assert ack["refused"] == [] and ack["accepted"] == [again["seq"], paid["seq"]]
    assert server.count("pledges") == 1 and server.count("pledge_events") == 1
    pulled, _ = viewer.pull()
    assert [c["id"] for c in pulled if c["entity"] == "pledge_event"] == [paid["id"]]


def test_an_event_before_its_pledge_in_the_batch_finds_no_pledge(server: Server) -> None:
    """Records apply in batch order: an event sent before its (new) pledge finds no pledge,
    as it would have before the pledge was sent."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    home = household(COMMUNE)
    person = member(home["id"])
    promise = pledge(home["id"], person["id"])
    early = _event(promise["id"])
    records = [laptop.record("household", home), laptop.record("member", person)]
    records += [laptop.record("pledge_event", early), laptop.record("pledge", promise)]
    ack = laptop.send(*records)
    assert [(r["seq"], r["code"]) for r in ack["refused"]] == [
        (records[2]["seq"], "unknown_pledge")
    ]
    assert server.count("pledges") == 1 and server.count("pledge_events") == 0
