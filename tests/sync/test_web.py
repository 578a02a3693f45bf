"""Supervisor pages on the real server: login, CSRF, scoping, conflicts, receipts, exports."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openpyxl
import pytest
import sqlalchemy as sa

from sync.protocol.receipt_qr import receipt_signature
from sync.server import admin
from sync.server.schema import changes, field_conflicts, households
from sync.server.web import auth
from tests.sync import client_fixtures
from tests.sync.conftest import Laptop, Server, household, member, new_id, pledge, receipt

COMMUNE = "04001"
OTHER = "04099"
PASSWORD = "mật khẩu đủ dài"
PAID_AT = "2026-11-23T08:10:00.000Z"

MakeLaptop = Callable[[str], client_fixtures.Laptop]


def add_supervisor(server: Server, username: str, role: str, communes: list[str]) -> None:
    with server.engine.begin() as conn:
        auth.add_supervisor(
            conn,
            username=username,
            password=PASSWORD,
            role=role,
            communes=communes,
            clock=server.clock,
        )


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


def log_in(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/web/login")
    data = {"csrf": csrf_of(form.text), "username": username, "password": password}
    return client.post("/web/login", data={**data, "next": "/web/"})


@contextlib.contextmanager
def signed_in(server: Server, username: str) -> Iterator[httpx.Client]:
    with server.http() as client:
        assert log_in(client, username).status_code == 303
        yield client


@dataclass
class Payment:
    household_id: str
    receipt_id: str
    sig: str


def pay(laptop: Laptop, book_id: str, number: int, commune: str, village: str) -> Payment:
    """A household, member, pledge, receipt and paid event, as a laptop uploads them."""
    home = household(commune, village=village)
    person = member(home["id"])
    promise = pledge(home["id"], person["id"])
    bill = receipt(home["id"], book_id, number, pledge_ids=[promise["id"]])
    paid = {
        "id": new_id(),
        "pledge_id": promise["id"],
        "status": "paid",
        "at": PAID_AT,
        "reason": None,
        "receipt_id": bill["id"],
    }
    records = [
        laptop.record("household", home),
        laptop.record("member", person),
        laptop.record("pledge", promise),
        laptop.record("receipt", bill),
        laptop.record("pledge_event", paid),
    ]
    ack = laptop.send(*records)
    assert ack["refused"] == [], ack["refused"]
    sig = receipt_signature(
        receipt_id=bill["id"],
        series=bill["series"],
        number=number,
        amount=bill["amount"],
        issued_on=dt.date(2026, 11, 23),
        device_key=laptop.key,
    )
    return Payment(home["id"], bill["id"], sig)


def make_conflict(server: Server, agent_id: str, commune: str) -> int:
    """Two devices of one agent change a household's phone from the same base."""
    a, b = server.laptop(agent_id, "a"), server.laptop(agent_id, "b")
    home = household(commune)
    created = a.record("household", home)
    a.send(created)
    b.now_ms = a.now_ms + 60_000
    for laptop, phone in ((b, "0922222222"), (a, "0911111111")):
        laptop.send(
            laptop.record(
                "household",
                {"commune_code": commune, "phone": phone},
                op="update",
                base={"phone": created["hlc"]},
                record_id=home["id"],
            )
        )
    with server.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(field_conflicts.c.id).where(field_conflicts.c.entity_id == home["id"])
            ).scalar_one()
        )


@dataclass
class World:
    """Two agents in two communes, with payments, receipts, targets and a conflict each."""

    near_agent: str
    far_agent: str
    near: Payment
    near_voided: Payment
    far: Payment
    near_conflict: int
    far_conflict: int


