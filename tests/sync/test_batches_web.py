"""/web/batches on the real server: a batch file a laptop wrote for a USB stick is uploaded by a
supervisor, applied once through the same path as `fieldapp-server import`, recorded with an
audit entry, and answered with the ack file the laptop reads back; hostile files, a missing
CSRF token and devices outside the supervisor's communes apply nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from sync.protocol import signing, wire
from sync.server import devices
from sync.server.cli import main as server_main
from sync.server.schema import audit_log, batch_uploads
from sync.server.web import batches_pages
from tests.sync import client_fixtures
from tests.sync.conftest import Server, household
from tests.sync.test_web import COMMUNE, OTHER, add_supervisor, csrf_of, signed_in

MakeLaptop = Callable[[str], client_fixtures.Laptop]


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    yield from client_fixtures.laptop_factory(server, tmp_path)


def exported_file(laptop: client_fixtures.Laptop, folder: Path, *, homes: int = 2) -> Path:
    """Households recorded on the laptop, written by its sync client to one signed file."""
    for name in ("Lò Văn Pâng", "Quàng Thị Xuân", "Lường Văn Ón")[:homes]:
        laptop.add_household(head=name)
    folder.mkdir(parents=True, exist_ok=True)
    with laptop.client() as client:
        exported = client.export_batches(folder / "lo.fabatch")
    assert exported.ok and len(exported.files) == 1
    return exported.files[0]


def upload(
    client: httpx.Client, raw: bytes | None, *, name: str = "lo.fabatch", csrf: str | None = None
) -> httpx.Response:
    token = csrf if csrf is not None else csrf_of(client.get("/web/batches").text)
    # No file chosen: the browser still sends the part, with an empty name and no content.
    part = ("", b"") if raw is None else (name, raw)
    files = {"file": (*part, "application/octet-stream")}
    return client.post("/web/batches", data={"csrf": token}, files=files)


def counts(server: Server) -> dict[str, int]:
    with server.engine.connect() as conn:
        logged = conn.execute(
            sa.select(sa.func.count()).where(audit_log.c.action == "batch_upload")
        ).scalar_one()
    return {
        "households": server.count("households"),
        "batches": server.count("batches"),
        "batch_uploads": server.count("batch_uploads"),
        "logged": int(logged),
    }


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


@pytest.fixture
def scene(server: Server, laptops: MakeLaptop) -> tuple[str, client_fixtures.Laptop]:
    """The province's admin, a supervisor of each commune, and an enrolled laptop in COMMUNE."""
    add_supervisor(server, "tinh", "admin", [])
    add_supervisor(server, "xa1", "commune", [COMMUNE])
    add_supervisor(server, "xa2", "commune", [OTHER])
    agent = server.add_agent("Trần Thị Bình", [COMMUNE])
    laptop = laptops("binh")
    laptop.enrol(agent)
    return agent, laptop


def test_a_laptops_file_is_applied_once_and_its_ack_clears_the_laptops_outbox(
    server: Server, scene: tuple[str, client_fixtures.Laptop], tmp_path: Path
) -> None:
    """Uploaded twice, the file applies once; the download is the CLI's ack, byte for byte,
    and the laptop that wrote the file takes it."""
    _, laptop = scene
    path = exported_file(laptop, tmp_path / "usb")
    raw = path.read_bytes()
    sent = laptop.pending()
    assert sent == 2
    with signed_in(server, "xa1") as client:
        done = upload(client, raw)
        assert done.status_code == 303
        result = client.get(done.headers["location"])
        assert result.status_code == 200
        words = text_of(result.text)
        assert f"Đã nhập {sent} bản ghi" in words
        assert "đã nhận trước đó" not in words
        ack_link = re.search(r'href="(/web/batches/\d+/ack)"', result.text)
        assert ack_link is not None
        ack = client.get(ack_link.group(1))
        assert ack.status_code == 200
        assert 'filename="lo.fabatch.ack"' in ack.headers["content-disposition"]

        again = upload(client, raw)
        assert again.status_code == 303
        words = text_of(client.get(again.headers["location"]).text)
        assert "Lô này máy chủ đã nhận trước đó" in words
        listed = text_of(client.get("/web/batches").text)
        assert "Đã nhận trước đó" in listed
    assert counts(server) == {"households": 2, "batches": 1, "batch_uploads": 2, "logged": 2}
    with server.engine.connect() as conn:
        rows = conn.execute(sa.select(batch_uploads).order_by(batch_uploads.c.id)).all()
        entry = conn.execute(
            sa.select(audit_log).where(audit_log.c.action == "batch_upload").limit(1)
        ).first()
    assert [(r.applied, r.refused, r.uploaded_by) for r in rows] == [(2, 0, "xa1"), (0, 0, "xa1")]
    assert rows[0].size == len(raw) and rows[0].filename == "lo.fabatch"
    assert rows[0].device_id == _envelope(raw)["device_id"]
    assert entry is not None and entry.actor == "xa1"

    # What `fieldapp-server import` writes for the same file: the same bytes.
    cli_ack = tmp_path / "cli.ack"
    imported = ["--database-url", server.database_url, "import", str(path)]
    assert server_main([*imported, "--ack-out", str(cli_ack)]) == 0
    assert cli_ack.read_bytes() == ack.content
    assert server.count("households") == 2

    (tmp_path / "usb" / "lo.fabatch.ack").write_bytes(ack.content)
    with laptop.client() as client:
        taken = client.apply_ack_file(tmp_path / "usb" / "lo.fabatch.ack")
    assert taken.ok, taken.errors
    assert laptop.pending() == 0


