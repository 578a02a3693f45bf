"""Read commune resident lists (CSV or XLSX) into validated people grouped by household."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from fieldapp.errors import Problem
from fieldapp.participation import group_from_card, group_from_text
from fieldapp.periods import month_end
from fieldapp.text import clean, fold
from fieldapp.validation import (
    DateParseError,
    check_bhxh_code,
    check_bhyt_card,
    check_cccd,
    check_date_of_birth,
    check_phone,
    check_required_name,
    is_old_id_number,
    normalise_bhxh_code,
    normalise_bhyt_card,
    normalise_cccd,
    normalise_phone,
    old_id_warning,
    parse_date,
    parse_date_loose,
    parse_sex,
)
from sync.protocol.errors import FieldappError
from sync.protocol.fields import MAX_SUPPORTED_MONTHS_FIELD
from sync.protocol.frozen import frozen, kept_dataclass

__all__ = [
    "FIELDS",
    "ParsedFile",
    "ParsedHousehold",
    "ParsedPerson",
    "RefusedRow",
    "parse_resident_file",
]

# A cell as read from either format; datetime is a subclass of date.
Cell = str | int | float | date | None

# Column names seen in commune lists, compared after _header_key (folded, no punctuation).
_ALIASES: dict[str, tuple[str, ...]] = {
    # Not a bare "Tên": lists that split "Họ đệm" and "Tên" would lose the family name.
    "full_name": ("ho va ten", "ho ten", "ho va ten thanh vien", "full name", "name"),
    "date_of_birth": (
        "ngay sinh",
        "ngay thang nam sinh",
        "nam sinh",
        "ngay thang sinh",
        "date of birth",
        "dob",
    ),
    "sex": ("gioi tinh", "gioi", "sex", "gender"),
    # A 9-digit number in this column is an old CMND: kept as the old ID, with a warning.
    "cccd": (
        "so cccd",
        "cccd",
        "so cmnd cccd",
        "cmnd cccd",
        "so cccd cmnd",
        "cccd cmnd",
        "so dinh danh ca nhan",
        "so dinh danh",
        "ma dinh danh ca nhan",
        "so can cuoc",
        "so can cuoc cong dan",
        "can cuoc cong dan",
    ),
    "village": (
        "thon ban",
        "thon",
        "ban",
        "to dan pho",
        "thon xom",
        "xom",
        "thon to dan pho",
        "dia chi",
        "village",
        "address",
    ),
    "head_name": ("chu ho", "ho ten chu ho", "ho va ten chu ho", "ten chu ho"),
    "relation": (
        "quan he voi chu ho",
        "quan he",
        "moi quan he voi chu ho",
        "quan he chu ho",
        "relation",
    ),
    "phone": ("so dien thoai", "sdt", "dien thoai", "so dt", "dt", "phone"),
    "ethnicity": ("dan toc", "ethnicity"),
    "bhxh_code": ("ma so bhxh", "ma bhxh", "so bhxh", "ma so bao hiem xa hoi"),
    "bhyt_card": ("so the bhyt", "ma the bhyt", "the bhyt"),
    "household_code": ("ma ho", "so ho", "ma ho gia dinh", "so ho khau"),
    # Participation (DOMAIN.md §2-§3). The group is read by group_from_text: a code like "CN"
    # or words like "Hộ cận nghèo".
    "bhyt_group": (
        "doi tuong",
        "ma doi tuong",
        "nhom doi tuong",
        "nhom tham gia",
        "doi tuong tham gia",
        "ma doi tuong bhyt",
        "doi tuong bhyt",
    ),
    "bhyt_valid_from": (
        "tu ngay",
        "gia tri tu",
        "han the tu",
        "ngay hieu luc",
        "gia tri su dung tu",
        "hieu luc tu",
    ),
    "bhyt_expiry": (
        "han the",
        "han the bhyt",
        "gia tri den",
        "den ngay",
        "han the den",
        "gia tri su dung den",
        "ngay het han",
        "ngay het han the",
        "han su dung",
    ),
    "bhxh_income": (
        "thu nhap dong bhxh",
        "muc thu nhap",
        "muc thu nhap dong bhxh",
        "muc thu nhap dong",
        "thu nhap dong",
    ),
    "bhxh_paid_through": ("dong den thang", "da dong den", "da dong den thang", "dong den"),
    "bhxh_supported_months": (
        "so thang da ho tro",
        "so thang da duoc ho tro",
        "so thang duoc ho tro",
        "so thang ho tro",
    ),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}
# Row numbers: recognised, used for nothing.
_IGNORED_HEADERS = {"stt", "tt", "so tt", "so thu tu"}

FIELDS: tuple[str, ...] = tuple(_ALIASES)

# The header must be near the top; commune lists put a title and a date above it.
_HEADER_SEARCH_ROWS = 15
# A list of junk can refuse every row: the reasons are kept for the first rows only (nobody
# reads more, and a 10 MB file of junk would otherwise hold hundreds of MB of messages).
REFUSED_DETAIL_LIMIT = 1000
PROGRESS_EVERY = 500
_MIN_HEADER_FIELDS = 2

_HEAD_RELATIONS = {"chu ho", "ch"}
# Some lists tick the head's row in the "Chủ hộ" column instead of writing the head's name.
_HEAD_TICKS = {"x", "v", "1", "co", "√", "✓", "✔", "chu ho"}


@frozen
class ParsedPerson:
    """One accepted row: a person with cleaned, normalised values and any warnings."""

    row: int
    full_name: str
    date_of_birth: date | None
    birth_year_only: bool
    sex: str | None
    cccd: str | None
    phone: str | None
    village: str | None
    relation: str | None
    ethnicity: str | None
    bhxh_code: str | None
    bhyt_card: str | None
    is_head: bool
    warnings: list[Problem]
    import_key: str
    # A 9-digit CMND found in the CCCD column (cccd is then None).
    old_id: str | None = None
    # None when the list has no group: the member's group is then read from the card's prefix.
    bhyt_group: str | None = None
    bhyt_valid_from: date | None = None
    bhyt_expiry: date | None = None
    bhxh_income: int | None = None
    # The last day of the last month paid.
    bhxh_paid_through: date | None = None
    bhxh_supported_months: int | None = None

    @property
    def bhxh_participating(self) -> bool:
        """A list gives an income only for people who pay BHXH."""
        return self.bhxh_income is not None


@frozen
class ParsedHousehold:
    """People placed together in one household, in file order."""

    village: str | None
    head_name: str | None
    household_code: str | None
    phone: str | None
    rows: list[ParsedPerson]


@frozen
class RefusedRow:
    """A row that was not taken, with what it held (column header → text) and why."""

    row: int
    values: dict[str, str]
    problems: list[Problem]


@frozen
class ParsedFile:
    """The result of reading one resident list.

    total_rows counts the data rows that held anything (accepted plus refused). refused lists
    the first REFUSED_DETAIL_LIMIT refused rows with their reasons; refused_count counts them all.
    """

    households: list[ParsedHousehold]
    refused: list[RefusedRow]
    unknown_columns: list[str]
    mapping: dict[str, str]
    total_rows: int
    header_row: int
    sheet: str | None = None
    refused_count: int = 0

    @property
    def people(self) -> list[ParsedPerson]:
        return [person for household in self.households for person in household.rows]


@kept_dataclass
class _Row:
    """An accepted person plus the grouping columns that do not belong on the person."""

    person: ParsedPerson
    head_name: str | None
    household_code: str | None
    ticked_head: bool = False

    @property
    def says_head(self) -> bool:
        return self.ticked_head or _is_head_relation(self.person.relation)


@kept_dataclass
class _Group:
    head_name: str | None
    household_code: str | None
    rows: list[_Row] = field(default_factory=list)
    single: bool = False


def parse_resident_file(
    path: Path, *, today: date, progress: Callable[[int, int], None] | None = None
) -> ParsedFile:
    """Read a resident list, validate each row and group the accepted people by household.

    progress, when given, is called with (rows judged, rows in the table) every
    PROGRESS_EVERY rows; it may raise to stop the reading.
    """
    tables, fmt = _read_tables(path)
    for sheet, rows in tables:
        found = _find_header(rows)
        if found is None:
            continue
        index, columns, unknown = found
        if "full_name" not in columns.values():
            raise FieldappError(
                "Không tìm thấy cột “Họ và tên” trong dòng tiêu đề của tệp",
                "The file's header row has no “Họ và tên” (full name) column",
                code="import_no_name_column",
            )
        headers = [_text(cell) for cell in rows[index][1]]
        return _parse_rows(
            rows[index + 1 :],
            headers=headers,
            columns=columns,
            unknown=unknown,
            header_row=rows[index][0],
            sheet=sheet if fmt == "xlsx" else None,
            today=today,
            progress=progress,
        )
    expected = ", ".join(["Họ và tên", "Ngày sinh", "Giới tính", "Số CCCD", "Thôn/Bản", "Chủ hộ"])
    raise FieldappError(
        f"Không tìm thấy dòng tiêu đề trong {_HEADER_SEARCH_ROWS} dòng đầu của tệp; "
        f"cần ít nhất hai cột quen thuộc như: {expected}",
        f"No header row found in the first {_HEADER_SEARCH_ROWS} rows of the file; "
        f"at least two known columns are needed, such as: {expected}",
        code="import_no_header",
    )


# --- reading ----------------------------------------------------------------------------------

_NumberedRows = list[tuple[int, list[Cell]]]


def _read_tables(path: Path) -> tuple[list[tuple[str | None, _NumberedRows]], str]:
    """Every table in the file with 1-based row numbers, and the format ("csv" or "xlsx")."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FieldappError(
            f"Không mở được tệp {path.name}: {exc.strerror or exc}",
            f"Cannot open the file {path.name}: {exc.strerror or exc}",
            code="import_unreadable",
        ) from exc
    if not data.strip():
        raise FieldappError(
            f"Tệp {path.name} trống", f"The file {path.name} is empty", code="import_empty"
        )
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(path), "xlsx"
    # Old binary Excel files and anything else that is clearly not text.
    is_utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    if data.startswith(b"\xd0\xcf\x11\xe0") or (b"\x00" in data[:4096] and not is_utf16):
        raise FieldappError(
            f"Tệp {path.name} không phải CSV hay XLSX; hãy mở bằng Excel và lưu lại dạng "
            "“Excel Workbook (.xlsx)” hoặc “CSV UTF-8”",
            f"The file {path.name} is neither CSV nor XLSX; open it in Excel and save it as "
            "“Excel Workbook (.xlsx)” or “CSV UTF-8”",
            code="import_format",
        )
    return [(None, _read_csv(_decode(data)))], "csv"


