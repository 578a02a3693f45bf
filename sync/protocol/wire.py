"""The sync wire format: endpoints, limits, message types, body encoding, and the checks every
message and record must pass before either end stores it."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import math
import re
import zlib
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NotRequired, Required, TypedDict, cast

import orjson

from sync.protocol.clock import VIETNAM_TZ
from sync.protocol.errors import ProtocolError
from sync.protocol.fields import CASH_HANDOVER as CASH_HANDOVER
from sync.protocol.fields import FIELDS as FIELDS
from sync.protocol.fields import FUTURE_TOLERANCE, in_future, is_int, synced_fields
from sync.protocol.fields import HANDOVER_SCOPES as HANDOVER_SCOPES
from sync.protocol.fields import HOUSEHOLD as HOUSEHOLD
from sync.protocol.fields import MAX_BOOK_SIZE as MAX_BOOK_SIZE
from sync.protocol.fields import MEMBER as MEMBER
from sync.protocol.fields import PLEDGE as PLEDGE
from sync.protocol.fields import PLEDGE_EVENT as PLEDGE_EVENT
from sync.protocol.fields import RECEIPT as RECEIPT
from sync.protocol.fields import RECEIPT_BOOK as RECEIPT_BOOK
from sync.protocol.fields import RECEIPT_VOID as RECEIPT_VOID
from sync.protocol.fields import VISIT as VISIT
from sync.protocol.frozen import frozen
from sync.protocol.hlc import is_hlc, latest_allowed, wall_out_of_range
from sync.protocol.ids import is_uuid

PROTOCOL_VERSION = 1

HEALTH_PATH = "/api/v1/health"
ENROL_PATH = "/api/v1/enrol"
BATCHES_PATH = "/api/v1/batches"
CHANGES_PATH = "/api/v1/changes"
RECEIPT_VERIFY_PATH = "/api/v1/receipts/verify"

# Optional request header: how many outbox rows the laptop still has pending, shown to supervisors.
PENDING_HEADER = "X-Fieldapp-Pending"

# Limits both sides agree on, so the client cuts batches the server will take.
MAX_BATCH_RECORDS = 2000
MAX_BATCH_COMPRESSED = 4 * 1024 * 1024
MAX_BATCH_DECOMPRESSED = 32 * 1024 * 1024
MAX_JSON_DEPTH = 32
MAX_CHANGES_LIMIT = 1000

# The receipt book was added last: a server older than it refuses such a record as an unknown
# entity (the laptop shows it refused), and its receipts as before, until a supervisor
# registers the book on /web/books.
ENTITIES = (
    HOUSEHOLD,
    MEMBER,
    VISIT,
    PLEDGE,
    PLEDGE_EVENT,
    RECEIPT,
    RECEIPT_VOID,
    CASH_HANDOVER,
    RECEIPT_BOOK,
)
IMMUTABLE = frozenset(
    {VISIT, PLEDGE, PLEDGE_EVENT, RECEIPT, RECEIPT_VOID, CASH_HANDOVER, RECEIPT_BOOK}
)
MERGEABLE = frozenset({HOUSEHOLD, MEMBER})

# Entities that only travel from the server to laptops, in the change feed. Receipt books
# travel in it too (every book of the agent), and up from a laptop when entered by hand.
ASSIGNMENT = "assignment"
POLICY = "policy"
TARGET = "target"
CONFLICT_RESOLUTION = "conflict_resolution"
# A household moved to another commune: sent to the laptops of the commune it left (data:
# {"commune_code": where it went}), which take it off their lists.
HOUSEHOLD_MOVED = "household_moved"
FEED_ONLY_ENTITIES = (
    ASSIGNMENT,
    POLICY,
    TARGET,
    CONFLICT_RESOLUTION,
    HOUSEHOLD_MOVED,
)

Op = Literal["insert", "update"]
OPS = ("insert", "update")


class Record(TypedDict):
    """One outbox row as sent by a laptop."""

    seq: int
    entity: str
    id: str
    op: Op
    hlc: str
    data: dict[str, Any]
    base: dict[str, str | None] | None


class Batch(TypedDict):
    """A run of outbox rows sent together; retried with the same batch_id and content."""

    protocol: int
    device_id: str
    batch_id: str
    seq_from: int
    seq_to: int
    records: list[Record]


class Refusal(TypedDict):
    """Why the server did not take one record."""

    seq: int
    id: str
    entity: str
    code: str
    vi: str
    en: str


class Ack(TypedDict):
    """The server's answer to a batch: stored, and returned verbatim on a retry."""

    protocol: int
    batch_id: str
    accepted: list[int]
    refused: list[Refusal]
    conflicts: int
    server_time: str


