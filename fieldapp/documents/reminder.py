"""BHYT renewal reminders: one A5 page per household naming whose card ends or has just ended,
what renewing those cards together costs, and whom to call.

The same page size, fonts and colours as the household flyers, so a village's flyers and
reminders can go through the same printer and the same "2 pages per sheet" and cut. Texts are
per-language templates (resources/reminders/<lang>.json), with every missing string printed
in Vietnamese and a language not yet reviewed by a native speaker marked on the page.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Units only: the PDF machinery is imported where a PDF is drawn (see render_reminders).
from reportlab.lib.units import mm

import resources
from fieldapp.documents.flyer import (
    _MARGIN,
    _PAGE_H,
    _PAGE_W,
    BLUE,
    GREY,
    PALE_BLUE,
    UNREVIEWED_NOTICE,
    WHITE,
    Cancelled,
    load_language_files,
    merged_strings,
    read_template_file,
)
from fieldapp.documents.fonts import BOLD, REGULAR, Pen, register_fonts
from fieldapp.text import nfc
from sync.protocol.frozen import frozen
from sync.protocol.money import format_vnd

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

STRING_KEYS = (
    "title",
    "greeting",
    "address_line",
    "intro",
    "card_ends",
    "card_ended",
    "amount_intro",
    "amount_note",
    "call_to_action",
    "agent_line",
    "thanks",
)
# Placeholders a particular string is filled with besides the household's and agent's own.
_EXTRA_FIELDS = {
    "card_ends": {"date"},
    "card_ended": {"date", "wait_days"},
    "amount_intro": {"months", "count"},
}
_TOP_KEYS = {"language", "name", "reviewed", "notes", "strings"}

# A card that has ended is printed in a darker red than the page's blue: it is the line to act on.
DARK_RED = (0.7, 0.1, 0.1)


@frozen
class ReminderPerson:
    """One person whose card ends soon (lapsed False) or ended not long ago (lapsed True)."""

    name: str
    card_valid_to: dt.date
    lapsed: bool


@frozen
class ReminderData:
    """One household's reminder; the amount is already computed (one quote for all of them)."""

    household_head: str
    village: str
    commune_name: str
    language: str
    people: Sequence[ReminderPerson]
    months: int
    amount: int
    agent_name: str
    agent_phone: str
    # Days a card waits before it can be used when renewed too late.
    wait_days: int


@frozen
class ReminderTemplates:
    """A language's reminder strings with every missing one filled in from Vietnamese."""

    language: str
    reviewed: bool
    strings: Mapping[str, str]
    fallback_keys: frozenset[str] = field(default_factory=frozenset)


_cache: dict[tuple[str, Path], ReminderTemplates] = {}
_cache_lock = threading.Lock()


def load_reminder_templates(language: str, *, directory: Path | None = None) -> ReminderTemplates:
    """Reminder texts of a language (vi when there is no file for it), validated and cached.

    Raises TemplateError naming the file and key for a missing, unknown or malformed entry.
    """
    return load_language_files(
        directory if directory is not None else resources.path("reminders"),
        language,
        read=_read_file,
        build=_templates,
        cache=_cache,
        lock=_cache_lock,
    )


def _templates(language: str, base: dict[str, Any], own: dict[str, Any]) -> ReminderTemplates:
    fallback: set[str] = set()
    strings = merged_strings(STRING_KEYS, base, own, fallback)
    return ReminderTemplates(
        language=language,
        reviewed=bool(own["reviewed"]),
        strings=strings,
        fallback_keys=frozenset(fallback),
    )


def clear_reminder_cache() -> None:
    """Forget parsed reminder texts, e.g. after new ones arrived with a sync."""
    with _cache_lock:
        _cache.clear()


def _read_file(path: Path, language: str, complete: bool) -> dict[str, Any]:
    data = read_template_file(
        path,
        language,
        top_keys=_TOP_KEYS,
        required=("language", "reviewed", "strings"),
        string_keys=STRING_KEYS,
        extra_fields=_EXTRA_FIELDS,
        complete=complete,
    )
    return {"reviewed": data["reviewed"], "strings": data["strings"]}


@frozen
class _ReminderText:
    """One reminder page's text, placeholders filled in and NFC-normalised."""

    title: str
    greeting: str
    address: str
    intro: str
    people: tuple[tuple[str, str, bool], ...]  # name, card line, lapsed
    amount_intro: str
    amount: str
    note: str
    call_to_action: str
    agent: str
    thanks: str
    notice: str | None

    @classmethod
    def build(cls, reminder: ReminderData, templates: ReminderTemplates) -> _ReminderText:
        s = templates.strings
        values = {
            "household_head": nfc(reminder.household_head).strip(),
            "village": nfc(reminder.village).strip(),
            "commune": nfc(reminder.commune_name).strip(),
            "agent_name": nfc(reminder.agent_name).strip(),
            "agent_phone": nfc(reminder.agent_phone).strip(),
        }

        def fill(text: str, **extra: object) -> str:
            return text.format_map({**values, **{k: str(v) for k, v in extra.items()}})

        people = tuple(
            (
                nfc(person.name).strip(),
                fill(
                    s["card_ended"] if person.lapsed else s["card_ends"],
                    date=person.card_valid_to.strftime("%d/%m/%Y"),
                    wait_days=reminder.wait_days,
                ),
                person.lapsed,
            )
            for person in reminder.people
        )
        return cls(
            title=fill(s["title"]),
            greeting=fill(s["greeting"]),
            address=fill(s["address_line"]),
            intro=fill(s["intro"]),
            people=people,
            amount_intro=fill(s["amount_intro"], months=reminder.months, count=len(people)),
            amount=format_vnd(reminder.amount),
            note=fill(s["amount_note"]),
            call_to_action=fill(s["call_to_action"]),
            agent=fill(s["agent_line"]),
            thanks=fill(s["thanks"]),
            notice=None if templates.reviewed else UNREVIEWED_NOTICE,
        )