def _envelope(raw: bytes) -> dict[str, object]:
    loaded = json.loads(raw)
    assert isinstance(loaded, dict)
    return loaded


def test_hostile_files_and_forms_are_refused_with_nothing_applied(
    server: Server, scene: tuple[str, client_fixtures.Laptop], tmp_path: Path
) -> None:
    """Tampered, foreign-key, not-a-batch, empty and oversized files, no file and no CSRF token:
    each a clear page with its status, and the database as it was."""
    _, laptop = scene
    raw = exported_file(laptop, tmp_path / "usb").read_bytes()

    tampered = _envelope(raw)
    batch = tampered["batch"]
    assert isinstance(batch, dict)
    batch["records"][0]["data"]["head_name"] = "Người Khác"
    foreign_key = _envelope(raw)
    foreign_batch = foreign_key["batch"]
    assert isinstance(foreign_batch, dict)
    foreign_key["signature"] = signing.sign(foreign_batch, signing.new_device_key())
    ack_instead = signing.write_ack_file(
        wire.Ack(
            protocol=wire.PROTOCOL_VERSION,
            batch_id=str(foreign_batch["batch_id"]),
            accepted=[],
            refused=[],
            conflicts=0,
            server_time="2026-11-23T01:00:00.000Z",
        ),
        str(foreign_batch["device_id"]),
        signing.new_device_key(),
    )
    cases: list[tuple[bytes | None, int, str]] = [
        (json.dumps(tampered).encode(), 403, "Chữ ký của tệp không khớp"),
        (json.dumps(foreign_key).encode(), 403, "Chữ ký của tệp không khớp"),
        (ack_instead, 400, "Không phải tệp fieldapp-batch hợp lệ"),
        (b"\x89PNG\r\n\x1a\n not a batch at all", 400, "Tệp không đọc được"),
        (b"", 400, "Tệp rỗng"),
        (None, 400, "Chưa chọn tệp"),
        (b"{" + b" " * batches_pages.MAX_FILE + b"}", 413, "Tệp quá lớn"),
    ]
    before = counts(server)
    with signed_in(server, "xa1") as client:
        for body, status, message in cases:
            refused = upload(client, body)
            assert refused.status_code == status, (message, refused.text[:300])
            assert message in text_of(refused.text), refused.text[:300]
            assert 'name="file"' in refused.text  # the form again, for the right file
        no_csrf = upload(client, raw, csrf="")
        assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
        forged = upload(client, raw, csrf="x" * 40)
        assert forged.status_code == 403
        as_urlencoded = client.post(
            "/web/batches", data={"csrf": csrf_of(client.get("/web/batches").text)}
        )
        assert as_urlencoded.status_code == 400
    with server.http() as anonymous:
        assert (
            anonymous.post("/web/batches", files={"file": ("lo.fabatch", raw)}).status_code == 303
        )
    assert counts(server) == before
    assert laptop.pending() == 2