class Change(TypedDict):
    """One entry of the change feed.

    `field_hlc` is present for households and members: the clock of each field's current value,
    so the laptop can merge field by field the same way the server does.
    """

    cursor: int
    entity: str
    id: str
    data: dict[str, Any]
    hlc: str
    field_hlc: NotRequired[dict[str, str]]


class ChangePage(TypedDict):
    """A page of the change feed; `cursor` is where the next pull continues from."""

    protocol: int
    changes: list[Change]
    cursor: int
    more: bool


class EnrolRequest(TypedDict, total=False):
    code: Required[str]
    device_name: Required[str]
    # The laptop's own device id (UUID): its changes are already stamped with it, so the
    # server adopts it when no other device has it.
    device_id: str


class EnrolResponse(TypedDict):
    device_id: str
    token: str
    agent_id: str
    agent_name: str
    communes: list[str]
    device_key: str


# ---------------------------------------------------------------------------------------------
# Body encoding


def canonical_json(obj: object) -> bytes:
    """The one byte form that signatures and content comparisons are computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def encode_body(obj: object) -> bytes:
    """gzip of compact UTF-8 JSON (mtime 0, so the same content gives the same bytes)."""
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return gzip.compress(raw, compresslevel=6, mtime=0)


def _reject_constant(name: str) -> object:
    raise ValueError(f"non-standard JSON constant {name}")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent; one past the float range (1e999) is
    refused, as NaN and Infinity are: no database stores it as JSON."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range {text[:40]}")
    return value


_UNREAD = object()


def parse_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Strict JSON from UTF-8 bytes with a nesting limit; raises ProtocolError.

    orjson reads a body about twice as fast as the json module. A body orjson refuses goes
    to the json module, which gives the reason this function always gave (or takes what it
    can, such as a lone surrogate escape, for the checks below). One difference remains:
    orjson reads an integer past 64 bits as a float; no field takes either (is_int), so such
    a record is refused as before, as not an integer rather than as out of range.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_json(exc) from None
    value: Any = _UNREAD
    with contextlib.suppress(orjson.JSONDecodeError):
        value = orjson.loads(text)
    if value is _UNREAD:
        try:
            value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
        except RecursionError:
            raise _too_deep(max_depth) from None
        except ValueError as exc:
            raise _not_json(exc) from None
    # Text only holds NUL or a lone surrogate through a \u escape (strict JSON takes no raw
    # control characters, and the UTF-8 decoder refuses encoded surrogates): without such an
    # escape every string is storable and only the nesting is left to measure.
    if "\\u" in text and _SUSPECT_ESCAPE.search(text) is not None:
        deepest = _depth(value)
    else:
        deepest = _nesting(value)
    if deepest > max_depth:
        raise _too_deep(max_depth)
    return value


def _not_json(exc: Exception) -> ProtocolError:
    return ProtocolError(
        f"Nội dung không phải JSON hợp lệ: {exc}",
        f"Body is not valid JSON: {exc}",
        code="bad_json",
    )


def _storable(text: str) -> bool:
    """False for text no database can hold: lone surrogates (JSON "\\ud800") and NUL."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable_text() -> ProtocolError:
    return ProtocolError(
        "Nội dung có ký tự không lưu được (NUL hoặc nửa cặp UTF-16)",
        "Body has characters that cannot be stored (NUL or a lone UTF-16 surrogate)",
        code="bad_json",
    )


def _too_deep(max_depth: int) -> ProtocolError:
    return ProtocolError(
        f"JSON lồng nhau quá {max_depth} cấp",
        f"JSON nested deeper than {max_depth} levels",
        code="too_deep",
    )


def _depth(value: object) -> int:
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        # Strings are checked on the same walk: PostgreSQL and SQLite refuse such text with an
        # error that would otherwise fail the whole batch as a server fault.
        if isinstance(item, str) and not _storable(item):
            raise _unstorable_text()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            if not all(_storable(k) for k in item):
                raise _unstorable_text()
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


