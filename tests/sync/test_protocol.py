"""The shared wire format: clocks, body encoding, structure checks, signed files."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import pytest

from sync.protocol import fields, signing, wire
from sync.protocol.errors import ProtocolError
from sync.protocol.hlc import Hlc, HybridClock, hlc_compare, hlc_format, hlc_parse
from tests.sync.conftest import household, pledge

DEVICE = "01937b2a-0000-7000-8000-000000000001"
KEY = b"k" * 32
# 2026-11-18 in Unix milliseconds: a wall clock inside the clock's bounds.
T = 1_795_000_000_000


def _record(entity: str, data: dict[str, Any], **over: Any) -> dict[str, Any]:
    return {
        "seq": 1,
        "entity": entity,
        "id": data.get("id", str(uuid.uuid4())),
        "op": "insert",
        "hlc": hlc_format(T, 0, DEVICE),
        "data": data,
        "base": None,
        **over,
    }


def _batch(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "protocol": 1,
        "device_id": DEVICE,
        "batch_id": str(uuid.uuid4()),
        "seq_from": 1,
        "seq_to": max([1, *(r["seq"] for r in records)]),
        "records": records,
    }


def test_hlc_text_sorts_like_the_clock() -> None:
    """Text order equals (wall, counter, device) order, and parse inverts format."""
    values = [
        hlc_format(5, 0, DEVICE),
        hlc_format(5, 1, DEVICE),
        hlc_format(40, 0, DEVICE),
        hlc_format(1_000_000_000_000, 0, DEVICE),
    ]
    assert sorted(values) == values
    assert hlc_parse(values[1]) == Hlc(5, 1, DEVICE)
    assert str(hlc_parse(values[2])) == values[2]
    assert hlc_compare(values[0], values[1]) == -1
    assert hlc_compare(values[3], values[3]) == 0
    with pytest.raises(ProtocolError):
        hlc_parse("12-3-x")


def test_hybrid_clock_never_goes_back_and_follows_observed() -> None:
    """A wall clock going backwards still gives increasing values; observe jumps past others."""
    clock = HybridClock(DEVICE)
    first = clock.tick(T + 1000)
    second = clock.tick(T + 900)
    third = clock.tick(T + 1000)
    assert first < second < third
    remote = hlc_format(T + 5000, 7, "other-device")
    assert clock.observe(remote)
    after = clock.tick(T + 1200)
    parsed = hlc_parse(after)
    assert (parsed.wall_ms, parsed.counter) == (T + 5000, 8)
    resumed = HybridClock(DEVICE, last=after)
    assert resumed.tick(0) > after


def test_body_round_trip_keeps_vietnamese() -> None:
    """encode_body is gzip of compact UTF-8 JSON; decode_body gives it back."""
    body = {"head_name": "Nguyễn Thị Hương", "n": [1, 2]}
    raw = wire.encode_body(body)
    assert gzip.decompress(raw) == '{"head_name":"Nguyễn Thị Hương","n":[1,2]}'.encode()
    assert wire.encode_body(body) == raw
    assert wire.decode_body(raw, max_compressed=1000, max_decompressed=1000) == body


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"plain", "bad_gzip"),
        (gzip.compress(b"{}")[:-3], "bad_gzip"),
        (gzip.compress(b"{}") + b"trailing", "bad_gzip"),
        (gzip.compress(b"{"), "bad_json"),
        (gzip.compress(b"[]"), "bad_json"),
        (gzip.compress(b'{"a": Infinity}'), "bad_json"),
        # Past the float range: read as infinity, which no database stores as JSON.
        (gzip.compress(b'{"a": 1e999}'), "bad_json"),
        (gzip.compress(b'{"a": [-1.5e400]}'), "bad_json"),
        (gzip.compress(b'{"a":' * 40 + b"1" + b"}" * 40), "too_deep"),
        (gzip.compress(b"[" * 2000 + b"]" * 2000), "too_deep"),
        (gzip.compress(b" " * 10_000), "too_large"),
        (b"\x1f\x8b" + b"x" * 5000, "too_large"),
    ],
    ids=lambda value: value if isinstance(value, str) else f"{len(value)}B",
)
def test_decode_body_refuses(raw: bytes, code: str) -> None:
    """Broken, oversized, bomb-like or too deep bodies raise ProtocolError with a code."""
    with pytest.raises(ProtocolError) as info:
        wire.decode_body(raw, max_compressed=4000, max_decompressed=5000)
    assert info.value.code == code
    assert info.value.vi and info.value.en


def test_parse_json_reads_what_the_json_module_reads() -> None:
    """The fast parser and the json module agree on what a body holds, Vietnamese text and
    escapes included; what the fast parser refuses is decided by the json module."""
    body = {
        "a": 'Nguyễn Thị Hương \\ "x" \u00e9 \U0001f600',
        "n": [0, -1, 2**63 - 1, 1.5, 1e300, True, None],
        "nested": {"b": [{"c": {}}]},
    }
    for raw in (json.dumps(body).encode(), json.dumps(body, ensure_ascii=False).encode()):
        assert wire.parse_json(raw) == json.loads(raw) == body
    # The json module's reasons, not the fast parser's.
    with pytest.raises(ProtocolError, match="non-standard JSON constant NaN"):
        wire.parse_json(b"[NaN]")
    with pytest.raises(ProtocolError, match="không lưu được"):
        wire.parse_json(b'["\\ud800"]')
    # An integer past 64 bits is not an integer any field takes, however it is read.
    past = wire.parse_json(b'{"n": 100000000000000000000000}')["n"]
    assert not fields.is_int(past)


def test_bomb_is_stopped_without_inflating_it() -> None:
    """A 1 GB bomb is refused after inflating no more than the limit."""
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    with pytest.raises(ProtocolError) as info:
        wire.gunzip_limited(bomb, max_compressed=10**6, max_decompressed=1024)
    assert info.value.status == 413


def test_validate_batch() -> None:
    """Envelope checks: version (426), ids, sequence order and range."""
    good = _batch([_record("household", household())])
    assert wire.validate_batch(good) is good
    with pytest.raises(ProtocolError) as info:
        wire.validate_batch({**good, "protocol": 0})
    assert info.value.status == 426
    bad_cases = [
        {**good, "batch_id": "nope"},
        {**good, "records": {}},
        {**good, "seq_from": 3, "seq_to": 2},
        _batch([_record("household", household(), seq=2), _record("household", household())]),
        {**good, "records": [{"seq": "1"}]},
        [],
    ]
    for case in bad_cases:
        with pytest.raises(ProtocolError):
            wire.validate_batch(case)


def test_check_record_accepts_well_formed_records() -> None:
    """A full insert and a partial update carrying commune_code pass."""
    assert wire.check_record(_record("household", household()), device_id=DEVICE) is None
    update = _record(
        "household",
        {"commune_code": "04001", "phone": None},
        op="update",
        base={"phone": hlc_format(T, 0, "x")},
    )
    assert wire.check_record(update) is None


@pytest.mark.parametrize(
    ("record", "code"),
    [
        (_record("household", {"phone": "1"}, op="update"), "missing_field"),
        (_record("household", {**household(), "colour": "red"}), "unknown_field"),
        (_record("household", household(best_months=[13])), "invalid_field"),
        (_record("household", household(commune_code="4001")), "invalid_field"),
        (_record("visit", {}, op="update"), "immutable"),
        (
            _record("pledge", pledge(str(uuid.uuid4()), str(uuid.uuid4()), gross=True)),
            "invalid_field",
        ),
        (
            _record("pledge", pledge(str(uuid.uuid4()), str(uuid.uuid4()), payable=1)),
            "amount_mismatch",
        ),
        (
            _record("pledge", pledge(str(uuid.uuid4()), str(uuid.uuid4()), due_date="2026-13-01")),
            "invalid_field",
        ),
        (
            _record(
                "pledge",
                pledge(str(uuid.uuid4()), str(uuid.uuid4()), created_at="2026-11-23T08:00:00"),
            ),
            "invalid_field",
        ),
        (_record("household", household(), hlc="later"), "bad_hlc"),
        (_record("household", household(), id=str(uuid.uuid4())), "id_mismatch"),
        (_record("household", household(), base={"phone": 5}), "malformed_record"),
        (_record("ghost", {}), "unknown_entity"),
        ({"seq": 1}, "malformed_record"),
    ],
)
def test_check_record_refuses(record: dict[str, Any], code: str) -> None:
    """Each kind of bad record gets its own code and a bilingual reason."""
    problem = wire.check_record(record)
    assert problem is not None and problem.code == code
    assert problem.vi and problem.en


def test_check_record_binds_hlc_to_device() -> None:
    """With device_id given, an HLC from another device is refused."""
    record = _record("household", household(), hlc=hlc_format(T, 0, "someone-else"))
    problem = wire.check_record(record, device_id=DEVICE)
    assert problem is not None and problem.code == "bad_hlc"


def test_validate_ack_and_change_page() -> None:
    """Client-side checks of the server's answers."""
    ack = {
        "protocol": 1,
        "batch_id": str(uuid.uuid4()),
        "accepted": [1],
        "refused": [{"seq": 2, "id": "x", "entity": "visit", "code": "c", "vi": "v", "en": "e"}],
        "conflicts": 0,
        "server_time": "2026-11-23T01:00:00.000Z",
    }
    assert wire.validate_ack(ack) is ack
    with pytest.raises(ProtocolError):
        wire.validate_ack({**ack, "accepted": ["1"]})
    with pytest.raises(ProtocolError):
        wire.validate_ack({**ack, "refused": [{"seq": 2}]})
    change = {"cursor": 3, "entity": "policy", "id": "v1", "data": {}, "hlc": "h"}
    page = {"protocol": 1, "changes": [change], "cursor": 3, "more": False}
    assert wire.validate_change_page(page) is page
    with pytest.raises(ProtocolError):
        wire.validate_change_page({**page, "cursor": 2})
    with pytest.raises(ProtocolError):
        wire.validate_change_page({**page, "protocol": 2})