def _decode(data: bytes) -> str:
    """Text from UTF-8 (with or without BOM), UTF-16 or Windows-1258; mojibake is repaired."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode Text" export: UTF-16 with a BOM, tab-separated.
        return data.decode("utf-16", errors="replace")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Windows-1258 (Vietnamese ANSI) writes tone marks as combining characters; the NFC
        # done on every cell later composes them.
        return data.decode("cp1258", errors="replace")
    return _repair_mojibake(text)


# UTF-8 Vietnamese read as Windows-1252 and saved again: "Nguyá»…n" for "Nguyễn".
_MOJIBAKE_HINT = re.compile("[ÃÄÆá][\u0080-\u00bf\u0152-\u2122]")


def _repair_mojibake(text: str) -> str:
    if not _MOJIBAKE_HINT.search(text):
        return text
    raw = bytearray()
    for ch in text:
        try:
            raw += ch.encode("cp1252")
        except UnicodeEncodeError:
            # Bytes that Windows-1252 leaves undefined come through as the same code point.
            if ord(ch) > 0xFF:
                return text
            raw.append(ord(ch))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return text


_DELIMITERS = (";", ",", "\t")


def _read_csv(text: str) -> _NumberedRows:
    """Rows of the CSV split on whichever delimiter yields the best header."""
    best: _NumberedRows = []
    best_score = (-1, -1)
    for delimiter in _DELIMITERS:
        # csv yields [] for a blank line, so record numbers match the rows a spreadsheet shows.
        rows: _NumberedRows = []
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        for number, record in enumerate(reader, 1):
            cells: list[Cell] = list(record)
            rows.append((number, cells))
        found = _find_header(rows)
        widest = max((len(cells) for _, cells in rows[:_HEADER_SEARCH_ROWS]), default=0)
        score = (len(found[1]) if found else 0, widest)
        if score > best_score:
            best, best_score = rows, score
    return best


def _read_xlsx(path: Path) -> list[tuple[str | None, _NumberedRows]]:
    """Rows of every worksheet, the active one first."""
    from openpyxl import load_workbook  # heavy; only needed for spreadsheets
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        # InvalidFileException: a zip named .csv (openpyxl judges by the file name).
        raise FieldappError(
            f"Không đọc được tệp Excel {path.name}: tệp hỏng hoặc không phải XLSX",
            f"Cannot read the Excel file {path.name}: it is damaged or not an XLSX file",
            code="import_unreadable",
        ) from exc
    try:
        sheets = list(workbook.worksheets)
        active = workbook.active
        if active in sheets:
            sheets.remove(active)
            sheets.insert(0, active)
        tables: list[tuple[str | None, _NumberedRows]] = []
        for sheet in sheets:
            if not hasattr(sheet, "iter_rows"):
                continue  # chart sheets
            # Some generators write a wrong sheet size, which would cut rows short.
            if hasattr(sheet, "reset_dimensions"):
                sheet.reset_dimensions()
            rows: _NumberedRows = [
                (number, list(values))
                for number, values in enumerate(sheet.iter_rows(values_only=True), 1)
            ]
            tables.append((str(sheet.title), rows))
        return tables
    finally:
        workbook.close()


def _text(cell: Cell) -> str:
    """A cell as cleaned NFC text; whole numbers without ".0", dates as ISO."""
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == datetime.min.time() else str(cell)
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return clean(str(cell))


def _is_number(cell: Cell) -> bool:
    return isinstance(cell, int | float) and not isinstance(cell, bool)


def _number_text(cell: Cell, width: int) -> str:
    """Text of an identifier; a numeric cell gets back the leading zeros Excel dropped."""
    text = _text(cell)
    # CCCD numbers all start with 0 (province codes 001-096) and BHXH codes may: stored as
    # numbers they lose one or two leading zeros.
    if _is_number(cell) and text.isdigit() and width - 2 <= len(text) < width:
        return text.zfill(width)
    return text


def _phone_text(cell: Cell) -> str:
    """Text of a phone number; a numeric cell gets back the leading 0 Excel dropped."""
    text = _text(cell)
    if _is_number(cell) and text.isdigit() and len(text) in (9, 10) and text[:2] != "84":
        return "0" + text
    return text


# --- header -----------------------------------------------------------------------------------


def _header_key(text: str) -> str:
    """ "Họ và tên (*)" → "ho va ten"; "Thôn/Bản" → "thon ban"; "SĐT" → "sdt"."""
    without_notes = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", text)
    return " ".join(re.sub(r"[^a-z0-9]+", " ", fold(without_notes)).split())


def _map_header(cells: Sequence[Cell]) -> tuple[dict[int, str], list[str]]:
    """Column index → field for known names, and the headers of unknown columns."""
    columns: dict[int, str] = {}
    unknown: list[str] = []
    for index, cell in enumerate(cells):
        text = _text(cell)
        if not text:
            continue
        key = _header_key(text)
        if key in _IGNORED_HEADERS:
            continue
        name = _ALIAS_TO_FIELD.get(key)
        # A second column for the same field ("Thôn" and "Địa chỉ") is reported, not merged.
        if name is None or name in columns.values():
            unknown.append(text)
        else:
            columns[index] = name
    return columns, unknown


def _find_header(rows: _NumberedRows) -> tuple[int, dict[int, str], list[str]] | None:
    for index, (_, cells) in enumerate(rows[:_HEADER_SEARCH_ROWS]):
        columns, unknown = _map_header(cells)
        if len(columns) >= _MIN_HEADER_FIELDS:
            return index, columns, unknown
    return None


# Government forms number their columns on the row under the header: "(1)", "(2)", "A", "B".
_COLUMN_NUMBER = re.compile(r"\(?(\d{1,2}|[A-Z])\)?")


def _is_column_numbering(cells: Sequence[Cell]) -> bool:
    texts = [_text(cell) for cell in cells]
    filled = [text for text in texts if text]
    return len(filled) >= _MIN_HEADER_FIELDS and all(_COLUMN_NUMBER.fullmatch(t) for t in filled)


# --- rows -------------------------------------------------------------------------------------


def _parse_rows(
    rows: _NumberedRows,
    *,
    headers: list[str],
    columns: dict[int, str],
    unknown: list[str],
    header_row: int,
    sheet: str | None,
    today: date,
    progress: Callable[[int, int], None] | None = None,
) -> ParsedFile:
    if rows and _is_column_numbering(rows[0][1]):
        rows = rows[1:]
    ignored = {index for index, text in enumerate(headers) if _header_key(text) in _IGNORED_HEADERS}
    accepted: list[_Row] = []
    refused: list[RefusedRow] = []
    first_row_of: dict[str, int] = {}
    total = 0
    refused_count = 0
    for done, (number, cells) in enumerate(rows):
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done, len(rows))
        if all(not _text(cell) for index, cell in enumerate(cells) if index not in ignored):
            continue  # blank, or only a pre-printed row number
        total += 1
        by_field: dict[str, Cell] = {
            name: cells[index] if index < len(cells) else None for index, name in columns.items()
        }
        row, problems = _read_person(number, by_field, today=today)
        if row is not None:
            key = row.person.import_key
            if key in first_row_of:
                problems = [_duplicate_problem(first_row_of[key], key)]
            else:
                first_row_of[key] = number
                accepted.append(row)
                continue
        refused_count += 1
        if len(refused) < REFUSED_DETAIL_LIMIT:
            values = {
                headers[index]: _text(cell)
                for index, cell in enumerate(cells)
                if index < len(headers) and headers[index] and _text(cell)
            }
            refused.append(RefusedRow(number, values, problems))
    if progress is not None:
        progress(len(rows), len(rows))
    return ParsedFile(
        households=_group(accepted, columns=set(columns.values())),
        refused=refused,
        unknown_columns=unknown,
        mapping={headers[index]: name for index, name in columns.items()},
        total_rows=total,
        header_row=header_row,
        sheet=sheet,
        refused_count=refused_count,
    )


def _duplicate_problem(first_row: int, key: str) -> Problem:
    if key.startswith("cccd:"):
        same_vi, same_en = "cùng số CCCD", "same CCCD number"
    elif key.startswith("cmnd:"):
        same_vi, same_en = "cùng số CMND", "same CMND number"
    else:
        same_vi, same_en = "cùng họ tên, ngày sinh và thôn", "same name, date of birth and village"
    return Problem(
        "row",
        "duplicate",
        f"Trùng với người ở dòng {first_row} ({same_vi})",
        f"The same person as on row {first_row} ({same_en})",
    )


def _optional(text: str) -> str | None:
    return text or None


def _read_person(
    number: int, cells: dict[str, Cell], *, today: date
) -> tuple[_Row | None, list[Problem]]:
    """The person on one row, or None and the errors that refuse it."""
    errors: list[Problem] = []
    warnings: list[Problem] = []

    full_name = _text(cells.get("full_name"))
    errors += check_required_name(full_name)

    raw_sex = _text(cells.get("sex"))
    sex = parse_sex(raw_sex)
    if raw_sex and sex is None:
        warnings.append(
            Problem(
                "sex",
                "sex_unknown",
                f"Không hiểu giới tính “{raw_sex}” (cần Nam hoặc Nữ); để trống",
                f"Cannot read the sex “{raw_sex}” (expected Nam or Nữ); left blank",
                "warning",
            )
        )

    date_of_birth, year_only, dob_problems = _read_date_of_birth(cells.get("date_of_birth"), today)
    errors += dob_problems

    cccd, old_id = _read_identity_number(cells.get("cccd"), sex, date_of_birth, errors, warnings)

    # The person's own phone is kept on the member (and the head's, or the first one, on a new
    # household). A bad phone or insurance number should not cost the person their row (they
    # would be missing from the village's coverage): the value is left out with a warning, so
    # it can be asked for at the visit.
    phone = _kept_or_warned(_phone_text(cells.get("phone")), check_phone, warnings)
    bhxh_code = _kept_or_warned(_number_text(cells.get("bhxh_code"), 10), check_bhxh_code, warnings)
    bhyt_card = _kept_or_warned(_text(cells.get("bhyt_card")), check_bhyt_card, warnings)
    # Unlike those, a participation value the file cannot read refuses the row: left out, it
    # would change what the person is quoted (a near-poor member priced on the household
    # ladder) or drop them from the renewal lists until a corrected list is imported again.
    participation = _read_participation(cells, normalise_bhyt_card(bhyt_card), errors, warnings)

    if errors:
        return None, errors

    village = _optional(_text(cells.get("village")))
    relation = _optional(_text(cells.get("relation")))
    person = ParsedPerson(
        row=number,
        full_name=full_name,
        date_of_birth=date_of_birth,
        birth_year_only=year_only,
        sex=sex,
        cccd=cccd,
        phone=normalise_phone(phone),
        village=village,
        relation=relation,
        ethnicity=_optional(_text(cells.get("ethnicity"))),
        bhxh_code=normalise_bhxh_code(bhxh_code),
        bhyt_card=normalise_bhyt_card(bhyt_card),
        is_head=False,
        warnings=warnings,
        import_key=_import_key(full_name, date_of_birth, year_only, village, cccd, old_id),
        old_id=old_id,
        bhyt_group=participation.bhyt_group,
        bhyt_valid_from=participation.bhyt_valid_from,
        bhyt_expiry=participation.bhyt_expiry,
        bhxh_income=participation.bhxh_income,
        bhxh_paid_through=participation.bhxh_paid_through,
        bhxh_supported_months=participation.bhxh_supported_months,
    )
    head_name = _optional(_text(cells.get("head_name")))
    ticked = head_name is not None and fold(head_name) in _HEAD_TICKS
    return (
        _Row(
            person,
            head_name=None if ticked else head_name,
            household_code=_optional(_text(cells.get("household_code"))),
            ticked_head=ticked,
        ),
        [],
    )


def _read_identity_number(
    cell: Cell,
    sex: str | None,
    date_of_birth: date | None,
    errors: list[Problem],
    warnings: list[Problem],
) -> tuple[str | None, str | None]:
    """The CCCD number, or the old 9-digit CMND found in its place (as the second value)."""
    text = _number_text(cell, 12)
    if _is_number(cell) and text.isdigit() and len(text) == 8:
        # Old CMND numbers of the northern provinces start with 0 (Hà Nội 01…): stored as a
        # number, the cell lost it. A CCCD cannot shrink to 8 digits (no province code 000).
        text = "0" + text
    number = normalise_cccd(text)
    if number is not None and is_old_id_number(number):
        warnings.append(old_id_warning(number))
        return None, number
    for problem in check_cccd(text, sex=sex, date_of_birth=date_of_birth):
        if problem.code == "cccd_format":
            # Now that a CMND is taken, say so: an 11-digit number may be either one mistyped.
            problem = replace(
                problem,
                vi=f"Số CCCD phải gồm đúng 12 chữ số, hoặc 9 chữ số nếu là CMND cũ "
                f"(đang là “{text}”)",
                en=f"The CCCD number must have exactly 12 digits, or 9 for an old CMND "
                f"(got “{text}”)",
            )
        (errors if problem.severity == "error" else warnings).append(problem)
    return number, None


@frozen
class _Participation:
    bhyt_group: str | None = None
    bhyt_valid_from: date | None = None
    bhyt_expiry: date | None = None
    bhxh_income: int | None = None
    bhxh_paid_through: date | None = None
    bhxh_supported_months: int | None = None


# Labels of the participation values in the row's reasons, Vietnamese and English.
_LABELS = {
    "bhyt_valid_from": ("Ngày thẻ BHYT có giá trị từ", "BHYT card valid-from date"),
    "bhyt_expiry": ("Hạn thẻ BHYT", "BHYT card expiry"),
    "bhxh_paid_through": ("Tháng đóng BHXH đến", "BHXH paid-through month"),
}


def _read_participation(
    cells: dict[str, Cell], bhyt_card: str | None, errors: list[Problem], warnings: list[Problem]
) -> _Participation:
    """The person's BHYT group and card dates and BHXH state; unreadable cells are errors."""
    group = _read_group(cells.get("bhyt_group"), bhyt_card, errors, warnings)
    valid_from = _read_dated(cells, "bhyt_valid_from", _read_day, errors)
    expiry = _read_dated(cells, "bhyt_expiry", _read_day, errors)
    if valid_from is not None and expiry is not None and valid_from > expiry:
        errors.append(
            Problem(
                "bhyt_valid_from",
                "card_dates_reversed",
                f"Thẻ BHYT có giá trị từ {valid_from:%d/%m/%Y} nhưng hết hạn {expiry:%d/%m/%Y}: "
                "ngày bắt đầu phải trước ngày hết hạn",
                f"The BHYT card is valid from {valid_from:%d/%m/%Y} but expires on "
                f"{expiry:%d/%m/%Y}: the start must come first",
            )
        )
    paid_through = _read_dated(cells, "bhxh_paid_through", _read_month, errors)
    return _Participation(
        bhyt_group=group,
        bhyt_valid_from=valid_from,
        bhyt_expiry=expiry,
        bhxh_income=_read_income(cells.get("bhxh_income"), errors),
        # A month is paid whole: the last day paid is the month's last day.
        bhxh_paid_through=None if paid_through is None else month_end(paid_through),
        bhxh_supported_months=_read_supported_months(cells.get("bhxh_supported_months"), errors),
    )