# An escape that may stand for NUL or half of a UTF-16 surrogate pair (D800-DFFF).
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _nesting(value: object) -> int:
    """How deeply lists and objects nest in parsed JSON, walking only the containers."""
    deepest = 0
    level = 0
    layer: list[Any] = [value] if type(value) is dict or type(value) is list else []
    while layer:
        level += 1
        deepest = level
        below: list[Any] = []
        for item in layer:
            values = item.values() if type(item) is dict else item
            below += [v for v in values if type(v) is dict or type(v) is list]
        layer = below
    return deepest


def too_large(limit: int) -> ProtocolError:
    """A body over a size limit (HTTP 413)."""
    return ProtocolError(
        f"Dữ liệu quá lớn (tối đa {limit} byte)",
        f"Body too large (limit {limit} bytes)",
        code="too_large",
        status=413,
    )


def gunzip_limited(raw: bytes, *, max_compressed: int, max_decompressed: int) -> bytes:
    """Decompress gzip bit by bit, stopping as soon as the output passes the limit."""
    if len(raw) > max_compressed:
        raise too_large(max_compressed)
    bad = ProtocolError("Dữ liệu nén gzip bị hỏng", "Body is not valid gzip data", code="bad_gzip")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = bytearray()
    pending = raw
    try:
        while pending:
            # max_length bounds each step, so a bomb never expands past the limit in memory.
            room = max_decompressed - len(out) + 1
            out += inflater.decompress(pending, room)
            if len(out) > max_decompressed:
                raise too_large(max_decompressed)
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error:
        raise bad from None
    if not inflater.eof or inflater.unused_data or pending:
        raise bad
    return bytes(out)


def decode_body(raw: bytes, *, max_compressed: int, max_decompressed: int) -> dict[str, Any]:
    """A gzip JSON body as a dict: size-checked before and during decompression, depth-limited."""
    value = parse_json(
        gunzip_limited(raw, max_compressed=max_compressed, max_decompressed=max_decompressed)
    )
    if not isinstance(value, dict):
        raise ProtocolError(
            "Nội dung phải là một đối tượng JSON", "Body must be a JSON object", code="bad_json"
        )
    return value


# ---------------------------------------------------------------------------------------------
# Structure checks


def _invalid(vi: str, en: str, code: str = "invalid_message") -> ProtocolError:
    return ProtocolError(vi, en, code=code)


def _require_keys(obj: dict[str, Any], keys: tuple[str, ...], what: str) -> None:
    missing = [k for k in keys if k not in obj]
    if missing:
        raise _invalid(
            f"{what}: thiếu trường {', '.join(missing)}", f"{what}: missing {', '.join(missing)}"
        )


def check_protocol(obj: dict[str, Any]) -> None:
    """Refuse a message from another protocol version (HTTP 426: the laptop must update).

    A message without a version, or with one that is not a whole number, is malformed (400):
    updating the app would not help it.
    """
    version = obj.get("protocol")
    if not is_int(version):
        raise _invalid(
            "Thiếu phiên bản giao thức (protocol) hoặc không phải số nguyên",
            "protocol is missing or not an integer",
        )
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"Phiên bản giao thức {version!r} không được hỗ trợ (máy chủ dùng {PROTOCOL_VERSION});"
            " hãy cập nhật phần mềm",
            f"Protocol version {version!r} not supported (server speaks {PROTOCOL_VERSION});"
            " update the app",
            code="unsupported_protocol",
            status=426,
        )


def validate_batch(obj: object) -> Batch:
    """Check a batch's envelope; each record's content is checked later by check_record.

    The envelope must be right or the whole batch is refused; a bad record is refused alone,
    so the agent sees which record failed and why.
    """
    if not isinstance(obj, dict):
        raise _invalid("Lô dữ liệu phải là một đối tượng JSON", "Batch must be a JSON object")
    check_protocol(obj)
    _require_keys(obj, ("device_id", "batch_id", "seq_from", "seq_to", "records"), "batch")
    for key in ("device_id", "batch_id"):
        if not is_uuid(obj[key]):
            raise _invalid(f"batch.{key} phải là UUID", f"batch.{key} must be a UUID")
    seq_from, seq_to = obj["seq_from"], obj["seq_to"]
    if not (is_int(seq_from) and is_int(seq_to) and 0 <= seq_from <= seq_to):
        raise _invalid(
            "seq_from, seq_to phải là số nguyên và seq_from ≤ seq_to",
            "seq_from and seq_to must be integers with seq_from <= seq_to",
        )
    records = obj["records"]
    if not isinstance(records, list):
        raise _invalid("batch.records phải là danh sách", "batch.records must be a list")
    if len(records) > MAX_BATCH_RECORDS:
        raise ProtocolError(
            f"Lô có quá {MAX_BATCH_RECORDS} bản ghi",
            f"Batch has more than {MAX_BATCH_RECORDS} records",
            code="too_many_records",
            status=413,
        )
    previous = seq_from - 1
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not is_int(record.get("seq")):
            raise _invalid(
                f"Bản ghi thứ {index} không có seq hợp lệ", f"Record {index} has no valid seq"
            )
        seq = record["seq"]
        if not previous < seq <= seq_to:
            raise _invalid(
                f"seq {seq} không tăng dần hoặc ngoài khoảng {seq_from}–{seq_to}",
                f"seq {seq} is out of order or outside {seq_from}-{seq_to}",
            )
        previous = seq
    return cast(Batch, obj)


