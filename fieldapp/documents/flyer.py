"""Household flyers: one A5 page per household from per-language templates, a village per PDF.

A5 rather than A4: a flyer is handed over with the receipt and kept folded in the household's
papers, the text fits on half a sheet at a size older people can read, and a village of 500
households prints on 250 A4 sheets with the print dialog's "2 pages per sheet" and a cut.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import string
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

# Units only: the PDF machinery is imported where a PDF is drawn (see render_flyers).
from reportlab.lib.units import mm

import resources
from fieldapp.documents.fonts import (
    BOLD,
    LEADING,
    REGULAR,
    Align,
    Pen,
    line_count,
    missing_glyphs,
    register_fonts,
    width,
)
from fieldapp.text import nfc
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen
from sync.protocol.labels import AUDIENCES
from sync.protocol.money import format_vnd

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

# The groups a flyer speaks to: every template has a text for each.
T = TypeVar("T")

AUDIENCE_GROUPS = tuple(AUDIENCES)
BASE_LANGUAGE = "vi"
UNREVIEWED_NOTICE = (
    "Bản dịch chưa được người bản ngữ kiểm tra / Translation not reviewed by a native speaker"
)

STRING_KEYS = (
    "greeting",
    "address_line",
    "members_label",
    "bhyt_heading",
    "bhyt_benefits_label",
    "bhyt_table_intro",
    "bhyt_period_col",
    "bhyt_amount_col",
    "months",
    "bhxh_heading",
    "bhxh_benefits_label",
    "bhxh_table_intro",
    "bhxh_option_col",
    "bhxh_monthly_col",
    "bhxh_yearly_col",
    "bhxh_lump_col",
    "amounts_note",
    "agent_line",
    "next_visit_line",
    "thanks",
)
GROUP_TEXT_KEYS = ("title", "intro", "call_to_action")
GROUP_LIST_KEYS = ("bhyt_benefits", "bhxh_benefits")
_TOP_KEYS = {"language", "name", "reviewed", "notes", "strings", "groups"}

# Placeholders any string may use, and the extra ones only a particular string gets filled
# with; anything else is a typo that would print as "{...}" on paper.
_COMMON_FIELDS = {"household_head", "village", "commune", "agent_name", "agent_phone"}
_EXTRA_FIELDS = {
    "months": {"months"},
    "bhyt_table_intro": {"member_count"},
    "next_visit_line": {"next_visit"},
}
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")

_PAGE_W, _PAGE_H = 148 * mm, 210 * mm
_MARGIN = 10 * mm

BLUE = (0.0, 0.33, 0.62)
PALE_BLUE = (0.9, 0.94, 0.98)
GREY = (0.38, 0.38, 0.38)
WHITE = (1.0, 1.0, 1.0)
RULE = (0.55, 0.6, 0.68)


class TemplateError(FieldappError):
    """A flyer template file that cannot be used; names the file and the key."""

    def __init__(self, path: Path, key: str, problem_vi: str, problem_en: str) -> None:
        self.path = path
        self.key = key
        super().__init__(
            f"Mẫu tờ rơi {path}: mục '{key}' {problem_vi}",
            f"Flyer template {path}: key '{key}' {problem_en}",
            code="flyer_template",
        )


class Cancelled(FieldappError):
    """Flyer printing was cancelled; no PDF was produced."""

    def __init__(self, done: int, total: int) -> None:
        self.done = done
        self.total = total
        super().__init__(
            f"Đã huỷ in tờ rơi ({done}/{total} trang đã dựng, không lưu tệp nào)",
            f"Flyer printing cancelled ({done}/{total} pages laid out, nothing saved)",
            code="cancelled",
        )


@frozen
class BhxhOption:
    """One row of the BHXH tự nguyện table: what one person pays at a chosen income."""

    label: str
    monthly_payable: int
    yearly_payable: int
    lump_5y_payable: int | None = None


@frozen
class FlyerData:
    """One household's flyer; every amount is already computed by the calculator."""

    household_head: str
    village: str
    commune_name: str
    group: str
    language: str
    members: Sequence[str]
    bhyt_amounts: Mapping[int, int]
    bhxh_options: Sequence[BhxhOption]
    agent_name: str
    agent_phone: str
    next_visit: dt.date | None = None
    seasonal_income: bool = False


