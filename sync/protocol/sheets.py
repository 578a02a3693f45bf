"""What a spreadsheet cell may hold: text that a spreadsheet would run as a formula is defused."""

from __future__ import annotations

import re
from typing import TypeVar

# Excel, LibreOffice Calc and Google Sheets read a cell that starts with one of these as a
# formula, in a CSV file and when a cell is edited; a tab or carriage return in front is skipped
# by some of them, so those count too. Names, reasons and notes come from agents' laptops and
# from resident lists: a payer named =HYPERLINK("http://…") would become a live link, or
# =cmd|… a command, on the supervisor's computer (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# Excel's own mark for "this is text, not a formula": it shows the rest as typed, and anyone
# reading the file elsewhere still reads the whole text after it.
TEXT_MARK = "'"

# Control characters an XLSX file (XML 1.0) cannot hold at all; openpyxl refuses the whole
# workbook for one of them, so one stray character in a note would stop the export.
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
REPLACEMENT = "\ufffd"

V = TypeVar("V")


def cell(value: V) -> V | str:
    """The value as a spreadsheet cell may hold it: text that would start a formula gets a
    leading apostrophe; numbers, dates and empty cells are left as they are.

    Only text is touched, so an amount of -5 đồng stays the number -5 (it is a value, not a
    formula, and a sum over the column must still count it); the text "-5" becomes "'-5".
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return TEXT_MARK + value
    return value


def xlsx_cell(value: V) -> V | str:
    """cell(value), with the control characters XLSX cannot hold shown as U+FFFD."""
    safe = cell(value)
    if isinstance(safe, str):
        return _NOT_IN_XML.sub(REPLACEMENT, safe)
    return safe
