"""Hybrid logical clock: timestamps that order edits across devices even when clocks drift."""

from __future__ import annotations

import threading
from dataclasses import dataclass

MAX_COUNTER = 99_999


@dataclass(frozen=True, order=True)
class Timestamp:
    """One HLC reading: wall milliseconds, a counter for ties, and the device that made it."""

    wall_ms: int
    counter: int
    device_id: str

    def __str__(self) -> str:
        return f"{self.wall_ms:015d}-{self.counter:05d}-{self.device_id}"


def parse(text: str) -> Timestamp:
    """Parse the text form "<15-digit ms>-<5-digit counter>-<device id>"."""
    wall, counter, device = text.split("-", 2)
    if len(wall) != 15 or len(counter) != 5 or not (wall.isdigit() and counter.isdigit()):
        raise ValueError(f"not a hybrid-clock timestamp: {text!r}")
    return Timestamp(int(wall), int(counter), device)


def device_of(text: str) -> str:
    """The device id inside a timestamp's text form."""
    return parse(text).device_id


class HybridClock:
    """Issues timestamps that always move forward, also past ones observed from other devices.

    The text form sorts as a string in the same order as the timestamps.
    """

    def __init__(self, device_id: str, last: str | None = None) -> None:
        self.device_id = device_id
        self._lock = threading.Lock()
        self._wall = 0
        self._counter = 0
        if last:
            self.observe(last)

    def tick(self, now_ms: int) -> str:
        with self._lock:
            if now_ms > self._wall:
                self._wall, self._counter = now_ms, 0
            elif self._counter < MAX_COUNTER:
                self._counter += 1
            else:
                # The counter has five digits so that the text form sorts; past them, time
                # moves on by one millisecond instead (a fixed clock or a burst of ticks).
                self._wall, self._counter = self._wall + 1, 0
            return str(Timestamp(self._wall, self._counter, self.device_id))

    def observe(self, remote: str) -> None:
        stamp = parse(remote)
        with self._lock:
            if (stamp.wall_ms, stamp.counter) > (self._wall, self._counter):
                self._wall, self._counter = stamp.wall_ms, stamp.counter

    @property
    def last(self) -> str:
        return str(Timestamp(self._wall, self._counter, self.device_id))
