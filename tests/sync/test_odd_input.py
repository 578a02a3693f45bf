"""Odd input at the server's edges is refused with a reason, never answered with a 500."""

from __future__ import annotations

import json
import math
import re
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sync.protocol import wire
from sync.protocol.fields import FIELDS
from sync.protocol.hlc import HLC_PATTERN, hlc_format
from sync.protocol.ids import UUID_LENGTH, UUID_PATTERN, is_uuid
from sync.server import devices
from sync.server.app import OPENAPI_PATH
from sync.server.errors import ServerError
from sync.server.models import DEVICE_NAME_PATTERN
from sync.server.schema import IMMUTABLE_TABLES, MERGEABLE_TABLES, migrate, open_engine
from tests.sync.conftest import Server, household
from tests.sync.test_web import add_supervisor, csrf_of, signed_in

COMMUNE = "04001"
# Text up to this long sits in a sized column (schema._SIZED_TEXT); longer text is TEXT.
SIZED_TEXT = 255


def _error_code(response: httpx.Response) -> str:
    body = response.json()
    assert body["vi"] and body["en"], body
    return str(body["code"])


def _pending_reported(server: Server) -> list[Any]:
    with server.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT last_pending_reported FROM devices")).scalars())


@pytest.mark.parametrize(
    "value",
    [
        b"99999999999999999999",  # past any integer column
        b"2147483648",  # one past the 32-bit column
        b"\xb2",  # a superscript two in Latin-1: str.isdigit() says yes, int() says no
        "١٧".encode(),  # Arabic-Indic digits, as UTF-8 bytes
        b"-1",
        b"17 pending",
    ],
)
def test_a_pending_count_that_is_not_a_plain_number_is_refused(
    server: Server, value: bytes
) -> None:
    """The count a laptop reports is whole ASCII digits within the column; anything else is a
    400 with a reason, on pull and on upload, and nothing is recorded."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    pulled = laptop.http.get(wire.CHANGES_PATH, headers={wire.PENDING_HEADER: value})
    assert pulled.status_code == 400, pulled.text
    assert _error_code(pulled) == "bad_request"
    batch = laptop.batch([laptop.record("household", household(COMMUNE))])
    uploaded = laptop.http.post(
        wire.BATCHES_PATH,
        content=wire.encode_body(batch),
        headers={"Content-Encoding": "gzip", wire.PENDING_HEADER: value},
    )
    assert uploaded.status_code == 400, uploaded.text
    assert server.count("households") == 0
    assert _pending_reported(server) == [None]
    fine = laptop.http.get(wire.CHANGES_PATH, headers={wire.PENDING_HEADER: "2147483647"})
    assert fine.status_code == 200 and _pending_reported(server) == [2147483647]


@pytest.mark.parametrize("hours", [math.nan, math.inf, -math.inf, 1e9, 50_000_000, 720.5, 0])
def test_enrol_codes_are_valid_for_at_most_30_days(server: Server, hours: float) -> None:
    """NaN, infinity and validity past 30 days are refused with the limit named; 30 days is
    fine."""
    agent = server.add_agent("A", [COMMUNE])
    with pytest.raises(ServerError) as refused:
        server.enrol_code(agent, valid_hours=hours)
    assert "720" in refused.value.vi and "720" in refused.value.en
    assert server.count("enrol_codes") == 0
    assert len(server.enrol_code(agent, valid_hours=devices.MAX_ENROL_HOURS)) == 10


@pytest.mark.parametrize("hours", ["nan", "inf", "-inf", "1e9", "50000000", "721", "1e999", "x"])
def test_the_enrol_code_form_refuses_odd_validity_with_a_page(server: Server, hours: str) -> None:
    """The supervisor page answers 400 with the reason in Vietnamese; no code is made."""
    add_supervisor(server, "tinh", "admin", [])
    agent = server.add_agent("Lò Văn Sáng", [COMMUNE])
    with signed_in(server, "tinh") as client:
        csrf = csrf_of(client.get("/web/devices").text)
        form = {"csrf": csrf, "agent_id": agent, "valid_hours": hours}
        answer = client.post("/web/devices/enrol-code", data=form)
        assert answer.status_code == 400, answer.text
        assert "giờ" in answer.text
        assert server.count("enrol_codes") == 0
        made = client.post("/web/devices/enrol-code", data={**form, "valid_hours": "720"})
        assert made.status_code == 200 and server.count("enrol_codes") == 1


def _odd_forms(canonical: str) -> list[str]:
    """Spellings of one UUID that Python's uuid.UUID() accepts, all longer than 36."""
    return [
        f"urn:uuid:{canonical}",
        "{" + canonical + "}",
        "-" * 40 + canonical.replace("-", ""),
        canonical.replace("-", "-" * 20),
    ]


