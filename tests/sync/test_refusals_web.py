"""/web/refusals and the dashboard's device status on the real server: records the server
refused are listed per device and agent in scope with what fixes them, leave the list once a
later batch takes them, and flag their laptop on the dashboard."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from sync.protocol import wire
from sync.protocol.clock import iso_utc
from sync.server.schema import agent_communes, batches, devices, receipt_books
from sync.server.web import overview, refusals
from tests.sync.conftest import Laptop, Server, household, new_id, receipt, visit
from tests.sync.test_web import COMMUNE, OTHER, add_supervisor, signed_in

THIRD = "04123"


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def refusal_rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [text_of(r) for r in re.findall(r"<tr>(.*?)</tr>", body, re.S) if "empty" not in r]


@dataclass
class Scene:
    near_agent: str
    far_agent: str
    near: Laptop
    far: Laptop
    hand_book: str
    refused_receipt: dict[str, Any]
    receipt_record: wire.Record
    stray_home: wire.Record


def build(server: Server) -> Scene:
    """Bình (COMMUNE) sends a receipt from a book the province does not know, a visit in
    another agent's name and a household in a commune not hers; Cường (OTHER) a visit in
    another agent's name."""
    add_supervisor(server, "tinh", "admin", [])
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    add_supervisor(server, "xa2", "commune", [OTHER])
    near_agent = server.add_agent("Trần Thị Bình", [COMMUNE])
    far_agent = server.add_agent("Lê Văn Cường", [OTHER])
    near, far = server.laptop(near_agent, "Máy của Bình"), server.laptop(far_agent, "Máy Cường")
    home = household(COMMUNE)
    hand_book = new_id()
    bill = receipt(home["id"], hand_book, 7)
    created = near.record("household", home)
    receipt_record = near.record("receipt", bill)
    foreign_visit = near.record("visit", visit(home["id"], far_agent))
    stray = near.record("household", household(THIRD))
    ack = near.send(created, receipt_record, foreign_visit, stray)
    assert [r["code"] for r in ack["refused"]] == [
        "receipt_book_mismatch",
        "agent_mismatch",
        "out_of_scope",
    ]
    far_home = household(OTHER)
    far_ack = far.send(
        far.record("household", far_home), far.record("visit", visit(far_home["id"], near_agent))
    )
    assert [r["code"] for r in far_ack["refused"]] == ["agent_mismatch"]
    return Scene(near_agent, far_agent, near, far, hand_book, bill, receipt_record, stray)


def test_refused_records_are_listed_with_their_fix_and_in_scope_only(server: Server) -> None:
    """Each supervisor sees the refusals of their communes' agents, with reason and fix."""
    scene = build(server)
    with signed_in(server, "xa1") as client:
        rows = refusal_rows(client.get("/web/refusals").text)
    assert len(rows) == 3
    receipt_row = next(r for r in rows if "Biên lai" in r)
    assert "Trần Thị Bình" in receipt_row and "Máy của Bình" in receipt_row
    assert "Biên lai ngoài quyển được cấp" in receipt_row
    assert "AA/26 số 7 không thuộc quyển biên lai được cấp" in receipt_row
    assert "đăng ký quyển cho nhân viên ở trang Quyển biên lai (/web/books)" in receipt_row
    visit_row = next(r for r in rows if "Lượt thăm" in r)
    assert "Ghi tên nhân viên khác" in visit_row
    assert "trước khi máy đăng ký cho nhân viên này" in visit_row
    assert not any("Lê Văn Cường" in r for r in rows)
    with signed_in(server, "xa2") as client:
        rows = refusal_rows(client.get("/web/refusals").text)
    assert len(rows) == 1 and "Lê Văn Cường" in rows[0] and "Máy Cường" in rows[0]
    with signed_in(server, "tinh") as client:
        page = client.get("/web/refusals").text
        assert len(refusal_rows(page)) == 4
        one_device = client.get("/web/refusals", params={"device": scene.far.device_id}).text
    assert len(refusal_rows(one_device)) == 1