# A dash or a dot in a participation cell is how lists write "none".
_NOTHING = re.compile(r"[-–—.]+")


def _value_text(cell: Cell) -> str:
    """A participation cell's text; "" when blank or only a dash."""
    text = _text(cell)
    return "" if _NOTHING.fullmatch(text) else text


def _read_group(
    cell: Cell, bhyt_card: str | None, errors: list[Problem], warnings: list[Problem]
) -> str | None:
    text = _value_text(cell)
    if not text:
        # Left None, not copied from the card's prefix: the member's group is then always read
        # from the card it holds, so a renewed card with another prefix (a child turning 6,
        # TE → GD) is not contradicted by a copy made at import.
        return None
    group = group_from_text(text)
    if group is None:
        errors.append(
            Problem(
                "bhyt_group",
                "bhyt_group_unknown",
                f"Không hiểu đối tượng tham gia BHYT “{text}”: hãy ghi mã 2 chữ cái như GD, CN, "
                "HN, HS hoặc tên nhóm như “Hộ gia đình”, “Hộ cận nghèo”",
                f"Cannot read the BHYT group “{text}”: write a 2-letter code such as GD, CN, HN, "
                "HS or a group's name such as “Hộ gia đình”, “Hộ cận nghèo”",
            )
        )
        return None
    from_card = group_from_card(bhyt_card)
    if from_card is not None and from_card != group:
        # The recorded group wins (participation.bhyt_group_of); the agent checks the card.
        warnings.append(
            Problem(
                "bhyt_group",
                "bhyt_group_card_mismatch",
                f"Đối tượng “{text}” khác mã đối tượng trên thẻ BHYT {bhyt_card}; "
                "đã lấy theo cột đối tượng, hãy kiểm tra thẻ",
                f"The group “{text}” differs from the group on the BHYT card {bhyt_card}; "
                "the group column was taken, check the card",
                "warning",
            )
        )
    return group


