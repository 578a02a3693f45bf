"""Today at start: the first rows come first, the whole list and its totals follow in the
background, and leaving Today stops that read so the area in front does not wait behind it."""

from __future__ import annotations

import time

import pytest

import ui.today
from fieldapp.agenda import day_agenda
from ui.app import App
from ui.main_window import HOUSEHOLDS, TODAY


@pytest.fixture
def settled(app: App, qtbot, idle):
    """Call to wait until Today shows its whole list and the worker is quiet. The worker alone
    going quiet is not enough: between the first rows and the whole list (asked for once the
    first rows are painted, or after WHOLE_AFTER_MS) it has nothing to do."""

    def wait() -> None:
        qtbot.waitUntil(lambda: app.window.today.complete, timeout=10000)
        idle()

    return wait


def test_today_shows_its_first_rows_then_the_whole_list(app: App, settled) -> None:
    settled()
    today = app.window.today
    assert today.complete
    assert "đang đếm" not in today.follow_label.text()
    assert today.follow_model.rowCount() > ui.today.FIRST_ROWS


def test_leaving_today_stops_reading_the_whole_list(
    app: App, qtbot, idle, settled, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole list is read slowly here (it reports progress and would take 20 s): going to
    Households stops it within a step, and Today keeps its first rows."""
    settled()
    slow_reads: list[str] = []

    def slow(ws, on=None, *, limit=200, count=True, progress=None):
        if count and progress is not None:
            slow_reads.append("started")
            for n in range(2000):
                time.sleep(0.01)
                progress(n, 0)  # raises once the read is stopped
        return day_agenda(ws, on, limit=limit, count=count, progress=progress)

    monkeypatch.setattr(ui.today, "day_agenda", slow)
    window = app.window
    window.nav.setCurrentRow(HOUSEHOLDS)
    window.nav.setCurrentRow(TODAY)
    today = window.today
    qtbot.waitUntil(lambda: slow_reads == ["started"], timeout=5000)
    assert today.shown and not today.complete
    assert "đang đếm" in today.follow_label.text()
    started = time.monotonic()
    window.nav.setCurrentRow(HOUSEHOLDS)
    idle()
    assert time.monotonic() - started < 5
    assert not today.complete
    assert app.ops.last_error is None
    assert today.follow_model.rowCount() == ui.today.FIRST_ROWS


def test_the_whole_list_waits_for_the_first_rows_to_be_painted(
    app: App, qtbot, idle, settled, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read alongside the first paint, the whole list's Python held the interpreter and the
    first rows waited for it: the read starts only once they have been painted."""
    settled()
    events: list[str] = []
    run_op = app.ops.run_op

    def noted(parent, fn, **kwargs):
        # Noted on the UI thread, when the read is handed to the worker.
        events.append("whole read" if fn is ui.today.load_today else "first read")
        return run_op(parent, fn, **kwargs)

    monkeypatch.setattr(app.ops, "run_op", noted)
    window = app.window
    today = window.today
    today.follow_table.painted.connect(lambda: events.append("painted"))
    today.loaded.connect(lambda: events.append("rows set"))
    window.nav.setCurrentRow(HOUSEHOLDS)
    window.nav.setCurrentRow(TODAY)
    qtbot.waitUntil(lambda: "whole read" in events, timeout=5000)
    idle()
    assert today.complete
    assert events.index("first read") < events.index("rows set"), events
    # The first rows were set, then painted, and only then was the whole list asked for.
    assert "painted" in events[events.index("rows set") : events.index("whole read")], events


def test_an_unpainted_today_still_reads_its_whole_list(
    app: App, qtbot, idle, settled, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing paints a hidden window: the whole list starts after a moment all the same."""
    settled()
    window = app.window
    window.hide()
    today = window.today
    painted: list[int] = []
    today.follow_table.painted.connect(lambda: painted.append(1))
    today.refresh()
    qtbot.waitUntil(lambda: today.shown, timeout=5000)
    idle()
    qtbot.waitUntil(lambda: today.complete, timeout=5000)
    assert painted == []
    assert today.follow_model.rowCount() > ui.today.FIRST_ROWS


def test_first_rows_arriving_while_the_app_closes_start_no_read(
    app: App, workspace, qtbot, idle, settled
) -> None:
    """Closing shuts the worker down; first rows that were already on their way still arrive
    and start the timer for the whole list, which must then do nothing (it raised, in a
    teardown, when the worker took no more work)."""
    settled()
    today = app.window.today
    first = ui.today.load_today(workspace, first=True)
    app.ops.shutdown()
    assert app.ops.closed
    today._show_first(first)
    assert today._whole_pending
    qtbot.wait(ui.today.WHOLE_AFTER_MS + 50)
    idle()
    assert not today._whole_pending and app.ops.last_error is None
