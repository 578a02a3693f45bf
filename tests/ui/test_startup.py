"""Start-up: what opening the window loads, the areas built when first shown, the search pages."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QWidget

from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from tests.ui.conftest import wait_idle
from ui.app import App, build
from ui.bundle import LOOSE_PACKAGES
from ui.main_window import COVERAGE, END_OF_DAY, HOUSEHOLDS, PRINT, SYNC, TODAY
from ui.models import PAGE_SIZE, SearchQuery, SearchResultsModel
from ui.operations import Operations

ROOT = Path(__file__).resolve().parents[2]

# What only an area the agent opens later, or a printout, needs.
NOT_AT_START = (
    "reportlab",
    "httpx",
    "cryptography",
    "openpyxl",
    "sync.client",
    "sync.protocol.wire",
    "sync.protocol.signing",
    "sync.protocol.receipt_qr",
    "PySide6.QtNetwork",
    "PySide6.QtPrintSupport",
    "ui.sync_page",
    "ui.day_report",
    "ui.print_page",
    "ui.printing",
    "ui.household_page",
    "fieldapp.flyers",
    "fieldapp.reports_pdf",
    "fieldapp.backup",
    "fieldapp.receipts",
    # OpenSSL, for the PIN's hash: loaded when a PIN is checked.
    "hashlib",
    "_hashlib",
    "hmac",
)
NOW = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)


def _self_test_in_a_process(data_dir: Path, *, before: str = "", after: str = "") -> str:
    """Run the app's self-test on data_dir in a new Python process, with code before it and
    after it; the process's output."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        f"{before}"
        "from ui.app import run\n"
        f"assert run(data_dir=Path({str(data_dir)!r}), self_test=True) == 0\n"
        f"{after}"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FIELDAPP_LANG": "vi"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_self_test_loads_no_pdf_http_or_later_areas(data_dir: Path) -> None:
    """Opening the window on Today's first rows (the self-test) imports none of the heavy
    libraries. (Today's renewal amounts need the policy and the calculator.)"""
    out = _self_test_in_a_process(
        data_dir,
        after=(
            f"wanted = {NOT_AT_START!r}\n"
            "loaded = sorted(m for m in sys.modules if m.startswith(wanted))\n"
            "print('LOADED', loaded)\n"
        ),
    )
    assert "LOADED []" in out, out


def test_a_start_loads_none_of_the_packages_the_bundle_keeps_outside_its_archive(
    data_dir: Path,
) -> None:
    """The bundle keeps the packages no start imports as loose files, so that the archive index
    every start reads stays small (ui.bundle.LOOSE_PACKAGES); a start that needs one of them
    still works, but reads it from loose files and the index read buys nothing."""
    out = _self_test_in_a_process(
        data_dir,
        after=(
            f"loose = {LOOSE_PACKAGES!r}\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in loose)\n"
            "print('LOADED', loaded)\n"
        ),
    )
    assert "LOADED []" in out, out


def test_todays_first_rows_do_not_load_the_qt_namespace(data_dir: Path) -> None:
    """PySide6 builds the Qt namespace's 90-odd enum classes the first time anything names it
    (15-30 ms of a start): nothing on the way to Today's first painted rows may. The enum
    classes PySide6 makes are recorded as PySide6 asks for them (calling an enum base class
    with the members: whichever way the class is then built, fieldapp.qt_enums or not)."""
    out = _self_test_in_a_process(
        data_dir,
        before=(
            "import enum\n"
            "made = []\n"
            "call = enum.EnumType.__call__\n"
            "def record(cls, *args, **kwargs):\n"
            "    answer = call(cls, *args, **kwargs)\n"
            "    if isinstance(answer, type):\n"
            "        made.append(answer)\n"
            "    return answer\n"
            "enum.EnumType.__call__ = record\n"
        ),
        after=(
            "owners = sorted({e.__qualname__.split('.')[0] for e in made})\n"
            "print('ENUMS', len(made), 'OWNERS', owners)\n"
        ),
    )
    line = next(x for x in out.splitlines() if x.startswith("ENUMS"))
    # PySide6 does make enum classes this way (the check would be empty otherwise) ...
    assert int(line.split()[1]) > 20, line
    # ... and none of them is the Qt namespace's.
    assert "'Qt'" not in line, line