def _read_dated(
    cells: dict[str, Cell], name: str, read: Callable[[Cell], date | None], errors: list[Problem]
) -> date | None:
    try:
        return read(cells.get(name))
    except DateParseError as exc:
        vi, en = _LABELS[name]
        errors.append(Problem(name, "date_invalid", f"{vi}: {exc.vi}", f"{en}: {exc.en}"))
        return None


# Excel counts days from 30/12/1899 (its phantom 29/02/1900 is before any date read here).
_EXCEL_EPOCH = date(1899, 12, 30)
# Serials of card and payment dates: 01/01/1950 to 31/12/2099. A 4-digit number is a year.
_FIRST_SERIAL = (date(1950, 1, 1) - _EXCEL_EPOCH).days
_LAST_SERIAL = (date(2099, 12, 31) - _EXCEL_EPOCH).days
_SERIAL_TEXT = re.compile(r"\d{5}(?:\.\d+)?", re.ASCII)
# "5/3/27": card and payment dates are all after 2000, so "27" is 2027.
_SHORT_YEAR = re.compile(r"(\d{1,2})([/.\-])(\d{1,2})\2(\d{2})", re.ASCII)
# "12/2026", "T12/2026", "tháng 12/2026" (folded), "2026-12".
_MONTH_YEAR = re.compile(r"(?:thang|t)?\s*(\d{1,2})\s*[/.\-]\s*(\d{4})", re.ASCII)
_YEAR_MONTH = re.compile(r"(\d{4})[/.\-](\d{1,2})", re.ASCII)


