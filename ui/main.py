"""The `fieldapp` command: the core's command line, with the desktop app behind `fieldapp gui`."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from fieldapp import cli
from sync import cli as sync_cli


def launch_gui(*, data_dir: Path | None, self_test: bool = False) -> int:
    # Qt is imported only when the app is opened, so scripted commands start fast.
    from ui.app import run

    return int(run(data_dir=data_dir, self_test=self_test))


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, gui=launch_gui, commands=[sync_cli.register_sync])


def console() -> None:
    """The `fieldapp` console script.

    After the app has closed its store, the process ends without the interpreter's final
    garbage collection: PySide6 can abort there when Qt objects outlive QApplication, which
    would turn a clean exit into a crash report.
    """
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console()
