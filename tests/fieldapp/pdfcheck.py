"""Reading generated PDFs back in tests: page text and sizes, word boxes, PNGs, QR codes."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pypdf
import pytest

MM = 72 / 25.4
_WORD_RE = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>'
)
_PAGE_RE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">')


def page_texts(data: bytes) -> list[str]:
    """The text of each page as pypdf extracts it (not normalised: what the PDF really holds)."""
    return [page.extract_text() or "" for page in pypdf.PdfReader(io.BytesIO(data)).pages]


def flat(text: str) -> str:
    """Runs of white space (line breaks from wrapping included) as one space."""
    return " ".join(text.split())


def page_sizes_mm(data: bytes) -> list[tuple[float, float]]:
    """Width and height of each page in millimetres."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [
        (float(page.mediabox.width) / MM, float(page.mediabox.height) / MM) for page in reader.pages
    ]


def need(binary: str, package: str) -> str:
    """Path of a program, or skip the test naming the Debian package to install."""
    found = shutil.which(binary)
    if found is None:
        pytest.skip(f"{binary} not installed (apt-get install -y {package})")
    return found


@dataclass(frozen=True)
class Word:
    text: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    page_width: float
    page_height: float


def word_boxes(data: bytes, tmp_path: Path) -> list[Word]:
    """Every word with its box in points, via pdftotext -bbox (poppler)."""
    program = need("pdftotext", "poppler-utils")
    source = tmp_path / "boxes.pdf"
    source.write_bytes(data)
    html = subprocess.run(
        [program, "-bbox", str(source), "-"], check=True, capture_output=True, text=True
    ).stdout
    words: list[Word] = []
    for chunk in html.split("<page ")[1:]:
        page = _PAGE_RE.match("<page " + chunk)
        assert page is not None
        width, height = float(page.group(1)), float(page.group(2))
        for match in _WORD_RE.finditer(chunk):
            x0, y0, x1, y1 = (float(match.group(i)) for i in range(1, 5))
            words.append(Word(match.group(5), x0, y0, x1, y1, width, height))
    return words


def render_png(data: bytes, out_dir: Path, *, page: int = 1, dpi: int = 200) -> Path:
    """One page rendered to PNG with pdftoppm."""
    program = need("pdftoppm", "poppler-utils")
    out_dir.mkdir(parents=True, exist_ok=True)
    source = out_dir / "page.pdf"
    source.write_bytes(data)
    stem = out_dir / f"page-{page}"
    subprocess.run(
        [
            program,
            "-r",
            str(dpi),
            "-png",
            "-f",
            str(page),
            "-l",
            str(page),
            "-singlefile",
            str(source),
            str(stem),
        ],
        check=True,
        capture_output=True,
    )
    return stem.with_suffix(".png")


def decode_qr(png: Path) -> list[str]:
    """The payloads of all QR codes in an image, decoded with zbarimg."""
    program = need("zbarimg", "zbar-tools")
    result = subprocess.run(
        [program, "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(png)],
        capture_output=True,
        text=True,
    )
    return [line for line in result.stdout.splitlines() if line]