def test_only_the_36_character_uuid_form_is_an_id() -> None:
    """The server's id columns are 36 wide: braces, urn: prefixes and extra dashes are not
    ids, though uuid.UUID() reads them."""
    canonical = str(uuid.uuid4())
    assert is_uuid(canonical) and is_uuid(canonical.upper())
    for odd in _odd_forms(canonical):
        assert uuid.UUID(odd) == uuid.UUID(canonical) and not is_uuid(odd), odd
    for odd in [canonical.replace("-", ""), canonical + "\n", " " + canonical, ""]:
        assert not is_uuid(odd), repr(odd)


def test_ids_in_other_spellings_are_refused_not_stored(server: Server) -> None:
    """A record id or batch id in a longer spelling is refused with a reason (PostgreSQL
    answered 500 when it met the 36-character column)."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    for odd in _odd_forms(str(uuid.uuid4())):
        home = household(COMMUNE, id=odd)
        ack = laptop.send(laptop.record("household", home))
        assert [r["code"] for r in ack["refused"]] == ["malformed_record"], ack
        batch = laptop.batch([laptop.record("household", household(COMMUNE))])
        batch["batch_id"] = odd
        response = laptop.upload(batch)
        assert response.status_code == 400, response.text
        assert _error_code(response) == "invalid_message"
    assert server.count("households") == 0


def test_enrolment_refuses_a_device_id_that_is_not_a_uuid(server: Server) -> None:
    """The laptop's own device id is a UUID or absent; an empty or odd one is a 400."""
    agent = server.add_agent("A", [COMMUNE])
    with server.http() as client:
        for odd in ["", "laptop-1", *_odd_forms(str(uuid.uuid4()))]:
            body = {"code": server.enrol_code(agent), "device_name": "Máy 1", "device_id": odd}
            response = client.post(wire.ENROL_PATH, json=body)
            assert response.status_code == 400, response.text
            assert _error_code(response) == "bad_request"
    assert server.count("devices") == 0


def test_enrolment_refuses_a_blank_or_control_character_name(server: Server) -> None:
    """Names that show nothing (U+001E is blank to Python, not to ECMA regexes) or hold control
    characters are a 400, as the API description says; the code stays unused."""
    agent = server.add_agent("A", [COMMUNE])
    code = server.enrol_code(agent)
    with server.http() as client:
        for name in ("", " ", "\x1e\x1e\x1e\x1e", "Máy\x07", "\u3000", "\x85"):
            response = client.post(wire.ENROL_PATH, json={"code": code, "device_name": name})
            assert response.status_code == 400, (name, response.text)
            assert _error_code(response) == "bad_request"
        assert client.post(wire.ENROL_PATH, json={"code": code, "device_name": "Máy 1"}).is_success
    assert server.count("devices") == 1


def _declared_longest(entity: str, name: str) -> int | None:
    """The longest text the wire lets through for a field, or None when it sets no bound."""
    field = FIELDS[entity][name]
    if field.max_length is not None:
        return field.max_length
    if field.kind == "id":
        return UUID_LENGTH
    if field.kind == "date":
        return len("2026-11-23")
    return None


def test_every_column_a_record_is_copied_into_is_as_wide_as_the_wire_allows(
    database_url: str,
) -> None:
    """Walk the migrated database: each text column holding a record's field is exactly as
    wide as the field's declared longest value (TEXT past 255), its id column takes a UUID and
    its clock column the longest stamp its device can issue; nothing the wire takes can
    overflow a column on PostgreSQL."""
    engine = open_engine(database_url)
    try:
        migrate(engine)
        inspector = sa.inspect(engine)
        walked: list[str] = []
        for entity, table in {**IMMUTABLE_TABLES, **MERGEABLE_TABLES}.items():
            columns = {c["name"]: c["type"] for c in inspector.get_columns(table.name)}
            assert columns["id"].length == UUID_LENGTH, table.name
            clock_column = "hlc" if "hlc" in columns else None
            if clock_column is not None:
                longest_stamp = len(hlc_format(0, 0, str(uuid.uuid4())))
                assert columns[clock_column].length >= longest_stamp, table.name
            for name, kind in columns.items():
                if name not in FIELDS[entity] or name == "id":
                    continue
                if not isinstance(kind, sa.String):
                    continue  # integers: the wire takes 64-bit values only
                walked.append(f"{table.name}.{name}")
                longest = _declared_longest(entity, name)
                assert longest is not None, f"{table.name}.{name}: the wire sets no length"
                if longest > SIZED_TEXT:
                    assert kind.length is None, f"{table.name}.{name} should be TEXT"
                else:
                    assert kind.length == longest, f"{table.name}.{name}"
        assert {"receipts.series", "households.commune_code", "cash_handovers.reason"} <= set(
            walked
        )
    finally:
        engine.dispose()


