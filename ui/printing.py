"""Showing, printing and saving the core's PDFs: one dialog for receipts, flyers and batches.

PySide6-Essentials has no PDF renderer (QtPdf is a separate package), so pages are rasterised
by poppler's pdftoppm when the machine has it, and the preview and the printer get those page
images. Without poppler the dialog says so and offers only "save as PDF" (to print from a PDF
reader): it never prints something other than the PDF the core made.

A document whose printing is counted (a receipt: the first print is the original, every later
one a copy) is previewed from an uncounted rendering, and the dialog is given a `final` call
that the core counts: only Print or Save runs it, and what is printed or saved is what it made.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, QSizeF, QStandardPaths, Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QPageSize, QPainter, QPixmap, QShortcut
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from fieldapp.text import fold
from sync.protocol.frozen import frozen
from sync.protocol.i18n import say
from ui.operations import Cancelled, Operations, Progress

PREVIEW_DPI = 96
PREVIEW_PAGES = 12
PRINT_DPI = 300
PRINT_CHUNK = 8
TOOL_TIMEOUT_S = 120
# Windows would flash a console window for every pdftoppm run without this flag.
_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)


class PreviewUnavailable(Exception):
    """This machine cannot turn PDF pages into images (no poppler), or poppler failed."""


@frozen
class PdfInfo:
    pages: int
    width_pt: float
    height_pt: float


@frozen
class Document:
    """A PDF from the core, with the preview images of its first pages when they could be made."""

    pdf: bytes
    title: str
    file_name: str
    info: PdfInfo | None
    preview: tuple[bytes, ...]
    preview_problem: str | None


def _tools() -> tuple[str, str] | None:
    pdftoppm, pdfinfo = shutil.which("pdftoppm"), shutil.which("pdfinfo")
    return (pdftoppm, pdfinfo) if pdftoppm and pdfinfo else None


def can_rasterise() -> bool:
    """Whether pages can be previewed and printed here (poppler's tools are installed)."""
    return _tools() is not None


def _run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            args, capture_output=True, check=True, timeout=TOOL_TIMEOUT_S, creationflags=_NO_WINDOW
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        message = f"{Path(args[0]).name}: {exc} {detail.decode(errors='replace')}"
        raise PreviewUnavailable(message.strip()) from exc


def pdf_info(path: Path) -> PdfInfo:
    tools = _tools()
    if tools is None:
        raise PreviewUnavailable("pdfinfo not found")
    text = _run([tools[1], str(path)]).stdout.decode(errors="replace")
    pages = re.search(r"^Pages:\s+(\d+)", text, re.MULTILINE)
    size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts", text, re.MULTILINE)
    if pages is None or size is None:
        raise PreviewUnavailable("pdfinfo gave no page count or size")
    return PdfInfo(int(pages.group(1)), float(size.group(1)), float(size.group(2)))


def rasterise(path: Path, *, dpi: int, first: int, last: int) -> list[bytes]:
    """PNG images of pages first..last of the PDF at path."""
    tools = _tools()
    if tools is None:
        raise PreviewUnavailable("pdftoppm not found")
    with tempfile.TemporaryDirectory(prefix="fieldapp-pages-") as folder:
        root = Path(folder) / "page"
        pages = ["-f", str(first), "-l", str(last)]
        _run([tools[0], "-r", str(dpi), "-png", *pages, str(path), str(root)])
        # pdftoppm pads page numbers to the width of the page count: sort by the number.
        files = sorted(Path(folder).glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        return [f.read_bytes() for f in files]


class _PdfFile:
    """The PDF written to a private temporary file, for poppler to read."""

    def __init__(self, pdf: bytes) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="fieldapp-pdf-")
        self.path = Path(self._folder.name) / "document.pdf"
        self.path.write_bytes(pdf)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *_exc: object) -> None:
        self._folder.cleanup()