def _no_such_date(text: str) -> DateParseError:
    return DateParseError(f"Ngày “{text}” không tồn tại", f"There is no such date as “{text}”")


def _from_serial(serial: float, text: str) -> date:
    if not _FIRST_SERIAL <= serial <= _LAST_SERIAL:
        raise DateParseError(
            f"Không đọc được ngày “{text}”: hãy viết dạng ngày/tháng/năm, ví dụ 31/12/2026",
            f"Cannot read the date “{text}”: write it as day/month/year, e.g. 31/12/2026",
        )
    return _EXCEL_EPOCH + timedelta(days=int(serial))


def _read_day(cell: Cell) -> date | None:
    """A full date from a date cell, an Excel serial, or text: 31/12/2026, 5/3/27, 2026-12-31.

    Raises DateParseError, whose message says what is wrong with the text.
    """
    if cell is None:
        return None
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    text = _value_text(cell)
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return _from_serial(cell, text)  # a date cell formatted as a number
    if not text:
        return None
    if _SERIAL_TEXT.fullmatch(text):
        return _from_serial(float(text), text)  # the same, saved to CSV
    if match := _SHORT_YEAR.fullmatch(text):
        day, _, month, year = match.groups()
        try:
            return date(2000 + int(year), int(month), int(day))
        except ValueError:
            raise _no_such_date(text) from None
    return parse_date(text)


