"""Document figures: one receipt PDF, and a 500-household village flyer batch, against bare
reportlab drawing the same text (read back from our own PDF) with the same font."""

from __future__ import annotations

import datetime as dt
import io
import sys
import time

from common import Figure, print_table
from reportlab.pdfgen.canvas import Canvas

from fieldapp.documents.flyer import BhxhOption, FlyerData, render_flyers
from fieldapp.documents.fonts import register_fonts
from fieldapp.documents.receipt import ReceiptDocument, render_receipt

RECEIPT = ReceiptDocument(
    bhxh_office="Bảo hiểm xã hội tỉnh Lào Cai",
    collector_org="Bưu điện xã Bắc Hà — được Bảo hiểm xã hội uỷ quyền thu",
    form_no="C45-BB",
    series="LC-NTA-24",
    number=1234,
    issued_at=dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC),
    payer_name="Giàng Seo Sử",
    payer_bhxh_code="1522334455",
    payer_address="Bản Phố, Xã Bản Mẫu, tỉnh Lào Cai",
    description="Tiền đóng BHYT hộ gia đình, phương thức đóng 12 tháng, từ ngày 01/12/2026 "
    "đến ngày 30/11/2027",
    period_from=dt.date(2026, 12, 1),
    period_to=dt.date(2027, 11, 30),
    amount=1_366_200,
    collector_name="Nguyễn Thị Lan",
    verification_code="TUQL-GQYR",
    qr_payload="FA1|01a20792-d53f-729f-be04-be71aaed7ba6|LC-NTA-24|1234|1366200|20261123|"
    "0123456789abcdef",
    receipt_id="01a20792-d53f-729f-be04-be71aaed7ba6",
)


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
    return [
        FlyerData(
            household_head=f"Giàng Seo Sử {i}",
            village="Bản Phố",
            commune_name="Xã Bản Mẫu",
            group=("agri_household", "household_business", "cooperative", "poor_near_poor")[i % 4],
            language="vi",
            members=["Giàng Seo Sử", "Sùng Thị Mỷ", "Giàng A Páo"],
            bhyt_amounts={3: 785_565, 6: 1_571_130, 12: 3_142_260},
            bhxh_options=[
                BhxhOption("1.500.000 đ", 231_000, 2_772_000, 12_668_704),
                BhxhOption("3.000.000 đ", 561_000, 6_732_000, 30_766_852),
            ],
            agent_name="Nguyễn Thị Lan",
            agent_phone="0912 345 678",
            next_visit=dt.date(2026, 12, 5),
            seasonal_income=i % 2 == 0,
        )
        for i in range(count)
    ]


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