def test_batch_file_round_trip_and_refusals() -> None:
    """A signed batch file opens with the right key; tampered, foreign and junk files do not."""
    batch = wire.validate_batch(_batch([_record("household", household())]))
    raw = signing.write_batch_file(batch, KEY)
    envelope = json.loads(raw)
    assert envelope["format"] == "fieldapp-batch" and envelope["version"] == 1
    assert envelope["device_id"] == DEVICE
    assert signing.read_batch_file(raw, {DEVICE: KEY}.get) == batch

    envelope["batch"]["records"][0]["data"]["head_name"] = "Kẻ Giả Mạo"
    with pytest.raises(ProtocolError) as info:
        signing.read_batch_file(json.dumps(envelope).encode(), {DEVICE: KEY}.get)
    assert info.value.code == "bad_signature"
    with pytest.raises(ProtocolError) as info:
        signing.read_batch_file(raw, {DEVICE: b"other key"}.get)
    assert info.value.code == "bad_signature"
    with pytest.raises(ProtocolError) as info:
        signing.read_batch_file(raw, {}.get)
    assert info.value.code == "unknown_device"
    for junk in (b"", b"\xff", b"[]", b'{"format": "fieldapp-batch"}'):
        with pytest.raises(ProtocolError) as info:
            signing.read_batch_file(junk, {DEVICE: KEY}.get)
        assert info.value.code == "bad_file"


