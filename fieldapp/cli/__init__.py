"""The `fieldapp` command line: every command an agent or a script runs on the laptop.

Each command group lives in its own module and registers itself on the parser; `gui` opens the
desktop app. Messages are in Vietnamese, or English with FIELDAPP_LANG=en.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fieldapp.errors import ValidationError
from sync.protocol.codecache import save_all as save_compiled_code
from sync.protocol.errors import FieldappError
from sync.protocol.i18n import say

if TYPE_CHECKING:
    import argparse

    from fieldapp.cli.common import Handler

# The command groups, in the order `fieldapp --help` lists them.
GROUPS = ("households", "day", "calc", "coverage", "gui", "receipts", "backup", "reports", "sync")
# What `pip install fieldapp[laptop]` brings; missing on a server-only install.
LAPTOP_PACKAGES = ("PySide6", "shiboken6", "sqlite_utils", "reportlab", "httpx", "cryptography")


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word of a command line: the first word that is not --data-dir or its value."""
    words = iter(argv)
    for word in words:
        if word == "--data-dir":
            next(words, None)
        elif not word.startswith("--data-dir="):
            return word
    return None


def build_parser(*, only_gui: bool = False) -> argparse.ArgumentParser:
    """The whole command line; with only_gui, just what opening the app needs (it starts
    faster: the other command groups are neither imported nor built)."""
    import argparse
    import importlib

    parser = argparse.ArgumentParser(
        prog="fieldapp",
        description=say(
            "Ứng dụng cho nhân viên thu BHXH tự nguyện và BHYT hộ gia đình.",
            "App for collection agents of voluntary social and household health insurance.",
        ),
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=say(
            "thư mục dữ liệu (mặc định: FIELDAPP_DATA_DIR hoặc thư mục dữ liệu người dùng)",
            "data folder (default: FIELDAPP_DATA_DIR or the user data folder)",
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in ("gui",) if only_gui else GROUPS:
        importlib.import_module(f"fieldapp.cli.{name}").register(commands)
    return parser


def gui_command(argv: Sequence[str]) -> tuple[Path | None, bool] | None:
    """The data folder and --self-test of a command line that only opens the app, in the forms
    it is started with: `[--data-dir DIR | --data-dir=DIR] gui [--self-test]`, each once. None
    for any other line, which the parser reads (help, mistakes and their messages included).

    Opening the app is the command run most, and the one an agent waits for: reading it here
    spares it building and running the parser and loading fieldapp.cli.common (2-3 ms of a
    start; argparse itself is loaded later by PySide6 in any case)."""
    words = list(argv)
    data_dir: Path | None = None
    if words[:1] == ["--data-dir"] and len(words) >= 2 and not words[1].startswith("-"):
        data_dir, words = Path(words[1]), words[2:]
    elif words[:1] and words[0].startswith("--data-dir=") and len(words[0]) > len("--data-dir="):
        data_dir, words = Path(words[0].removeprefix("--data-dir=")), words[1:]
    if words == ["gui"]:
        return data_dir, False
    if words == ["gui", "--self-test"]:
        return data_dir, True
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code."""
    words = sys.argv[1:] if argv is None else list(argv)
    gui = gui_command(words)
    if gui is not None:
        from fieldapp.cli.gui import launch

        return _handled(lambda: launch(data_dir=gui[0], self_test=gui[1]))
    parser = build_parser(only_gui=_command_of(words) == "gui")
    args = parser.parse_args(words)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return _handled(lambda: handler(args))


def _handled(run: Callable[[], int]) -> int:
    """What a command returns, or 1 with its error's message for a missing laptop package, a
    refused input or any error of ours."""
    try:
        return run()
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in LAPTOP_PACKAGES:
            raise
        print(
            say(
                f"Bản cài này thiếu gói của máy nhân viên thu ({exc.name}): "
                "hãy cài `pip install 'fieldapp[laptop]'`.",
                f"This installation lacks the laptop's packages ({exc.name}): "
                "install `pip install 'fieldapp[laptop]'`.",
            ),
            file=sys.stderr,
        )
        return 1
    except ValidationError as exc:
        for problem in exc.problems:
            print(problem.message(), file=sys.stderr)
        return 1
    except FieldappError as exc:
        print(exc.message(), file=sys.stderr)
        return 1


def finish(code: int) -> None:
    """End the process with `code` once output is flushed.

    Without the interpreter's final garbage collection: PySide6 can abort there when Qt objects
    outlive QApplication, which would turn a clean exit into a crash report. The code this run
    compiled at run time (records' methods, PySide6's support modules) is kept for the next
    (sync.protocol.codecache, fieldapp.startcache).
    """
    save_compiled_code()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os._exit(code)


def console() -> None:
    """The `fieldapp` console script."""
    finish(main())
