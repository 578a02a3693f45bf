"""Desktop app figures: start-up to Today's first rows (the first view) on the 100,000- and
200,000-member stores, and per-keystroke search latency through the UI's model, each against a
bare floor."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Figure, alternating_medians, cached_demo_store, percentile, print_table

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

BARE_WINDOW = (
    "from PySide6.QtWidgets import QApplication, QMainWindow\n"
    "app = QApplication([])\n"
    "w = QMainWindow()\n"
    "w.resize(1366, 768)\n"
    "w.show()\n"
    "app.processEvents()\n"
)
# Starts of each side, in turn, for the medians: this machine's pace changes from minute to
# minute, and with 9 starts the ratio of unchanged code moved by a tenth between runs.
STARTS = 15
TYPED = ["nguyen thi huong", "giang seo su", "dang van duc", "lo thi hoa", "0101"]


def _run(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", code], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr[-3000:]}")
    return time.perf_counter() - start


def startup_figures(households: int, rounds: int) -> list[Figure]:
    store = cached_demo_store(households)
    # Both processes keep their compiled bytecode between runs, as an installed app and the
    # bundle do (and as PySide6 in the floor always does). Without this, a shell that sets
    # PYTHONDONTWRITEBYTECODE makes every start of ours compile the app from source. The
    # bytecode goes to a folder of its own, not beside the sources.
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(ROOT),
        "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "fieldapp-bench-pycache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    ours_code = (
        "import sys\nfrom fieldapp.cli import console\n"
        f"sys.argv[1:] = ['--data-dir', {str(store.parent)!r}, 'gui', '--self-test']\n"
        "console()\n"
    )
    # The first run of each warms the file cache and the bytecode, as a second start of the
    # day would be.
    ours, floor = alternating_medians(
        lambda: _run(ours_code, env), lambda: _run(BARE_WINDOW, env), rounds
    )
    return [
        Figure(
            f"start-up to Today's first rows, {_members(store):,}",
            ours,
            floor,
            "s",
            1.5,
            note=f"floor: a bare QMainWindow process; medians of {rounds} starts each, in turn",
        )
    ]


def _members(store: Path) -> int:
    with sqlite3.connect(store) as conn:
        return int(conn.execute("SELECT count(*) FROM member WHERE removed = 0").fetchone()[0])


def keystroke_figures(households: int) -> list[Figure]:
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from fieldapp.search import match_expression
    from fieldapp.workspace import Workspace
    from sync.protocol.clock import SystemClock
    from ui.models import PAGE_SIZE, SearchQuery, SearchResultsModel
    from ui.operations import Operations

    store = cached_demo_store(households)
    app = QApplication.instance() or QApplication([])
    ws = Workspace.open(store.parent, clock=SystemClock())
    ops = Operations(ws)
    model = SearchResultsModel(ops)
    bare = sqlite3.connect(store)
    ours: list[float] = []
    floor: list[float] = []
    for text in TYPED:
        for end in range(1, len(text) + 1):
            typed = text[:end]
            start = time.perf_counter()
            model.set_query(SearchQuery(text=typed))
            while model.loading:
                # Block until the worker's answer is posted, as the app's event loop does. A
                # loop that polls without waiting keeps the interpreter lock busy on this
                # thread, so the worker waits for it: that measured the loop, not the model.
                app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
            ours.append(time.perf_counter() - start)
            expression = match_expression(typed)
            if expression is None:
                continue
            start = time.perf_counter()
            bare.execute(
                "SELECT rowid, body, member_id, household_id FROM search_index "
                "WHERE search_index MATCH ? ORDER BY rank LIMIT ?",
                (expression, PAGE_SIZE),
            ).fetchall()
            floor.append(time.perf_counter() - start)
    ops.shutdown()
    ws.close()
    bare.close()
    return [
        Figure(
            f"search per keystroke, UI model, {_members(store):,}: p{pct}",
            percentile(ours, pct) * 1000,
            percentile(floor, pct) * 1000,
            "ms",
            2.0,
        )
        for pct in (50, 95)
    ]


def run(quick: bool = False) -> list[Figure]:
    figures: list[Figure] = []
    for households in (2_500,) if quick else (25_000, 50_000):
        figures += startup_figures(households, 2 if quick else STARTS)
        figures += keystroke_figures(households)
    return figures


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv), "fieldapp desktop app")
