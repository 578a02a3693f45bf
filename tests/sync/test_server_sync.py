"""Sync semantics on the real server: immutable facts, field merges, conflicts, scope, pull."""

from __future__ import annotations

import sqlalchemy as sa

from sync.protocol.hlc import EPOCH_MS, hlc_format
from sync.server import admin
from sync.server.schema import households, visits
from tests.sync.conftest import Server, household, member, new_id, pledge, receipt, visit

COMMUNE = "04001"
OTHER = "04099"


def test_immutable_same_id_same_content_accepted_different_refused(server: Server) -> None:
    """Re-sending a fact is harmless; changing it under the same id is refused, never applied."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    home = household(COMMUNE)
    call = visit(home["id"], laptop.agent_id)
    assert (
        laptop.send(laptop.record("household", home), laptop.record("visit", call))["refused"] == []
    )
    assert laptop.send(laptop.record("visit", call))["accepted"] == [3]
    changed = {**call, "outcome": "refused"}
    ack = laptop.send(laptop.record("visit", changed))
    assert ack["accepted"] == []
    assert [r["code"] for r in ack["refused"]] == ["conflicting_duplicate"]
    with server.engine.connect() as conn:
        stored = conn.execute(sa.select(visits.c.data)).scalar_one()
    assert stored["outcome"] == "consulted"
    assert server.count("visits") == 1


def test_edit_from_one_device_is_pulled_by_another_agent_sharing_the_commune(
    server: Server,
) -> None:
    """A's household edit reaches B (another agent in the same commune), not A itself."""
    a = server.laptop(server.add_agent("A", [COMMUNE]))
    b = server.laptop(server.add_agent("B", [COMMUNE, OTHER]))
    home = household(COMMUNE)
    created = a.record("household", home)
    a.send(created)
    edit = a.phone_change(home, "0987654321", seen=created["hlc"])
    assert a.send(edit)["accepted"] == [2]
    changes, _ = b.pull()
    households = [c for c in changes if c["entity"] == "household"]
    assert [c["data"]["phone"] for c in households] == ["0912345678", "0987654321"]
    latest = households[-1]
    assert latest["field_hlc"]["phone"] == edit["hlc"]
    assert latest["field_hlc"]["head_name"] == created["hlc"]
    assert latest["hlc"] == edit["hlc"]
    own, _ = a.pull()
    assert [c["entity"] for c in own] == ["assignment"]


def test_concurrent_edits_of_one_field_record_a_conflict(server: Server) -> None:
    """Both devices change the phone from the same base: later HLC wins, both values kept."""
    agent = server.add_agent("A", [COMMUNE])
    a, b = server.laptop(agent, "a"), server.laptop(agent, "b")
    home = household(COMMUNE)
    created = a.record("household", home)
    a.send(created)
    b.now_ms = a.now_ms + 60_000  # b edits a minute later than a
    edit_a = a.phone_change(home, "0911111111", seen=created["hlc"])
    edit_b = b.phone_change(home, "0922222222", seen=created["hlc"])
    assert b.send(edit_b)["conflicts"] == 0
    ack = a.send(edit_a)
    assert ack["accepted"] == [edit_a["seq"]] and ack["conflicts"] == 1
    with server.engine.begin() as conn:
        conflicts = admin.list_conflicts(conn)
        current = conn.execute(sa.select(households.c.data)).scalar_one()
    assert current["phone"] == "0922222222"
    assert len(conflicts) == 1
    conflict = conflicts[0]
    assert conflict["field"] == "phone"
    assert conflict["server_value"] == "0922222222" and conflict["incoming_value"] == "0911111111"
    assert conflict["winner"] == "server"
    assert conflict["device_id"] == a.device_id


def test_edit_made_after_seeing_the_other_edit_is_no_conflict(server: Server) -> None:
    """When the laptop had pulled the other device's value first, its edit simply wins."""
    agent = server.add_agent("A", [COMMUNE])
    a, b = server.laptop(agent), server.laptop(agent)
    home = household(COMMUNE)
    a.send(a.record("household", home))
    changes, _ = b.pull()
    seen = next(c for c in changes if c["entity"] == "household")
    b.clock.observe(seen["hlc"])
    edit = b.record(
        "household",
        {"commune_code": COMMUNE, "head_name": "Nguyễn Văn Bình"},
        op="update",
        base={"head_name": seen["field_hlc"]["head_name"]},
        record_id=home["id"],
    )
    assert b.send(edit)["conflicts"] == 0
    assert server.count("field_conflicts") == 0