@pytest.mark.parametrize(("version", "status"), [(None, 400), ("1", 400), (True, 400), (2, 426)])
def test_426_is_only_for_a_protocol_version_that_is_present_and_different(
    server: Server, version: object, status: int
) -> None:
    """A batch without a version, or with one that is not a whole number, is malformed (400);
    only another version asks the laptop to update (426)."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    batch: dict[str, Any] = dict(laptop.batch([laptop.record("household", household(COMMUNE))]))
    if version is None:
        del batch["protocol"]
    else:
        batch["protocol"] = version
    response = laptop.post(wire.encode_body(batch))
    assert response.status_code == status, response.text
    assert _error_code(response) == ("unsupported_protocol" if status == 426 else "invalid_message")
    assert server.count("households") == 0


@pytest.mark.parametrize(
    "query",
    [
        f"{wire.CHANGES_PATH}?since=1&since=0",
        f"{wire.CHANGES_PATH}?limit=5&limit=1000",
        f"{wire.RECEIPT_VERIFY_PATH}?id=a&id=b&sig=c",
        f"/r/{uuid.uuid4()}?s=a&s=b",
    ],
)
def test_a_query_parameter_given_twice_is_refused(server: Server, query: str) -> None:
    """Which of two values was meant is a guess: 400 naming the parameter."""
    laptop = server.laptop(server.add_agent("A", [COMMUNE]))
    response = laptop.http.get(query)
    assert response.status_code == 400, response.text
    assert _error_code(response) == "bad_request"
    assert query.split("?")[1].split("=")[0] in response.json()["en"]


def test_a_method_an_endpoint_does_not_take_is_405_with_allow(server: Server) -> None:
    """RFC 9110: a 405 lists the methods the resource does take."""
    with server.http() as client:
        for method, path, allowed in [
            ("PUT", wire.HEALTH_PATH, "GET"),
            ("DELETE", wire.BATCHES_PATH, "POST"),
            ("POST", wire.CHANGES_PATH, "GET"),
        ]:
            response = client.request(method, path)
            assert response.status_code == 405, (method, path)
            assert allowed in response.headers["allow"], (method, path)


def test_the_api_description_refuses_what_the_server_refuses() -> None:
    """A blank device name, ids other than the 36-character UUID, malformed clock stamps and
    out-of-range sequence numbers are refused by the document too."""
    schemas = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))["components"]["schemas"]
    enrol = schemas["EnrolRequestModel"]["properties"]
    name = enrol["device_name"]
    assert name["minLength"] == 1 and name["pattern"] == DEVICE_NAME_PATTERN
    # The document and the server read the pattern alike: blank and control characters out.
    # U+0085 is a space to Python's \s and not to an ECMAScript one: refused as a control
    # character, so a name of it is invalid to both readers.
    for bad in ("", "   ", "\x1e\x1e", "Máy\x00 1", "\t", "\x85", "Máy\x9b"):
        assert re.fullmatch(name["pattern"], bad) is None, repr(bad)
    for good in ("Máy của Lan", " Laptop 2 ", "ThinkPad-T480"):
        assert re.fullmatch(name["pattern"], good) is not None, good
    assert enrol["device_id"]["anyOf"][0]["pattern"] == UUID_PATTERN
    batch, record = schemas["BatchModel"]["properties"], schemas["RecordModel"]["properties"]
    assert batch["device_id"]["pattern"] == batch["batch_id"]["pattern"] == UUID_PATTERN
    assert record["id"]["pattern"] == UUID_PATTERN and record["hlc"]["pattern"] == HLC_PATTERN
    assert batch["records"]["maxItems"] == wire.MAX_BATCH_RECORDS
    for number in (batch["seq_from"], batch["seq_to"], record["seq"]):
        assert number["minimum"] == 0 and number["maximum"] == 2**63 - 1