def _read_month(cell: Cell) -> date | None:
    """The first day of a month written "12/2026" or "2026-12", or of any date _read_day reads."""
    if not isinstance(cell, str):
        return _read_day(cell)
    text = _value_text(cell)
    if match := _MONTH_YEAR.fullmatch(fold(text)):
        month, year = match.groups()
    elif match := _YEAR_MONTH.fullmatch(text):
        year, month = match.groups()
    else:
        return _read_day(cell)
    if not 1 <= int(month) <= 12:
        raise DateParseError(f"Tháng “{text}” không tồn tại", f"There is no such month as “{text}”")
    return date(int(year), int(month), 1)


# An amount in đồng as lists write it: 1500000, 1.500.000, 1,500,000, "1 500 000 đ".
_AMOUNT = re.compile(r"(\d{1,3}(?:([., ])\d{3})?(?:\2\d{3})*|\d+)(?: ?(?:d|dong|vnd))?", re.ASCII)


def _read_income(cell: Cell, errors: list[Problem]) -> int | None:
    """The monthly income BHXH is paid on, in đồng; None when blank or 0 (not participating)."""
    text = _value_text(cell)
    if not text:
        return None
    amount: int | None = None
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        if float(cell).is_integer() and cell >= 0:
            amount = int(cell)
    elif match := _AMOUNT.fullmatch(fold(text)):
        amount = int(re.sub(r"\D", "", match.group(1)))
    if amount is None:
        errors.append(
            Problem(
                "bhxh_income",
                "bhxh_income_invalid",
                f"Không đọc được mức thu nhập đóng BHXH “{text}”: cần số tiền đồng, "
                "ví dụ 1.500.000",
                f"Cannot read the BHXH income “{text}”: expected an amount in đồng, e.g. 1,500,000",
            )
        )
    return amount or None


