"""Injected clocks: the core never reads the system time directly."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    """A source of the current time (UTC, timezone-aware) and the agent's local date."""

    def now(self) -> dt.datetime: ...

    def today(self) -> dt.date: ...


# Vietnam has one time zone and no daylight saving time.
VIETNAM_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")


class SystemClock:
    """The real clock: UTC now, and today's date in Vietnam."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return self.now().astimezone(VIETNAM_TZ).date()


class FixedClock:
    """A clock for tests and scripted runs: starts at a given instant and moves only when told."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
        self._now = start

    def now(self) -> dt.datetime:
        return self._now

    def today(self) -> dt.date:
        return self._now.astimezone(VIETNAM_TZ).date()

    def advance(self, **delta: float) -> None:
        self._now += dt.timedelta(**delta)


def iso_utc(moment: dt.datetime) -> str:
    """ISO-8601 UTC timestamp with millisecond precision, e.g. 2026-11-23T08:00:00.000Z."""
    # isoformat truncates to milliseconds as "%f"[:-3] did, and pads the year to four digits.
    utc = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"
