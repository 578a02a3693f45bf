"""Receipts (biên lai thu tiền) as PDF in A5, A6 and 80 mm roll layouts."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

# Units only: the PDF machinery is imported where a receipt is drawn (see render_receipt).
from reportlab.lib.units import mm

from fieldapp.documents.fonts import BASELINE, BOLD, LEADING, REGULAR, Pen, register_fonts, width
from fieldapp.text import nfc
from sync.protocol.clock import VIETNAM_TZ
from sync.protocol.frozen import frozen
from sync.protocol.money import amount_in_words, format_vnd

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

Layout = Literal["a5", "a6", "roll80"]

RED = (0.75, 0.08, 0.08)
QR_QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks
GREY = (0.35, 0.35, 0.35)


@frozen
class ReceiptDocument:
    """Everything printed on one receipt; amounts are already computed, money is int đồng."""

    bhxh_office: str
    collector_org: str
    form_no: str
    series: str
    number: int
    issued_at: dt.datetime
    payer_name: str
    payer_bhxh_code: str
    payer_address: str
    description: str
    period_from: dt.date
    period_to: dt.date
    amount: int
    collector_name: str
    verification_code: str
    qr_payload: str
    receipt_id: str


@frozen
class _Geometry:
    width: float
    height: float | None  # None: the roll is cut where the content ends
    margin: float
    body: float
    title: float
    small: float
    qr: float
    sign_space: float
    two_column_header: bool
    label_column: bool
    frame: bool


_GEOMETRY: dict[str, _Geometry] = {
    "a5": _Geometry(
        148 * mm, 210 * mm, 10 * mm, 10.5, 17.0, 8.0, 32 * mm, 20 * mm, True, True, True
    ),
    "a6": _Geometry(105 * mm, 148 * mm, 6 * mm, 7.4, 12.5, 6.0, 22 * mm, 12 * mm, True, True, True),
    # 80 mm thermal printers print about 72 mm wide, hence the 4 mm margins.
    "roll80": _Geometry(
        80 * mm, None, 4 * mm, 8.0, 12.5, 6.5, 30 * mm, 14 * mm, False, False, False
    ),
}


def vietnamese_date(day: dt.date) -> str:
    """ "Ngày 05 tháng 01 năm 2027": day below 10 and months 1–2 get a leading zero (NĐ 30/2020)."""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return f"Ngày {day.day:02d} tháng {month} năm {day.year}"


def _local_date(moment: dt.datetime) -> dt.date:
    # A receipt shows the day in Vietnam; a naive time is taken as already local.
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(VIETNAM_TZ).date()


def render_receipt(
    doc: ReceiptDocument,
    *,
    layout: Layout = "a5",
    copy: bool = False,
    voided_reason: str | None = None,
) -> bytes:
    """The receipt as a one-page PDF; a reprint says "BẢN SAO", a void says "ĐÃ HUỶ" and why."""
    if layout not in _GEOMETRY:
        raise ValueError(f"unknown receipt layout {layout!r}; expected a5, a6 or roll80")
    if voided_reason is not None and not voided_reason.strip():
        raise ValueError("a voided receipt needs a reason")
    from reportlab.pdfgen.canvas import Canvas

    register_fonts()
    geo = _GEOMETRY[layout]
    content = _Content.from_document(doc, copy=copy, voided_reason=voided_reason)

    scale, stretch = 1.0, 0.0
    pen = _draw(geo, content, scale, 0.0)
    if geo.height is None:
        height = pen.bottom + geo.margin
    else:
        height = geo.height
        # Long names or descriptions shrink the whole form a little rather than spill over.
        while pen.bottom > height - geo.margin and scale > 0.55:
            scale -= 0.05
            pen = _draw(geo, content, scale, 0.0)
        # Some spare room goes to the signatures: people in the village sign large.
        stretch = min(max(height - geo.margin - pen.bottom, 0.0), geo.sign_space / 2)
        if stretch:
            pen = _draw(geo, content, scale, stretch)

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(geo.width, height), pageCompression=1)
    canvas.setTitle(f"Biên lai {content.series} số {content.number}")
    canvas.setAuthor(content.collector_org)
    canvas.setCreator("fieldapp")
    canvas.setSubject(content.description)
    _watermarks(canvas, geo, height, content)
    if geo.frame:
        canvas.setLineWidth(0.8)
        canvas.rect(geo.margin / 2, geo.margin / 2, geo.width - geo.margin, height - geo.margin)
    pen.replay(canvas, height)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


@frozen
class _Content:
    """The receipt's text, NFC-normalised and formatted, ready to place."""

    office: str
    collector_org: str
    form_no: str
    series: str
    number: str
    date: str
    payer_name: str
    payer_bhxh_code: str
    payer_address: str
    description: str
    period: str | None
    amount: str
    amount_words: str
    collector_name: str
    verification_code: str
    qr_payload: str
    receipt_id: str
    copy: bool
    voided_reason: str | None

    @classmethod
    def from_document(
        cls, doc: ReceiptDocument, *, copy: bool, voided_reason: str | None
    ) -> _Content:
        # reportlab does no shaping: a decomposed "ễ" would be drawn as e plus floating marks.
        description = nfc(doc.description).strip()
        start = doc.period_from.strftime("%d/%m/%Y")
        end = doc.period_to.strftime("%d/%m/%Y")
        period = None if start in description else f"Từ ngày {start} đến ngày {end}"
        return cls(
            office=nfc(doc.bhxh_office).strip().upper(),
            collector_org=nfc(doc.collector_org).strip(),
            form_no=nfc(doc.form_no).strip(),
            series=nfc(doc.series).strip(),
            number=f"{doc.number:07d}",
            date=vietnamese_date(_local_date(doc.issued_at)),
            payer_name=nfc(doc.payer_name).strip(),
            payer_bhxh_code=nfc(doc.payer_bhxh_code).strip(),
            payer_address=nfc(doc.payer_address).strip(),
            description=description,
            period=period,
            amount=format_vnd(doc.amount),
            amount_words=amount_in_words(doc.amount) + ".",
            collector_name=nfc(doc.collector_name).strip(),
            verification_code=nfc(doc.verification_code).strip(),
            qr_payload=doc.qr_payload,
            receipt_id=doc.receipt_id,
            copy=copy,
            voided_reason=None if voided_reason is None else nfc(voided_reason).strip(),
        )


