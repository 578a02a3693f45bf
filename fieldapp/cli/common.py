"""What every `fieldapp` command shares: opening the workspace, command groups, argument types,
output, and writing files whole."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync.protocol.errors import FieldappError
from sync.protocol.i18n import say

if TYPE_CHECKING:
    from fieldapp.workspace import Workspace

Handler = Callable[[argparse.Namespace], int]
# argparse's object that `add_subparsers` returns.
Commands = Any


# -- the workspace ------------------------------------------------------------------------------


@contextmanager
def workspace(args: argparse.Namespace) -> Iterator[Workspace]:
    """The workspace in --data-dir (or the default folder), closed however the command ends."""
    from fieldapp.workspace import Workspace

    with Workspace.open(args.data_dir) as ws:
        yield ws


def data_dir(args: argparse.Namespace) -> Path:
    """--data-dir, else FIELDAPP_DATA_DIR, else the user data folder (for commands that must
    not open the store, such as restore)."""
    from fieldapp.store import default_data_dir

    return Path(args.data_dir) if args.data_dir is not None else default_data_dir()


# -- commands and groups ------------------------------------------------------------------------


def usage(parser: argparse.ArgumentParser) -> int:
    """A command group called without a command: its help on stderr, exit 2."""
    parser.print_help(sys.stderr)
    return 2


def group(commands: Commands, name: str, vi: str, en: str) -> Commands:
    """A command group (`fieldapp NAME COMMAND …`): its parser prints help when called bare;
    returns the group's own sub-commands."""
    text = say(vi, en)
    parser: argparse.ArgumentParser = commands.add_parser(name, help=text, description=text)
    parser.set_defaults(handler=lambda _args: usage(parser))
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND")


def command(
    commands: Commands, name: str, handler: Handler, vi: str, en: str, *, json_flag: bool = False
) -> argparse.ArgumentParser:
    """One command with its help text in both languages; `json_flag` adds --json."""
    text = say(vi, en)
    parser: argparse.ArgumentParser = commands.add_parser(name, help=text, description=text)
    parser.set_defaults(handler=handler)
    if json_flag:
        parser.add_argument("--json", action="store_true", help=say("in JSON", "print JSON"))
    return parser


# -- argument types -----------------------------------------------------------------------------


def percent_text(value: float) -> str:
    """A share in percent with one decimal; Vietnamese writes a decimal comma (73,8%)."""
    text = f"{value:.1f}%"
    return say(text.replace(".", ","), text)


def date_arg(text: str) -> dt.date:
    """An argument type for YYYY-MM-DD dates."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            say(f"ngày không hợp lệ: {text} (YYYY-MM-DD)", f"invalid date: {text} (YYYY-MM-DD)")
        ) from exc


_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def month_arg(text: str) -> str:
    """An argument type for YYYY-MM months."""
    if not _MONTH.match(text):
        raise argparse.ArgumentTypeError(
            say(f"tháng không hợp lệ: {text} (YYYY-MM)", f"invalid month: {text} (YYYY-MM)")
        )
    return text


def amount_arg(text: str) -> int:
    """Whole đồng, with or without thousands separators ("1.500.000"); a minus sign is kept so
    the core refuses a negative amount with its own message."""
    cleaned = text.strip().replace(".", "").replace(",", "").replace("_", "").replace(" ", "")
    if not re.fullmatch(r"-?\d+", cleaned):
        raise argparse.ArgumentTypeError(
            say(f"số tiền phải là số nguyên đồng: {text}", f"an amount must be whole đồng: {text}")
        )
    return int(cleaned)


# -- output -------------------------------------------------------------------------------------


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))


def show_progress(done: int, total: int) -> None:
    """A running count on a terminal (nothing when the output goes to a file or a pipe)."""
    if sys.stderr.isatty():
        print(f"\r{done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


def write_file(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a cut never leaves half a PDF under the real name."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as exc:
        raise cannot_write(path, exc) from exc


def cannot_write(path: Path, exc: OSError) -> FieldappError:
    return FieldappError(
        f"Không ghi được tệp {path}: {exc.strerror or exc}",
        f"Cannot write {path}: {exc.strerror or exc}",
        code="cannot_write",
    )
