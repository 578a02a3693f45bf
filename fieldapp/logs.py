"""The app's log file, with personal data (CCCD, phone numbers, names) masked before it is written.

Code that logs something about a person passes the name as ``extra={"person": name}`` (or a
list of names); the filter removes that name from the message in every spelling it may take.
"""

from __future__ import annotations

import logging
import re
import sys
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from fieldapp.text import fold, nfc

LOG_DIRNAME = "logs"
LOG_FILENAME = "fieldapp.log"
MAX_BYTES = 1024 * 1024
BACKUP_COUNT = 5
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

CCCD_MASK = "<cccd>"
PHONE_MASK = "<phone>"
NUMBER_MASK = "<number>"
PERSON_MASK = "<person>"

# 12 digits, also typed in groups ("037 195 001 234").
_CCCD = re.compile(r"(?<![\d+])\d(?:[ .\-]?\d){11}(?!\d)")
# A mobile number: 0 or +84 then 9 digits, also in groups ("0912 345 678", "+84 912 345 678").
_PHONE = re.compile(r"(?<![\d+])(?:\+84[ .\-]?|0)\d(?:[ .\-]?\d){8}(?!\d)")
# Any other long number may be personal too: a mistyped CCCD, an old 9-digit ID card, a
# social-insurance code, the digits of a health-insurance card number, a landline.
_LONG_NUMBER = re.compile(r"(?<!\d)\d(?:[ .]?\d){8,14}(?!\d)")


def _spellings(name: str) -> set[str]:
    """A name as composed and decomposed Unicode and without diacritics (as search folds it)."""
    composed = nfc(name).strip()
    if len(composed) < 2:
        return set()
    return {composed, unicodedata.normalize("NFD", composed), fold(composed)}


def _names(person: object) -> list[str]:
    if isinstance(person, str):
        found = [person]
    elif isinstance(person, Iterable):
        found = [p for p in person if isinstance(p, str)]
    else:
        found = []
    spellings = set().union(*(_spellings(n) for n in found)) if found else set()
    # Longest first, so a full name is masked before a shorter name inside it.
    return sorted(spellings, key=len, reverse=True)


def mask(text: str, names: Iterable[str] = ()) -> str:
    """The text with the given names, CCCD numbers, phone numbers and long numbers masked."""
    for name in names:
        text = re.sub(re.escape(name), PERSON_MASK, text, flags=re.IGNORECASE)
    text = _CCCD.sub(CCCD_MASK, text)
    text = _PHONE.sub(PHONE_MASK, text)
    return _LONG_NUMBER.sub(NUMBER_MASK, text)


class PersonalDataFilter(logging.Filter):
    """Masks personal data in a record's message, exception text and stack before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        person = getattr(record, "person", None)
        names = _names(person) if person is not None else []
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg} {record.args}"
        record.msg = mask(message, names)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text, names)
        if record.stack_info:
            record.stack_info = mask(record.stack_info, names)
        if person is not None:
            record.person = PERSON_MASK
        return True


def setup_logging(data_dir: Path, *, level: int = logging.INFO) -> logging.Handler:
    """Send the app's logs to <data dir>/logs/fieldapp.log (rotating), with personal data masked.

    Calling it again for the same folder returns the handler already installed.
    """
    folder = Path(data_dir) / LOG_DIRNAME
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / LOG_FILENAME).resolve()
    root = logging.getLogger()
    for existing in root.handlers:
        if isinstance(existing, logging.FileHandler) and Path(existing.baseFilename) == path:
            return existing
    # Here, not at the top: logging.handlers brings the socket and pickle modules, a good part
    # of a start when imported before the first window.
    from logging.handlers import RotatingFileHandler

    handler = RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
    )
    return _install(handler, level)


def _install(handler: logging.Handler, level: int) -> logging.Handler:
    """Mask personal data in what the handler writes and add it to the root logger."""
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(PersonalDataFilter())
    handler.setLevel(level)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return handler


class _Console(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a record comes, not the one there at start."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def setup_console_logging(*, level: int = logging.WARNING) -> logging.Handler:
    """Show warnings and errors on the terminal the app was started from, masked like the file.

    Calling it again returns the console handler already installed.
    """
    root = logging.getLogger()
    for existing in root.handlers:
        if isinstance(existing, _Console):
            return existing
    handler = _Console()
    return _install(handler, level)