_MONTHS = re.compile(r"(\d+)(?: ?thang)?", re.ASCII)


def _read_supported_months(cell: Cell, errors: list[Problem]) -> int | None:
    """Months of BHXH state support already used, 0 to the field's bound."""
    text = _value_text(cell)
    if not text:
        return None
    months: int | None = None
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        if float(cell).is_integer():
            months = int(cell)
    elif match := _MONTHS.fullmatch(fold(text)):
        months = int(match.group(1))
    if months is None or not 0 <= months <= MAX_SUPPORTED_MONTHS_FIELD:
        errors.append(
            Problem(
                "bhxh_supported_months",
                "bhxh_supported_months_invalid",
                f"Số tháng đã được hỗ trợ “{text}” không hợp lệ: cần số nguyên từ 0 đến "
                f"{MAX_SUPPORTED_MONTHS_FIELD}",
                f"The supported months used “{text}” is not valid: expected a whole number "
                f"from 0 to {MAX_SUPPORTED_MONTHS_FIELD}",
            )
        )
        return None
    return months


def _read_date_of_birth(cell: Cell, today: date) -> tuple[date | None, bool, list[Problem]]:
    value: date | None = None
    year_only = False
    if isinstance(cell, datetime):
        value = cell.date()
    elif isinstance(cell, date):
        value = cell
    elif isinstance(cell, int | float) and not isinstance(cell, bool) and float(cell).is_integer():
        # A "Năm sinh" column typed as numbers.
        text = str(int(cell))
        try:
            value, year_only = parse_date_loose(text)
        except DateParseError:
            return None, False, [_unreadable_date(text)]
    else:
        text = _text(cell)
        if text:
            try:
                value, year_only = parse_date_loose(text)
            except DateParseError as exc:
                return None, False, [_unreadable_date(text, exc)]
    return value, year_only, check_date_of_birth(value, today=today)