def build_world(server: Server) -> World:
    add_supervisor(server, "tinh", "admin", [])
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    near_agent = server.add_agent("Trần Thị Bình", [COMMUNE])
    far_agent = server.add_agent("Lê Văn Cường", [OTHER])
    with server.engine.begin() as conn:
        near_book = admin.add_receipt_book(
            conn, agent_id=near_agent, series="AA/26", first=1, last=50, clock=server.clock
        )
        far_book = admin.add_receipt_book(
            conn, agent_id=far_agent, series="AA/26", first=51, last=100, clock=server.clock
        )
        for agent_id, count in ((near_agent, 4), (far_agent, 10)):
            admin.set_target(
                conn,
                agent_id=agent_id,
                scheme="bhyt",
                month="2026-11",
                count=count,
                clock=server.clock,
            )
    near_laptop = server.laptop(near_agent)
    far_laptop = server.laptop(far_agent)
    near = pay(near_laptop, near_book, 1, COMMUNE, "Bản Phố")
    near_voided = pay(near_laptop, near_book, 2, COMMUNE, "Bản Mới")
    void = {"id": new_id(), "receipt_id": near_voided.receipt_id, "reason": "In sai tên"}
    void |= {"at": PAID_AT}
    assert near_laptop.send(near_laptop.record("receipt_void", void))["refused"] == []
    far = pay(far_laptop, far_book, 51, OTHER, "Thôn Xa")
    return World(
        near_agent,
        far_agent,
        near,
        near_voided,
        far,
        make_conflict(server, near_agent, COMMUNE),
        make_conflict(server, far_agent, OTHER),
    )


@pytest.fixture
def world(server: Server) -> World:
    """The shared scene of most tests here."""
    return build_world(server)