def test_ack_file_round_trip() -> None:
    """The server's ack file opens only on the device it is for, and only untampered."""
    ack = wire.Ack(
        protocol=1,
        batch_id=str(uuid.uuid4()),
        accepted=[1, 2],
        refused=[],
        conflicts=0,
        server_time="2026-11-23T01:00:00.000Z",
    )
    raw = signing.write_ack_file(ack, DEVICE, KEY)
    assert signing.read_ack_file(raw, DEVICE, KEY) == ack
    with pytest.raises(ProtocolError):
        signing.read_ack_file(raw, str(uuid.uuid4()), KEY)
    tampered = json.loads(raw)
    tampered["ack"]["accepted"] = [1, 2, 3]
    with pytest.raises(ProtocolError):
        signing.read_ack_file(json.dumps(tampered).encode(), DEVICE, KEY)


def test_device_key_encoding() -> None:
    key = signing.new_device_key()
    assert signing.decode_device_key(signing.encode_device_key(key)) == key


def test_protocol_imports_no_web_framework() -> None:
    """The laptop imports wire.py: it must not pull in FastAPI, pydantic or Qt."""
    import subprocess
    import sys

    code = (
        "import sys, sync.protocol; "
        "bad = [m for m in ('fastapi', 'pydantic', 'starlette', 'PySide6', 'sqlalchemy', 'ui') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_server_never_imports_ui() -> None:
    """Nothing under sync/ imports ui or PySide6."""
    from pathlib import Path

    root = Path(wire.__file__).parents[1]
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "PySide6" not in text and "from ui" not in text and "import ui" not in text, path
