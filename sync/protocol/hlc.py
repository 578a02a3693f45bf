"""The hybrid logical clock: stamps that order edits across devices even when their clocks drift.

Text form: ``<15-digit wall ms>-<5-digit counter>-<device id>``; fixed width, so plain string
order is clock order. Both ends use this one clock: the laptop stamps its changes with it and
the server compares them with it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from sync.protocol.errors import ProtocolError

MAX_COUNTER = 99_999

_HLC_RE = re.compile(r"^(\d{15})-(\d{5})-([0-9A-Za-z][0-9A-Za-z-]*)$")


@dataclass(frozen=True, order=True)
class Hlc:
    """A parsed clock value: wall milliseconds, a counter for ties, and the device that made it."""

    wall_ms: int
    counter: int
    device_id: str

    def __str__(self) -> str:
        return hlc_format(self.wall_ms, self.counter, self.device_id)


def hlc_format(wall_ms: int, counter: int, device_id: str) -> str:
    """The text form, fixed width so that plain string order is clock order."""
    return f"{wall_ms:015d}-{counter:05d}-{device_id}"


def hlc_parse(text: str) -> Hlc:
    """Parse the text form; raises ProtocolError (code bad_hlc) when malformed."""
    match = _HLC_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ProtocolError(
            f"Dấu thời gian HLC không hợp lệ: {text!r}", f"Malformed HLC: {text!r}", code="bad_hlc"
        )
    return Hlc(int(match.group(1)), int(match.group(2)), match.group(3))


def hlc_compare(a: str, b: str) -> int:
    """-1, 0 or 1 as a is before, equal to or after b."""
    pa, pb = hlc_parse(a), hlc_parse(b)
    return (pa > pb) - (pa < pb)


def is_hlc(text: object) -> bool:
    return isinstance(text, str) and _HLC_RE.match(text) is not None


class HybridClock:
    """Issues stamps for one device: never backwards, and after anything it has observed.

    Thread-safe: the app's worker and a background sync may stamp changes at the same time.
    """

    def __init__(self, device_id: str, *, last: str | None = None) -> None:
        self.device_id = device_id
        self._lock = threading.Lock()
        self._wall = 0
        self._counter = 0
        if last is not None:
            self.observe(last)

    def tick(self, now_ms: int) -> str:
        """A new stamp for a local change made at now_ms (wall clock, Unix milliseconds)."""
        with self._lock:
            if now_ms > self._wall:
                self._wall, self._counter = now_ms, 0
            elif self._counter < MAX_COUNTER:
                self._counter += 1
            else:
                # The counter has five digits so that the text form sorts; past them, time
                # moves on by one millisecond instead (a fixed clock or a burst of ticks).
                self._wall, self._counter = self._wall + 1, 0
            return hlc_format(self._wall, self._counter, self.device_id)

    def observe(self, remote: str) -> None:
        """Take a stamp seen from another device into account, so the next tick is after it."""
        stamp = hlc_parse(remote)
        with self._lock:
            if (stamp.wall_ms, stamp.counter) > (self._wall, self._counter):
                self._wall, self._counter = stamp.wall_ms, stamp.counter

    @property
    def last(self) -> str:
        return hlc_format(self._wall, self._counter, self.device_id)