def test_login_logout_and_cookie_flags(server: Server) -> None:
    """A wrong password is refused; the right one sets an HttpOnly Lax cookie; logout ends it."""
    add_supervisor(server, "tinh", "admin", [])
    with server.http() as client:
        assert client.get("/web/").status_code == 303
        assert client.get("/web/").headers["location"] == "/web/login?next=/web/"
        wrong = log_in(client, "tinh", "sai mật khẩu")
        assert wrong.status_code == 401
        assert "Sai tên đăng nhập hoặc mật khẩu." in wrong.text
        ok = log_in(client, "TINH")
        assert ok.status_code == 303 and ok.headers["location"] == "/web/"
        cookie = next(
            c for c in ok.headers.get_list("set-cookie") if c.startswith("fieldapp_session=")
        )
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        assert "secure" not in cookie.lower()
        page = client.get("/web/")
        assert page.status_code == 200
        assert "Tổng quan" in page.text and "tinh" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        out = client.post("/web/logout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
        client.cookies.set("fieldapp_session", ok.cookies["fieldapp_session"])
        assert client.get("/web/").status_code == 303, "the session must be gone on the server"
    with server.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM web_sessions")).scalars().all()
    assert ok.cookies["fieldapp_session"] not in stored


def test_session_cookie_is_secure_over_https(server: Server) -> None:
    """Behind the TLS proxy (X-Forwarded-Proto: https from loopback) the cookie is Secure."""
    add_supervisor(server, "tinh", "admin", [])
    with server.http(headers={"X-Forwarded-Proto": "https"}) as client:
        form = client.get("/web/login")
        assert "secure" in form.headers["set-cookie"].lower()
        nonce = csrf_of(form.text)
        # httpx keeps Secure cookies off plain http, so the proxy's hop is replayed by hand.
        response = client.post(
            "/web/login",
            data={"csrf": nonce, "username": "tinh", "password": PASSWORD},
            headers={"Cookie": f"fieldapp_login={nonce}"},
        )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie


def test_wrong_passwords_lock_the_name_for_a_growing_time(server: Server) -> None:
    """After 5 failures the right password waits 1 minute; the next failure doubles it."""
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    with server.http() as client:
        for _ in range(auth.FREE_FAILURES):
            assert log_in(client, "xa1", "sai").status_code == 401
        locked = log_in(client, "xa1")
        assert locked.status_code == 429 and "1 phút" in locked.text
        server.clock.advance(seconds=61)
        assert log_in(client, "xa1", "sai").status_code == 401
        again = log_in(client, "xa1")
        assert again.status_code == 429 and "2 phút" in again.text
        server.clock.advance(seconds=121)
        assert log_in(client, "xa1").status_code == 303
        # An unknown name backs off the same way: a lockout does not reveal who exists.
        for _ in range(auth.FREE_FAILURES):
            log_in(client, "khong-co", "sai")
        assert log_in(client, "khong-co", "sai").status_code == 429


def test_post_without_the_csrf_token_is_refused(server: Server, world: World) -> None:
    """Forms without (or with another session's) CSRF token change nothing."""
    codes_before = server.count("enrol_codes")
    with signed_in(server, "tinh") as client, signed_in(server, "xa1") as other:
        form = {"agent_id": world.near_agent, "valid_hours": "24"}
        assert client.post("/web/devices/enrol-code", data=form).status_code == 403
        foreign = csrf_of(other.get("/web/").text)
        refused = client.post("/web/devices/enrol-code", data={**form, "csrf": foreign})
        assert refused.status_code == 403
        assert "CSRF" in refused.text
        conflict = f"/web/conflicts/{world.near_conflict}"
        assert client.post(conflict, data={"choice": "server"}).status_code == 403
        assert client.post("/web/logout", data={}).status_code == 403
        assert client.get("/web/").status_code == 200, "still signed in"
        # The login form has its own token, tied to a cookie set with the form.
        with server.http() as fresh:
            login = {"username": "tinh", "password": PASSWORD, "csrf": "đoán"}
            assert fresh.post("/web/login", data=login).status_code == 403
    with server.engine.connect() as conn:
        resolved = conn.execute(
            sa.select(field_conflicts.c.resolved_at).where(
                field_conflicts.c.id == world.near_conflict
            )
        ).scalar()
    assert resolved is None
    assert server.count("enrol_codes") == codes_before


def test_commune_supervisor_sees_and_changes_only_their_communes(
    server: Server, world: World
) -> None:
    """Pages, exports, enrolment and conflicts outside the supervisor's communes are 404."""
    with signed_in(server, "xa1") as client:
        page = client.get("/web/").text
        assert "Trần Thị Bình" in page and "Lê Văn Cường" not in page
        assert "Thôn Xa" not in page and "Bản Phố" in page
        assert OTHER not in client.get("/web/devices").text
        receipts = client.get("/web/receipts").text
        assert world.near.receipt_id in receipts and world.far.receipt_id not in receipts
        assert client.get(f"/web/conflicts/{world.far_conflict}").status_code == 404
        assert client.get(f"/web/conflicts/{world.near_conflict}").status_code == 200
        assert client.get("/web/conflicts/999999").status_code == 404
        listed = client.get("/web/conflicts").text
        assert f"/web/conflicts/{world.near_conflict}" in listed
        assert f"/web/conflicts/{world.far_conflict}" not in listed
        csrf = csrf_of(page)
        post = client.post(
            f"/web/conflicts/{world.far_conflict}", data={"csrf": csrf, "choice": "incoming"}
        )
        assert post.status_code == 404
        code = client.post(
            "/web/devices/enrol-code",
            data={"csrf": csrf, "agent_id": world.far_agent, "valid_hours": "24"},
        )
        assert code.status_code == 404
        exported = client.get("/web/export/receipts.csv").content.decode("utf-8-sig")
        assert world.near.receipt_id in exported and world.far.receipt_id not in exported
        progress = client.get("/web/export/progress.csv?month=2026-11").content.decode()
        assert OTHER not in progress and "Lê Văn Cường" not in progress
    with signed_in(server, "tinh") as client:
        page = client.get("/web/").text
        assert "Trần Thị Bình" in page and "Lê Văn Cường" in page
        assert client.get(f"/web/conflicts/{world.far_conflict}").status_code == 200
    with server.engine.connect() as conn:
        settled = conn.execute(
            sa.select(field_conflicts.c.resolved_at).where(field_conflicts.c.id.is_not(None))
        ).scalars()
        assert list(settled) == [None, None]


def test_dashboard_shows_progress_stuck_devices_and_enrol_code_once(
    server: Server, world: World
) -> None:
    """Progress against targets, stuck devices after 3 days, and a new code shown once."""
    with signed_in(server, "tinh") as client:
        page = client.get("/web/?month=2026-11").text
        assert "Tiến độ tháng 11/2026" in page
        # The near agent: 2 paid members of 4; the voided receipt does not undo a payment.
        assert re.search(r"Trần Thị Bình</td>\s*<td class=\"num\">2 / 4", page)
        assert re.search(r"Xã 04099</td>\s*<td class=\"num\">1 / 10", page)
        assert "Bản Mới (xã 04001)" in page
        assert "Quá 3 ngày chưa đồng bộ" not in page
        made = client.post(
            "/web/devices/enrol-code",
            data={"csrf": csrf_of(page), "agent_id": world.near_agent, "valid_hours": "24"},
        )
        assert made.status_code == 200
        found = re.search(r'class="enrol-code">([A-Z0-9]{5}-[A-Z0-9]{5})<', made.text)
        assert found is not None
        assert made.headers["cache-control"] == "no-store"
        assert found.group(1) not in client.get("/web/devices").text
    with server.http() as laptop:
        enrolled = laptop.post(
            "/api/v1/enrol", json={"code": found.group(1), "device_name": "máy mới"}
        )
    assert enrolled.status_code == 200 and enrolled.json()["agent_id"] == world.near_agent
    server.clock.advance(days=4)
    with signed_in(server, "tinh") as client:
        page = client.get("/web/").text
    assert 'class="stuck"' in page and "Quá 3 ngày chưa đồng bộ" in page


def test_receipt_qr_page_valid_voided_unknown(server: Server, world: World) -> None:
    """Browsers get a page (Hợp lệ / Đã huỷ / Không xác minh được); others keep the JSON."""
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with server.http() as client:
        valid = client.get(f"/r/{world.near.receipt_id}?s={world.near.sig}", headers=html)
        assert valid.status_code == 200 and valid.headers["content-type"].startswith("text/html")
        for text in ("Hợp lệ", "AA/26", "1.366.200 đ", "23/11/2026"):
            assert text in valid.text
        voided = client.get(
            f"/r/{world.near_voided.receipt_id}?s={world.near_voided.sig}", headers=html
        )
        assert "Đã huỷ" in voided.text and "Hợp lệ" not in voided.text
        forged = client.get(f"/r/{world.near.receipt_id}?s=0000000000000000", headers=html)
        assert "Không xác minh được" in forged.text and "1.366.200" not in forged.text
        as_json = client.get(f"/r/{world.near.receipt_id}?s={world.near.sig}")
        assert as_json.json() == {
            "status": "valid",
            "series": "AA/26",
            "number": 1,
            "amount": 1366200,
            "issued_at": PAID_AT,
        }
    with signed_in(server, "xa1") as client:
        listed = client.get("/web/receipts").text
        assert f"/r/{world.near.receipt_id}?s={world.near.sig}" in listed


def test_exports_parse_back(server: Server, world: World) -> None:
    """CSV and XLSX exports of progress and receipts read back with the same figures."""
    with signed_in(server, "tinh") as client:
        progress_csv = client.get("/web/export/progress.csv?month=2026-11")
        assert progress_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(progress_csv.content.decode("utf-8-sig"))))
        near = next(
            r for r in rows if r["Tên"] == "Trần Thị Bình" and r["Chế độ"].startswith("BHYT")
        )
        assert (near["Chỉ tiêu"], near["Đạt"], near["Tỷ lệ (%)"]) == ("4", "2", "50")
        book = openpyxl.load_workbook(
            io.BytesIO(client.get("/web/export/progress.xlsx?month=2026-11").content)
        )
        sheet_rows = list(book.active.iter_rows(values_only=True))  # type: ignore[union-attr]
        assert sheet_rows[0][:4] == ("Tháng", "Cấp", "Mã", "Tên")
        assert ("2026-11", "Xã", OTHER, "Xã 04099", "BHYT hộ gia đình", 10, 1, 10) in sheet_rows

        receipts_csv = client.get("/web/export/receipts.csv").content.decode("utf-8-sig")
        by_id = {r["Mã biên lai"]: r for r in csv.DictReader(io.StringIO(receipts_csv))}
        assert by_id[world.near.receipt_id]["Số tiền (đồng)"] == "1366200"
        assert by_id[world.near_voided.receipt_id]["Trạng thái"] == "Đã huỷ"
        assert by_id[world.far.receipt_id]["Ngày thu"] == "23/11/2026 15:10"
        book = openpyxl.load_workbook(io.BytesIO(client.get("/web/export/receipts.xlsx").content))
        sheet = book.active
        assert sheet is not None
        values = {row[8]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
        assert values[world.near.receipt_id][3] == 1366200
        assert values[world.far.receipt_id][:2] == ("AA/26", 51)


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    """Real laptop stores talking to the real server."""
    yield from client_fixtures.laptop_factory(server, tmp_path)


def test_resolved_value_reaches_both_laptops_on_their_next_pull(
    server: Server, laptops: MakeLaptop
) -> None:
    """The supervisor picks the losing phone number; both laptops hold it after syncing."""
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    a, b = laptops("a"), laptops("b")
    a.enrol(server.add_agent("Trần Thị Bình", [COMMUNE]))
    b.enrol(server.add_agent("Lê Văn Cường", [COMMUNE]))
    home = a.add_household()
    assert a.sync().ok and b.sync().ok
    a.ws.households.update(home, phone="0911111111")
    b.clock.advance(minutes=1)
    b.ws.households.update(home, phone="0922222222")
    assert a.sync().ok and b.sync().ok
    with server.engine.connect() as conn:
        conflict = conn.execute(sa.select(field_conflicts)).one()
    assert (conflict.server_value, conflict.incoming_value) == ("0911111111", "0922222222")
    assert conflict.winner == "incoming"

    with signed_in(server, "xa1") as client:
        page = client.get(f"/web/conflicts/{conflict.id}")
        assert "Giá trị trên máy chủ" in page.text and "Giá trị gửi lên" in page.text
        assert "Trần Thị Bình" in page.text and "Lê Văn Cường" in page.text
        done = client.post(
            f"/web/conflicts/{conflict.id}", data={"csrf": csrf_of(page.text), "choice": "server"}
        )
        assert done.status_code == 303
        shown = client.get(done.headers["location"]).text
        assert "Đã xử lý" in shown and "xa1" in shown
        assert "Không có xung đột nào cần xử lý." in client.get("/web/conflicts").text

    with server.engine.connect() as conn:
        settled = conn.execute(sa.select(field_conflicts)).one()
        stored = conn.execute(sa.select(households.c.data, households.c.field_hlc)).one()
        last = conn.execute(sa.select(changes).order_by(changes.c.cursor.desc())).first()
    assert settled.resolved_at is not None and settled.resolution["by"] == "xa1"
    assert stored.data["phone"] == "0911111111"
    assert stored.field_hlc["phone"].endswith("-server")
    assert stored.field_hlc["phone"] > max(conflict.server_hlc, conflict.incoming_hlc)
    assert last is not None and last.entity == "household" and last.origin_device_id is None
    assert last.data["phone"] == "0911111111" and last.commune_code == COMMUNE

    assert a.sync().ok and b.sync().ok
    assert a.ws.households.get(home).phone == "0911111111"
    assert b.ws.households.get(home).phone == "0911111111"
    assert a.pending() == 0 and b.pending() == 0