def validate_ack(obj: object) -> Ack:
    """Check an acknowledgement's structure (the client's side of the upload)."""
    if not isinstance(obj, dict):
        raise _invalid("Xác nhận phải là một đối tượng JSON", "Ack must be a JSON object")
    check_protocol(obj)
    _require_keys(obj, ("batch_id", "accepted", "refused", "conflicts", "server_time"), "ack")
    if not is_uuid(obj["batch_id"]):
        raise _invalid("ack.batch_id phải là UUID", "ack.batch_id must be a UUID")
    accepted = obj["accepted"]
    if not isinstance(accepted, list) or not all(is_int(s) for s in accepted):
        raise _invalid("ack.accepted phải là danh sách số", "ack.accepted must be a list of ints")
    refused = obj["refused"]
    if not isinstance(refused, list):
        raise _invalid("ack.refused phải là danh sách", "ack.refused must be a list")
    for item in refused:
        if not isinstance(item, dict) or not is_int(item.get("seq")):
            raise _invalid("ack.refused có mục không hợp lệ", "ack.refused has a malformed entry")
        for key in ("id", "entity", "code", "vi", "en"):
            if not isinstance(item.get(key), str):
                raise _invalid(f"ack.refused thiếu {key}", f"ack.refused entry lacks {key}")
    if not is_int(obj["conflicts"]) or obj["conflicts"] < 0:
        raise _invalid("ack.conflicts phải là số ≥ 0", "ack.conflicts must be an int >= 0")
    if not isinstance(obj["server_time"], str):
        raise _invalid("ack.server_time phải là chuỗi", "ack.server_time must be a string")
    return cast(Ack, obj)


def validate_change_page(obj: object) -> ChangePage:
    """Check a page of the change feed (the client's side of the pull)."""
    if not isinstance(obj, dict):
        raise _invalid("Trang thay đổi phải là đối tượng JSON", "Change page must be a JSON object")
    check_protocol(obj)
    _require_keys(obj, ("changes", "cursor", "more"), "changes")
    if not is_int(obj["cursor"]) or not isinstance(obj["more"], bool):
        raise _invalid("cursor/more không hợp lệ", "cursor/more malformed")
    changes = obj["changes"]
    if not isinstance(changes, list):
        raise _invalid("changes phải là danh sách", "changes must be a list")
    previous = -1
    for change in changes:
        if not isinstance(change, dict) or not is_int(change.get("cursor")):
            raise _invalid("Mục thay đổi không hợp lệ", "Malformed change entry")
        if change["cursor"] <= previous or change["cursor"] > obj["cursor"]:
            raise _invalid("cursor không tăng dần", "Change cursors are out of order")
        previous = change["cursor"]
        if not isinstance(change.get("entity"), str) or not isinstance(change.get("id"), str):
            raise _invalid("Mục thay đổi thiếu entity/id", "Change entry lacks entity/id")
        if not isinstance(change.get("data"), dict) or not isinstance(change.get("hlc"), str):
            raise _invalid("Mục thay đổi thiếu data/hlc", "Change entry lacks data/hlc")
    return cast(ChangePage, obj)


# ---------------------------------------------------------------------------------------------
# Record content

# Fields an update of a mergeable record always carries: the server authorises on them.
ALWAYS_SENT = {HOUSEHOLD: ("commune_code",), MEMBER: ("household_id",)}


# Fields a new record must carry, by entity.
_ON_INSERT = {
    entity: tuple(f for f in synced_fields(entity) if FIELDS[entity][f].on_insert)
    for entity in ENTITIES
}


