"""Progress, BHYT coverage, receipts and cash handovers as CSV (UTF-8 with BOM) and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from openpyxl import Workbook
from openpyxl.styles import Font

from sync.protocol import sheets
from sync.server.web.coverage import AreaRow, CoveragePage
from sync.server.web.overview import HandoverRow, Progress, ProgressRow, ReceiptRow
from sync.server.web.scope import HANDOVER_LABELS, SCHEME_LABELS, iso_day, local_time

Table = tuple[list[str], list[list[object]]]
R = TypeVar("R")

LEVELS = {"agent": "Nhân viên thu", "commune": "Xã", "village": "Thôn/bản"}
# How a column of money says so in its header.
MONEY_HEADER = "(đồng)"


def _table(columns: Sequence[tuple[str, Callable[[R], object]]], data: Iterable[R]) -> Table:
    """A header and one row per item, from (header, value of an item) pairs."""
    return [name for name, _ in columns], [[value(r) for _, value in columns] for r in data]


PROGRESS_COLUMNS: tuple[tuple[str, Callable[[ProgressRow], object]], ...] = (
    ("Cấp", lambda r: LEVELS[r.level]),
    ("Mã", lambda r: r.key),
    ("Tên", lambda r: r.label),
    ("Chế độ", lambda r: SCHEME_LABELS.get(r.scheme, r.scheme)),
    ("Chỉ tiêu", lambda r: r.target if r.target is not None else ""),
    ("Đạt", lambda r: r.achieved),
    ("Tỷ lệ (%)", lambda r: r.percent if r.percent is not None else ""),
)


def progress_table(data: Progress) -> Table:
    month: tuple[str, Callable[[ProgressRow], object]] = ("Tháng", lambda _: data.month)
    return _table((month, *PROGRESS_COLUMNS), data.rows())


COVERAGE_COLUMNS: tuple[tuple[str, Callable[[AreaRow], object]], ...] = (
    ("Cấp", lambda r: LEVELS[r.level]),
    ("Mã xã", lambda r: r.commune_code),
    ("Thôn/bản", lambda r: r.village),
    ("Người cư trú", lambda r: r.counts.residents),
    ("Có thẻ BHYT", lambda r: r.counts.insured),
    ("Tỷ lệ bao phủ (%)", lambda r: r.counts.rate),
    ("Sắp hết hạn (30 ngày)", lambda r: r.counts.expiring),
    ("Đã hết hạn", lambda r: r.counts.lapsed),
    ("Chưa có thẻ", lambda r: r.counts.never),
    ("Có thẻ do nơi khác đóng", lambda r: r.counts.covered_elsewhere),
    ("Mục tiêu (%)", lambda r: r.target.percent if r.target else ""),
    ("Hạn đạt mục tiêu", lambda r: r.target.due_on.strftime("%d/%m/%Y") if r.target else ""),
    ("Còn thiếu (người)", lambda r: r.needed if r.needed is not None else ""),
)


def coverage_table(data: CoveragePage) -> Table:
    """Communes, then villages, on the page's day."""
    day: tuple[str, Callable[[AreaRow], object]] = ("Ngày", lambda _: iso_day(data.on.isoformat()))
    return _table((day, *COVERAGE_COLUMNS), data.rows())


RECEIPT_COLUMNS: tuple[tuple[str, Callable[[ReceiptRow], object]], ...] = (
    ("Ký hiệu", lambda r: r.series),
    ("Số", lambda r: r.number),
    ("Người nộp", lambda r: r.payer_name),
    ("Số tiền (đồng)", lambda r: r.amount),
    ("Ngày thu", lambda r: local_time(r.issued_at)),
    ("Người thu", lambda r: r.issued_by),
    ("Mã xã", lambda r: r.commune_code),
    ("Trạng thái", lambda r: "Đã huỷ" if r.voided else "Hợp lệ"),
    ("Mã biên lai", lambda r: r.id),
)


def receipts_table(data: Sequence[ReceiptRow]) -> Table:
    return _table(RECEIPT_COLUMNS, data)


HANDOVER_COLUMNS: tuple[tuple[str, Callable[[HandoverRow], object]], ...] = (
    ("Nhân viên thu", lambda r: r.agent_name),
    ("Thiết bị", lambda r: r.device_name),
    ("Ngày", lambda r: iso_day(r.day)),
    ("Phần", lambda r: HANDOVER_LABELS.get(r.scheme, r.scheme)),
    ("Phải nộp (đồng)", lambda r: r.expected),
    ("Đã nộp (đồng)", lambda r: r.handed_over),
    ("Chênh lệch (đồng)", lambda r: r.difference),
    ("Lý do chênh lệch", lambda r: r.reason),
    ("Ghi nhận lúc", lambda r: local_time(r.at)),
    ("Số lần sửa", lambda r: r.corrections),
    ("Mã bàn giao", lambda r: r.id),
)


def handovers_table(data: Sequence[HandoverRow]) -> Table:
    return _table(HANDOVER_COLUMNS, data)


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table[0])
    # Names, reasons and notes come from laptops: none may reach Excel as a formula.
    writer.writerows([sheets.cell(v) for v in row] for row in table[1])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(table: Table, *, title: str) -> bytes:
    """One sheet; columns whose header says (đồng) are formatted as money."""
    money_columns = [i for i, name in enumerate(table[0]) if name.endswith(MONEY_HEADER)]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    sheet.append(table[0])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table[1]:
        # openpyxl would store text that starts with "=" as a formula: defuse it first.
        sheet.append([sheets.xlsx_cell(v) for v in row])
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