@frozen
class GroupTemplate:
    """The texts of one audience group."""

    title: str
    intro: str
    bhyt_benefits: tuple[str, ...]
    bhxh_benefits: tuple[str, ...]
    call_to_action: str


@frozen
class FlyerTemplates:
    """A language's templates with every missing string filled in from Vietnamese."""

    language: str
    reviewed: bool
    strings: Mapping[str, str]
    groups: Mapping[str, GroupTemplate]
    fallback_keys: frozenset[str] = field(default_factory=frozenset)


_cache: dict[tuple[str, Path], FlyerTemplates] = {}
_cache_lock = threading.Lock()


def load_flyer_templates(language: str, *, directory: Path | None = None) -> FlyerTemplates:
    """Templates of a language (vi when there is no file for it), validated and cached.

    Raises TemplateError naming the file and key for a missing, unknown or malformed entry.
    """
    return load_language_files(
        directory if directory is not None else resources.path("flyers"),
        language,
        read=_read_file,
        build=_merge,
        cache=_cache,
        lock=_cache_lock,
    )


def load_language_files(
    folder: Path,
    language: str,
    *,
    read: Callable[[Path, str, bool], dict[str, Any]],
    build: Callable[[str, dict[str, Any], dict[str, Any]], T],
    cache: dict[tuple[str, Path], T],
    lock: threading.Lock,
) -> T:
    """A language's templates from `folder`: the Vietnamese file (complete) and the
    language's own (which may leave strings out), read with `read`, joined with `build` and
    cached per language and folder. Flyers and renewal reminders both load this way."""
    if not _LANGUAGE_RE.match(language):
        raise ValueError(f"not a language code: {language!r}")
    key = (language, folder)
    with lock:
        cached = cache.get(key)
    if cached is not None:
        return cached
    base = read(folder / f"{BASE_LANGUAGE}.json", BASE_LANGUAGE, True)
    own_path = folder / f"{language}.json"
    if language == BASE_LANGUAGE or not own_path.exists():
        own = base
    else:
        own = read(own_path, language, False)
    templates = build(language, base, own)
    with lock:
        cache[key] = templates
    return templates


def clear_template_cache() -> None:
    """Forget parsed templates, e.g. after new ones arrived with a sync."""
    with _cache_lock:
        _cache.clear()


def _read_file(path: Path, language: str, complete: bool) -> dict[str, Any]:
    data = read_template_file(
        path,
        language,
        top_keys=_TOP_KEYS,
        required=("language", "reviewed", "strings", "groups"),
        string_keys=STRING_KEYS,
        extra_fields=_EXTRA_FIELDS,
        complete=complete,
    )
    groups = _check_section(path, data["data"]["groups"], "groups")
    for group, entry in groups.items():
        if group not in AUDIENCE_GROUPS:
            raise TemplateError(
                path, f"groups.{group}", "không phải nhóm đối tượng", "is not an audience group"
            )
        groups[group] = _check_group(path, group, entry, complete=complete)
    if complete:
        for group in AUDIENCE_GROUPS:
            if group not in groups:
                raise TemplateError(path, f"groups.{group}", "bị thiếu", "is missing")
    return {"reviewed": data["reviewed"], "strings": data["strings"], "groups": groups}


