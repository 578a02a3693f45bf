"""The agent's records as spreadsheets: a zip of CSV files or one XLSX workbook, written whole."""

from __future__ import annotations

import csv
import io
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from fieldapp.errors import Problem, ValidationError
from fieldapp.reports import local_iso, recorded_here
from fieldapp.store import loads
from sync.protocol import sheets as cells
from sync.protocol.frozen import frozen

if TYPE_CHECKING:
    from fieldapp.workspace import Workspace

Value = str | int | None

_SUFFIX = {"csv": ".zip", "xlsx": ".xlsx"}


@frozen
class Sheet:
    """One table of the export: its file/sheet name, column headings and rows."""

    name: str
    title: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[Value, ...]]


@frozen
class ExportSummary:
    path: Path
    format: str
    rows: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "rows": dict(self.rows)}


def _json_list(text: str | None) -> str:
    return ", ".join(str(x) for x in (loads(text) or []))


def _time(iso: str | None) -> str:
    return "" if not iso else local_iso(iso)


def _sheets(ws: Workspace) -> list[Sheet]:
    """Households and members held on this laptop; the visits, pledges and receipts it recorded."""
    # Plain SQL: the sheets join tables, which sqlite-utils' rows_where cannot (its query() would
    # run the same SQL), and its CSV and JSON writers belong to its command line, not its API.
    store = ws.store
    households = [
        (
            r["id"],
            r["province_code"],
            r["commune_code"],
            r["village"],
            r["head_name"],
            r["address"],
            r["phone"],
            _json_list(r["groups"]),
            _json_list(r["best_months"]),
            r["notes"],
        )
        for r in store.query("SELECT * FROM household ORDER BY village, head_name, id")
    ]
    members = [
        (
            r["id"],
            r["household_id"],
            r["village"],
            r["head_name"],
            r["full_name"],
            r["date_of_birth"],
            r["sex"],
            r["relation"],
            r["cccd"],
            r["bhxh_code"],
            r["ethnicity"],
            r["bhyt_card"],
            r["bhyt_expiry"],
            r["covered_by"],
            r["bhxh_status"],
        )
        for r in store.query(
            "SELECT m.*, h.village, h.head_name FROM member m "
            "JOIN household h ON h.id = m.household_id WHERE m.removed = 0 "
            "ORDER BY h.village, h.head_name, m.household_id, m.created_at, m.id"
        )
    ]
    visits = [
        (
            r["id"],
            r["household_id"],
            r["village"],
            r["head_name"],
            _time(r["at"]),
            r["outcome"],
            _json_list(r["topics"]),
            _json_list(r["materials"]),
            r["next_visit"],
            r["notes"],
        )
        for r in store.query(
            "SELECT v.*, h.village, h.head_name FROM visit v "
            f"JOIN household h ON h.id = v.household_id WHERE {recorded_here('visit', 'v.id')} "
            "ORDER BY v.at, v.id"
        )
    ]
    pledges = [
        (
            r["id"],
            r["household_id"],
            r["member_id"],
            r["full_name"],
            r["scheme"],
            int(loads(r["params"]).get("months") or 0),
            int(r["gross"]),
            int(r["central_support"]),
            int(r["local_support"]),
            int(r["payable"]),
            r["start_date"],
            r["due_date"],
            r["status"] or "pledged",
            _time(r["status_at"]),
            r["policy_version"],
            _time(r["created_at"]),
        )
        for r in store.query(
            "SELECT p.*, m.full_name, e.status, e.at AS status_at FROM pledge p "
            "JOIN member m ON m.id = p.member_id "
            "LEFT JOIN pledge_event e ON e.rowid = (SELECT e2.rowid FROM pledge_event e2 "
            "WHERE e2.pledge_id = p.id ORDER BY e2.at DESC, e2.rowid DESC LIMIT 1) "
            f"WHERE {recorded_here('pledge', 'p.id')} ORDER BY p.created_at, p.id"
        )
    ]
    receipts = [
        (
            r["id"],
            r["series"],
            int(r["number"]),
            r["payer_name"],
            r["payer_bhxh_code"],
            r["household_id"],
            r["scheme"],
            int(r["amount"]),
            r["description"],
            r["period_from"],
            r["period_to"],
            _time(r["issued_at"]),
            "voided" if r["void_reason"] is not None else "issued",
            r["void_reason"],
            _time(r["voided_at"]),
        )
        for r in store.query(
            "SELECT r.*, v.reason AS void_reason, v.at AS voided_at, "
            "(SELECT p.scheme FROM pledge p WHERE p.id = json_extract(r.pledge_ids, '$[0]')) "
            "AS scheme FROM receipt r LEFT JOIN receipt_void v ON v.receipt_id = r.id "
            f"WHERE {recorded_here('receipt', 'r.id')} ORDER BY r.series, r.number"
        )
    ]
    return [
        Sheet(
            "households",
            "Hộ gia đình",
            (
                "Mã hộ",
                "Mã tỉnh",
                "Mã xã",
                "Thôn/bản",
                "Chủ hộ",
                "Địa chỉ",
                "Điện thoại",
                "Nhóm",
                "Tháng có thu nhập",
                "Ghi chú",
            ),
            households,
        ),
        Sheet(
            "members",
            "Thành viên",
            (
                "Mã thành viên",
                "Mã hộ",
                "Thôn/bản",
                "Chủ hộ",
                "Họ và tên",
                "Ngày sinh",
                "Giới tính",
                "Quan hệ với chủ hộ",
                "Số CCCD",
                "Mã số BHXH",
                "Dân tộc",
                "Thẻ BHYT",
                "Hạn thẻ BHYT",
                "Đã có BHYT theo nhóm",
                "Tình trạng BHXH tự nguyện",
            ),
            members,
        ),
        Sheet(
            "visits",
            "Lần thăm",
            (
                "Mã lần thăm",
                "Mã hộ",
                "Thôn/bản",
                "Chủ hộ",
                "Thời điểm",
                "Kết quả",
                "Nội dung",
                "Tài liệu phát",
                "Hẹn thăm lại",
                "Ghi chú",
            ),
            visits,
        ),
        Sheet(
            "pledges",
            "Cam kết",
            (
                "Mã cam kết",
                "Mã hộ",
                "Mã thành viên",
                "Họ và tên",
                "Loại bảo hiểm",
                "Số tháng",
                "Tổng phải đóng (đ)",
                "NSNN hỗ trợ (đ)",
                "Địa phương hỗ trợ (đ)",
                "Người tham gia đóng (đ)",
                "Từ ngày",
                "Hạn đóng",
                "Trạng thái",
                "Thời điểm trạng thái",
                "Chính sách",
                "Ngày lập",
            ),
            pledges,
        ),
        Sheet(
            "receipts",
            "Biên lai",
            (
                "Mã biên lai",
                "Ký hiệu",
                "Số",
                "Người nộp tiền",
                "Mã số BHXH",
                "Mã hộ",
                "Loại bảo hiểm",
                "Số tiền (đ)",
                "Nội dung thu",
                "Từ ngày",
                "Đến ngày",
                "Thời điểm lập",
                "Trạng thái",
                "Lý do huỷ",
                "Thời điểm huỷ",
            ),
            receipts,
        ),
    ]