def _watermarks(canvas: Canvas, geo: _Geometry, height: float, content: _Content) -> None:
    marks = [
        text for text, on in (("ĐÃ HUỶ", content.voided_reason), ("BẢN SAO", content.copy)) if on
    ]
    if not marks:
        return
    canvas.saveState()
    canvas.setFillColorRGB(*RED)
    canvas.setFillAlpha(0.13)
    canvas.translate(geo.width / 2, height / 2)
    canvas.rotate(35 if height > geo.width else 20)
    size = geo.width / 5.2
    for i, text in enumerate(marks):
        canvas.setFont(BOLD, size)
        canvas.drawCentredString(
            0, -size * 0.35 - i * size * 1.3 + (len(marks) - 1) * size * 0.65, text
        )
    canvas.restoreState()


class _Layout(Pen):
    """The receipt's drawing steps and how far down the page they reach."""

    bottom = 0.0


@frozen
class _Frame:
    """What every part of one receipt is drawn with: the pen, the paper, the content, the
    text column and the text sizes at the scale being tried."""

    pen: Pen
    geo: _Geometry
    content: _Content
    left: float
    inner: float
    body: float
    small: float


def _draw(geo: _Geometry, content: _Content, scale: float, stretch: float) -> _Layout:
    """Lay the receipt out at a text scale; stretch is extra room for the signatures."""
    pen = _Layout()
    m = geo.margin
    left, inner = m, geo.width - 2 * m
    body, small, title = geo.body * scale, geo.small * scale, geo.title * scale
    gap = body * 0.6
    y = m

    frame = _Frame(pen, geo, content, left, inner, body, small)
    y = _header(frame, y)
    y += gap * 1.4

    if content.copy:
        badge_size = small * 1.25
        badge_w = width("BẢN SAO", BOLD, badge_size) * 1.2
        if width("BIÊN LAI THU TIỀN", BOLD, title) / 2 + badge_w + gap > inner / 2:
            # No room beside the title: the stamp gets a line of its own above it.
            _badge(pen, left + inner, y, "BẢN SAO", badge_size)
            y += badge_size * 1.8
        else:
            _badge(pen, left + inner, y + title * 0.1, "BẢN SAO", badge_size)
    pen.line(geo.width / 2, y, "BIÊN LAI THU TIỀN", BOLD, title, align="centre")
    y += title * 1.45
    pen.line(geo.width / 2, y, content.date, REGULAR, body, align="centre")
    y += body * LEADING

    if content.voided_reason is not None:
        y += gap * 0.5
        y = _void_box(pen, left, inner, y, content.voided_reason, body)
    y += gap

    rows: list[tuple[str, str, str]] = [
        ("Họ tên người nộp tiền:", content.payer_name, BOLD),
        ("Mã số BHXH:", content.payer_bhxh_code or "……………………", REGULAR),
        ("Địa chỉ:", content.payer_address, REGULAR),
        ("Nội dung thu:", content.description, REGULAR),
    ]
    if content.period:
        rows.append(("Thời gian:", content.period, REGULAR))
    rows += [
        ("Số tiền:", content.amount, BOLD),
        ("Viết bằng chữ:", content.amount_words, REGULAR),
    ]
    y = _rows(pen, geo, rows, left, inner, y, body)
    y += gap * 1.6

    y = _signatures(frame, y, stretch)
    y += gap
    pen.bottom = _footer(frame, y, scale)
    return pen


