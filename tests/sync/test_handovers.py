"""Cash handovers reach the province: laptop → real server → supervisor pages and exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from fieldapp import migrations
from fieldapp.workspace import Workspace
from sync.protocol import wire
from sync.protocol.clock import FixedClock
from sync.protocol.hlc import EPOCH_MS, hlc_format
from sync.server.schema import cash_handovers
from sync.server.web.overview import HandoverRow, handover_summaries
from tests.sync import client_fixtures
from tests.sync.client_fixtures import COMMUNE, OTHER, Laptop, laptop_factory
from tests.sync.conftest import START, Server, household, new_id
from tests.sync.test_web import add_supervisor, signed_in

MakeLaptop = Callable[[str], Laptop]
DAY1 = dt.date(2026, 11, 23)
DAY2 = dt.date(2026, 11, 24)
SHORT_REASON = "Hộ ông Páo trả thiếu 50.000 đ, hẹn nộp bù"


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    """Real laptop stores talking to the real server."""
    yield from laptop_factory(server, tmp_path)


def server_handovers(server: Server) -> dict[str, Any]:
    with server.engine.connect() as conn:
        return {r.id: r for r in conn.execute(sa.select(cash_handovers))}


def _paid_receipt(laptop: Laptop, head: str) -> int:
    """A household whose head pledges BHYT and pays on a receipt; returns the amount."""
    ws = laptop.ws
    home = laptop.add_household(head=head)
    person = ws.members.add(home, full_name=head, relation="chủ hộ", sex="male")
    [promise] = ws.pledges.pledge_bhyt_household(
        home, member_ids=[person.id], months=12, start=dt.date(2026, 12, 1)
    )
    return int(ws.receipts.issue(pledge_ids=[promise.id]).amount)


def _agent_with_book(server: Server, name: str = "Trần Thị Bình") -> str:
    agent = server.add_agent(name, [COMMUNE])
    server.add_book(agent, "AA/26", 1, 50)
    return agent


def _two_days_of_handovers(laptop: Laptop) -> tuple[int, int]:
    """Day 1 handed over exactly; day 2 handed over 50,000 đ short, with a reason."""
    first = _paid_receipt(laptop, "Nguyễn Văn An")
    exact = laptop.ws.reports.reconcile(DAY1, first)
    assert exact.difference == 0
    laptop.clock.advance(days=1)
    second = _paid_receipt(laptop, "Giàng A Páo")
    short = laptop.ws.reports.reconcile(DAY2, second - 50_000, SHORT_REASON)
    assert short.difference == -50_000
    return first, second


# -- laptop to server ---------------------------------------------------------------------------


def test_handovers_reach_the_server_with_and_without_a_difference(
    server: Server, laptops: MakeLaptop
) -> None:
    """An exact handover and a short one, synced from a real laptop, land once each, as made."""
    agent = _agent_with_book(server)
    a = laptops("a")
    a.enrol(agent)
    assert a.sync().ok
    first, second = _two_days_of_handovers(a)
    outbox = a.ws.store.query(
        "SELECT entity_id, data FROM outbox WHERE entity = 'cash_handover' ORDER BY seq"
    )
    assert len(outbox) == 2
    result = a.sync()
    assert result.ok and not result.refused, result.as_dict()
    assert a.pending() == 0

    stored = server_handovers(server)
    assert set(stored) == {row["entity_id"] for row in outbox}
    by_day = {r.day: r for r in stored.values()}
    exact, short = by_day["2026-11-23"], by_day["2026-11-24"]
    assert (exact.expected, exact.handed_over, exact.difference, exact.reason) == (
        first,
        first,
        0,
        "",
    )
    assert (short.expected, short.handed_over, short.difference, short.reason) == (
        second,
        second - 50_000,
        -50_000,
        SHORT_REASON,
    )
    assert {r.agent_id for r in stored.values()} == {agent}
    assert {r.scheme for r in stored.values()} == {"all"}
    # The stored fact is what the laptop wrote, field for field.
    for row in outbox:
        assert stored[row["entity_id"]].data == json.loads(row["data"])

    # Nothing to send again, and a second laptop of the same commune is not sent them.
    assert a.sync().sent == 0
    b = laptops("b")
    b.enrol(server.add_agent("Lê Văn Cường", [COMMUNE]))
    assert b.sync().ok
    pulled = b.ws.store.scalar("SELECT count(*) FROM cash_handover")
    assert pulled == 0
    with server.engine.connect() as conn:
        feed = conn.execute(sa.text("SELECT count(*) FROM changes WHERE entity = 'cash_handover'"))
        assert feed.scalar() == 0


def test_a_correction_is_a_second_fact_and_the_latest_counts(
    server: Server, laptops: MakeLaptop
) -> None:
    """A handover corrected on the laptop reaches the server as two rows; the page shows the
    later one and says it was corrected."""
    agent = _agent_with_book(server)
    add_supervisor(server, "tinh", "admin", [])
    a = laptops("a")
    a.enrol(agent)
    assert a.sync().ok
    due = _paid_receipt(a, "Nguyễn Văn An")
    a.ws.reports.reconcile(DAY1, due - 1000, "Đếm nhầm")
    a.clock.advance(minutes=5)
    a.ws.reports.reconcile(DAY1, due)
    assert a.sync().ok
    assert len(server_handovers(server)) == 2
    with signed_in(server, "tinh") as client:
        page = client.get("/web/handovers?month=2026-11").text
    assert page.count('<tr class="handover ') == 1
    assert '<tr class="handover balanced">' in page
    assert "đã sửa 1 lần" in page
    assert "Đếm nhầm" not in page


def test_usb_batch_file_carries_handovers(
    server: Server, laptops: MakeLaptop, tmp_path: Path
) -> None:
    """A handover exported to a batch file and imported at the office lands like any record."""
    a = laptops("a")
    a.enrol(_agent_with_book(server))
    assert a.sync().ok
    _two_days_of_handovers(a)
    exported = a.carry_by_usb(tmp_path, imports=2)
    assert len(server_handovers(server)) == 2
    result = a.sync()
    assert result.ok and result.accepted == exported.sent
    assert len(server_handovers(server)) == 2


# -- the wire: idempotence and refusals -----------------------------------------------------------


def handover(**fields: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "day": "2026-11-23",
        "scheme": "all",
        "expected": 3_059_100,
        "handed_over": 3_059_100,
        "difference": 0,
        "reason": "",
        "at": "2026-11-23T10:00:00.000Z",
        **fields,
    }


def test_reupload_is_idempotent_and_a_changed_copy_is_refused(server: Server) -> None:
    """The same batch again, or the same record in a new batch, adds nothing; the same id with
    other content is refused and the first one kept."""
    laptop = server.laptop(server.add_agent("Trần Thị Bình", [COMMUNE]))
    fact = handover(handed_over=3_000_000, difference=-59_100, reason="Thiếu tiền lẻ")
    record = laptop.record("cash_handover", fact)
    batch = laptop.batch([record])
    first = laptop.upload(batch)
    assert first.status_code == 200
    assert first.json()["accepted"] == [record["seq"]]
    again = laptop.upload(batch)
    assert again.json() == first.json()
    assert laptop.send(laptop.record("cash_handover", fact))["refused"] == []
    assert server.count("cash_handovers") == 1

    changed = laptop.record("cash_handover", {**fact, "reason": "Lý do khác"})
    ack = laptop.send(changed)
    assert [r["code"] for r in ack["refused"]] == ["conflicting_duplicate"]
    stored = server_handovers(server)[fact["id"]]
    assert stored.reason == "Thiếu tiền lẻ"
    assert server.count("cash_handovers") == 1


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"handed_over": -1, "difference": -3_059_101, "reason": "x"}, "invalid_field", "âm"),
        ({"expected": -5, "difference": 3_059_105, "reason": "x"}, "invalid_field", "âm"),
        ({"handed_over": 3_000_000, "difference": -59_100}, "reason_required", "lý do"),
        ({"handed_over": 3_000_000, "difference": -59_100, "reason": "  "}, "reason_required", ""),
        ({"handed_over": 3_000_000, "difference": 0}, "amount_mismatch", "chênh lệch"),
        ({"handed_over": 3_059_100.0}, "invalid_field", "nguyên"),
        ({"day": "2026-11-31"}, "invalid_field", "ngày"),
        ({"day": "23/11/2026"}, "invalid_field", "ngày"),
        ({"day": "2026-11-24", "at": "2026-11-23T10:00:00.000Z"}, "day_in_future", "chưa tới"),
        ({"scheme": "bhyt"}, "invalid_field", "một trong"),
    ],
)
def test_a_bad_handover_is_refused_with_its_reason(
    server: Server, fields: dict[str, Any], code: str, words: str
) -> None:
    """Each bad handover is refused on its own with a reason in both languages; a good one in
    the same batch is taken."""
    laptop = server.laptop(server.add_agent("Trần Thị Bình", [COMMUNE]))
    good = laptop.record("cash_handover", handover())
    bad = laptop.record("cash_handover", handover(**fields))
    ack = laptop.send(good, bad)
    assert ack["accepted"] == [good["seq"]]
    [refusal] = ack["refused"]
    assert (refusal["seq"], refusal["entity"], refusal["code"]) == (
        bad["seq"],
        "cash_handover",
        code,
    )
    assert words in refusal["vi"].lower() and refusal["en"]
    assert set(server_handovers(server)) == {good["id"]}


def test_a_difference_late_in_the_vietnamese_day_is_not_in_the_future(server: Server) -> None:
    """A handover recorded at 23:30 Vietnam time (16:30 UTC) is for that Vietnamese day."""
    laptop = server.laptop(server.add_agent("Trần Thị Bình", [COMMUNE]))
    late = handover(day="2026-11-24", at="2026-11-23T17:30:00.000Z")
    assert laptop.send(laptop.record("cash_handover", late))["refused"] == []


# -- old laptops ----------------------------------------------------------------------------------


def test_handovers_of_an_old_store_are_enqueued_and_synced(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handovers written before they were synced get their outbox rows when the store is
    upgraded (after every stamp it had), and reach the server on the next sync."""
    folder = tmp_path / "old"
    clock = FixedClock(START + dt.timedelta(hours=1))
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:4])
        old = Workspace.open(folder, clock=clock)
        with old.store.transaction() as conn:
            # A household added at schema 4, as its outbox row (plain SQL: today's services
            # need today's schema).
            home = household(COMMUNE, head_name="Vàng A Sử")
            conn.execute(
                "INSERT INTO outbox (entity, entity_id, op, hlc, data, created_at) "
                "VALUES ('household', ?, 'insert', ?, ?, ?)",
                (home["id"], old.store.tick(), json.dumps(home), old.store.now_iso()),
            )
            conn.executemany(
                "INSERT INTO cash_handover (id, day, scheme, expected, handed_over, difference, "
                "reason, at) VALUES (?, ?, 'all', ?, ?, ?, ?, ?)",
                [
                    (new_id(), "2026-11-21", 500_000, 500_000, 0, "", "2026-11-21T10:00:00.000Z"),
                    (
                        new_id(),
                        "2026-11-22",
                        800_000,
                        700_000,
                        -100_000,
                        "Nộp thiếu, bù ngày mai",
                        "2026-11-22T10:00:00.000Z",
                    ),
                ],
            )
        newest_before = old.store.scalar("SELECT max(hlc) FROM outbox")
        assert old.store.schema_version == 4
        old.close()

    laptop = client_fixtures.Laptop(server, folder)
    try:
        store = laptop.ws.store
        assert store.schema_version == migrations.latest_version()
        rows = store.query("SELECT * FROM outbox WHERE entity = 'cash_handover' ORDER BY seq")
        assert [json.loads(r["data"])["day"] for r in rows] == ["2026-11-21", "2026-11-22"]
        assert all(r["hlc"] > newest_before for r in rows)
        assert rows[0]["hlc"] < rows[1]["hlc"]
        # A store opened again is not enqueued twice, and new stamps follow the migrated ones.
        laptop.reopen()
        assert laptop.ws.store.scalar(
            "SELECT count(*) FROM outbox WHERE entity = 'cash_handover'"
        ) == len(rows)
        assert laptop.ws.store.tick() > rows[-1]["hlc"]

        laptop.enrol(server.add_agent("Vàng Thị Mỷ", [COMMUNE]))
        result = laptop.sync()
        assert result.ok and not result.refused, result.as_dict()
        stored = {r.day: r for r in server_handovers(server).values()}
        assert (stored["2026-11-22"].difference, stored["2026-11-22"].reason) == (
            -100_000,
            "Nộp thiếu, bù ngày mai",
        )
        assert stored["2026-11-21"].handed_over == 500_000
    finally:
        laptop.ws.close()


