"""A forged clock or a year-9999 date is refused with a reason, and values stored before such
records were refused break no page, no settled conflict and no laptop."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fieldapp.store import STORE_FILENAME
from fieldapp.workspace import Workspace
from sync.protocol import wire
from sync.protocol.clock import FixedClock
from sync.protocol.hlc import (
    EPOCH_MS,
    FUTURE_TOLERANCE_MS,
    hlc_format,
    hlc_parse,
    latest_allowed,
    usable,
)
from sync.server import cli
from tests.sync.client_fixtures import COMMUNE, laptop_factory
from tests.sync.conftest import (
    START,
    Laptop,
    Server,
    household,
    member,
    new_id,
    pledge,
    receipt,
    visit,
)
from tests.sync.test_web import add_supervisor, make_conflict, pay, signed_in

FORGED = "999999999999999-99999"
START_MS = int(START.timestamp() * 1000)
DAY_MS = 24 * 3600 * 1000


def _stamp(laptop: Laptop, wall_ms: int) -> str:
    return hlc_format(wall_ms, 0, laptop.device_id)


def _refusal(laptop: Laptop, record: wire.Record) -> str | None:
    ack = laptop.send(record)
    return ack["refused"][0]["code"] if ack["refused"] else None


@pytest.mark.parametrize(
    ("wall_ms", "code"),
    [
        (999_999_999_999_999, "clock_out_of_range"),
        (START_MS + 3 * DAY_MS, "clock_out_of_range"),
        (EPOCH_MS - 1, "clock_out_of_range"),
        (START_MS + DAY_MS, None),
    ],
    ids=["year-33658", "three-days-ahead", "before-2025", "a-day-ahead"],
)
def test_a_record_s_clock_is_bounded_by_the_server_s(
    server: Server, wall_ms: int, code: str | None
) -> None:
    """A clock stamp from the far future, days ahead of the server or before the epoch is
    refused for that record with a reason; a day ahead (a drifting laptop) is taken."""
    laptop = server.laptop(server.add_agent("Lò Thị Mai", [COMMUNE]))
    record = laptop.record("household", household(COMMUNE))
    record["hlc"] = _stamp(laptop, wall_ms)
    assert _refusal(laptop, record) == code
    assert server.count("households") == (1 if code is None else 0)


def test_a_forged_base_and_a_sixteen_digit_clock_are_refused(server: Server) -> None:
    """The clocks a change says it replaced are bounded too; a stamp past 15 digits is not a
    stamp at all. Nothing of either is stored."""
    laptop = server.laptop(server.add_agent("Lò Thị Mai", [COMMUNE]))
    home = household(COMMUNE)
    assert _refusal(laptop, laptop.record("household", home)) is None
    edit = laptop.phone_change(home, "0987654321", seen=f"{FORGED}-{laptop.device_id}")
    ack = laptop.send(edit)
    [refused] = ack["refused"]
    assert refused["code"] == "clock_out_of_range"
    assert "đồng hồ máy tính đặt sai" in refused["vi"] and "clock is wrong" in refused["en"]
    wide = laptop.record("household", household(COMMUNE))
    wide["hlc"] = f"1{FORGED}-{laptop.device_id}"
    assert _refusal(laptop, wide) == "bad_hlc"
    trailing = laptop.record("household", household(COMMUNE))
    trailing["hlc"] += "\n"
    assert _refusal(laptop, trailing) == "bad_hlc"
    assert server.count("households") == 1


@pytest.mark.parametrize(
    ("entity", "field", "value", "code"),
    [
        ("receipt", "issued_at", "9999-12-31T23:59:59-12:00", "invalid_field"),
        ("visit", "at", "0001-01-01T00:00:00+14:00", "invalid_field"),
        ("visit", "at", "1999-12-31T23:00:00+00:00", "invalid_field"),
        ("visit", "at", "2026-11-26T02:00:00+00:00", "time_out_of_range"),
        ("visit", "at", "2026-11-23T08:00:00.000000000+07:00:00", "invalid_field"),
        ("visit", "next_visit", "9999-12-31", "invalid_field"),
        ("visit", "at", "2026-11-24T00:30:00+00:00", None),
    ],
    ids=[
        "receipt-year-9999",
        "visit-year-0001",
        "visit-before-2000",
        "visit-three-days-ahead",
        "visit-35-characters",
        "next-visit-year-9999",
        "visit-a-day-ahead",
    ],
)
def test_times_outside_the_window_are_refused(
    server: Server, entity: str, field: str, value: str, code: str | None
) -> None:
    """A moment before 2000, past 2100, more than two days past the server's clock, or longer
    than the server's column is refused for that record, with a reason; so is a date past
    2100."""
    agent = server.add_agent("Lò Thị Mai", [COMMUNE])
    laptop = server.laptop(agent)
    home = household(COMMUNE)
    assert _refusal(laptop, laptop.record("household", home)) is None
    if entity == "receipt":
        book = server.add_book(agent, "AA/26", 1, 50)
        data = receipt(home["id"], book, 1, **{field: value})
    else:
        data = visit(home["id"], agent, **{field: value})
    assert _refusal(laptop, laptop.record(entity, data)) == code
    table = {"receipt": "receipts", "visit": "visits"}[entity]
    assert server.count(table) == (1 if code is None else 0)


# -- what was stored before: pages, settling, laptops -------------------------------------------


@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The server as it was before clocks and times were bounded: every record's content is
    taken as it comes (the uploads still go through the real server)."""
    checked = wire.check_records

    def envelope_only(records: list[dict[str, Any]], **kwargs: Any) -> Any:
        problems = checked(records, device_id=kwargs.get("device_id"))
        return [None if p is not None and p.code in _NOW_REFUSED else p for p in problems]

    monkeypatch.setattr(wire, "check_records", envelope_only)
    yield


