"""Pieces every `fieldapp` command group shares: bilingual messages, argument types, output."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from typing import TYPE_CHECKING, Any

from sync.protocol.i18n import language

if TYPE_CHECKING:
    from fieldapp.workspace import Workspace


def say(vi: str, en: str) -> str:
    """The Vietnamese text, or the English one when FIELDAPP_LANG=en."""
    return en if language() == "en" else vi


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))


def open_workspace(args: argparse.Namespace) -> Workspace:
    """The workspace in --data-dir (or the default folder)."""
    from fieldapp.workspace import Workspace

    return Workspace.open(args.data_dir)


def usage(parser: argparse.ArgumentParser) -> int:
    """A command group called without a command: its help on stderr, exit 2."""
    parser.print_help(sys.stderr)
    return 2


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