def _csv_bytes(sheet: Sheet) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(sheet.headers)
    for row in sheet.rows:
        writer.writerow(["" if v is None else cells.cell(v) for v in row])
    # The byte-order mark is what makes Excel read the file as UTF-8 and show Vietnamese.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _write_zip(sheets: Sequence[Sheet], handle: IO[bytes]) -> None:
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for sheet in sheets:
            archive.writestr(f"{sheet.name}.csv", _csv_bytes(sheet))


def _write_xlsx(sheets: Sequence[Sheet], handle: IO[bytes]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for sheet in sheets:
        target = book.create_sheet(sheet.title)
        target.append(list(sheet.headers))
        for cell in target[1]:
            cell.font = Font(bold=True)
        for row in sheet.rows:
            # openpyxl would store text that starts with "=" as a formula: defuse it first.
            target.append([cells.xlsx_cell(v) for v in row])
        target.freeze_panes = "A2"
        for i, header in enumerate(sheet.headers, start=1):
            longest = max([len(header), *(len(str(r[i - 1] or "")) for r in sheet.rows[:200])])
            target.column_dimensions[target.cell(1, i).column_letter].width = min(
                max(10, longest + 2), 50
            )
    book.properties.creator = "fieldapp"
    book.save(handle)


@contextmanager
def _atomic(path: Path) -> Iterator[IO[bytes]]:
    """A temporary file beside the target, put in its place only once it is complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


_WRITERS: dict[str, Callable[[Sequence[Sheet], IO[bytes]], None]] = {
    "csv": _write_zip,
    "xlsx": _write_xlsx,
}


def export_records(ws: Workspace, path: Path | str, *, fmt: str) -> ExportSummary:
    """Write the agent's records: CSV files (UTF-8 with BOM) in a .zip, or one .xlsx workbook.

    Times are Vietnam time; money is whole đồng. The file appears complete or not at all.
    """
    path = Path(path)
    if fmt not in _WRITERS:
        raise ValidationError(
            [
                Problem(
                    "format",
                    "bad_format",
                    f"Định dạng không hỗ trợ: {fmt} (csv hoặc xlsx).",
                    f"Unsupported format: {fmt} (csv or xlsx).",
                )
            ]
        )
    suffix = _SUFFIX[fmt]
    if path.suffix.lower() != suffix:
        raise ValidationError(
            [
                Problem(
                    "path",
                    "bad_suffix",
                    f"Tệp xuất dạng {fmt} cần có đuôi {suffix}: {path.name}",
                    f"A {fmt} export needs a {suffix} file name: {path.name}",
                )
            ]
        )
    # One snapshot: a record written meanwhile is either in every table or in none.
    with ws.store.transaction():
        sheets = _sheets(ws)
    with _atomic(path) as handle:
        _WRITERS[fmt](sheets, handle)
    return ExportSummary(path, fmt, {s.name: len(s.rows) for s in sheets})