# -- supervisor pages and exports -----------------------------------------------------------------


def test_supervisor_pages_show_handovers_with_differences_highlighted(
    server: Server, laptops: MakeLaptop
) -> None:
    """The dashboard sums each agent's month, the handovers page lists each day with the
    difference and reason highlighted, and a supervisor of another commune sees none of it."""
    add_supervisor(server, "tinh", "admin", [])
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    add_supervisor(server, "xa2", "commune", [OTHER])
    agent = _agent_with_book(server)
    a = laptops("a")
    a.enrol(agent)
    assert a.sync().ok
    first, second = _two_days_of_handovers(a)
    assert a.sync().ok

    with signed_in(server, "xa1") as client:
        dashboard = client.get("/web/?month=2026-11").text
        assert "Nộp tiền tháng 11/2026" in dashboard
        assert f"/web/handovers?month=2026-11&amp;agent={agent}" in dashboard
        expected_total = first + second
        assert f"{expected_total:,}".replace(",", ".") + " đ" in dashboard
        assert "-50.000 đ" in dashboard
        assert '<span class="tag bad">1 ngày</span>' in dashboard
        assert '<tr class="handover short">' in dashboard

        page = client.get(f"/web/handovers?month=2026-11&agent={agent}")
        assert page.status_code == 200
        html = page.text
        assert 'aria-current="page">Nộp tiền' in html
        assert "23/11/2026" in html and "24/11/2026" in html
        assert html.count('<tr class="handover short">') == 1
        assert html.count('<tr class="handover balanced">') == 1
        assert "Thiếu 50.000 đ" in html
        assert SHORT_REASON in html
        assert "Trần Thị Bình" in html
        empty = client.get("/web/handovers?month=2026-10").text
        assert "Chưa có lần bàn giao tiền nào trong tháng này." in empty

    with signed_in(server, "xa2") as client:
        assert SHORT_REASON not in client.get("/web/handovers?month=2026-11").text
        assert "Trần Thị Bình" not in client.get("/web/?month=2026-11").text
        other = client.get(f"/web/export/handovers.csv?month=2026-11&agent={agent}")
        assert len(list(csv.reader(io.StringIO(other.content.decode("utf-8-sig"))))) == 1