def read_template_file(
    path: Path,
    language: str,
    *,
    top_keys: set[str],
    required: Sequence[str],
    string_keys: Sequence[str],
    extra_fields: Mapping[str, set[str]],
    complete: bool,
) -> dict[str, Any]:
    """One language's template file, its common part checked: JSON object, known top keys,
    the language named as in the file name, `reviewed`, and each of `strings` (known, text,
    known placeholders, drawable in our fonts; all of them when `complete`). Returns the
    checked "reviewed" and "strings", and the whole parsed file as "data"."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError(path, "*", "không có tệp", "file is missing") from None
    except json.JSONDecodeError as exc:
        raise TemplateError(
            path, "*", f"không đọc được JSON: {exc}", f"is not valid JSON: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise TemplateError(path, "*", "phải là một đối tượng JSON", "must be a JSON object")
    for name in sorted(set(data) - top_keys):
        raise TemplateError(path, name, "không được biết đến", "is not a known key")
    for name in required:
        if name not in data:
            raise TemplateError(path, name, "bị thiếu", "is missing")
    if data["language"] != language:
        raise TemplateError(
            path, "language", f"phải là '{language}'", f"must be '{language}' like the file name"
        )
    if not isinstance(data["reviewed"], bool):
        raise TemplateError(path, "reviewed", "phải là true/false", "must be true or false")
    strings = _check_section(path, data["strings"], "strings")
    for name, value in strings.items():
        if name not in string_keys:
            raise TemplateError(path, f"strings.{name}", "không được biết đến", "is not known")
        strings[name] = _check_text(path, f"strings.{name}", value, extra_fields.get(name, set()))
    if complete:
        for name in string_keys:
            if name not in strings:
                raise TemplateError(path, f"strings.{name}", "bị thiếu", "is missing")
    return {"reviewed": data["reviewed"], "strings": strings, "data": data}


def merged_strings(
    string_keys: Sequence[str], base: dict[str, Any], own: dict[str, Any], fallback: set[str]
) -> dict[str, str]:
    """The language's own strings, each missing one taken from Vietnamese (and noted)."""
    strings: dict[str, str] = {}
    for name in string_keys:
        if name in own["strings"]:
            strings[name] = own["strings"][name]
        else:
            strings[name] = base["strings"][name]
            fallback.add(f"strings.{name}")
    return strings


