"""Document figures: one receipt PDF, and a 500-household village flyer batch, against bare
reportlab drawing the same text (read back from our own PDF) with the same font."""

from __future__ import annotations

import io
import sys
import time

from common import Figure, print_table
from reportlab.pdfgen.canvas import Canvas

from fieldapp.documents.flyer import FlyerData, render_flyers
from fieldapp.documents.fonts import register_fonts
from fieldapp.documents.receipt import render_receipt
from tests.fieldapp.samples import make_flyer, make_receipt

# The receipt and the flyers the core's tests check page by page.
RECEIPT = make_receipt()


def _bare_page(canvas: Canvas, lines: list[str]) -> None:
    y = 560.0
    for line in lines:
        canvas.setFont("FieldSans", 9)
        canvas.drawString(30, y, line)
        y -= 13
        if y < 30:
            y = 560.0
    canvas.showPage()


def _bare_pdf(pages: list[list[str]]) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(420, 595), pageCompression=1)
    for lines in pages:
        _bare_page(canvas, lines)
    canvas.save()
    return buffer.getvalue()


def _best(fn: object, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def _drawn_text(pdf: bytes) -> list[list[str]]:
    """The lines of text each page of a PDF shows, so the floor draws exactly the same text."""
    from pypdf import PdfReader

    return [
        [line for line in (page.extract_text() or "").splitlines() if line.strip()]
        for page in PdfReader(io.BytesIO(pdf)).pages
    ]


def receipt_figures(rounds: int) -> list[Figure]:
    register_fonts()
    lines = _drawn_text(render_receipt(RECEIPT, layout="a5"))[0]
    ours = _best(lambda: render_receipt(RECEIPT, layout="a5"), rounds)
    floor = _best(lambda: _bare_pdf([lines]), rounds)
    return [Figure("one receipt PDF (A5, with QR)", ours * 1000, floor * 1000, "ms", 1.5)]


def _flyers(count: int) -> list[FlyerData]:
    """A village's flyers: every audience group, every other household with seasonal income."""
    return [make_flyer(i, seasonal_income=i % 2 == 0) for i in range(count)]


def flyer_figures(count: int) -> list[Figure]:
    register_fonts()
    flyers = _flyers(count)
    pages = _drawn_text(render_flyers(flyers))
    ours = _best(lambda: render_flyers(flyers), 2)
    floor = _best(lambda: _bare_pdf(pages), 2)
    return [
        Figure(f"village flyer batch, {count} households", ours, floor, "s", 2.0),
    ]


def run(quick: bool = False) -> list[Figure]:
    return receipt_figures(5 if quick else 20) + flyer_figures(100 if quick else 500)


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv), "fieldapp documents")
