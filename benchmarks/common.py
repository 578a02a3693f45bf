"""Shared pieces of the benchmarks: figures as ratios against a floor measured in the same run."""

from __future__ import annotations

import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Figure:
    """One measured figure: ours against the floor (the bare operation), with a target ratio.

    `lower_is_better` False means the ratio must reach at least the target (e.g. throughput).
    A target of None marks a figure that is reported with no target ratio: it passes when it
    could be measured at all (a run that went wrong measures infinity).
    """

    name: str
    measured: float
    floor: float
    unit: str
    target: float | None
    lower_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.measured / self.floor if self.floor else float("inf")

    @property
    def passed(self) -> bool:
        if self.target is None:
            return math.isfinite(self.measured)
        return self.ratio <= self.target if self.lower_is_better else self.ratio >= self.target


def machine() -> str:
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, SQLite {__import__('sqlite3').sqlite_version}"
    )


def print_table(figures: list[Figure], title: str = "") -> None:
    if title:
        print(title)
    print(f"machine: {machine()}")
    header = f"{'figure':<48} {'measured':>12} {'floor':>12} {'ratio':>7} {'target':>8}  result"
    print(header)
    print("-" * len(header))
    for f in figures:
        sign = "≤" if f.lower_is_better else "≥"
        target = f"{sign}{f.target:>6.2f}" if f.target is not None else f"{'—':>7}"
        print(
            f"{f.name:<48} {f.measured:>10.3f}{f.unit:>2} {f.floor:>10.3f}{f.unit:>2} "
            f"{f.ratio:>7.2f} {target}  {'pass' if f.passed else 'FAIL'}"
            + (f"  ({f.note})" if f.note else "")
        )


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


def alternating_medians(
    ours: Callable[[], float], floor: Callable[[], float], rounds: int
) -> tuple[float, float]:
    """The median of `rounds` runs of each, run in turn (ours, floor, ours, …) after one
    untimed run of each. Taken one series after the other, a shared machine that slows down
    between the two series moves the ratio by a third; in turn, both see the same spells."""
    ours()
    floor()
    ours_runs: list[float] = []
    floor_runs: list[float] = []
    for _ in range(rounds):
        ours_runs.append(ours())
        floor_runs.append(floor())
    return statistics.median(ours_runs), statistics.median(floor_runs)


def cached_demo_store(households: int, seed: int = 7) -> Path:
    """A demo store of the given size, built once and kept in the temp folder between runs."""
    import datetime as dt

    from fieldapp.demo import create_demo
    from fieldapp.migrations import latest_version
    from fieldapp.store import STORE_FILENAME
    from fieldapp.workspace import Workspace
    from sync.protocol.clock import FixedClock

    folder = Path(tempfile.gettempdir()) / f"fieldapp-bench-{households}-{seed}-v{latest_version()}"
    if (folder / "ready").exists():
        return folder / STORE_FILENAME
    shutil.rmtree(folder, ignore_errors=True)
    clock = FixedClock(dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC))
    ws = Workspace.open(folder, clock=clock)
    print(f"building a demo store of {households} households in {folder} …", file=sys.stderr)
    create_demo(ws, households=households, seed=seed)
    ws.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ws.close()
    (folder / "ready").write_text("ok")
    return folder / STORE_FILENAME
