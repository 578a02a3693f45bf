"""HTTP-level tests of the provincial server: enrolment, upload rules, errors, receipts."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sync.protocol import signing, wire
from sync.protocol.receipt_qr import receipt_signature
from sync.server.app import OPENAPI_PATH, openapi_text
from sync.server.schema import metadata
from tests.sync.conftest import Server, household, new_id, receipt

COMMUNE = "04001"


def _error(response: object) -> dict[str, str]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"code", "vi", "en"}, body
    return body  # type: ignore[no-any-return]


def test_health_needs_no_token(server: Server) -> None:
    """Health answers without auth, with the protocol version and the server time."""
    with server.http() as client:
        body = client.get(wire.HEALTH_PATH).json()
    assert body == {"status": "ok", "protocol": 1, "server_time": "2026-11-23T01:00:00.000Z"}


def test_enrol_gives_token_key_and_assignment(server: Server) -> None:
    """A code gives a device id, a token, a key and the agent's communes; only a hash is kept."""
    agent = server.add_agent("Trần Thị Bình", [COMMUNE, "04002"])
    code = server.enrol_code(agent)
    with server.http() as client:
        body = client.post(
            wire.ENROL_PATH, json={"code": code.lower(), "device_name": "Laptop Bình"}
        ).json()
    assert body["agent_id"] == agent
    assert body["agent_name"] == "Trần Thị Bình"
    assert body["communes"] == [COMMUNE, "04002"]
    assert len(signing.decode_device_key(body["device_key"])) == 32
    with server.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM devices")).scalar()
    assert stored != body["token"] and len(str(stored)) == 64


def test_enrol_code_works_once(server: Server) -> None:
    """The second use of a code is refused."""
    code = server.enrol_code(server.add_agent("A", [COMMUNE]))
    with server.http() as client:
        first = client.post(wire.ENROL_PATH, json={"code": code, "device_name": "x"})
        second = client.post(wire.ENROL_PATH, json={"code": code, "device_name": "y"})
    assert first.status_code == 200
    assert second.status_code == 403
    assert _error(second)["code"] == "enrol_code_used"
    assert server.count("devices") == 1


def test_expired_enrol_code_refused(server: Server) -> None:
    """A code past its validity is refused."""
    code = server.enrol_code(server.add_agent("A", [COMMUNE]), valid_hours=1)
    server.clock.advance(hours=2)
    with server.http() as client:
        response = client.post(wire.ENROL_PATH, json={"code": code, "device_name": "x"})
    assert response.status_code == 403
    assert _error(response)["code"] == "enrol_code_expired"


def test_enrol_with_bad_body_is_400(server: Server) -> None:
    """Missing fields and non-JSON bodies get a JSON error, not a 500."""
    with server.http() as client:
        missing = client.post(wire.ENROL_PATH, json={"code": "X"})
        garbage = client.post(wire.ENROL_PATH, content=b"{not json")
        unknown = client.post(wire.ENROL_PATH, json={"code": "ZZZZ", "device_name": "x"})
    assert missing.status_code == 400 and _error(missing)["code"] == "bad_request"
    assert garbage.status_code == 400 and _error(garbage)["code"] == "bad_json"
    assert unknown.status_code == 403 and _error(unknown)["code"] == "enrol_code_unknown"


def test_upload_then_retry_gives_same_ack_and_no_duplicates(server: Server) -> None:
    """A retried batch id returns the stored ack verbatim and applies nothing twice."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    home = household(COMMUNE)
    batch = laptop.batch([laptop.record("household", home)])
    first = laptop.upload(batch)
    server.clock.advance(minutes=5)
    again = laptop.upload(batch)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["accepted"] == [1] and first.json()["refused"] == []
    assert server.count("households") == 1
    assert server.count("batches") == 1
    assert server.count("changes WHERE entity = 'household'") == 1


def test_batch_naming_another_device_is_403(server: Server) -> None:
    """A device cannot upload a batch in another device's name."""
    agent = server.add_agent("A", [COMMUNE])
    one, two = server.laptop(agent), server.laptop(agent)
    batch = one.batch([one.record("household", household(COMMUNE))])
    response = two.upload(batch)
    assert response.status_code == 403
    assert _error(response)["code"] == "device_mismatch"


def test_missing_and_revoked_token_are_401(server: Server) -> None:
    """No token, an unknown token and a revoked device's token are all refused at once."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    with server.http() as client:
        assert client.get(wire.CHANGES_PATH).status_code == 401
        bad = client.get(wire.CHANGES_PATH, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    assert laptop.http.get(wire.CHANGES_PATH).status_code == 200
    with server.engine.begin() as conn:
        from sync.server import devices

        devices.revoke(conn, device_id=laptop.device_id, clock=server.clock)
    response = laptop.upload(laptop.batch([laptop.record("household", household(COMMUNE))]))
    assert response.status_code == 401
    assert _error(response)["code"] == "unauthorized"
    assert server.count("households") == 0


def test_last_seen_and_pending_are_recorded(server: Server) -> None:
    """Each authenticated request stamps last_seen_at and the pending count the laptop reports."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    laptop.http.get(wire.CHANGES_PATH, headers={wire.PENDING_HEADER: "17"})
    with server.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT last_seen_at, last_pending_reported FROM devices")).one()
    assert row[0] == "2026-11-23T01:00:00.000Z" and row[1] == 17


