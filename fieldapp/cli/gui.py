"""The `gui` command: the one place the command line hands over to the desktop app."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import TYPE_CHECKING

from fieldapp.startcache import PATTERNS
from sync.protocol.i18n import say

if TYPE_CHECKING:
    import argparse

    from fieldapp.cli.common import Commands


def launch(*, data_dir: Path | None, self_test: bool = False) -> int:
    """Open the desktop app on the store in `data_dir`; with `self_test`, check it and exit.

    Qt and ui/ are imported here and nowhere else in the command line, so scripted commands
    start fast and run where Qt is not installed.

    Python's cycle collector is off while the app starts: loading the core, Qt and the window
    makes long-lived objects, not garbage, and collecting them took 5.6-7.1 ms of each start.
    The app turns it back on once Today's first rows are painted (ui.app.run).
    """
    gc.disable()
    try:
        with PATTERNS.serving():  # the patterns of the modules loaded here, kept between runs
            from ui.app import run

        return int(run(data_dir=data_dir, self_test=self_test))
    finally:
        gc.enable()


def cmd_gui(args: argparse.Namespace) -> int:
    return launch(data_dir=args.data_dir, self_test=args.self_test)


def register(commands: Commands) -> None:
    from fieldapp.cli.common import command

    p = command(commands, "gui", cmd_gui, "mở ứng dụng", "open the desktop app")
    p.add_argument(
        "--self-test",
        action="store_true",
        help=say("tự kiểm tra rồi thoát", "check start-up and exit"),
    )