def test_handover_exports_parse_back(server: Server, laptops: MakeLaptop) -> None:
    """CSV and XLSX exports of the month's handovers carry the same figures as the laptop."""
    add_supervisor(server, "tinh", "admin", [])
    a = laptops("a")
    a.enrol(_agent_with_book(server))
    assert a.sync().ok
    first, second = _two_days_of_handovers(a)
    assert a.sync().ok
    with signed_in(server, "tinh") as client:
        response = client.get("/web/export/handovers.csv?month=2026-11")
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        by_day = {r["Ngày"]: r for r in rows}
        assert set(by_day) == {"23/11/2026", "24/11/2026"}
        short = by_day["24/11/2026"]
        assert (short["Phải nộp (đồng)"], short["Đã nộp (đồng)"]) == (
            str(second),
            str(second - 50_000),
        )
        assert (short["Chênh lệch (đồng)"], short["Lý do chênh lệch"]) == ("-50000", SHORT_REASON)
        assert by_day["23/11/2026"]["Chênh lệch (đồng)"] == "0"
        assert short["Nhân viên thu"] == "Trần Thị Bình" and short["Phần"] == "Cả ngày"

        book = openpyxl.load_workbook(
            io.BytesIO(client.get("/web/export/handovers.xlsx?month=2026-11").content)
        )
        sheet = book.active
        assert sheet is not None
        values = list(sheet.iter_rows(values_only=True))
        assert values[0][:7] == (
            "Nhân viên thu",
            "Thiết bị",
            "Ngày",
            "Phần",
            "Phải nộp (đồng)",
            "Đã nộp (đồng)",
            "Chênh lệch (đồng)",
        )
        assert ("23/11/2026", "Cả ngày", first, first, 0) in [v[2:7] for v in values[1:]]
        assert sheet.cell(row=2, column=5).number_format == "#,##0"
        assert client.get("/web/export/handovers.pdf").status_code == 404