def _header(frame: _Frame, top: float) -> float:
    pen, geo, content, left, inner = frame.pen, frame.geo, frame.content, frame.left, frame.inner
    body = frame.body
    pad = body * 0.55
    size = body * 0.92
    step = size * LEADING
    form_lines = [
        (f"Mẫu số: {content.form_no}", BOLD, None),
        (f"Ký hiệu: {content.series}", REGULAR, None),
        (f"Số: {content.number}", BOLD, RED),
    ]
    if geo.two_column_header:
        right_w = max(width(text, font, size) for text, font, _ in form_lines) + 2 * pad
        left_w = inner - right_w
        y = top + pad
        y += pen.paragraph(left + pad, y, left_w - 2 * pad, content.office, BOLD, size)
        y += pen.paragraph(left + pad, y, left_w - 2 * pad, content.collector_org, REGULAR, size)
        right_y = top + pad
        for text, font, color in form_lines:
            pen.line(left + left_w + pad, right_y, text, font, size, color=color)
            right_y += step
        bottom = max(y, right_y) + pad
        pen.rect(left, top, inner, bottom - top)
        pen.segment(left + left_w, top, left + left_w, bottom, line_width=0.8)
        return bottom

    # Roll: everything centred, one block under the other, the form number last.
    centre = left + inner / 2
    y = top
    y += pen.paragraph(left, y, inner, content.office, BOLD, size, align="centre")
    y += pen.paragraph(left, y, inner, content.collector_org, REGULAR, size, align="centre")
    y += pad * 0.6
    _rule(pen, left, inner, y)
    y += pad * 0.6
    for text, font, color in form_lines:
        pen.line(centre, y, text, font, size, align="centre", color=color)
        y += step
    y += pad * 0.4
    _rule(pen, left, inner, y)
    return y


def _rule(pen: Pen, left: float, inner: float, y: float, *, dashed: bool = False) -> None:
    pen.segment(left, y, left + inner, y, dashed=dashed)


def _badge(pen: Pen, right: float, top: float, text: str, size: float) -> None:
    """A red boxed stamp at the right edge, e.g. BẢN SAO next to the title."""
    pad = size * 0.35
    w = width(text, BOLD, size) + 2 * pad
    pen.rect(right - w, top, w, size * 1.5, stroke=RED, line_width=1.2)
    pen.line(right - pad, top + size * 0.2, text, BOLD, size, align="right", color=RED)


def _void_box(pen: Pen, left: float, inner: float, top: float, reason: str, body: float) -> float:
    pad = body * 0.45
    text = f"ĐÃ HUỶ — Lý do: {reason}"
    height = pen.paragraph(left + pad, top + pad, inner - 2 * pad, text, BOLD, body, color=RED)
    bottom = top + height + 2 * pad
    pen.rect(left, top, inner, bottom - top, stroke=RED, line_width=1.2)
    return bottom


def _rows(
    pen: Pen,
    geo: _Geometry,
    rows: list[tuple[str, str, str]],
    left: float,
    inner: float,
    top: float,
    body: float,
) -> float:
    y = top
    step_gap = body * 0.25
    if geo.label_column:
        label_w = max(width(label, REGULAR, body) for label, _, _ in rows) + body * 0.6
        for label, value, font in rows:
            size = body * 1.15 if label == "Số tiền:" else body
            # Label and value share a baseline even when the amount is set larger.
            pen.line(left, y + (size - body) * BASELINE, label, REGULAR, body)
            used = pen.paragraph(left + label_w, y, inner - label_w, value, font, size)
            y += max(used, body * LEADING) + step_gap
        return y
    # Narrow roll: the value follows its label and wraps under it at full width.
    for label, value, font in rows:
        indent = width(label + " ", REGULAR, body)
        pen.line(left, y, label, REGULAR, body)
        y += pen.paragraph(left, y, inner, value, font, body, first_line_indent=indent) + step_gap
    return y