def _check_section(path: Path, value: object, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TemplateError(path, key, "phải là một đối tượng", "must be an object")
    return dict(value)


def _check_group(path: Path, group: str, entry: object, *, complete: bool) -> dict[str, Any]:
    where = f"groups.{group}"
    checked = _check_section(path, entry, where)
    for name in sorted(set(checked) - set(GROUP_TEXT_KEYS) - set(GROUP_LIST_KEYS)):
        raise TemplateError(path, f"{where}.{name}", "không được biết đến", "is not known")
    for name in (*GROUP_TEXT_KEYS, *GROUP_LIST_KEYS):
        if name not in checked:
            if complete:
                raise TemplateError(path, f"{where}.{name}", "bị thiếu", "is missing")
            continue
        if name in GROUP_LIST_KEYS:
            items = checked[name]
            if not isinstance(items, list) or not items:
                raise TemplateError(
                    path, f"{where}.{name}", "phải là danh sách có ý", "must be a non-empty list"
                )
            checked[name] = tuple(
                _check_text(path, f"{where}.{name}[{i}]", item, set())
                for i, item in enumerate(items)
            )
        else:
            checked[name] = _check_text(path, f"{where}.{name}", checked[name], set())
    return checked


def _check_text(path: Path, key: str, value: object, extra_fields: set[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TemplateError(path, key, "phải là chữ, không để trống", "must be non-empty text")
    text = nfc(value)
    allowed = _COMMON_FIELDS | extra_fields
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise TemplateError(
            path, key, f"có dấu ngoặc nhọn sai: {exc}", f"has a stray brace: {exc}"
        ) from None
    for name in sorted(fields - allowed):
        raise TemplateError(
            path,
            key,
            f"có chỗ điền không biết: {{{name}}}",
            f"has an unknown placeholder {{{name}}}",
        )
    lacking = missing_glyphs(text) | missing_glyphs(text, BOLD)
    if lacking:
        chars = " ".join(sorted(lacking))
        raise TemplateError(
            path,
            key,
            f"có chữ phông không vẽ được: {chars}",
            f"has letters the font lacks: {chars}",
        )
    return text


def _merge(language: str, base: dict[str, Any], own: dict[str, Any]) -> FlyerTemplates:
    fallback: set[str] = set()
    strings = merged_strings(STRING_KEYS, base, own, fallback)
    groups: dict[str, GroupTemplate] = {}
    for group in AUDIENCE_GROUPS:
        mine = own["groups"].get(group, {})
        values: dict[str, Any] = {}
        for name in (*GROUP_TEXT_KEYS, *GROUP_LIST_KEYS):
            if name in mine:
                values[name] = mine[name]
            else:
                values[name] = base["groups"][group][name]
                fallback.add(f"groups.{group}.{name}")
        groups[group] = GroupTemplate(**values)
    return FlyerTemplates(
        language=language,
        reviewed=bool(own["reviewed"]),
        strings=strings,
        groups=groups,
        fallback_keys=frozenset(fallback) if language != BASE_LANGUAGE else frozenset(),
    )


def render_flyers(
    flyers: Sequence[FlyerData],
    *,
    on_progress: Callable[[int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> bytes:
    """All flyers as one PDF, one A5 page per household, in the order given.

    on_progress(done, total) is called after each page; when should_cancel() turns true the
    work stops with Cancelled and no PDF bytes are returned.
    """
    from reportlab.pdfgen.canvas import Canvas

    register_fonts()
    total = len(flyers)
    # Check every household's group and language before the first page, so a bad template
    # or typo shows up at once rather than after most of a village has been laid out.
    templates: dict[str, FlyerTemplates] = {}
    for flyer in flyers:
        if flyer.group not in AUDIENCE_GROUPS:
            raise ValueError(
                f"unknown audience group {flyer.group!r}; expected one of {AUDIENCE_GROUPS}"
            )
        if flyer.language not in templates:
            templates[flyer.language] = load_flyer_templates(flyer.language)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(_PAGE_W, _PAGE_H), pageCompression=1)
    canvas.setTitle("Tờ rơi BHXH tự nguyện và BHYT hộ gia đình")
    canvas.setCreator("fieldapp")
    for done, flyer in enumerate(flyers):
        if should_cancel is not None and should_cancel():
            raise Cancelled(done, total)
        page = _PageText.build(flyer, templates[flyer.language])
        _draw_page(canvas, page)
        canvas.showPage()
        if on_progress is not None:
            on_progress(done + 1, total)
    if should_cancel is not None and should_cancel():
        raise Cancelled(total, total)
    canvas.save()
    return buffer.getvalue()


@frozen
class _Section:
    """One scheme's part of a page: heading, benefits, and the household's amounts as a table
    (`width` is the table's share of the text column)."""

    heading: str
    label: str
    benefits: tuple[str, ...]
    intro: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    width: float


@frozen
class _PageText:
    """One page's text, placeholders filled in and NFC-normalised."""

    title: str
    greeting: str
    address: str
    intro: str
    members: str
    bhyt: _Section
    bhxh: _Section
    note: str
    call_to_action: str
    agent: str
    next_visit: str | None
    thanks: str
    notice: str | None

    @classmethod
    def build(cls, flyer: FlyerData, templates: FlyerTemplates) -> _PageText:
        s = templates.strings
        group = templates.groups[flyer.group]
        values = {
            "household_head": nfc(flyer.household_head).strip(),
            "village": nfc(flyer.village).strip(),
            "commune": nfc(flyer.commune_name).strip(),
            "agent_name": nfc(flyer.agent_name).strip(),
            "agent_phone": nfc(flyer.agent_phone).strip(),
        }

        def fill(text: str, **extra: object) -> str:
            # Placeholders were checked on load; values are the household's own words.
            return text.format_map({**values, **{k: str(v) for k, v in extra.items()}})

        members = [nfc(name).strip() for name in flyer.members if name.strip()]
        show_lump = flyer.seasonal_income and any(
            option.lump_5y_payable is not None for option in flyer.bhxh_options
        )
        bhxh_header = [s["bhxh_option_col"], s["bhxh_monthly_col"], s["bhxh_yearly_col"]]
        if show_lump:
            bhxh_header.append(s["bhxh_lump_col"])
        bhxh_rows: list[tuple[str, ...]] = []
        for option in flyer.bhxh_options:
            row = [
                nfc(option.label).strip(),
                format_vnd(option.monthly_payable),
                format_vnd(option.yearly_payable),
            ]
            if show_lump:
                lump = option.lump_5y_payable
                row.append("—" if lump is None else format_vnd(lump))
            bhxh_rows.append(tuple(row))
        return cls(
            title=fill(group.title),
            greeting=fill(s["greeting"]),
            address=fill(s["address_line"]),
            intro=fill(group.intro),
            members=f"{s['members_label']}: " + ", ".join(members) if members else "",
            bhyt=_Section(
                s["bhyt_heading"],
                s["bhyt_benefits_label"],
                tuple(fill(item) for item in group.bhyt_benefits),
                fill(s["bhyt_table_intro"], member_count=len(members)),
                (s["bhyt_period_col"], s["bhyt_amount_col"]),
                tuple(
                    (fill(s["months"], months=months), format_vnd(amount))
                    for months, amount in sorted(flyer.bhyt_amounts.items())
                ),
                0.72,
            ),
            bhxh=_Section(
                s["bhxh_heading"],
                s["bhxh_benefits_label"],
                tuple(fill(item) for item in group.bhxh_benefits),
                s["bhxh_table_intro"],
                tuple(bhxh_header),
                tuple(bhxh_rows),
                1.0,
            ),
            note=s["amounts_note"],
            call_to_action=fill(group.call_to_action),
            agent=fill(s["agent_line"]),
            next_visit=(
                fill(s["next_visit_line"], next_visit=flyer.next_visit.strftime("%d/%m/%Y"))
                if flyer.next_visit is not None
                else None
            ),
            thanks=s["thanks"],
            notice=None if templates.reviewed else UNREVIEWED_NOTICE,
        )


def _draw_page(canvas: Canvas, page: _PageText) -> None:
    # Measure first: a long member list or a wordy translation shrinks the page's text
    # a little instead of running off the bottom.
    scale = 1.0
    pen = Pen()
    while _layout(pen, page, scale) > _PAGE_H - _MARGIN and scale > 0.6:
        scale -= 0.04
        pen = Pen()
    pen.replay(canvas, _PAGE_H)


def _layout(pen: Pen, page: _PageText, scale: float) -> float:
    """Lay one flyer page out; returns the lowest y used."""
    left, inner = _MARGIN, _PAGE_W - 2 * _MARGIN
    body = 9.6 * scale
    small = 7.4 * scale
    head = 10.8 * scale
    title_size = 15.0 * scale
    gap = body * 0.55

    # Title band across the top of the page.
    pad = 4 * mm * scale
    under_title = pen.mark()
    band_h = pen.paragraph(left, pad, inner, page.title, BOLD, title_size, color=WHITE) + 2 * pad
    pen.rect(0, 0, _PAGE_W, band_h, stroke=None, fill=BLUE, at=under_title)
    y = band_h + gap * 1.4

    y += pen.paragraph(left, y, inner, page.greeting, BOLD, head)
    y += pen.paragraph(left, y, inner, page.address, REGULAR, small, color=GREY)
    y += gap * 0.6
    y += pen.paragraph(left, y, inner, page.intro, REGULAR, body)
    if page.members:
        y += gap * 0.5
        y += pen.paragraph(left, y, inner, page.members, REGULAR, small * 1.08, color=GREY)
    y += gap * 1.2

    for section, after in ((page.bhyt, 1.4), (page.bhxh, 0.4)):
        y = _section_heading(pen, left, inner, y, section.heading, head)
        y += pen.paragraph(left, y, inner, section.label, BOLD, body * 0.95)
        y = _bullets(pen, left, inner, y, section.benefits, body * 0.95)
        if section.rows:
            y += gap * 0.6
            y += pen.paragraph(left, y, inner, section.intro, REGULAR, body * 0.95)
            y += gap * 0.3
            y = _table(pen, left, inner * section.width, y, section.header, section.rows, body)
        y += gap * after
    y += pen.paragraph(left, y, inner, page.note, REGULAR, small, color=GREY)
    y += gap * 1.2

    y = _contact_box(pen, left, inner, y, page, body)
    if page.notice:
        y += gap * 0.8
        y += pen.paragraph(left, y, inner, page.notice, REGULAR, small * 0.95, color=GREY)
    return y


def _section_heading(
    pen: Pen, left: float, inner: float, top: float, text: str, size: float
) -> float:
    height = pen.paragraph(left, top, inner, text, BOLD, size, color=BLUE)
    y = top + height + size * 0.1
    pen.segment(left, y, left + inner, y, color=BLUE, line_width=1.0)
    return y + size * 0.35


def _bullets(
    pen: Pen, left: float, inner: float, top: float, items: Sequence[str], size: float
) -> float:
    indent = size * 1.3
    y = top
    for item in items:
        pen.line(left + size * 0.3, y, "•", BOLD, size, color=BLUE)
        y += pen.paragraph(left + indent, y, inner - indent, item, REGULAR, size)
    return y


def _table(
    pen: Pen,
    left: float,
    inner: float,
    top: float,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    size: float,
) -> float:
    """A ruled table: a text column on the left, then amount columns right-aligned.

    An amount never wraps ("đ" alone on a line reads as another figure). Headings stay on one
    line while the text column keeps at least 40% of the width; otherwise they wrap at words.
    Width left over is shared out so the table spans the given width.
    """
    pad = size * 0.45
    step = size * LEADING
    narrow: list[float] = []
    natural: list[float] = []
    for column in range(1, len(header)):
        amounts = max((width(row[column], BOLD, size) for row in rows), default=0.0)
        word = max(width(w, BOLD, size) for w in header[column].split())
        narrow.append(max(amounts, word) + 2 * pad)
        natural.append(max(amounts, width(header[column], BOLD, size)) + 2 * pad)
    first_natural = max(
        width(row[0], cell, size) + 2 * pad
        for row, cell in ((header, BOLD), *((row, REGULAR) for row in rows))
    )
    amounts_w = natural if inner - sum(natural) >= inner * 0.4 else narrow
    first = inner - sum(amounts_w)
    if first > first_natural:
        # Everything fits on one line: share the slack out evenly rather than leave a gap.
        share = (first - first_natural) / len(header)
        widths = [first_natural + share, *(w + share for w in amounts_w)]
    else:
        widths = [max(first, inner * 0.25), *amounts_w]

    def cell_font(row: int, column: int) -> str:
        return BOLD if row == 0 or column > 0 else REGULAR

    y = top
    for index, cells in enumerate([header, *rows]):
        counts = [
            line_count(cell, cell_font(index, column), size, w - 2 * pad)
            for column, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        tallest = max(counts)
        h = tallest * step + 1.4 * pad
        fill = PALE_BLUE if index == 0 else None
        pen.rect(left, y, sum(widths), h, stroke=RULE, fill=fill, line_width=0.5)
        x = left
        for w in widths[:-1]:
            x += w
            pen.segment(x, y, x, y + h, color=RULE, line_width=0.5)
        x = left
        for column, (cell, w) in enumerate(zip(cells, widths, strict=True)):
            align: Align = "left" if column == 0 else "right"
            if index == 0 and column > 0:
                align = "centre"
            font = cell_font(index, column)
            # Headings sit in the middle of their row; body cells start at the top.
            drop = (tallest - counts[column]) * step / 2 if index == 0 else 0.0
            pen.paragraph(x + pad, y + pad * 0.7 + drop, w - 2 * pad, cell, font, size, align=align)
            x += w
        y += h
    return y


def _contact_box(
    pen: Pen, left: float, inner: float, top: float, page: _PageText, size: float
) -> float:
    under_box = pen.mark()
    pad = size * 0.8
    x, w = left + pad, inner - 2 * pad
    y = top + pad
    y += pen.paragraph(x, y, w, page.call_to_action, REGULAR, size)
    y += size * 0.35
    y += pen.paragraph(x, y, w, page.agent, BOLD, size)
    if page.next_visit:
        y += pen.paragraph(x, y, w, page.next_visit, BOLD, size, color=BLUE)
    y += size * 0.35
    y += pen.paragraph(x, y, w, page.thanks, REGULAR, size)
    bottom = y + pad
    pen.rect(
        left,
        top,
        inner,
        bottom - top,
        stroke=BLUE,
        fill=PALE_BLUE,
        line_width=1.0,
        radius=size * 0.6,
        at=under_box,
    )
    return bottom