def test_oversized_body_is_413(server: Server) -> None:
    """A body over the compressed limit is refused before it is decompressed."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    response = laptop.post(b"\x1f\x8b" + b"\0" * (wire.MAX_BATCH_COMPRESSED + 10))
    assert response.status_code == 413
    assert _error(response)["code"] == "too_large"


def test_gzip_bomb_is_refused(server: Server) -> None:
    """A small body that inflates past the limit is stopped while inflating."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    bomb = gzip.compress(b" " * (wire.MAX_BATCH_DECOMPRESSED + 1024 * 1024))
    assert len(bomb) < wire.MAX_BATCH_COMPRESSED
    response = laptop.post(bomb)
    assert response.status_code == 413
    assert _error(response)["code"] == "too_large"


def test_bad_gzip_and_bad_json_are_400(server: Server) -> None:
    """Broken compression, broken JSON, non-objects and deep nesting are 400s."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    cases = {
        b"not gzip at all": "bad_gzip",
        gzip.compress(b"{broken"): "bad_json",
        gzip.compress(b"[1, 2]"): "bad_json",
        gzip.compress(b"\xff\xfe"): "bad_json",
        gzip.compress(b"[" * 100 + b"]" * 100): "too_deep",
        gzip.compress(b'{"a": NaN}'): "bad_json",
    }
    for body, code in cases.items():
        response = laptop.post(body)
        assert response.status_code == 400, body
        assert _error(response)["code"] == code


def test_unsupported_encoding_is_415(server: Server) -> None:
    """Only gzip (or no encoding) is accepted."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    response = laptop.post(b"{}", **{"Content-Encoding": "br"})
    assert response.status_code == 415


def test_wrong_protocol_version_is_426(server: Server) -> None:
    """A batch from another protocol version asks the laptop to update."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    batch = laptop.batch([laptop.record("household", household(COMMUNE))])
    batch["protocol"] = 2  # type: ignore[typeddict-item]
    response = laptop.upload(batch)
    assert response.status_code == 426
    assert _error(response)["code"] == "unsupported_protocol"


def test_malformed_batch_envelope_is_400(server: Server) -> None:
    """A batch whose envelope is wrong is refused whole with a clear message."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    batch = laptop.batch([laptop.record("household", household(COMMUNE))])
    del batch["batch_id"]  # type: ignore[misc]
    response = laptop.upload(batch)
    assert response.status_code == 400
    assert "batch_id" in _error(response)["en"]


def test_bad_query_parameters_are_400(server: Server) -> None:
    """Query validation errors use the same error shape."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    response = laptop.http.get(wire.CHANGES_PATH, params={"since": "abc"})
    assert response.status_code == 400 and _error(response)["code"] == "bad_request"
    response = laptop.http.get(wire.CHANGES_PATH, params={"limit": 100000})
    assert response.status_code == 400
    with server.http() as client:
        assert client.get("/api/v1/nowhere").status_code == 404


def test_receipt_verification(server: Server) -> None:
    """A QR signature verifies a receipt; a void shows; a wrong signature looks unknown."""
    agent = server.add_agent("A", [COMMUNE])
    book = server.add_book(agent, "AA/26", 1, 50)
    laptop = server.laptop(agent)
    home = household(COMMUNE)
    paid = receipt(home["id"], book, 7)
    ack = laptop.send(laptop.record("household", home), laptop.record("receipt", paid))
    assert ack["refused"] == []
    sig = receipt_signature(
        receipt_id=paid["id"],
        series="AA/26",
        number=7,
        amount=paid["amount"],
        issued_on=dt.date(2026, 11, 23),
        device_key=laptop.key,
    )
    with server.http() as client:

        def check(receipt_id: str, signature: str) -> dict[str, object]:
            response = client.get(
                wire.RECEIPT_VERIFY_PATH, params={"id": receipt_id, "sig": signature}
            )
            assert response.status_code == 200
            return response.json()  # type: ignore[no-any-return]

        assert check(paid["id"], sig) == {
            "status": "valid",
            "series": "AA/26",
            "number": 7,
            "amount": 1366200,
            "issued_at": "2026-11-23T08:10:00.000Z",
        }
        assert check(paid["id"], "0" * 16) == {"status": "unknown"}
        assert check(new_id(), sig) == {"status": "unknown"}
        void = {
            "id": new_id(),
            "receipt_id": paid["id"],
            "reason": "In lỗi",
            "at": paid["issued_at"],
        }
        assert laptop.send(laptop.record("receipt_void", void))["refused"] == []
        assert check(paid["id"], sig)["status"] == "voided"
        # The address the QR code holds gives the same answer.
        short = client.get(f"/r/{paid['id']}", params={"s": sig})
        assert short.status_code == 200 and short.json()["status"] == "voided"


def test_openapi_json_is_up_to_date() -> None:
    """The committed openapi.json matches the app (regenerate: sync.server.app.write_openapi)."""
    assert OPENAPI_PATH.read_text(encoding="utf-8") == openapi_text()
    paths = json.loads(openapi_text())["paths"]
    assert set(paths) == {
        wire.HEALTH_PATH,
        wire.ENROL_PATH,
        wire.BATCHES_PATH,
        wire.CHANGES_PATH,
        wire.RECEIPT_VERIFY_PATH,
        "/r/{receipt_id}",
    }


def test_migrations_match_table_definitions(server: Server) -> None:
    """After upgrade head the database has exactly the tables schema.py describes."""
    with server.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
