"""Progress, receipts and cash handovers as CSV (UTF-8 with BOM, for Excel) and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.styles import Font

from sync.server.web.overview import HandoverRow, Progress, ReceiptRow
from sync.server.web.scope import HANDOVER_LABELS, SCHEME_LABELS, iso_day, local_time

Table = tuple[list[str], list[list[object]]]

LEVELS = {"agent": "Nhân viên thu", "commune": "Xã", "village": "Thôn/bản"}


def progress_table(data: Progress) -> Table:
    header = ["Tháng", "Cấp", "Mã", "Tên", "Chế độ", "Chỉ tiêu", "Đạt", "Tỷ lệ (%)"]
    rows: list[list[object]] = [
        [
            data.month,
            LEVELS[r.level],
            r.key,
            r.label,
            SCHEME_LABELS.get(r.scheme, r.scheme),
            r.target if r.target is not None else "",
            r.achieved,
            r.percent if r.percent is not None else "",
        ]
        for r in data.rows()
    ]
    return header, rows


def receipts_table(data: Sequence[ReceiptRow]) -> Table:
    header = [
        "Ký hiệu",
        "Số",
        "Người nộp",
        "Số tiền (đồng)",
        "Ngày thu",
        "Người thu",
        "Mã xã",
        "Trạng thái",
        "Mã biên lai",
    ]
    rows: list[list[object]] = [
        [
            r.series,
            r.number,
            r.payer_name,
            r.amount,
            local_time(r.issued_at),
            r.issued_by,
            r.commune_code,
            "Đã huỷ" if r.voided else "Hợp lệ",
            r.id,
        ]
        for r in data
    ]
    return header, rows


# Columns of handovers_table holding đồng (formatted as money in XLSX).
HANDOVER_MONEY_COLUMNS = (4, 5, 6)


def handovers_table(data: Sequence[HandoverRow]) -> Table:
    header = [
        "Nhân viên thu",
        "Thiết bị",
        "Ngày",
        "Phần",
        "Phải nộp (đồng)",
        "Đã nộp (đồng)",
        "Chênh lệch (đồng)",
        "Lý do chênh lệch",
        "Ghi nhận lúc",
        "Số lần sửa",
        "Mã bàn giao",
    ]
    rows: list[list[object]] = [
        [
            r.agent_name,
            r.device_name,
            iso_day(r.day),
            HANDOVER_LABELS.get(r.scheme, r.scheme),
            r.expected,
            r.handed_over,
            r.difference,
            r.reason,
            local_time(r.at),
            r.corrections,
            r.id,
        ]
        for r in data
    ]
    return header, rows


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table[0])
    writer.writerows(table[1])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(table: Table, *, title: str, money_columns: Sequence[int] = ()) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    sheet.append(table[0])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table[1]:
        sheet.append(row)
    for column in money_columns:
        for (cell,) in sheet.iter_rows(min_row=2, min_col=column + 1, max_col=column + 1):
            cell.number_format = "#,##0"
    for index, name in enumerate(table[0], start=1):
        width = max([len(str(name)), *(len(str(r[index - 1])) for r in table[1][:200])])
        sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = min(
            width + 2, 50
        )
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