_NOW_REFUSED = {"clock_out_of_range", "time_out_of_range", "invalid_field"}


def test_values_stored_before_the_bounds_break_no_page(server: Server, unchecked: None) -> None:
    """With a forged clock, a receipt of year 9999, a payment in year 0001 and a handover at
    the calendar's end already stored, every supervisor page, export and the receipt check
    answer without a server error."""
    agent = server.add_agent("Lò Thị Mai", [COMMUNE])
    laptop = server.laptop(agent)
    book = server.add_book(agent, "AA/26", 1, 50)
    paid = pay(laptop, book, 1, COMMUNE, "Bản Phố")
    late = household(COMMUNE)
    forged = laptop.record("household", late)
    forged["hlc"] = f"{FORGED}-{laptop.device_id}"
    bill = receipt(late["id"], book, 2, issued_at="9999-12-31T23:59:59-12:00")
    event = {
        "id": new_id(),
        "pledge_id": new_id(),
        "status": "paid",
        "at": "0001-01-01T00:00:00+14:00",
        "reason": None,
        "receipt_id": None,
    }
    handover = {
        "id": new_id(),
        "day": "9999-12-31",
        "scheme": "all",
        "expected": 0,
        "handed_over": 0,
        "difference": 0,
        "reason": "",
        "at": "9999-12-31T23:59:59-12:00",
    }
    person = member(late["id"])
    promise = pledge(late["id"], person["id"])
    ack = laptop.send(
        forged,
        laptop.record("member", person),
        laptop.record("pledge", promise),
        laptop.record("receipt", bill),
        laptop.record("cash_handover", handover),
    )
    assert ack["refused"] == [], ack["refused"]
    ack = laptop.send(laptop.record("pledge_event", {**event, "pledge_id": promise["id"]}))
    assert ack["refused"] == [], ack["refused"]
    assert (server.count("receipts"), server.count("cash_handovers")) == (2, 1)
    conflict = make_conflict(server, agent, COMMUNE)
    add_supervisor(server, "tinh", "admin", [])
    with signed_in(server, "tinh") as web:
        for path in (
            "/web/",
            "/web/receipts",
            "/web/handovers",
            "/web/conflicts",
            f"/web/conflicts/{conflict}",
            "/web/devices",
            "/web/export/receipts.xlsx",
            "/web/export/receipts.csv",
            "/web/export/handovers.xlsx",
            "/web/export/progress.csv",
        ):
            answer = web.get(path)
            assert answer.status_code in (200, 404), (path, answer.status_code)
            assert answer.status_code != 404 or "export" in path, path
    for receipt_id, sig in ((bill["id"], "0" * 16), (paid.receipt_id, paid.sig)):
        checked = laptop.http.get(f"/r/{receipt_id}", params={"s": sig})
        assert checked.status_code == 200, checked.text
    assert laptop.http.get(f"/r/{bill['id']}", params={"s": "<script>"}).status_code == 200


def test_settling_over_a_forged_clock_stays_within_bounds(
    server: Server, unchecked: None, tmp_path: Path
) -> None:
    """A conflict whose stored clock was forged is settled with the server's own clock; a
    laptop pulls the settled value, keeps its clock within bounds and can still sync."""
    agent = server.add_agent("Lò Thị Mai", [COMMUNE])
    conflict = make_conflict(server, agent, COMMUNE)
    with server.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE field_conflicts SET server_hlc = %s"
            if server.database_url.startswith("post")
            else "UPDATE field_conflicts SET server_hlc = ?",
            (f"{FORGED}-forged",),
        )
    base = ["--database-url", server.database_url, "conflicts"]
    assert (
        cli.main(
            [*base, "resolve", str(conflict), "--pick", "server", "--json"], clock=server.clock
        )
        == 0
    )
    factory = laptop_factory(server, tmp_path)
    make = next(factory)
    laptop = make("a")
    laptop.enrol(agent)
    assert laptop.sync().ok
    last = hlc_parse(laptop.ws.store.hlc.last)
    assert last.wall_ms <= latest_allowed(int(laptop.clock.now().timestamp() * 1000))
    laptop.ws.households.add(
        province_code="04", commune_code=COMMUNE, village="Bản Phố", head_name="Lò Văn Pọm"
    )
    result = laptop.sync()
    assert result.ok and result.refused == []