@frozen
class RecordProblem:
    """Why one record cannot be taken; becomes a Refusal in the ack."""

    code: str
    vi: str
    en: str

    def refusal(self, record: dict[str, Any]) -> Refusal:
        return Refusal(
            seq=record["seq"],
            id=str(record.get("id", "")),
            entity=str(record.get("entity", "")),
            code=self.code,
            vi=self.vi,
            en=self.en,
        )


def _clock_problem(stamp: str, latest_ms: int) -> RecordProblem | None:
    """Whether a stamp that is_hlc has passed lies out of bounds (its wall clock is its first
    15 characters)."""
    why = wall_out_of_range(int(stamp[:15]), latest_ms)
    if why is None:
        return None
    return RecordProblem("clock_out_of_range", f"{why[0]}: {stamp}", f"{why[1]}: {stamp}")


def _naming(code: str, names: list[str], vi: str, en: str) -> RecordProblem:
    """A problem whose message ends with the fields it is about."""
    listed = ", ".join(names)
    return RecordProblem(code, vi + listed, en + listed)


_ENVELOPE = ("seq", "entity", "id", "op", "hlc", "data", "base")
_ENVELOPE_KEYS = frozenset(_ENVELOPE)
# Per entity, read once here (a server checks thousands of records a second): the fields a
# record may carry, each field's check but the id's (a record's id is checked in its
# envelope, and data.id must equal it), the fields a new record must carry, and the fields
# that hold a moment (checked against the receiver's clock).
_NAMES = {entity: frozenset(FIELDS[entity]) for entity in ENTITIES}
_CHECKS = {
    entity: {name: f.check for name, f in FIELDS[entity].items() if name != "id"}
    for entity in ENTITIES
}
_ON_INSERT_KEYS = {entity: frozenset(names) for entity, names in _ON_INSERT.items()}
_MOMENTS = {
    entity: tuple(name for name, f in FIELDS[entity].items() if f.kind == "timestamp")
    for entity in ENTITIES
}


def check_record(
    record: Mapping[str, Any], *, device_id: str | None = None, now: dt.datetime | None = None
) -> RecordProblem | None:
    """Check one record's envelope and field types; None when it is well-formed.

    With device_id, the record's HLC must also have been issued by that device. With now (the
    receiver's clock), its clock stamps and the times it records may not run past it by more
    than the tolerance; without, only the fixed bounds apply.
    """
    return check_records([record], device_id=device_id, now=now)[0]


def check_records(
    records: Iterable[Mapping[str, Any]],
    *,
    device_id: str | None = None,
    now: dt.datetime | None = None,
) -> list[RecordProblem | None]:
    """check_record for each record of a batch, with the receiver's clock bounds worked out
    once."""
    latest_ms = latest_allowed(None if now is None else int(now.timestamp() * 1000))
    late_after = None if now is None else now + FUTURE_TOLERANCE
    return [_check(record, device_id, latest_ms, late_after) for record in records]


