"""The hybrid logical clock: stamps always move forward and their text sorts like them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from sync.protocol.hlc import MAX_COUNTER, HybridClock, hlc_parse

# 2026-11-18 in Unix milliseconds: a wall clock inside the clock's bounds.
T = 1_795_000_000_000


def test_stamps_on_a_standing_clock_keep_moving_and_stay_parseable() -> None:
    """Past the five-digit counter a stamp moves on a millisecond instead of growing a digit."""
    clock = HybridClock("dev")
    stamps = [clock.tick(T) for _ in range(MAX_COUNTER + 3)]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    parsed = [hlc_parse(s) for s in stamps[-4:]]
    assert [(p.wall_ms, p.counter) for p in parsed] == [
        (T, MAX_COUNTER - 1),
        (T, MAX_COUNTER),
        (T + 1, 0),
        (T + 1, 1),
    ]
    # The wall clock catching up continues from the stamp, never going back.
    assert hlc_parse(clock.tick(T + 1)) == hlc_parse(f"{T + 1:015d}-00002-dev")
    assert clock.tick(T + 4_000) > stamps[-1]


def test_a_store_written_by_a_long_run_on_a_fixed_clock_opens_again(tmp_path: Path) -> None:
    """More than 100,000 changes at one instant (a big demo) leave a store that reopens."""
    now = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    ws = Workspace.open(tmp_path, clock=FixedClock(now))
    ws.store.hlc._counter = MAX_COUNTER - 2  # as after ~100,000 writes at the same instant
    for i in range(5):
        ws.households.add(
            province_code="15",
            commune_code="99001",
            village="Bản Phố",
            head_name=f"Giàng Seo {'ABCDE'[i]}",
        )
    last = ws.store.hlc.last
    ws.close()
    again = Workspace.open(tmp_path, clock=FixedClock(now))
    assert again.store.hlc.last >= last
    again.households.add(
        province_code="15", commune_code="99001", village="Bản Phố", head_name="Giàng Seo Sử"
    )
    again.close()