def test_a_device_outside_the_supervisors_communes_is_refused(
    server: Server, scene: tuple[str, client_fixtures.Laptop], tmp_path: Path
) -> None:
    """The supervisor of another commune gets a 404 page and nothing is applied; the file's
    own supervisor can then upload it. The upload, its page and its ack stay out of sight
    of the other commune."""
    _, laptop = scene
    raw = exported_file(laptop, tmp_path / "usb").read_bytes()
    before = counts(server)
    with signed_in(server, "xa2") as client:
        refused = upload(client, raw)
        assert refused.status_code == 404
        assert "không thuộc địa bàn của bạn" in text_of(refused.text)
    assert counts(server) == before
    with signed_in(server, "xa1") as client:
        done = upload(client, raw)
        assert done.status_code == 303
        shown = done.headers["location"]
    with signed_in(server, "xa2") as client:
        assert client.get(shown).status_code == 404
        assert client.get(shown + "/ack").status_code == 404
        assert "lo.fabatch" not in client.get("/web/batches").text
    with signed_in(server, "tinh") as client:
        assert client.get(shown).status_code == 200
        assert "lo.fabatch" in client.get("/web/batches").text


def test_unknown_and_revoked_devices_are_refused(
    server: Server, scene: tuple[str, client_fixtures.Laptop], tmp_path: Path
) -> None:
    """A file from a device this server never enrolled, or from a revoked one, applies nothing."""
    _, laptop = scene
    raw = exported_file(laptop, tmp_path / "usb").read_bytes()
    stranger = _envelope(raw)
    batch = stranger["batch"]
    assert isinstance(batch, dict)
    key = signing.new_device_key()
    stranger["device_id"] = batch["device_id"] = "0190a000-0000-7000-8000-000000000001"
    stranger["signature"] = signing.sign(batch, key)
    before = counts(server)
    with signed_in(server, "tinh") as client:
        unknown = upload(client, json.dumps(stranger).encode())
        assert unknown.status_code == 403
        assert "không được đăng ký với máy chủ này" in text_of(unknown.text)
        with server.engine.begin() as conn:
            device_id = str(_envelope(raw)["device_id"])
            devices.revoke(conn, device_id=device_id, clock=server.clock)
        revoked = upload(client, raw)
        assert revoked.status_code == 403
        assert "đã bị thu hồi" in text_of(revoked.text)
    assert counts(server) == before


def test_a_batch_sent_over_the_network_first_is_already_received(
    server: Server, scene: tuple[str, client_fixtures.Laptop], tmp_path: Path
) -> None:
    """The laptop synced after writing the file: the upload applies nothing and says so."""
    _, laptop = scene
    raw = exported_file(laptop, tmp_path / "usb").read_bytes()
    assert laptop.sync().ok
    assert server.count("households") == 2
    with signed_in(server, "xa1") as client:
        done = upload(client, raw)
        assert done.status_code == 303
        page = text_of(client.get(done.headers["location"]).text)
    assert "Lô này máy chủ đã nhận trước đó" in page
    assert counts(server)["households"] == 2


def test_an_upload_records_refusals_with_their_fix(
    server: Server, scene: tuple[str, client_fixtures.Laptop]
) -> None:
    """A signed file whose household lies outside the agent's communes: applied with one
    refusal, listed with its reason and what fixes it."""
    agent, _ = scene
    device = server.laptop(agent, "máy thứ hai")
    records = [device.record("household", household(OTHER))]
    raw = signing.write_batch_file(device.batch(records), device.key)
    with signed_in(server, "xa1") as client:
        done = upload(client, raw, name="máy 2/lô ngày 23.fabatch")
        assert done.status_code == 303
        page = text_of(client.get(done.headers["location"]).text)
        ack = client.get(done.headers["location"] + "/ack")
    assert "Đã nhập 0 bản ghi, từ chối 1 bản ghi" in page
    assert "Xã chưa giao cho nhân viên" in page and "Giao thêm xã cho nhân viên" in page
    assert 'filename="lo_ngay_23.fabatch.ack"' in ack.headers["content-disposition"]
    read = signing.read_ack_file(ack.content, device.device_id, device.key)
    assert [r["code"] for r in read["refused"]] == ["out_of_scope"]