# -- a laptop whose store already holds a forged clock --------------------------------------------


def _forge(folder: Path) -> None:
    """Write a forged clock into a closed store as a pull before the bounds would have: the
    clock seen, a household's field clocks, and a pending change stamped past 15 digits."""
    import sqlite3

    conn = sqlite3.connect(folder / STORE_FILENAME)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'hlc_seen'", (f"{FORGED}-other",))
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('hlc_seen', ?)", (f"{FORGED}-other",)
        )
        row = conn.execute("SELECT id, clocks FROM household LIMIT 1").fetchone()
        clocks = {k: f"{FORGED}-other" for k in json.loads(row[1])}
        conn.execute("UPDATE household SET clocks = ? WHERE id = ?", (json.dumps(clocks), row[0]))
        conn.execute(
            "UPDATE outbox SET hlc = ? WHERE seq = (SELECT max(seq) FROM outbox)",
            ("1000000000000000-00000-self",),
        )
    conn.close()


def test_a_laptop_holding_a_forged_clock_opens_and_repairs_it(tmp_path: Path) -> None:
    """The store opens, every forged stamp is replaced by one of its own clock, the pending
    change is stamped again, and new changes are stamped within bounds."""
    clock = FixedClock(dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC))
    with Workspace.open(tmp_path, clock=clock) as ws:
        home = ws.households.add(
            province_code="04", commune_code=COMMUNE, village="Bản Phố", head_name="Lò Văn Pọm"
        )
    _forge(tmp_path)
    with Workspace.open(tmp_path, clock=clock) as ws:
        now_ms = int(clock.now().timestamp() * 1000)
        row = ws.store.one("SELECT clocks FROM household WHERE id = ?", (home.id,))
        assert row is not None
        assert all(usable(v, now_ms=now_ms) for v in json.loads(row["clocks"]).values())
        stamps = [str(r["hlc"]) for r in ws.store.query("SELECT hlc FROM outbox")]
        assert all(usable(s, now_ms=now_ms) for s in stamps), stamps
        ws.households.update(home.id, phone="0912345678")
        newest = ws.store.scalar("SELECT hlc FROM outbox ORDER BY seq DESC LIMIT 1")
        assert hlc_parse(str(newest)).wall_ms <= now_ms + FUTURE_TOLERANCE_MS
        assert ws.store.integrity_ok()


def test_a_pulled_forged_clock_does_not_move_the_laptop_s(tmp_path: Path) -> None:
    """A change carrying a forged clock (stored on the server before they were refused) is
    applied with its value, its clock taken as written now: the laptop's clock stays put."""
    from fieldapp import syncstate

    clock = FixedClock(dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC))
    home_id = new_id()
    change = {
        "cursor": 1,
        "entity": "household",
        "id": home_id,
        "hlc": f"{FORGED}-other",
        "data": household(COMMUNE, id=home_id, phone="0911111111"),
        "field_hlc": {"phone": f"{FORGED}-other"},
    }
    with Workspace.open(tmp_path, clock=clock) as ws:
        syncstate.apply_page(ws.store, [change], new_cursor=1)
        assert ws.households.get(home_id).phone == "0911111111"
        now_ms = int(clock.now().timestamp() * 1000)
        assert hlc_parse(ws.store.hlc.last).wall_ms <= now_ms + FUTURE_TOLERANCE_MS
        assert usable(ws.store.meta("hlc_seen") or ws.store.hlc.last, now_ms=now_ms)


def test_a_laptop_whose_clock_ran_ahead_recovers_once_the_clock_is_set_right(
    server: Server, tmp_path: Path
) -> None:
    """A laptop whose clock is five days ahead has its changes refused for their clock, with a
    reason; once its clock is right and the app opens again, the changes are stamped again
    and taken."""
    factory = laptop_factory(server, tmp_path)
    laptop = next(factory)("ahead")
    laptop.enrol(server.add_agent("Lò Thị Mai", [COMMUNE]))
    laptop.clock.advance(days=5)
    laptop.add_household(head="Vàng Seo Sử")
    refused = laptop.sync()
    assert [r.code for r in refused.refused] == ["clock_out_of_range"]
    assert "chỉnh lại ngày giờ" in refused.refused[0].vi
    laptop.clock.advance(days=-5)
    laptop.reopen()
    again = laptop.sync()
    assert again.ok and again.refused == [] and again.accepted == 1
    assert server.count("households") == 1
    next(factory, None)