def _unreadable_date(text: str, exc: DateParseError | None = None) -> Problem:
    return Problem(
        "date_of_birth",
        "dob_invalid",
        exc.vi if exc else f"Không đọc được ngày sinh “{text}”",
        exc.en if exc else f"Cannot read the date of birth “{text}”",
    )


def _kept_or_warned(
    text: str, check: Callable[[str | None], list[Problem]], warnings: list[Problem]
) -> str | None:
    problems = check(text)
    if not problems:
        return _optional(text)
    warnings.extend(
        replace(p, severity="warning", vi=f"{p.vi}; đã bỏ qua", en=f"{p.en}; left out")
        for p in problems
    )
    return None


def _import_key(
    full_name: str,
    date_of_birth: date | None,
    year_only: bool,
    village: str | None,
    cccd: str | None,
    old_id: str | None = None,
) -> str:
    """Identity of a person across imports of the same list, even if rows move."""
    if cccd:
        return f"cccd:{cccd}"
    if old_id:
        # A CMND is as personal as a CCCD; its own prefix keeps the two number spaces apart.
        return f"cmnd:{old_id}"
    if date_of_birth is None:
        born = ""
    elif year_only:
        born = str(date_of_birth.year)
    else:
        born = date_of_birth.isoformat()
    return f"name:{fold(full_name)}|{born}|{fold(village or '')}"


# --- households -------------------------------------------------------------------------------


def _is_head_relation(relation: str | None) -> bool:
    return relation is not None and fold(relation) in _HEAD_RELATIONS


def _same_village(row: _Row, group: _Group) -> bool:
    village = row.person.village
    other = group.rows[0].person.village if group.rows else None
    return not village or not other or fold(village) == fold(other)


def _group(rows: list[_Row], *, columns: set[str]) -> list[ParsedHousehold]:
    """Place people in households: by household code, else head's name, else relation order."""
    groups: list[_Group] = []
    by_key: dict[tuple[str, ...], _Group] = {}
    current: _Group | None = None
    by_code = "household_code" in columns
    by_head = not by_code and "head_name" in columns
    for row in rows:
        person = row.person
        key: tuple[str, ...] | None = None
        if by_code and row.household_code:
            key = ("code", fold(row.household_code))
        elif by_head and (row.head_name or row.says_head):
            head = row.head_name or person.full_name
            key = ("head", fold(head), fold(person.village or ""))
        if key is not None:
            group = by_key.get(key)
            if group is None:
                group = _Group(head_name=row.head_name, household_code=row.household_code)
                by_key[key] = group
                groups.append(group)
        elif row.says_head:
            group = _Group(head_name=None, household_code=None)
            groups.append(group)
        elif current is not None and not current.single and _same_village(row, current):
            # The rows under a head, or under a merged "Chủ hộ"/"Mã hộ" cell, which leaves
            # the cells below it empty.
            group = current
        else:
            group = _Group(head_name=None, household_code=None, single=True)
            groups.append(group)
        group.rows.append(row)
        current = group
    return [_finish(group) for group in groups]


def _finish(group: _Group) -> ParsedHousehold:
    people = [row.person for row in group.rows]
    head_name = group.head_name or next((r.head_name for r in group.rows if r.head_name), None)
    head_index = next((i for i, r in enumerate(group.rows) if r.says_head), None)
    if head_index is None and head_name:
        head_index = next(
            (i for i, p in enumerate(people) if fold(p.full_name) == fold(head_name)), None
        )
    if head_index is None and len(people) == 1 and group.single:
        head_index = 0
    if head_index is not None:
        people[head_index] = replace(people[head_index], is_head=True)
        head_name = head_name or people[head_index].full_name
    head = people[head_index] if head_index is not None else None
    village = next((p.village for p in people if p.village), None)
    phone = (head.phone if head else None) or next((p.phone for p in people if p.phone), None)
    code = group.household_code or next(
        (r.household_code for r in group.rows if r.household_code), None
    )
    return ParsedHousehold(
        village=(head.village if head and head.village else village),
        head_name=head_name,
        household_code=code,
        phone=phone,
        rows=people,
    )