def prepare(pdf: bytes, *, title: str, file_name: str) -> Document:
    """The document with preview images of its first pages; runs on the worker."""
    try:
        with _PdfFile(pdf) as path:
            info = pdf_info(path)
            preview = rasterise(path, dpi=PREVIEW_DPI, first=1, last=min(info.pages, PREVIEW_PAGES))
    except PreviewUnavailable as exc:
        return Document(pdf, title, file_name, None, (), str(exc))
    return Document(pdf, title, file_name, info, tuple(preview), None)


def write_atomically(path: Path, data: bytes) -> Path:
    """Write the file whole or not at all: a cut (or a full USB stick) leaves no half PDF."""
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def print_pages(pdf: bytes, printer: QPrinter, progress: Progress | None = None) -> int:
    """Send every page to the printer as an image at up to PRINT_DPI; returns the page count.

    Runs on the worker: Qt allows painting on a QPrinter outside the UI thread. Pages are
    rasterised a few at a time so a village batch never sits in memory as images all at once.
    """
    with _PdfFile(pdf) as path:
        info = pdf_info(path)
        dpi = max(150, min(printer.resolution(), PRINT_DPI))
        painter = QPainter()
        if not painter.begin(printer):
            raise PreviewUnavailable("the printer refused to start")
        try:
            page = 0
            for first in range(1, info.pages + 1, PRINT_CHUNK):
                last = min(info.pages, first + PRINT_CHUNK - 1)
                for png in rasterise(path, dpi=dpi, first=first, last=last):
                    if page and not printer.newPage():
                        raise PreviewUnavailable("the printer refused a new page")
                    _draw_fitted(painter, QImage.fromData(png), printer)
                    page += 1
                    if progress is not None:
                        progress(page, info.pages)
        except BaseException:
            # A half-sent batch would waste paper and confuse the agent: drop the whole job.
            printer.abort()
            raise
        finally:
            if painter.isActive():
                painter.end()
    return info.pages


def _draw_fitted(painter: QPainter, image: QImage, printer: QPrinter) -> None:
    # Full-page mode: the origin is the paper's corner, and the PDF carries its own margins.
    area = printer.paperRect(QPrinter.Unit.DevicePixel)
    scale = min(area.width() / image.width(), area.height() / image.height())
    width, height = image.width() * scale, image.height() * scale
    target = QRectF((area.width() - width) / 2, (area.height() - height) / 2, width, height)
    painter.drawImage(target, image)


def slug(text: str) -> str:
    """A file-name part without accents or spaces: "Hộ Lò Văn Páo" → "ho-lo-van-pao"."""
    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-") or "tai-lieu"


def show_document(
    parent: QWidget,
    ops: Operations,
    produce: Callable[..., bytes],
    *,
    title: str,
    file_name: str,
    present: Callable[[QDialog], None] | None = None,
    produced: Callable[[Document], None] | None = None,
    failure: Callable[[Exception], None] | None = None,
    progress: str | None = None,
    final: Callable[[Any], bytes] | None = None,
    finalised: Callable[[Document], None] | None = None,
) -> int:
    """Have the core produce a PDF on the worker, then show it to preview, print or save.

    produce is called as produce(ws), or produce(ws, progress) when a progress label is given
    (batches: the agent can cancel). present opens the dialog (default: window-modal open());
    produced is told first. With final, produce only previews: final(ws) runs when the agent
    prints or saves, its PDF is the one printed or saved, and finalised is told afterwards
    (e.g. to refresh a receipt's print count).
    """

    def work(ws: Any, *args: Any) -> Document:
        pdf = produce(ws, *args)
        return prepare(pdf, title=title, file_name=file_name)

    def ready(document: Document) -> None:
        if produced is not None:
            produced(document)
        dialog = DocumentDialog(ops, document, final=final, parent=parent)
        if finalised is not None:
            dialog.finalised.connect(lambda: finalised(dialog.document))
        if present is not None:
            present(dialog)
        else:
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.open()

    return ops.run_op(parent, work, success=ready, failure=failure, progress=progress)


