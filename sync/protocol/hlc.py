"""The hybrid logical clock: stamps that order edits across devices even when their clocks drift.

Text form: ``<15-digit wall ms>-<5-digit counter>-<device id>``; fixed width, so plain string
order is clock order. Both ends use this one clock: the laptop stamps its changes with it and
the server compares them with it.

Stamps are bounded: none before EPOCH_MS, none after LATEST_MS, and none more than
FUTURE_TOLERANCE_MS past the receiver's own clock. A forged stamp from the far future would
otherwise win every merge for ever, push every clock that sees it past the text form's 15
digits, and break every page that shows when an edit was made.
"""

from __future__ import annotations

import datetime as dt
import re
import threading

from sync.protocol.errors import ProtocolError
from sync.protocol.frozen import kept_dataclass

MAX_COUNTER = 99_999
# 2025-01-01T00:00:00Z: before anything was synced. A laptop whose clock says 2000 (a flat
# clock battery) stamps from here instead.
EPOCH_MS = 1_735_689_600_000
# 2100-01-01T00:00:00Z: the ceiling whatever a clock says, far below the 15 digits' end (year
# 33658) and inside the dates Python and the databases handle.
LATEST_MS = 4_102_444_800_000
# How far past the receiver's own clock a stamp may run: laptops' clocks drift, not by days.
FUTURE_TOLERANCE_MS = 2 * 24 * 3600 * 1000

# The text form as a pattern; the API description states the same one.
HLC_PATTERN = r"^(\d{15})-(\d{5})-([0-9A-Za-z][0-9A-Za-z-]*)$"
_HLC_RE = re.compile(HLC_PATTERN)


@kept_dataclass(frozen=True, order=True)
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
    # fullmatch: "$" alone would let a trailing newline through.
    match = _HLC_RE.fullmatch(text) if isinstance(text, str) else None
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
    return isinstance(text, str) and _HLC_RE.fullmatch(text) is not None


def latest_allowed(now_ms: int | None) -> int:
    """The last wall clock a stamp may carry for a receiver whose clock reads now_ms."""
    if now_ms is None:
        return LATEST_MS
    return min(LATEST_MS, max(now_ms, EPOCH_MS) + FUTURE_TOLERANCE_MS)


def out_of_range(stamp: Hlc, *, now_ms: int | None = None) -> tuple[str, str] | None:
    """Why a stamp cannot be taken (Vietnamese, English), or None when it is within bounds."""
    return wall_out_of_range(stamp.wall_ms, latest_allowed(now_ms))


def wall_out_of_range(wall_ms: int, latest_ms: int) -> tuple[str, str] | None:
    """out_of_range for a stamp's wall milliseconds, the receiver's latest_allowed given."""
    if wall_ms < EPOCH_MS:
        return (
            "Dấu thời gian trước năm 2025: đồng hồ máy tính đặt sai; hãy chỉnh lại ngày giờ",
            "Clock stamp before 2025: the computer's clock is wrong; set the date and time",
        )
    if wall_ms > latest_ms:
        return (
            "Dấu thời gian ở tương lai (quá 2 ngày so với máy chủ): đồng hồ máy tính đặt sai; "
            "hãy chỉnh lại ngày giờ",
            "Clock stamp in the future (more than 2 days past the server's clock): the "
            "computer's clock is wrong; set the date and time",
        )
    return None


def usable(text: object, *, now_ms: int | None = None) -> bool:
    """True for a well-formed stamp within bounds."""
    if not is_hlc(text):
        return False
    return out_of_range(hlc_parse(str(text)), now_ms=now_ms) is None


def hlc_moment(text: object) -> dt.datetime | None:
    """When a stamp was made (UTC), for display; None for a malformed or unbounded one."""
    if not usable(text):
        return None
    return dt.datetime.fromtimestamp(hlc_parse(str(text)).wall_ms / 1000, dt.UTC)


class HybridClock:
    """Issues stamps for one device: never backwards, and after anything it has observed.

    Thread-safe: the app's worker and a background sync may stamp changes at the same time.
    """

    def __init__(self, device_id: str, *, last: str | None = None) -> None:
        self.device_id = device_id
        self._lock = threading.Lock()
        self._wall = EPOCH_MS
        self._counter = 0
        if last is not None:
            self.observe(last)

    def tick(self, now_ms: int) -> str:
        """A new stamp for a local change made at now_ms (wall clock, Unix milliseconds)."""
        now_ms = min(max(now_ms, EPOCH_MS), LATEST_MS)
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

    def observe(self, remote: str, *, now_ms: int | None = None) -> bool:
        """Take a stamp seen from another device into account, so the next tick is after it.

        A malformed stamp, or one out of bounds for a receiver whose clock reads now_ms, is
        not taken (False): the clock must never be dragged into the future by someone else.
        """
        if not usable(remote, now_ms=now_ms):
            return False
        stamp = hlc_parse(remote)
        with self._lock:
            if (stamp.wall_ms, stamp.counter) > (self._wall, self._counter):
                self._wall, self._counter = stamp.wall_ms, stamp.counter
        return True

    @property
    def last(self) -> str:
        return hlc_format(self._wall, self._counter, self.device_id)
