"""The `fieldapp` command as a real process: the app's self-test starts, shows Today, exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _fieldapp(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FIELDAPP_LANG": "vi"}
    return subprocess.run(
        [sys.executable, "-m", "fieldapp.cli", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_self_test_process_exits_cleanly(tmp_path: Path) -> None:
    """`fieldapp gui --self-test` on a demo store prints its finding and exits 0, no abort."""
    demo = _fieldapp("demo", "--households", "5", data_dir=tmp_path)
    assert demo.returncode == 0, demo.stderr
    result = _fieldapp("gui", "--self-test", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Tự kiểm tra: trang Hôm nay hiện" in result.stdout
    assert "Fatal Python error" not in result.stderr


def test_self_test_on_an_empty_store_sees_todays_empty_list_painted(tmp_path: Path) -> None:
    """A new laptop has nothing due today: the list is painted empty, and that is a pass."""
    result = _fieldapp("gui", "--self-test", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Tự kiểm tra: trang Hôm nay hiện 0 dòng việc đầu tiên." in result.stdout


def test_command_line_without_the_app_needs_no_qt(tmp_path: Path) -> None:
    """Scripted commands run through the same entry point without loading Qt."""
    code = (
        "import sys\n"
        "from fieldapp.cli import main\n"
        f"rc = main(['--data-dir', {str(tmp_path)!r}, 'calc', 'bhyt', '--members', '3',"
        " '--months', '12', '--on', '2026-07-01', '--json'])\n"
        "assert 'PySide6' not in sys.modules, 'Qt was loaded'\n"
        "sys.exit(rc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert '"gross": 3142260' in result.stdout


def test_many_signal_emits_do_not_abort_the_process() -> None:
    """Qt signals emitted tens of thousands of times keep the process alive (a PySide6 6.12.0
    bug dropped a reference to True on every emit and aborted the app after a day's work)."""
    code = (
        "from PySide6.QtCore import QCoreApplication, QObject, Signal\n"
        "app = QCoreApplication([])\n"
        "class Source(QObject):\n"
        "    changed = Signal(int)\n"
        "source = Source()\n"
        "seen = []\n"
        "source.changed.connect(seen.append)\n"
        "for n in range(20000):\n"
        "    source.changed.emit(n)\n"
        "print(len(seen))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "20000"