def test_protocol_checks_a_handover_without_a_server() -> None:
    """check_record judges handovers on its own, and refuses moments at the calendar's edge."""
    device = new_id()

    def check(**fields: Any) -> str | None:
        record = {
            "seq": 1,
            "entity": wire.CASH_HANDOVER,
            "id": (data := handover(**fields))["id"],
            "op": "insert",
            "hlc": hlc_format(EPOCH_MS, 0, device),
            "data": data,
            "base": None,
        }
        problem = wire.check_record(record, device_id=device)
        return None if problem is None else problem.code

    assert check() is None
    assert check(handed_over=3_100_000, difference=40_900, reason="Thừa tiền lẻ") is None
    assert check(difference=True) == "invalid_field"
    assert check(reason=None) == "invalid_field"
    assert check(day="2026-11-25", at="2026-11-24T10:00:00+07:00") == "day_in_future"
    # Moments and days at the calendar's edge are refused as fields, before any date sum.
    assert check(at="0001-01-01T00:00:00+14:00") == "invalid_field"
    assert check(day="9999-12-31", at="9999-12-31T23:00:00+00:00") == "invalid_field"
    assert check(day="0001-01-01") == "invalid_field"
    assert wire.CASH_HANDOVER in wire.IMMUTABLE
    record = {
        "seq": 1,
        "entity": wire.CASH_HANDOVER,
        "id": new_id(),
        "op": "update",
        "hlc": hlc_format(EPOCH_MS, 0, device),
        "data": {},
        "base": None,
    }
    problem = wire.check_record(record)
    assert problem is not None and problem.code == "immutable"


def test_month_summary_counts_each_day_once() -> None:
    """A day with a whole-day handover counts it alone; a day with only per-scheme handovers
    adds them up; each device of an agent counts its own days."""

    def row(device: str, day: str, scheme: str, expected: int, handed: int) -> HandoverRow:
        return HandoverRow(
            id=new_id(),
            agent_id="agent",
            agent_name="Trần Thị Bình",
            device_id=device,
            device_name="máy",
            day=day,
            scheme=scheme,
            expected=expected,
            handed_over=handed,
            difference=handed - expected,
            reason="" if handed == expected else "lý do",
            at="2026-11-23T10:00:00.000Z",
            corrections=0,
        )

    rows = [
        row("d1", "2026-11-01", "all", 300, 300),
        row("d1", "2026-11-01", "bhyt_household", 200, 200),
        row("d1", "2026-11-02", "bhyt_household", 200, 150),
        row("d1", "2026-11-02", "bhxh_voluntary", 100, 100),
        row("d2", "2026-11-02", "all", 50, 50),
    ]
    [summary] = handover_summaries(rows)
    assert (summary.expected, summary.handed_over, summary.difference) == (650, 600, -50)
    assert (summary.days, summary.days_with_difference) == (2, 1)