def _check(
    record: Mapping[str, Any],
    device_id: str | None,
    latest_ms: int,
    late_after: dt.datetime | None,
) -> RecordProblem | None:
    if not record.keys() >= _ENVELOPE_KEYS:
        lacking = [k for k in _ENVELOPE if k not in record]
        return _naming("malformed_record", lacking, "Bản ghi thiếu trường ", "Record lacks ")
    entity, op, data, base = record["entity"], record["op"], record["data"], record["base"]
    checks = _CHECKS.get(entity) if type(entity) is str else None
    if checks is None:
        return RecordProblem(
            "unknown_entity", f"Loại bản ghi lạ: {entity!r}", f"Unknown entity {entity!r}"
        )
    if not is_uuid(record["id"]):
        return RecordProblem("malformed_record", "id phải là UUID", "id must be a UUID")
    if op not in OPS:
        return RecordProblem(
            "malformed_record", f"op không hợp lệ: {op!r}", f"op must be insert or update: {op!r}"
        )
    stamp = record["hlc"]
    if not is_hlc(stamp):
        return RecordProblem("bad_hlc", f"HLC không hợp lệ: {stamp!r}", f"Malformed HLC {stamp!r}")
    if device_id is not None and stamp[22:] != device_id:
        return RecordProblem(
            "bad_hlc", "HLC không do thiết bị này tạo ra", "HLC was not issued by this device"
        )
    problem = _clock_problem(stamp, latest_ms)
    if problem is not None:
        return problem
    if isinstance(base, dict):
        for value in base.values():
            if is_hlc(value):
                problem = _clock_problem(value, latest_ms)
                if problem is not None:
                    return problem
    if not isinstance(data, dict):
        return RecordProblem("malformed_record", "data phải là đối tượng", "data must be an object")
    if base is not None and not (
        isinstance(base, dict) and all(v is None or is_hlc(v) for v in base.values())
    ):
        return RecordProblem(
            "malformed_record",
            "base phải là {trường: HLC hoặc null}",
            "base must map fields to HLC or null",
        )
    if op != "insert" and entity in IMMUTABLE:
        return RecordProblem(
            "immutable", "Bản ghi này không được sửa, chỉ thêm mới", "This entity is insert-only"
        )
    if "id" in data and data["id"] != record["id"]:
        return RecordProblem("id_mismatch", "data.id khác id bản ghi", "data.id differs from id")
    if not data.keys() <= _NAMES[entity]:
        return _naming(
            "unknown_field",
            sorted(data.keys() - _NAMES[entity]),
            "Trường không xác định: ",
            "Unknown field(s): ",
        )
    if op == "insert" and data.keys() >= _ON_INSERT_KEYS[entity]:
        missing = []
    else:
        required = _ON_INSERT[entity] if op == "insert" else ALWAYS_SENT[entity]
        missing = [f for f in required if f not in data]
    if missing:
        return _naming("missing_field", missing, "Thiếu trường: ", "Missing field(s): ")
    for name, value in data.items():
        if name == "id":
            continue
        why = checks[name](value)
        if why is not None:
            return RecordProblem(
                "invalid_field", f"{entity}.{name} {why[0]}", f"{entity}.{name} {why[1]}"
            )
    if late_after is not None:
        late = in_future(data, late_after, _MOMENTS[entity])
        if late is not None:
            return RecordProblem(
                "time_out_of_range",
                f"{entity}.{late} ở tương lai (quá 2 ngày so với máy chủ): đồng hồ máy tính đặt "
                "sai; hãy chỉnh lại ngày giờ",
                f"{entity}.{late} is in the future (more than 2 days past the server's clock): "
                "the computer's clock is wrong; set the date and time",
            )
    if entity == PLEDGE:
        expected = data["gross"] - data["central_support"] - data["local_support"]
        if data["payable"] != expected:
            return RecordProblem(
                "amount_mismatch",
                "Số phải đóng khác tổng trừ hỗ trợ",
                "payable differs from gross minus support",
            )
    if entity == CASH_HANDOVER:
        return _check_handover(data)
    if entity == RECEIPT_BOOK:
        return _check_book(data)
    return None


def _check_book(data: dict[str, Any]) -> RecordProblem | None:
    """A book's range runs forwards and holds no more numbers than a book may."""
    first, last = data["first"], data["last"]
    if first > last or last - first + 1 > MAX_BOOK_SIZE:
        return RecordProblem(
            "invalid_field",
            f"Dải số quyển biên lai không hợp lệ: {first}–{last} (số đầu không lớn hơn số cuối,"
            f" tối đa {MAX_BOOK_SIZE} số)",
            f"Invalid receipt book range {first}-{last} (first <= last, at most"
            f" {MAX_BOOK_SIZE} numbers)",
        )
    return None


def _check_handover(data: dict[str, Any]) -> RecordProblem | None:
    """The amounts of a cash handover agree, a difference has a reason, the day had come."""
    if data["difference"] != data["handed_over"] - data["expected"]:
        return RecordProblem(
            "amount_mismatch",
            "Chênh lệch khác số đã nộp trừ số phải nộp",
            "difference differs from handed_over minus expected",
        )
    if data["difference"] != 0 and not data["reason"].strip():
        return RecordProblem(
            "reason_required",
            "Số tiền nộp khác số phải nộp nhưng không ghi lý do chênh lệch",
            "The amount handed over differs from the amount due but no reason is given",
        )
    moment = dt.datetime.fromisoformat(data["at"])
    try:
        recorded_on = moment.astimezone(VIETNAM_TZ).date()
    except OverflowError:  # at the very edge of the calendar: the date as written
        recorded_on = moment.date()
    if dt.date.fromisoformat(data["day"]) > recorded_on:
        return RecordProblem(
            "day_in_future",
            "Bàn giao tiền cho một ngày chưa tới lúc ghi nhận",
            "The handover is for a day that had not come when it was recorded",
        )
    return None