def test_a_refused_record_taken_later_leaves_the_list_and_the_flag(server: Server) -> None:
    """The hand-entered book registered and the receipt sent again (same outbox row), the
    commune given to the agent and the household sent again: both leave the list; the
    dashboard flags Bình's laptop until nothing of hers is refused."""
    scene = build(server)
    with signed_in(server, "xa1") as client:
        dashboard = text_of(client.get("/web/").text)
    assert "3 bản ghi bị từ chối" in dashboard
    assert "Trần Thị Bình" in dashboard and "Bình thường" not in dashboard

    with server.engine.begin() as conn:
        conn.execute(
            receipt_books.insert().values(
                id=scene.hand_book,
                agent_id=scene.near_agent,
                series="AA/26",
                first=1,
                last=50,
                created_at=iso_utc(server.clock.now()),
                origin="hand_entered",
            )
        )
        conn.execute(agent_communes.insert().values(agent_id=scene.near_agent, commune_code=THIRD))
    near = scene.near
    again = near.upload(near.batch([scene.receipt_record, scene.stray_home]))
    assert again.status_code == 200 and again.json()["refused"] == []

    with signed_in(server, "tinh") as client:
        rows = refusal_rows(client.get("/web/refusals").text)
    assert len(rows) == 2 and all("Lượt thăm" in r for r in rows)
    # Bình now works in a commune that is not xa1's too: out of xa1's sight altogether.
    with signed_in(server, "xa1") as client:
        assert refusal_rows(client.get("/web/refusals").text) == []
    with server.engine.connect() as conn:
        left = refusals.still_refused(conn, None)
        counted = refusals.counts_by_device(conn, [scene.near.device_id, scene.far.device_id])
    assert sorted(r.code for r in left) == ["agent_mismatch", "agent_mismatch"]
    # The batch that refused nothing is left out in the database (as stored on this one).
    with server.engine.connect() as conn:
        with_refusals = conn.execute(
            sa.select(sa.func.count()).select_from(batches).where(refusals._has_refusals())
        ).scalar_one()
    assert (server.count("batches"), with_refusals) == (3, 2)
    assert counted == {scene.near.device_id: 1, scene.far.device_id: 1}
    # Acks are stored compact; one stored before that (json.dumps's spaces) is left out too.
    json_text = "CAST(:ack AS json)" if server.engine.dialect.name == "postgresql" else ":ack"
    with server.engine.begin() as conn:
        acks = conn.execute(sa.select(batches.c.batch_id, batches.c.ack)).all()
        assert sum('"refused":[]' in json.dumps(a, separators=(",", ":")) for _, a in acks) == 1
        for batch_id, ack in acks:
            conn.execute(
                sa.text(f"UPDATE batches SET ack = {json_text} WHERE batch_id = :id"),
                {"ack": json.dumps(ack), "id": batch_id},
            )
        spaced = conn.execute(
            sa.select(sa.func.count()).select_from(batches).where(refusals._has_refusals())
        ).scalar_one()
    assert spaced == 2

    # The visit in Cường's name is Bình's to make again as her own; the old one stays refused
    # until then. A new visit in her name that the server takes does not clear it.
    home_id = str(scene.refused_receipt["household_id"])
    ok = near.send(near.record("visit", visit(home_id, scene.near_agent)))
    assert ok["refused"] == []
    with server.engine.connect() as conn:
        assert len(refusals.still_refused(conn, None)) == 2


def test_the_dashboard_flags_refused_records_and_a_long_pending_queue(server: Server) -> None:
    """Not "Bình thường" for a laptop with refused records, or with more pending than the
    threshold; the device rows carry the counts for the devices page."""
    build(server)
    with signed_in(server, "tinh") as client:
        page = client.get("/web/").text
    words = text_of(page)
    assert "3 bản ghi bị từ chối" in words and "1 bản ghi bị từ chối" in words
    assert page.count('class="stuck"') == 2
    assert "Bình thường" not in words
    assert re.search(r'href="/web/refusals"><span class="big">4</span>', page)

    with server.engine.connect() as conn:
        agents = overview.agents_in_scope(conn, None, server.clock)
    by_name = {a.name: a for a in agents}
    near_device = by_name["Trần Thị Bình"].devices[0]
    assert (near_device.refused, near_device.flagged, near_device.stuck) == (3, True, False)

    # A laptop with nothing refused: normal, until it reports more pending than the threshold.
    fresh = server.add_agent("Đỗ Thị Dung", [OTHER])
    laptop = server.laptop(fresh, "Máy của Dung")
    with signed_in(server, "tinh") as client:
        assert "Bình thường" in text_of(client.get("/web/").text)
    with server.engine.begin() as conn:
        conn.execute(
            devices.update()
            .where(devices.c.id == laptop.device_id)
            .values(last_pending_reported=overview.PENDING_FLAG_ABOVE + 1)
        )
    with signed_in(server, "tinh") as client:
        words = text_of(client.get("/web/").text)
    assert f"Tồn {overview.PENDING_FLAG_ABOVE + 1} bản ghi chưa gửi" in words
    assert "Bình thường" not in words
    with server.engine.begin() as conn:
        conn.execute(
            devices.update()
            .where(devices.c.id == laptop.device_id)
            .values(last_pending_reported=overview.PENDING_FLAG_ABOVE)
        )
    with signed_in(server, "tinh") as client:
        assert "Bình thường" in text_of(client.get("/web/").text)


def test_the_list_is_paged(server: Server) -> None:
    """More refusals than a page holds: a page of REFUSALS_PAGE, then the rest."""
    from sync.server.web.batches_pages import REFUSALS_PAGE

    add_supervisor(server, "tinh", "admin", [])
    agent = server.add_agent("Trần Thị Bình", [COMMUNE])
    other = server.add_agent("Lê Văn Cường", [OTHER])
    laptop = server.laptop(agent)
    home = household(COMMUNE)
    records = [laptop.record("household", home)]
    records += [laptop.record("visit", visit(home["id"], other)) for _ in range(REFUSALS_PAGE + 5)]
    assert len(laptop.send(*records)["refused"]) == REFUSALS_PAGE + 5
    with signed_in(server, "tinh") as client:
        first = client.get("/web/refusals").text
        second = client.get("/web/refusals", params={"page": 2}).text
    assert len(refusal_rows(first)) == REFUSALS_PAGE and "Trang sau" in first
    assert len(refusal_rows(second)) == 5 and "Trang trước" in second