def render_reminders(
    reminders: Sequence[ReminderData],
    *,
    on_progress: Callable[[int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> bytes:
    """All reminders as one PDF, one A5 page per household, in the order given.

    on_progress(done, total) is called after each page; when should_cancel() turns true the
    work stops with Cancelled and no PDF bytes are returned.
    """
    from reportlab.pdfgen.canvas import Canvas

    register_fonts()
    total = len(reminders)
    for reminder in reminders:
        if not reminder.people:
            raise ValueError("a renewal reminder names at least one person")
        load_reminder_templates(reminder.language)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(_PAGE_W, _PAGE_H), pageCompression=1)
    canvas.setTitle("Nhắc gia hạn thẻ bảo hiểm y tế")
    canvas.setCreator("fieldapp")
    for done, reminder in enumerate(reminders):
        if should_cancel is not None and should_cancel():
            raise Cancelled(done, total)
        page = _ReminderText.build(reminder, load_reminder_templates(reminder.language))
        _draw_page(canvas, page)
        canvas.showPage()
        if on_progress is not None:
            on_progress(done + 1, total)
    if should_cancel is not None and should_cancel():
        raise Cancelled(total, total)
    canvas.save()
    return buffer.getvalue()


def _draw_page(canvas: Canvas, page: _ReminderText) -> None:
    # A household with many people due shrinks the text a little instead of running off.
    scale = 1.0
    pen = Pen()
    while _layout(pen, page, scale) > _PAGE_H - _MARGIN and scale > 0.6:
        scale -= 0.04
        pen = Pen()
    pen.replay(canvas, _PAGE_H)


def _layout(pen: Pen, page: _ReminderText, scale: float) -> float:
    """Lay one reminder page out; returns the lowest y used."""
    left, inner = _MARGIN, _PAGE_W - 2 * _MARGIN
    body = 10.4 * scale
    small = 7.8 * scale
    head = 11.4 * scale
    title_size = 16.0 * scale
    gap = body * 0.6

    pad = float(4 * mm * scale)
    under_title = pen.mark()
    band_h = pen.paragraph(left, pad, inner, page.title, BOLD, title_size, color=WHITE) + 2 * pad
    pen.rect(0, 0, _PAGE_W, band_h, stroke=None, fill=BLUE, at=under_title)
    y = band_h + gap * 1.6

    y += pen.paragraph(left, y, inner, page.greeting, BOLD, head)
    y += pen.paragraph(left, y, inner, page.address, REGULAR, small, color=GREY)
    y += gap
    y += pen.paragraph(left, y, inner, page.intro, REGULAR, body)
    y += gap * 0.8

    indent = body * 1.4
    for name, card, lapsed in page.people:
        pen.line(left + body * 0.3, y, "•", BOLD, body, color=BLUE)
        y += pen.paragraph(left + indent, y, inner - indent, name, BOLD, body)
        y += pen.paragraph(
            left + indent,
            y,
            inner - indent,
            card,
            REGULAR,
            body,
            color=DARK_RED if lapsed else BLUE,
        )
        y += gap * 0.5
    y += gap

    # The amount in a pale box of its own: the figure the household needs to have ready.
    under_box = pen.mark()
    box_pad = body * 0.8
    top = y
    y += box_pad
    y += pen.paragraph(left + box_pad, y, inner - 2 * box_pad, page.amount_intro, REGULAR, body)
    y += body * 0.2
    y += pen.paragraph(
        left + box_pad, y, inner - 2 * box_pad, page.amount, BOLD, head * 1.5, color=BLUE
    )
    y += box_pad * 0.6
    pen.rect(left, top, inner, y - top, stroke=BLUE, fill=PALE_BLUE, line_width=1.0, at=under_box)
    y += gap * 0.6
    y += pen.paragraph(left, y, inner, page.note, REGULAR, small, color=GREY)
    y += gap * 1.4

    y += pen.paragraph(left, y, inner, page.call_to_action, REGULAR, body)
    y += gap * 0.6
    y += pen.paragraph(left, y, inner, page.agent, BOLD, body)
    y += gap * 0.6
    y += pen.paragraph(left, y, inner, page.thanks, REGULAR, body)
    if page.notice:
        y += gap * 0.8
        y += pen.paragraph(left, y, inner, page.notice, REGULAR, small * 0.95, color=GREY)
    return y
