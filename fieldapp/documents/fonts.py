"""The embedded Vietnamese font for PDFs: registered once, measuring, wrapping and placing text."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import resources

# reportlab is imported where text is measured or drawn: loading it takes about a tenth of
# a second, which importing this module (to open the app, say) must not cost.
if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

REGULAR = "FieldSans"
BOLD = "FieldSans-Bold"

# Where the baseline sits below the top of a line box, and the default line height, in ems.
# Capitals with two stacked marks (Ễ, Ẫ, Ặ) reach about 1.2 em above the baseline in DejaVu,
# so a tighter leading makes the marks touch the descenders of the line above.
BASELINE = 1.02
LEADING = 1.38

Align = Literal["left", "centre", "right"]

_FILES = {REGULAR: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf"}
_lock = threading.Lock()
_registered = False


def register_fonts() -> None:
    """Register FieldSans and FieldSans-Bold with reportlab (parsing the TTFs only once)."""
    global _registered
    if _registered:
        return
    with _lock:
        if _registered:
            return
        from reportlab.pdfbase import pdfmetrics

        font_class = _font_class()
        for name, filename in _FILES.items():
            pdfmetrics.registerFont(font_class(name, str(resources.path("fonts", filename))))
        pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR)
        _registered = True


def _font_class() -> type:
    """reportlab's TTFont, remembering how each line it drew in a document was encoded."""
    from weakref import WeakKeyDictionary

    from reportlab.pdfbase.ttfonts import TTFont

    class RepeatedTextFont(TTFont):  # type: ignore[misc]
        """A village's flyers draw the same template lines page after page; reportlab maps
        every character of every line to its subset code again each time. The mapping of a
        line, once made in a document, never changes there (codes are only ever added), so
        it is kept per document and reused."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self._encoded: WeakKeyDictionary[object, dict[str | bytes, list[tuple[int, bytes]]]]
            self._encoded = WeakKeyDictionary()

        def splitString(
            self, text: str | bytes, doc: object, encoding: str = "utf-8"
        ) -> list[tuple[int, bytes]]:
            known = self._encoded.get(doc)
            if known is None:
                known = self._encoded[doc] = {}
            chunks = known.get(text)
            if chunks is None:
                chunks = known[text] = super().splitString(text, doc, encoding)
            return chunks

    return RepeatedTextFont


def missing_glyphs(text: str, font: str = REGULAR) -> set[str]:
    """Characters of text that the font cannot draw (reportlab would print a box for them)."""
    from reportlab.pdfbase import pdfmetrics

    register_fonts()
    face = pdfmetrics.getFont(font).face
    return {ch for ch in set(text) if ch.isprintable() and ord(ch) not in face.charToGlyph}


def width(text: str, font: str, size: float) -> float:
    """Width of text in points."""
    return _line_width(text, font, size)


@lru_cache(maxsize=4096)
def _word_width(word: str, font: str, size: float) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return float(stringWidth(word, font, size))


def wrap(text: str, font: str, size: float, max_width: float) -> list[str]:
    """Break text into lines no wider than max_width; over-long words are split by letters.

    Explicit newlines start a new line. Empty text gives one empty line, so a blank value still
    takes its row on a form.
    """
    return list(_wrap(text, font, size, max_width))


def line_count(text: str, font: str, size: float, max_width: float) -> int:
    """How many lines wrap() breaks text into."""
    return len(_wrap(text, font, size, max_width))


# A village's flyers repeat the same template sentences page after page: wrap each once.
@lru_cache(maxsize=8192)
def _wrap(text: str, font: str, size: float, max_width: float) -> tuple[str, ...]:
    lines: list[str] = []
    space = _word_width(" ", font, size)
    # A column sized to exactly fit its text must not wrap over a rounding error.
    max_width += 0.01
    for paragraph in text.split("\n"):
        current: list[str] = []
        current_width = 0.0
        for word in paragraph.split():
            word_width = _word_width(word, font, size)
            extra = word_width + (space if current else 0.0)
            if current and current_width + extra <= max_width:
                current.append(word)
                current_width += extra
                continue
            if current:
                lines.append(" ".join(current))
            if word_width <= max_width:
                current, current_width = [word], word_width
                continue
            pieces = _split_long_word(word, font, size, max_width)
            lines.extend(pieces[:-1])
            current = [pieces[-1]]
            current_width = _word_width(pieces[-1], font, size)
        lines.append(" ".join(current))
    return tuple(lines)


@lru_cache(maxsize=8192)
def _line_width(text: str, font: str, size: float) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return float(stringWidth(text, font, size))


def _split_long_word(word: str, font: str, size: float, max_width: float) -> list[str]:
    pieces: list[str] = []
    piece = ""
    for ch in word:
        if piece and width(piece + ch, font, size) > max_width:
            pieces.append(piece)
            piece = ""
        piece += ch
    pieces.append(piece)
    return pieces


def _paragraph_lines(
    text: str, font: str, size: float, max_width: float, first_line_indent: float
) -> tuple[str, ...]:
    if not first_line_indent:
        return _wrap(text, font, size, max_width)
    text = " ".join(text.split())
    first = _wrap(text, font, size, max_width - first_line_indent)
    head = first[0]
    rest_text = text[len(head) :].strip() if len(first) > 1 else ""
    return (head, *(_wrap(rest_text, font, size, max_width) if rest_text else ()))


RGB = tuple[float, float, float]
BLACK: RGB = (0.0, 0.0, 0.0)
DrawStep = Callable[["Canvas", float], None]


# One line of text to draw: x (already moved to the left end for centred and right-aligned
# text), baseline, text, font, size, colour. A plain tuple: a village of flyers lays out
# tens of thousands of them.
_Text = tuple[float, float, str, str, float, RGB]


# Boxes and rules are written as the few PDF operators reportlab would write for them, in one
# piece between q and Q (which restore every setting, so reportlab's own idea of the graphics
# state stays true): saving and restoring reportlab's state for each of the ~20 rules and boxes
# of a flyer page cost more than drawing them. The paint operators are reportlab's for its
# default even-odd fill rule, which our canvases never change.
_PAINT = {(True, False): "S", (False, True): "f*", (True, True): "B*", (False, False): "n"}


class Pen:
    """Lays a page out top-down as a list of drawing steps, replayed on a canvas when it fits.

    Layout runs before anything is drawn, so the caller can shrink text that would not fit or
    size a receipt roll to its content, and then replay exactly what was measured. Positions
    are in points from the top-left corner; each step gets the page height when replayed.
    """

    def __init__(self) -> None:
        self.steps: list[DrawStep | _Text] = []

    def mark(self) -> int:
        """Position in the step list, to put a background under text laid out after it."""
        return len(self.steps)

    def add(self, step: DrawStep | _Text, *, at: int | None = None) -> None:
        if at is None:
            self.steps.append(step)
        else:
            self.steps.insert(at, step)

    def replay(self, canvas: Canvas, page_height: float) -> None:
        # Runs of text share one PDF text object, and font and colour are set only when they
        # change: a village of flyers is mostly text, and a text object per line triples the
        # time spent in reportlab.
        text = None
        font: tuple[str, float] | None = None
        color: RGB | None = None
        for step in self.steps:
            if isinstance(step, tuple):
                x, baseline, line, face, size, rgb = step
                if text is None:
                    text = canvas.beginText()
                    font = color = None
                if font != (face, size):
                    font = (face, size)
                    text.setFont(face, size)
                if color != rgb:
                    color = rgb
                    text.setFillColorRGB(*rgb)
                text.setTextOrigin(x, page_height - baseline)
                text.textOut(line)
                continue
            if text is not None:
                canvas.drawText(text)
                text = None
            step(canvas, page_height)
        if text is not None:
            canvas.drawText(text)

    def line(
        self,
        x: float,
        top: float,
        text: str,
        font: str,
        size: float,
        *,
        align: Align = "left",
        color: RGB | None = None,
    ) -> None:
        """One line of text whose box starts at top; x is its left, centre or right end."""
        if align == "centre":
            x -= _line_width(text, font, size) / 2
        elif align == "right":
            x -= _line_width(text, font, size)
        self.steps.append((x, top + size * BASELINE, text, font, size, color or BLACK))

    def paragraph(
        self,
        x: float,
        top: float,
        max_width: float,
        text: str,
        font: str,
        size: float,
        *,
        align: Align = "left",
        leading: float = LEADING,
        first_line_indent: float = 0.0,
        color: RGB | None = None,
    ) -> float:
        """Wrapped text; returns the height it took. first_line_indent leaves room for a label."""
        step = size * leading
        lines = _paragraph_lines(text, font, size, max_width, first_line_indent)
        rgb = color or BLACK
        # Same sums in the same order as line(): positions must not move by a rounding.
        ascent = size * BASELINE
        append = self.steps.append
        for i, text_line in enumerate(lines):
            if align == "centre":
                left = x + max_width / 2 - _line_width(text_line, font, size) / 2
            elif align == "right":
                left = x + max_width - _line_width(text_line, font, size)
            else:
                left = x + first_line_indent if i == 0 else x
            append((left, top + i * step + ascent, text_line, font, size, rgb))
        return len(lines) * step

    def rect(
        self,
        x: float,
        top: float,
        w: float,
        h: float,
        *,
        stroke: RGB | None = BLACK,
        fill: RGB | None = None,
        line_width: float = 0.8,
        radius: float = 0.0,
        at: int | None = None,
    ) -> None:
        """A box from its top-left corner; stroked, filled or both."""

        if radius:

            def step(c: Canvas, page_h: float) -> None:
                c.saveState()
                c.setLineWidth(line_width)
                if stroke is not None:
                    c.setStrokeColorRGB(*stroke)
                if fill is not None:
                    c.setFillColorRGB(*fill)
                args = (x, page_h - top - h, w, h)
                do_stroke, do_fill = int(stroke is not None), int(fill is not None)
                c.roundRect(*args, radius, stroke=do_stroke, fill=do_fill)
                c.restoreState()

        else:
            paint = _PAINT[stroke is not None, fill is not None]

            def step(c: Canvas, page_h: float) -> None:
                from reportlab.lib.rl_accel import fp_str

                ops = ["q", f"{fp_str(line_width)} w"]
                if stroke is not None:
                    ops.append(f"{fp_str(stroke)} RG")
                if fill is not None:
                    ops.append(f"{fp_str(fill)} rg")
                ops.append(f"n {fp_str(x, page_h - top - h, w, h)} re {paint}")
                ops.append("Q")
                c.addLiteral("\n".join(ops))

        self.add(step, at=at)

    def segment(
        self,
        x1: float,
        top1: float,
        x2: float,
        top2: float,
        *,
        color: RGB = BLACK,
        line_width: float = 0.6,
        dashed: bool = False,
    ) -> None:
        """A straight line between two points."""

        def step(c: Canvas, h: float) -> None:
            from reportlab.lib.rl_accel import fp_str

            dash = "\n[2 2] 0 d" if dashed else ""
            c.addLiteral(
                f"q\n{fp_str(color)} RG\n{fp_str(line_width)} w{dash}\n"
                f"n {fp_str(x1, h - top1)} m {fp_str(x2, h - top2)} l S\nQ"
            )

        self.steps.append(step)