def test_pyside_reads_no_source_of_our_modules() -> None:
    """Importing the ui package tells PySide6 which of our modules use it, so PySide6 does not
    read their source files when they are first imported (it still reads other modules'). The
    reading is recorded where PySide6 does it."""
    code = (
        "import sys\n"
        "import ui\n"
        "feature = sys.modules['shibokensupport.feature']\n"
        "read = []\n"
        "check = feature._mod_uses_pyside\n"
        "def record(module):\n"
        "    read.append(module.__name__)\n"
        "    return check(module)\n"
        "feature._mod_uses_pyside = record\n"
        "import ui.households, ui.visit_dialog, fieldapp.demo, sync.client, wave\n"
        "print('READ', sorted(read))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("READ"))
    # The recording works: a standard module imported for the first time is read ...
    assert "'wave'" in line, line
    # ... and none of ours is.
    assert not any(f"'{p}" in line for p in ("ui", "fieldapp", "sync")), line


def test_no_cycle_collection_until_todays_first_rows(data_dir: Path) -> None:
    """`fieldapp gui` turns Python's cycle collector off while the app loads and builds its
    window, and on again once Today's first rows are painted."""
    code = (
        "import gc\n"
        "from pathlib import Path\n"
        "import ui.app as A\n"
        "seen = []\n"
        "build, self_test = A.build, A.run_self_test\n"
        "def building(*args, **kwargs):\n"
        "    seen.append(('build', gc.isenabled()))\n"
        "    return build(*args, **kwargs)\n"
        "def testing(app, **kwargs):\n"
        "    code = self_test(app, **kwargs)\n"
        "    seen.append(('painted', gc.isenabled()))\n"
        "    return code\n"
        "A.build, A.run_self_test = building, testing\n"
        "from fieldapp.cli.gui import launch\n"
        f"assert launch(data_dir=Path({str(data_dir)!r}), self_test=True) == 0\n"
        "seen.append(('after', gc.isenabled()))\n"
        "print('GC', seen)\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FIELDAPP_LANG": "vi"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("GC"))
    assert line == "GC [('build', False), ('painted', True), ('after', True)]", line


def test_only_the_area_in_front_is_built(app: App, qtbot) -> None:
    """Today (in front at start) is built and loaded; Sync is built when first opened."""
    window = app.window
    from ui.sync_page import SyncPage
    from ui.today import TodayView

    assert isinstance(window.stack.widget(TODAY), TodayView)
    assert window.today.follow_label.text() != ""
    for row in (PRINT, SYNC, END_OF_DAY, COVERAGE):
        assert type(window.stack.widget(row)) is QWidget  # a placeholder until first shown
    window.nav.setCurrentRow(SYNC)
    assert isinstance(window.stack.widget(SYNC), SyncPage)
    assert window.stack.currentWidget() is window.sync_page
    wait_idle(qtbot, app)
    assert window.sync_page.status is not None
    assert window.stack.count() == COVERAGE + 1


def test_server_settings_reach_the_sync_area_built_later(qtbot, settings, data_dir) -> None:
    """The server address from the settings is in the Sync area whenever it is first built."""
    settings.setValue("server_url", "https://bhxh-tinh.example.vn")
    settings.setValue("communes", "99001")
    built = build(settings, data_dir)
    qtbot.addWidget(built.window)
    try:
        page = built.window.sync_page
        assert page.server_url == "https://bhxh-tinh.example.vn"
        assert page.enrol_url_edit.text() == "https://bhxh-tinh.example.vn"
        assert page.communes == "99001"
    finally:
        wait_idle(qtbot, built)
        built.ops.shutdown()


def test_watching_the_server_starts_after_the_window(app: App, qtbot) -> None:
    """The server watch waits for the window, then probes on a timer; stopping it stops both."""
    window = app.window
    window.watch_server()
    qtbot.waitUntil(lambda: window.sync_page.probe_timer.isActive(), timeout=5000)
    window.stop_watching_server()
    assert not window.sync_page.probe_timer.isActive()
    wait_idle(qtbot, app)


def test_the_window_opens_on_households_without_reading_today(qtbot, settings, data_dir) -> None:
    """Households brought to the front before the window shows is the only area that loads."""
    built = build(settings, data_dir)
    qtbot.addWidget(built.window)
    try:
        window = built.window
        window.households.search_edit.setText("nguyen")
        window.focus_search()
        window.show()
        assert window.stack.currentIndex() == HOUSEHOLDS
        qtbot.waitUntil(lambda: window.households.model.rowCount() > 0)
        from ui.today import TodayView

        assert not isinstance(window.stack.widget(TODAY), TodayView)
    finally:
        wait_idle(qtbot, built)
        built.ops.shutdown()


def test_pages_of_equally_ranked_matches_do_not_overlap(qtbot, tmp_path: Path) -> None:
    """Many people whose names rank the same come page by page, each exactly once."""
    ws = Workspace.open(tmp_path, clock=FixedClock(NOW))
    household = ws.households.add(
        province_code="15", commune_code="99001", village="Bản Phố", head_name="Giàng A Páo"
    )
    added = {ws.members.add(household.id, full_name="Giàng Thị Mỷ").id for _ in range(250)}
    ws.close()
    ops = Operations(Workspace.open(tmp_path, clock=FixedClock(NOW)))
    model = SearchResultsModel(ops)
    try:
        model.set_query(SearchQuery(text="giang thi my"))
        while True:
            qtbot.waitUntil(lambda: not model.loading)
            if not model.canFetchMore(QModelIndex()):
                break
            model.fetchMore(QModelIndex())
        ids = [model.hit(row).member_id for row in range(model.rowCount())]
        assert model.fetch_count > len(added) // PAGE_SIZE
        assert len(ids) == len(set(ids)) == len(added)
        assert set(ids) == added
    finally:
        ops.shutdown()
