"""The `gui` command: the one place the command line hands over to the desktop app."""

from __future__ import annotations

import argparse
from pathlib import Path

from fieldapp.cli.common import Commands, command
from sync.protocol.i18n import say


def launch(*, data_dir: Path | None, self_test: bool = False) -> int:
    """Open the desktop app on the store in `data_dir`; with `self_test`, check it and exit.

    Qt and ui/ are imported here and nowhere else in the command line, so scripted commands
    start fast and run where Qt is not installed.
    """
    from ui.app import run

    return int(run(data_dir=data_dir, self_test=self_test))


def cmd_gui(args: argparse.Namespace) -> int:
    return launch(data_dir=args.data_dir, self_test=args.self_test)


def register(commands: Commands) -> None:
    p = command(commands, "gui", cmd_gui, "mở ứng dụng", "open the desktop app")
    p.add_argument(
        "--self-test",
        action="store_true",
        help=say("tự kiểm tra rồi thoát", "check start-up and exit"),
    )
