"""UUIDv7 identifiers minted on the device, and the typed ids of the domain."""

from __future__ import annotations

import os
import re
import threading
from typing import NewType

from sync.protocol.clock import Clock

HouseholdId = NewType("HouseholdId", str)
MemberId = NewType("MemberId", str)
VisitId = NewType("VisitId", str)
PledgeId = NewType("PledgeId", str)
ReceiptId = NewType("ReceiptId", str)
DeviceId = NewType("DeviceId", str)

# The one text form of an id: 8-4-4-4-12 hex digits. The API description states the same pattern.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
UUID_LENGTH = 36
_UUID = re.compile(UUID_PATTERN.strip("^$"))

_lock = threading.Lock()
_last_ms = -1
_last_rand_a = 0


def uuid7(clock: Clock) -> str:
    """A UUIDv7 (RFC 9562) as text: 48-bit Unix milliseconds, then random bits.

    Within one millisecond the 12-bit rand_a field counts up so ids minted in a row sort in
    the order they were made.
    """
    global _last_ms, _last_rand_a
    ms = int(clock.now().timestamp() * 1000)
    # One read of the system's random source: 62 bits for rand_b, 11 for a new rand_a.
    noise = int.from_bytes(os.urandom(10), "big")
    with _lock:
        if ms <= _last_ms:
            ms = _last_ms
            _last_rand_a += 1
            if _last_rand_a > 0xFFF:
                ms += 1
                _last_rand_a = 0
        else:
            _last_rand_a = (noise >> 64) & 0x7FF
        _last_ms = ms
        rand_a = _last_rand_a
    rand_b = noise & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    digits = f"{value:032x}"  # str(uuid.UUID(int=value)) without building the object
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def is_uuid(value: object) -> bool:
    """True when value is a UUID in its 36-character text form (either case).

    uuid.UUID() also reads braces, "urn:uuid:" and any number of dashes: such text is refused,
    so one UUID has one spelling and always fits the 36-character columns that hold ids.
    """
    return isinstance(value, str) and _UUID.fullmatch(value) is not None
