"""The end-of-day report as an A4 PDF: figures, cash to hand over, reconciliation, signatures."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from fieldapp.documents.fonts import BOLD, LEADING, REGULAR, register_fonts
from fieldapp.documents.receipt import vietnamese_date
from fieldapp.model import SCHEMES
from fieldapp.reports import DayReport, Handover, VoidedReceipt
from fieldapp.text import nfc
from sync.protocol.clock import VIETNAM_TZ
from sync.protocol.labels import outcome_label, scheme_label
from sync.protocol.money import amount_in_words, format_vnd

MARGIN = 16 * mm
BODY = 9.5
RED = colors.Color(0.75, 0.08, 0.08)
HEAD_FILL = colors.Color(0.9, 0.9, 0.9)
TOTAL_FILL = colors.Color(0.96, 0.96, 0.96)


def _style(name: str, size: float = BODY, *, font: str = REGULAR, **kw: Any) -> ParagraphStyle:
    # Capitals with two stacked marks (Ễ, Ặ) need the house leading, or they touch the line above.
    return ParagraphStyle(name, fontName=font, fontSize=size, leading=size * LEADING, **kw)


_TEXT = _style("text")
_BOLD = _style("bold", font=BOLD)
_RIGHT = _style("right", alignment=TA_RIGHT)
_RIGHT_BOLD = _style("right-bold", font=BOLD, alignment=TA_RIGHT)
_SMALL = _style("small", 8.0)
_CENTRE = _style("centre", alignment=TA_CENTER)
_CENTRE_BOLD = _style("centre-bold", font=BOLD, alignment=TA_CENTER)
_CENTRE_SMALL = _style("centre-small", 8.0, alignment=TA_CENTER)
_TITLE = _style("title", 17.0, font=BOLD, alignment=TA_CENTER, spaceAfter=1 * mm)
_HEADING = _style("heading", 11.0, font=BOLD, spaceBefore=3.5 * mm, spaceAfter=1.5 * mm)
_WARN = _style("warn", font=BOLD, textColor=RED)


def _p(text: str, style: ParagraphStyle = _TEXT) -> Paragraph:
    """A paragraph of plain text: NFC (reportlab does no shaping) and escaped for its markup."""
    return Paragraph(escape(nfc(text)), style)


def _markup(html: str, style: ParagraphStyle = _TEXT) -> Paragraph:
    return Paragraph(nfc(html), style)


def _local_time(iso: str) -> str:
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(VIETNAM_TZ)
    return moment.strftime("%H:%M %d/%m/%Y")


def _signed(amount: int) -> str:
    return ("+" if amount > 0 else "") + format_vnd(amount)


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    *,
    numeric: frozenset[int] | None = None,
    total: Sequence[str] | None = None,
) -> Table:
    """A ruled table: a shaded header row, numbers right-aligned, an optional bold total row.

    numeric: the columns holding numbers; all but the first when not given.
    """
    right = numeric if numeric is not None else frozenset(range(1, len(header)))

    def cells(values: Sequence[str], bold: bool) -> list[Paragraph]:
        styles = {(False, False): _TEXT, (False, True): _BOLD}
        styles |= {(True, False): _RIGHT, (True, True): _RIGHT_BOLD}
        return [_p(value, styles[i in right, bold]) for i, value in enumerate(values)]

    data = [cells(header, True), *(cells(r, False) for r in rows)]
    if total is not None:
        data.append(cells(total, True))
    table = Table(data, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    commands: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), HEAD_FILL),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3.2),
    ]
    if total is not None:
        commands.append(("BACKGROUND", (0, -1), (-1, -1), TOTAL_FILL))
    table.setStyle(TableStyle(commands))
    return table


def render_day_report(report: DayReport) -> bytes:
    """The report as an A4 portrait PDF in Vietnamese, in the shipped font."""
    register_fonts()
    buffer = io.BytesIO()
    day = report.day.strftime("%d/%m/%Y")
    agent = nfc(report.agent_name).strip()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=14 * mm,
        bottomMargin=16 * mm,
        title=f"Báo cáo cuối ngày {day}",
        author=agent or "fieldapp",
        creator="fieldapp",
        subject=f"Báo cáo cuối ngày {day} — {agent}",
    )
    inner = A4[0] - 2 * MARGIN
    footer = nfc(f"Báo cáo cuối ngày {day}" + (f" — {agent}" if agent else ""))

    def on_page(canvas: Canvas, _doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(REGULAR, 7.5)
        canvas.setFillColorRGB(0.35, 0.35, 0.35)
        canvas.drawString(MARGIN, 9 * mm, footer)
        canvas.drawRightString(A4[0] - MARGIN, 9 * mm, f"Trang {canvas.getPageNumber()}")
        canvas.restoreState()

    doc.build(_story(report, inner), onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


def _story(report: DayReport, inner: float) -> list[Flowable]:
    story: list[Flowable] = []
    organisation = report.organisation.strip() or "Tổ chức dịch vụ thu"
    head = Table(
        [
            [
                _p(organisation, _BOLD),
                _p(f"Lập lúc: {_local_time(report.generated_at)}", _RIGHT),
            ]
        ],
        colWidths=[inner * 0.62, inner * 0.38],
        hAlign="LEFT",
    )
    head.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    story += [head, Spacer(0, 6 * mm), _p("BÁO CÁO CUỐI NGÀY", _TITLE)]
    story.append(_p(vietnamese_date(report.day), _CENTRE))
    story.append(Spacer(0, 3 * mm))
    agent = escape(nfc(report.agent_name).strip()) or "……………………………………"
    story.append(_markup(f"Nhân viên thu: <font name='{BOLD}'>{agent}</font>"))

    # 1. Visits, one column per outcome: six short rows would take a third of the page.
    story.append(_p("1. Kết quả thăm hộ gia đình", _HEADING))
    story.append(_visits_table(report, inner))

    # 2. New pledges
    story.append(_p("2. Cam kết tham gia mới", _HEADING))
    pledges = [report.pledges[s] for s in SCHEMES]
    story.append(
        _table(
            ["Loại bảo hiểm", "Số cam kết", "Số tiền phải đóng"],
            [
                [scheme_label(s, lang="vi"), str(t.count), format_vnd(t.amount)]
                for s, t in zip(SCHEMES, pledges, strict=True)
            ],
            [inner * 0.4, inner * 0.2, inner * 0.4],
            total=[
                "Cộng",
                str(sum(t.count for t in pledges)),
                format_vnd(sum(t.amount for t in pledges)),
            ],
        )
    )

    # 3. Receipts
    story.append(_p("3. Biên lai thu tiền", _HEADING))
    issued = [report.receipts_issued[s] for s in SCHEMES]
    voided = [report.receipts_voided[s] for s in SCHEMES]
    story.append(
        _table(
            ["Loại bảo hiểm", "Đã lập", "Số tiền", "Đã huỷ", "Số tiền huỷ"],
            [
                [
                    scheme_label(s, lang="vi"),
                    str(i.count),
                    format_vnd(i.amount),
                    str(v.count),
                    format_vnd(v.amount),
                ]
                for s, i, v in zip(SCHEMES, issued, voided, strict=True)
            ],
            [inner * 0.28, inner * 0.12, inner * 0.24, inner * 0.12, inner * 0.24],
            total=[
                "Cộng",
                str(sum(t.count for t in issued)),
                format_vnd(sum(t.amount for t in issued)),
                str(sum(t.count for t in voided)),
                format_vnd(sum(t.amount for t in voided)),
            ],
        )
    )
    if report.voided:
        story.append(Spacer(0, 2 * mm))
        story.append(_p("Biên lai đã huỷ:", _BOLD))
        story.append(_voided_table(report.voided, inner))
    if report.earlier_voided:
        story.append(Spacer(0, 2 * mm))
        story.append(_p("Biên lai của ngày trước bị huỷ trong ngày này:", _WARN))
        story.append(_voided_table(report.earlier_voided, inner, with_day=True))

    # 4. Cash: one row, the total beside the schemes, so the whole day fits on one sheet.
    story.append(_p("4. Tiền mặt phải nộp (biên lai đã lập, trừ biên lai đã huỷ)", _HEADING))
    story.append(_cash_table(report, inner))
    story.append(Spacer(0, 1.5 * mm))
    words = escape(amount_in_words(report.cash_total))
    story.append(_markup(f"Bằng chữ: <font name='{BOLD}'>{words}.</font>"))

    # 5. Reconciliation, kept on the same page as the signatures that confirm it.
    closing: list[Flowable] = [_p("5. Đối chiếu nộp tiền", _HEADING)]
    closing += _reconciliation(report, inner)
    closing.append(Spacer(0, 2 * mm))
    if report.pending_sync:
        closing.append(
            _p(f"Còn {report.pending_sync} bản ghi chưa gửi lên máy chủ (chờ đồng bộ).", _WARN)
        )
    else:
        closing.append(_p("Mọi bản ghi đã được gửi lên máy chủ."))
    closing.append(Spacer(0, 6 * mm))
    closing.append(_signatures(report, inner))
    story.append(KeepTogether(closing))
    return story


def _cash_table(report: DayReport, inner: float) -> Table:
    data = [
        [
            *(_p(scheme_label(s, lang="vi"), _RIGHT) for s in SCHEMES),
            _p("Tổng số tiền phải nộp", _RIGHT_BOLD),
        ],
        [
            *(_p(format_vnd(report.cash[s]), _RIGHT) for s in SCHEMES),
            _p(format_vnd(report.cash_total), _RIGHT_BOLD),
        ],
    ]
    table = Table(data, colWidths=[inner / 3] * 3, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("BACKGROUND", (0, 0), (-1, 0), HEAD_FILL),
                ("BACKGROUND", (-1, 1), (-1, 1), TOTAL_FILL),
                ("TOPPADDING", (0, 0), (-1, -1), 2.2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3.2),
            ]
        )
    )
    return table


def _visits_table(report: DayReport, inner: float) -> Table:
    labels = [outcome_label(k, lang="vi") for k in report.visits]
    counts = [str(n) for n in report.visits.values()]
    data = [
        [*(_p(label, _CENTRE) for label in labels), _p("Tổng", _CENTRE_BOLD)],
        [*(_p(n, _CENTRE) for n in counts), _p(str(report.visits_total), _CENTRE_BOLD)],
    ]
    columns = len(labels) + 1
    table = Table(data, colWidths=[inner / columns] * columns, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("BACKGROUND", (0, 0), (-1, 0), HEAD_FILL),
                ("BACKGROUND", (-1, 1), (-1, 1), TOTAL_FILL),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 2.2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3.2),
            ]
        )
    )
    return table


def _voided_table(rows: Sequence[VoidedReceipt], inner: float, *, with_day: bool = False) -> Table:
    header = ["Ký hiệu – số", "Loại", "Số tiền", "Lý do huỷ"]
    widths = [inner * 0.2, inner * 0.2, inner * 0.18, inner * 0.42]
    body = []
    for v in rows:
        ident = f"{v.series} – {v.number:07d}"
        if with_day:
            ident += f" (ngày {dt.date.fromisoformat(v.issued_on):%d/%m})"
        body.append([ident, scheme_label(v.scheme, lang="vi"), format_vnd(v.amount), v.reason])
    return _table(header, body, widths, numeric=frozenset({2}))


def _handover_line(h: Handover) -> list[Flowable]:
    scope = "" if h.scheme == "all" else f" ({scheme_label(h.scheme, lang='vi')})"
    if h.difference == 0:
        diff = "0 đ (khớp)"
    else:
        diff = f"{_signed(h.difference)} ({'thừa' if h.difference > 0 else 'thiếu'})"
    lines: list[Flowable] = [
        _markup(
            f"Phải nộp{escape(scope)}: <font name='{BOLD}'>{format_vnd(h.expected)}</font>"
            f" — Đã nộp: <font name='{BOLD}'>{format_vnd(h.handed_over)}</font>"
            f" — Chênh lệch: <font name='{BOLD}'>{escape(diff)}</font>"
        )
    ]
    if h.reason:
        lines.append(_p(f"Lý do: {h.reason}"))
    lines.append(_p(f"Ghi nhận lúc {_local_time(h.at)}", _SMALL))
    return lines


def _reconciliation(report: DayReport, inner: float) -> list[Flowable]:
    if not report.handovers:
        return [
            _p("Chưa đối chiếu trên máy.", _TEXT),
            _markup(
                f"Phải nộp: <font name='{BOLD}'>{format_vnd(report.cash_total)}</font>"
                " — Đã nộp: ………………………… đ — Chênh lệch: ………………… đ"
            ),
            _p("Lý do chênh lệch (nếu có): …………………………………………………………………………………"),
        ]
    out: list[Flowable] = []
    for key in ("all", *SCHEMES):
        if key in report.handovers:
            out += _handover_line(report.handovers[key])
    if report.reconciliation == "outdated":
        out.append(
            _p(
                "Số liệu biên lai đã thay đổi sau lần đối chiếu này: cần đối chiếu lại.",
                _WARN,
            )
        )
    return out


def _signatures(report: DayReport, inner: float) -> Flowable:
    name = nfc(report.agent_name).strip()
    cells = [
        [_p("Nhân viên thu", _CENTRE_BOLD), _p("Người nhận tiền", _CENTRE_BOLD)],
        [_p("(Ký, ghi rõ họ tên)", _CENTRE_SMALL), _p("(Ký, ghi rõ họ tên)", _CENTRE_SMALL)],
        [Spacer(0, 18 * mm), Spacer(0, 18 * mm)],
        [_p(name, _CENTRE_BOLD), _p("", _CENTRE)],
    ]
    table = Table(cells, colWidths=[inner / 2, inner / 2], hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table