class DocumentDialog(QDialog):
    """The pages of one PDF, with Print (through the system's print dialog) and Save as PDF."""

    printed = Signal(int)
    saved = Signal(str)
    finalised = Signal()

    def __init__(
        self,
        ops: Operations,
        document: Document,
        *,
        final: Callable[[Any], bytes] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._ops = ops
        self._final = final
        self.document = document
        self.printer: QPrinter | None = None
        self.heading = QLabel()
        self.heading.setProperty("role", "title")
        self.info_label = QLabel()
        self.info_label.setWordWrap(True)
        self.status_label = QLabel()
        self.status_label.setObjectName("status")
        self.status_label.setWordWrap(True)

        pages = QWidget()
        pages.setObjectName("pages")
        pages.setStyleSheet("#pages { background: #8a8f98; }")
        column = QVBoxLayout(pages)
        column.setSpacing(12)
        column.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.page_labels: list[QLabel] = []
        for png in document.preview:
            label = QLabel()
            label.setPixmap(QPixmap.fromImage(QImage.fromData(png)))
            label.setFrameShape(QFrame.Shape.Box)
            label.setStyleSheet("background: white; border: 1px solid #444;")
            column.addWidget(label)
            self.page_labels.append(label)
        self.scroll = QScrollArea()
        self.scroll.setWidget(pages)
        self.scroll.setWidgetResizable(True)
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignHCenter)

        self.print_button = QPushButton()
        self.print_button.clicked.connect(self.choose_printer)
        self.print_button.setEnabled(bool(document.preview))
        self.save_button = QPushButton()
        self.save_button.clicked.connect(self.save_as)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.addButton(self.print_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)
        (self.print_button if document.preview else self.save_button).setDefault(True)
        QShortcut(QKeySequence("Ctrl+P"), self, self.choose_printer)
        QShortcut(QKeySequence("Ctrl+S"), self, self.save_as)

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.info_label)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        self.resize(760, 700)
        self.retranslate()

    # -- printing -------------------------------------------------------------------------

    def _new_printer(self) -> QPrinter:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setDocName(self.document.title)
        info = self.document.info
        if info is not None:
            # Receipts are A5, A6 or an 80 mm roll: start from the document's own paper.
            size = QPageSize(QSizeF(info.width_pt, info.height_pt), QPageSize.Unit.Point)
            printer.setPageSize(size)
        printer.setFullPage(True)
        return printer

    def choose_printer(self) -> None:
        """The system's print dialog; printing starts when the agent confirms it."""
        if not self.document.preview:
            return
        if self.printer is None:
            self.printer = self._new_printer()
        dialog = QPrintDialog(self.printer, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.print_to(self.printer))
        dialog.open()

    def print_to(self, printer: QPrinter | None) -> None:
        """Print every page on this printer, on the worker, with progress and Cancel."""
        if printer is None:
            return
        pdf, final = self.document.pdf, self._final
        self.status_label.setText(say("Đang in…", "Printing…"))

        def work(ws: Any, progress: Progress) -> tuple[bytes, int]:
            # The counted rendering is made only now, and it is what goes to the printer.
            out = final(ws) if final is not None else pdf
            return out, print_pages(out, printer, progress)

        self._ops.run_op(
            self,
            work,
            success=self._printed,
            failure=self._print_failed,
            progress=say("Đang gửi các trang tới máy in…", "Sending the pages to the printer…"),
        )

    def _take_final(self, pdf: bytes) -> None:
        if self._final is not None:
            self.document = replace(self.document, pdf=pdf)
            self.finalised.emit()

    def _printed(self, outcome: tuple[bytes, int]) -> None:
        pdf, pages = outcome
        self._take_final(pdf)
        self.status_label.setStyleSheet("color: #1b5e20;")
        self.status_label.setText(
            say("Đã gửi {n} trang tới máy in.", "Sent {n} pages to the printer.").format(n=pages)
        )
        self.printed.emit(pages)

    def _print_failed(self, exc: Exception) -> None:
        self.status_label.setStyleSheet("color: #b00020;")
        if isinstance(exc, Cancelled):
            self.status_label.setText(
                say(
                    "Đã huỷ lệnh in; không trang nào được gửi.",
                    "Printing cancelled; no page was sent.",
                )
            )
        elif isinstance(exc, PreviewUnavailable):
            self.status_label.setText(
                say("Không in được: {error}", "Cannot print: {error}").format(error=exc)
            )
        else:
            self.status_label.clear()
            self._ops.show_error(self, exc)

    # -- saving ---------------------------------------------------------------------------

    def save_as(self) -> None:
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        path, _filter = QFileDialog.getSaveFileName(
            self,
            say("Lưu thành PDF", "Save as PDF"),
            str(Path(folder) / self.document.file_name),
            say("Tệp PDF (*.pdf)", "PDF files (*.pdf)"),
        )
        if path:
            self.save_to(Path(path))

    def save_to(self, path: Path) -> None:
        """Write the PDF to path (on the worker: a USB stick can be slow)."""
        if path.suffix.lower() != ".pdf":
            path = path.with_name(path.name + ".pdf")
        pdf, final = self.document.pdf, self._final

        def work(ws: Any) -> tuple[bytes, Path]:
            out = final(ws) if final is not None else pdf
            return out, write_atomically(path, out)

        self._ops.run_op(
            self,
            work,
            success=self._saved,
            failure=lambda exc: self._save_failed(path, exc),
        )

    def _saved(self, outcome: tuple[bytes, Path]) -> None:
        pdf, path = outcome
        self._take_final(pdf)
        self.status_label.setStyleSheet("color: #1b5e20;")
        self.status_label.setText(say("Đã lưu {path}", "Saved {path}").format(path=path))
        self.saved.emit(str(path))

    def _save_failed(self, path: Path, exc: Exception) -> None:
        if not isinstance(exc, OSError):
            self._ops.show_error(self, exc)
            return
        self.status_label.setStyleSheet("color: #b00020;")
        self.status_label.setText(
            say("Không lưu được {path}: {error}", "Cannot save {path}: {error}").format(
                path=path, error=exc.strerror or exc
            )
        )

    def retranslate(self) -> None:
        document = self.document
        self.setWindowTitle(document.title)
        self.heading.setText(document.title)
        if document.info is None:
            self.info_label.setStyleSheet("color: #8a5300;")
            self.info_label.setText(
                say(
                    "Máy này không xem trước và in trực tiếp được (thiếu công cụ poppler "
                    "pdftoppm). Hãy lưu thành PDF rồi in bằng trình đọc PDF.",
                    "This computer cannot preview or print directly (the poppler tool pdftoppm is "
                    "missing). Save as PDF and print from a PDF reader.",
                )
            )
        elif document.info.pages > len(document.preview):
            self.info_label.setText(
                say(
                    "{n} trang; xem trước {shown} trang đầu. Khi in sẽ in đủ {n} trang.",
                    "{n} pages; the first {shown} are previewed. Printing prints all {n} pages.",
                ).format(n=document.info.pages, shown=len(document.preview))
            )
        else:
            self.info_label.setText(say("{n} trang.", "{n} pages.").format(n=document.info.pages))
        self.print_button.setText(say("In… (Ctrl+P)", "Print… (Ctrl+P)"))
        self.print_button.setToolTip(
            ""
            if document.preview
            else say(
                "Cần công cụ poppler (pdftoppm) để in từ ứng dụng.",
                "Printing from the app needs the poppler tool (pdftoppm).",
            )
        )
        self.save_button.setText(say("Lưu thành PDF… (Ctrl+S)", "Save as PDF… (Ctrl+S)"))
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setText(say("Đóng", "Close"))
