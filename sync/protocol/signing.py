"""Signatures made with a device's key: the key itself, and signed batch and ack files for a
USB stick."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from typing import Any, cast

from sync.protocol.errors import ProtocolError
from sync.protocol.ids import is_uuid
from sync.protocol.wire import (
    Ack,
    Batch,
    canonical_json,
    parse_json,
    validate_ack,
    validate_batch,
)

BATCH_FILE_FORMAT = "fieldapp-batch"
ACK_FILE_FORMAT = "fieldapp-ack"
FILE_VERSION = 1


def new_device_key() -> bytes:
    """32 random bytes; sent to the laptop base64-encoded at enrolment."""
    return secrets.token_bytes(32)


def encode_device_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_device_key(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def sign(obj: object, device_key: bytes) -> str:
    """Hex HMAC-SHA256 over the canonical JSON of obj."""
    return hmac.new(device_key, canonical_json(obj), hashlib.sha256).hexdigest()


def _write_envelope(
    fmt: str, device_id: str, key: str, payload: object, device_key: bytes
) -> bytes:
    envelope = {
        "format": fmt,
        "version": FILE_VERSION,
        "device_id": device_id,
        key: payload,
        "signature": sign(payload, device_key),
    }
    return json.dumps(envelope, ensure_ascii=False, indent=1).encode()


def _read_envelope(raw: bytes, fmt: str, key: str) -> dict[str, Any]:
    try:
        envelope = parse_json(raw)
    except ProtocolError as exc:
        raise ProtocolError(
            f"Tệp không đọc được: {exc.vi}", f"Unreadable file: {exc.en}", code="bad_file"
        ) from None
    if (
        not isinstance(envelope, dict)
        or envelope.get("format") != fmt
        or not isinstance(envelope.get(key), dict)
        or not isinstance(envelope.get("signature"), str)
        or not is_uuid(envelope.get("device_id"))
    ):
        raise ProtocolError(
            f"Không phải tệp {fmt} hợp lệ", f"Not a valid {fmt} file", code="bad_file"
        )
    if envelope.get("version") != FILE_VERSION:
        raise ProtocolError(
            f"Phiên bản tệp {envelope.get('version')!r} không được hỗ trợ",
            f"File version {envelope.get('version')!r} not supported",
            code="unsupported_protocol",
        )
    return cast(dict[str, Any], envelope)


def _bad_signature() -> ProtocolError:
    return ProtocolError(
        "Chữ ký của tệp không khớp: tệp đã bị sửa hoặc không phải của thiết bị này",
        "File signature does not match: the file was altered or is not from this device",
        code="bad_signature",
        status=403,
    )


def write_batch_file(batch: Batch, device_key: bytes) -> bytes:
    """A batch as a signed file for carrying on a USB stick."""
    return _write_envelope(BATCH_FILE_FORMAT, batch["device_id"], "batch", batch, device_key)


def read_batch_file(raw: bytes, key_lookup: Callable[[str], bytes | None]) -> Batch:
    """Verify and open a batch file; a tampered, foreign or malformed file is refused whole."""
    envelope = _read_envelope(raw, BATCH_FILE_FORMAT, "batch")
    device_id = envelope["device_id"]
    key = key_lookup(device_id)
    if key is None:
        raise ProtocolError(
            f"Thiết bị {device_id} không được đăng ký với máy chủ này",
            f"Device {device_id} is not enrolled with this server",
            code="unknown_device",
            status=403,
        )
    if not hmac.compare_digest(sign(envelope["batch"], key), envelope["signature"]):
        raise _bad_signature()
    batch = validate_batch(envelope["batch"])
    if batch["device_id"] != device_id:
        raise _bad_signature()
    return batch


def write_ack_file(ack: Ack, device_id: str, device_key: bytes) -> bytes:
    """The server's acknowledgement of an imported batch file, signed with the device's key."""
    return _write_envelope(ACK_FILE_FORMAT, device_id, "ack", ack, device_key)


def read_ack_file(raw: bytes, device_id: str, device_key: bytes) -> Ack:
    """Verify and open an ack file on the laptop that wrote the batch."""
    envelope = _read_envelope(raw, ACK_FILE_FORMAT, "ack")
    if envelope["device_id"] != device_id:
        raise ProtocolError(
            "Tệp xác nhận dành cho thiết bị khác",
            "This ack file is for another device",
            code="unknown_device",
            status=403,
        )
    if not hmac.compare_digest(sign(envelope["ack"], device_key), envelope["signature"]):
        raise _bad_signature()
    return validate_ack(envelope["ack"])