def test_out_of_scope_and_unknown_household_refused(server: Server) -> None:
    """Records outside the agent's communes, or for households the server lacks, are refused."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    elsewhere = household(OTHER)
    orphan = member(new_id())
    home = household(COMMUNE)
    ack = laptop.send(
        laptop.record("household", elsewhere),
        laptop.record("member", orphan),
        laptop.record("household", home),
        laptop.record("member", member(home["id"])),
    )
    assert ack["accepted"] == [3, 4]
    assert [(r["seq"], r["code"]) for r in ack["refused"]] == [
        (1, "out_of_scope"),
        (2, "unknown_household"),
    ]
    assert all(r["vi"] and r["en"] for r in ack["refused"])
    assert server.count("households") == 1 and server.count("members") == 1


def test_invalid_fields_refuse_the_record_not_the_batch(server: Server) -> None:
    """Bad types, negative money and unknown enums are refused per record with reasons."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    home = household(COMMUNE)
    person = member(home["id"])
    bad_money = pledge(home["id"], person["id"], gross=-5, payable=-5)
    bad_enum = visit(home["id"], laptop.agent_id, outcome="maybe")
    bad_date = member(home["id"], date_of_birth="01/05/1990")
    float_money = pledge(home["id"], person["id"], gross=1.5)
    ack = laptop.send(
        laptop.record("household", home),
        laptop.record("member", person),
        laptop.record("pledge", bad_money),
        laptop.record("visit", bad_enum),
        laptop.record("member", bad_date),
        laptop.record("pledge", float_money),
        laptop.record("pledge", pledge(home["id"], person["id"])),
    )
    assert ack["accepted"] == [1, 2, 7]
    assert [r["code"] for r in ack["refused"]] == ["invalid_field"] * 4
    assert "pledge.gross" in ack["refused"][0]["en"]
    assert "visit.outcome" in ack["refused"][1]["en"]


def test_refused_record_leaves_nothing_behind(server: Server) -> None:
    """A receipt outside the agent's book, or reusing a number, changes nothing."""
    agent = server.add_agent("A", [COMMUNE])
    book = server.add_book(agent, "AA/26", 1, 10)
    laptop = server.laptop(agent)
    home = household(COMMUNE)
    ack = laptop.send(
        laptop.record("household", home),
        laptop.record("receipt", receipt(home["id"], book, 1)),
        laptop.record("receipt", receipt(home["id"], book, 1)),
        laptop.record("receipt", receipt(home["id"], book, 11)),
    )
    assert ack["accepted"] == [1, 2]
    assert [r["code"] for r in ack["refused"]] == ["receipt_number_used", "receipt_book_mismatch"]
    assert server.count("receipts") == 1
    assert server.count("changes WHERE entity = 'receipt'") == 1


def test_pull_scope_and_paging(server: Server) -> None:
    """An agent sees its communes, its own reference data and global policies, page by page."""
    a_agent = server.add_agent("A", [COMMUNE])
    b_agent = server.add_agent("B", [OTHER])
    with server.engine.begin() as conn:
        admin.add_receipt_book(
            conn, agent_id=b_agent, series="BB", first=1, last=5, clock=server.clock
        )
        admin.set_target(
            conn, agent_id=a_agent, scheme="bhyt", month="2026-12", count=40, clock=server.clock
        )
        admin.publish_policy(conn, document={"version": "vn-2026.11"}, clock=server.clock)
    a, b = server.laptop(a_agent), server.laptop(b_agent)
    a.send(*(a.record("household", household(COMMUNE)) for _ in range(5)))
    b.send(b.record("household", household(OTHER)))
    observer = server.laptop(server.add_agent("C", [COMMUNE]))
    changes, cursor = observer.pull(limit=2)
    assert [c["entity"] for c in changes] == ["policy"] + ["household"] * 5 + ["assignment"]
    assert len({c["cursor"] for c in changes}) == len(changes)
    again, same_cursor = observer.pull(since=cursor)
    assert again == [] and same_cursor == cursor
    b_changes, _ = b.pull()
    assert sorted(c["entity"] for c in b_changes) == ["assignment", "policy", "receipt_book"]
    a_changes, _ = a.pull()
    assert sorted(c["entity"] for c in a_changes) == ["assignment", "policy", "target"]


def test_member_update_merges_fields(server: Server) -> None:
    """A member update carrying two fields changes only those, and the feed has the whole member."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    home = household(COMMUNE)
    person = member(home["id"])
    laptop.send(laptop.record("household", home), laptop.record("member", person))
    update = laptop.record(
        "member",
        {"household_id": home["id"], "bhyt_card": "GD4040123456789", "removed": True},
        op="update",
        base={"bhyt_card": None, "removed": None},
        record_id=person["id"],
    )
    assert laptop.send(update)["accepted"] == [update["seq"]]
    viewer = server.laptop(server.add_agent("V", [COMMUNE]))
    changes, _ = viewer.pull()
    latest = [c for c in changes if c["entity"] == "member"][-1]
    assert latest["data"]["bhyt_card"] == "GD4040123456789"
    assert latest["data"]["removed"] is True
    assert latest["data"]["full_name"] == person["full_name"]
    assert server.count("field_conflicts") == 0


def test_update_of_unknown_record_refused(server: Server) -> None:
    """An update for a household the server never saw is refused, with the reason."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    update = laptop.record(
        "household", {"commune_code": COMMUNE, "phone": "0"}, op="update", record_id=new_id()
    )
    ack = laptop.send(update)
    assert [r["code"] for r in ack["refused"]] == ["unknown_household"]


def test_records_envelope_problems_are_refusals(server: Server) -> None:
    """Unknown entities and HLCs from another device are refused per record."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    strange = laptop.record("household", household(COMMUNE))
    strange["entity"] = "spaceship"
    forged = laptop.record("household", household(COMMUNE))
    forged["hlc"] = hlc_format(EPOCH_MS, 0, new_id())
    ack = laptop.send(strange, forged)
    assert [r["code"] for r in ack["refused"]] == ["unknown_entity", "bad_hlc"]
