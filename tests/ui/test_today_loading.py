"""Today at start: the first rows come first, the whole list and its totals follow in the
background, and leaving Today stops that read so the area in front does not wait behind it."""

from __future__ import annotations

import time

import pytest

import ui.today
from fieldapp.agenda import day_agenda
from ui.app import App
from ui.main_window import HOUSEHOLDS, TODAY


def test_today_shows_its_first_rows_then_the_whole_list(app: App, idle) -> None:
    idle()
    today = app.window.today
    assert today.complete
    assert "đang đếm" not in today.follow_label.text()
    assert today.follow_model.rowCount() > ui.today.FIRST_ROWS


def test_leaving_today_stops_reading_the_whole_list(
    app: App, qtbot, idle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole list is read slowly here (it reports progress and would take 20 s): going to
    Households stops it within a step, and Today keeps its first rows."""
    idle()
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