def _signatures(frame: _Frame, top: float, stretch: float) -> float:
    pen, geo, left, inner = frame.pen, frame.geo, frame.left, frame.inner
    body, small = frame.body, frame.small
    column = inner / 2
    bottom = top
    for i, (role, name) in enumerate(
        (("Người nộp tiền", ""), ("Người thu tiền", frame.content.collector_name))
    ):
        x = left + column * i
        y = top
        y += pen.paragraph(x, y, column, role, BOLD, body, align="centre")
        y += pen.paragraph(x, y, column, "(Ký, ghi rõ họ tên)", REGULAR, small, align="centre")
        y += geo.sign_space * (body / geo.body) + stretch
        if name:
            y += pen.paragraph(x, y, column, name, BOLD, body, align="centre")
        bottom = max(bottom, y)
    return bottom


def _footer(frame: _Frame, top: float, scale: float) -> float:
    pen, geo, content, left, inner = frame.pen, frame.geo, frame.content, frame.left, frame.inner
    body, small = frame.body, frame.small
    _rule(pen, left, inner, top, dashed=True)
    y = top + body * 0.5
    qr = geo.qr * max(scale, 0.8)
    code = f"Mã tra cứu: {content.verification_code}"
    hint = (
        "Quét mã QR hoặc nhập mã tra cứu cùng ký hiệu và số biên lai "
        "trên trang tra cứu của Bảo hiểm xã hội để kiểm tra biên lai này."
    )
    ident = f"Mã biên lai: {content.receipt_id}"
    if geo.two_column_header:
        _qr(pen, content.qr_payload, left, y, qr)
        text_left = left + qr + body * 0.8
        text_w = inner - qr - body * 0.8
        ty = y + body * 0.4
        ty += pen.paragraph(text_left, ty, text_w, code, BOLD, body)
        ty += body * 0.3
        ty += pen.paragraph(text_left, ty, text_w, hint, REGULAR, small)
        ty += pen.paragraph(text_left, ty, text_w, ident, REGULAR, small, color=GREY)
        return max(y + qr, ty)
    _qr(pen, content.qr_payload, left + (inner - qr) / 2, y, qr)
    y += qr + body * 0.2
    y += pen.paragraph(left, y, inner, code, BOLD, body, align="centre")
    y += pen.paragraph(left, y, inner, hint, REGULAR, small, align="centre")
    y += pen.paragraph(left, y, inner, ident, REGULAR, small, align="centre", color=GREY)
    return y


def _qr(pen: Pen, payload: str, x: float, top: float, size: float) -> None:
    # One filled path of dark runs: a receipt QR has ~2,000 dark modules, and separate
    # rectangles per module make the PDF larger and slower to write and to print. The path is
    # written as the operators reportlab's path object would write for it (a fill with the
    # even-odd rule, the canvases' default), between q and Q.
    count = len(qr_modules(payload)) + 2 * QR_QUIET_ZONE
    cell = size / count
    runs = _dark_runs(payload)

    def step(c: Canvas, h: float) -> None:
        from reportlab.lib.rl_accel import fp_str

        rects = []
        for r, col, length in runs:
            row_top = h - top - (r + QR_QUIET_ZONE + 1) * cell
            left = x + (col + QR_QUIET_ZONE) * cell
            rects.append(f"{fp_str(left, row_top, length * cell, cell)} re")
        c.addLiteral(f"q\n{fp_str(0, 0, 0)} rg\nn {' '.join(rects)}\nf*\nQ")

    pen.add(step)


@lru_cache(maxsize=64)
def _dark_runs(payload: str) -> tuple[tuple[int, int, int], ...]:
    """The QR code's runs of dark modules along each row: (row, first column, length)."""
    runs = []
    for r, row in enumerate(qr_modules(payload)):
        col = 0
        for dark, run in itertools.groupby(row):
            length = len(list(run))
            if dark:
                runs.append((r, col, length))
            col += length
    return tuple(runs)


@lru_cache(maxsize=64)
def qr_modules(payload: str) -> tuple[tuple[bool, ...], ...]:
    """The dark/light modules of a QR code (error correction level M), row by row.

    Level M survives a smudged thermal print. Cached because a receipt is usually rendered
    twice in a row: once for the preview, once for the printer.
    """
    from reportlab.graphics.barcode import qrencoder

    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(payload)
    code.make()
    return tuple(tuple(bool(m) for m in row) for row in code.modules)
