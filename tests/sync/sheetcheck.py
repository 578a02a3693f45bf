"""Exports read back as a spreadsheet reads them: which cells would start a formula."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import openpyxl

from sync.protocol.sheets import FORMULA_START

# A CSV field that starts with "-" but is a number (an amount short): Excel reads a number.
_NUMBER = re.compile(r"-?\d+(\.\d+)?\Z")


def csv_rows(data: bytes) -> list[list[str]]:
    """A CSV export (UTF-8 with BOM) as rows of fields."""
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def zip_of_csv(path: Path) -> dict[str, list[list[str]]]:
    """Each CSV file of a zipped export, by name."""
    with zipfile.ZipFile(path) as archive:
        return {name: csv_rows(archive.read(name)) for name in archive.namelist()}


def live_csv_fields(rows: list[list[str]]) -> list[str]:
    """Fields a spreadsheet opening the CSV would run as a formula."""
    return [
        field
        for row in rows
        for field in row
        if field.startswith(FORMULA_START) and not _NUMBER.match(field)
    ]


def xlsx_book(data: bytes | Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data) if isinstance(data, bytes) else data)


def live_xlsx_cells(book: openpyxl.Workbook) -> list[str]:
    """Cells stored as formulas, and text cells that start one when the cell is edited."""
    return [
        f"{sheet.title}!{cell.coordinate}={cell.value!r}"
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.data_type == "f"
        or (isinstance(cell.value, str) and cell.value.startswith(FORMULA_START))
    ]


def texts(book: openpyxl.Workbook) -> set[str]:
    """Every text cell of every sheet."""
    return {
        cell
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for cell in row
        if isinstance(cell, str)
    }
