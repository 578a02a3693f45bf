"""/web/targets: monthly targets per agent (sent to their laptops), per commune and per village,
set by form or from an uploaded XLSX sheet, with the month's progress beside them.

The sheet (a template is offered at /web/targets/template.xlsx) has one header row —
Tháng | Xã | Thôn/bản | Nhân viên thu | Chương trình | Chỉ tiêu — and one target a row:
the month as YYYY-MM or MM/YYYY; the commune's 5-digit code; the village (blank: the whole
commune); the agent's name or id (blank unless the target is the agent's, and then the village
stays blank); the scheme (BHYT or BHXH); a whole number from 0. Either every row is applied, in
one transaction, or none is, and every bad row is listed with its reason.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from functools import partial
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from sqlalchemy.engine import Connection
from starlette.datastructures import UploadFile

from sync.protocol.fields import NAME_LENGTH
from sync.protocol.frozen import frozen, kept_dataclass
from sync.server import admin
from sync.server.devices import agent_name_and_communes
from sync.server.errors import ServerError
from sync.server.schema import agent_communes, area_targets, households
from sync.server.web import auth, overview
from sync.server.web.books_pages import thousands
from sync.server.web.routes import (
    PREFIX,
    Login,
    Month,
    PageError,
    PageKit,
    Signed,
    log_action,
    render,
)
from sync.server.web.scope import Communes, OutOfScope, in_scope

MAX_UPLOAD = 2 * 1024 * 1024
# Multipart framing and the other fields around the file.
_MAX_BODY = MAX_UPLOAD + 16 * 1024
# What the workbook may unpack to: a 2 MB zip of XML can otherwise expand a thousandfold.
MAX_UNPACKED = 40 * 1024 * 1024
MAX_ROWS = 5_000
MAX_CELL = NAME_LENGTH
MAX_COUNT = admin.MAX_TARGET_COUNT
FIRST_YEAR, LAST_YEAR = 2000, 2100
HEADERS = ("Tháng", "Xã", "Thôn/bản", "Nhân viên thu", "Chương trình", "Chỉ tiêu")
# Errors listed on the page after an upload; past this many the rest are only counted.
SHOWN_ERRORS = 200
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_MONTH_ISO = re.compile(r"^(\d{4})-(\d{1,2})$")
_MONTH_VN = re.compile(r"^(\d{1,2})[/.-](\d{4})$")
_COMMUNE = re.compile(r"^\d{5}$")
SCHEME_CODES = {
    "bhyt": "bhyt_household",
    "bhyt_household": "bhyt_household",
    "bhyt hộ gia đình": "bhyt_household",
    "bhxh": "bhxh_voluntary",
    "bhxh_voluntary": "bhxh_voluntary",
    "bhxh tự nguyện": "bhxh_voluntary",
}
# admin.set_target takes the short codes.
SHORT_SCHEME = {"bhyt_household": "bhyt", "bhxh_voluntary": "bhxh"}
Saved = Annotated[str | None, Query(max_length=16)]


class BadValue(ValueError):
    """One value of a form or a sheet row that cannot be taken; the message is Vietnamese."""


def _text(value: object) -> str:
    """A cell or field as clean text: NFC (keyboards may send NFD), runs of spaces as one."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFC", str(value))
    text = " ".join(text.split())
    if len(text) > MAX_CELL:
        raise BadValue(f"ô dài quá {MAX_CELL} ký tự")
    return text


def parse_month(value: object) -> str:
    """YYYY-MM from 2026-12, 12/2026 or a date cell."""
    if isinstance(value, dt.datetime | dt.date):
        year, month = value.year, value.month
    else:
        text = _text(value)
        if not text:
            raise BadValue("thiếu tháng")
        iso, vn = _MONTH_ISO.match(text), _MONTH_VN.match(text)
        if iso:
            year, month = int(iso.group(1)), int(iso.group(2))
        elif vn:
            year, month = int(vn.group(2)), int(vn.group(1))
        else:
            raise BadValue(f"tháng “{text}” không hợp lệ (ghi YYYY-MM hoặc MM/YYYY)")
    if not (FIRST_YEAR <= year <= LAST_YEAR and 1 <= month <= 12):
        raise BadValue(f"tháng {month:02d}/{year} không hợp lệ")
    return f"{year:04d}-{month:02d}"


def parse_scheme(value: object) -> str:
    text = _text(value)
    if not text:
        raise BadValue("thiếu chương trình (BHYT hoặc BHXH)")
    scheme = SCHEME_CODES.get(text.casefold())
    if scheme is None:
        raise BadValue(f"chương trình “{text}” không hợp lệ (ghi BHYT hoặc BHXH)")
    return scheme


def parse_count(value: object) -> int:
    if isinstance(value, bool):
        raise BadValue("chỉ tiêu phải là số nguyên")
    if isinstance(value, int):
        count = value
    elif isinstance(value, float) and value.is_integer():
        count = int(value)
    else:
        text = _text(value).replace(" ", "")
        if not text:
            # A formula cell reads as empty too: the sheet keeps no value computed for it.
            raise BadValue("thiếu chỉ tiêu (ô trống, hoặc công thức thay vì con số)")
        if not re.fullmatch(r"-?\d{1,9}", text):
            raise BadValue(f"chỉ tiêu “{text}” phải là số nguyên")
        count = int(text)
    if not 0 <= count <= MAX_COUNT:
        raise BadValue(f"chỉ tiêu {count} phải từ 0 đến {thousands(MAX_COUNT)}")
    return count


def parse_commune(value: object) -> str:
    # A spreadsheet turns 04001 into the number 4001.
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 < value < 100_000
        and float(value).is_integer()
    ):
        value = f"{int(value):05d}"
    text = _text(value)
    if not _COMMUNE.match(text):
        raise BadValue(f"mã xã “{text}” phải gồm 5 chữ số")
    return text


@frozen
class AgentTarget:
    agent_id: str
    agent_name: str
    communes: tuple[str, ...]
    scheme: str
    month: str
    count: int


@frozen
class AreaTarget:
    commune_code: str
    village: str
    scheme: str
    month: str
    count: int


Planned = AgentTarget | AreaTarget


@frozen
class RowError:
    line: int
    reason: str


class SheetRefused(Exception):
    """The uploaded sheet has bad rows: nothing was stored."""

    def __init__(self, errors: list[RowError], rows: int) -> None:
        super().__init__(f"{len(errors)} bad rows")
        self.errors = errors
        self.rows = rows


@kept_dataclass
class Area:
    """Who may be named in a target: the visible agents and the communes in scope."""

    agents: list[overview.AgentRow]
    communes: list[str]

    def agent(self, text: str) -> overview.AgentRow:
        wanted = text.casefold()
        by_id = [a for a in self.agents if a.id == text.lower()]
        named = by_id or [a for a in self.agents if a.name.casefold() == wanted]
        if not named:
            raise BadValue(f"không có nhân viên thu “{text}” trong địa bàn của bạn")
        if len(named) > 1:
            raise BadValue(f"có {len(named)} nhân viên thu tên “{text}”: hãy ghi mã nhân viên")
        return named[0]

    def commune(self, code: str) -> str:
        if code not in self.communes:
            raise BadValue(f"xã {code} không thuộc địa bàn của bạn hoặc chưa có trong hệ thống")
        return code


def area_of(conn: Connection, communes: Communes, kit: PageKit) -> Area:
    known = set(
        conn.execute(
            sa.select(agent_communes.c.commune_code).where(
                in_scope(agent_communes.c.commune_code, communes)
            )
        ).scalars()
    )
    known |= set(
        conn.execute(
            sa.select(households.c.commune_code)
            .where(in_scope(households.c.commune_code, communes))
            .distinct()
        ).scalars()
    )
    if communes is not None:
        known |= set(communes)
    return Area(overview.agents_in_scope(conn, communes, kit.clock), sorted(known))


def plan_row(area: Area, cells: tuple[object, ...]) -> Planned:
    """One sheet row as the target it sets (BadValue says why it cannot)."""
    month_cell, commune_cell, village_cell, agent_cell, scheme_cell, count_cell = cells
    month = parse_month(month_cell)
    scheme = parse_scheme(scheme_cell)
    count = parse_count(count_cell)
    village = _text(village_cell)
    agent_text = _text(agent_cell)
    if agent_text:
        agent = area.agent(agent_text)
        if village:
            raise BadValue("chỉ tiêu của nhân viên thu không ghi thôn/bản")
        if _text(commune_cell) and parse_commune(commune_cell) not in agent.communes:
            raise BadValue(f"nhân viên thu {agent.name} không phụ trách xã {_text(commune_cell)}")
        return AgentTarget(agent.id, agent.name, tuple(agent.communes), scheme, month, count)
    if not _text(commune_cell):
        raise BadValue("cần mã xã (hoặc tên nhân viên thu)")
    commune = area.commune(parse_commune(commune_cell))
    return AreaTarget(commune, village, scheme, month, count)


def _key(target: Planned) -> tuple[str, ...]:
    if isinstance(target, AgentTarget):
        return ("agent", target.agent_id, target.scheme, target.month)
    return (
        "area",
        target.commune_code,
        target.village.casefold(),
        target.scheme,
        target.month,
    )


def plan_sheet(area: Area, rows: Iterable[tuple[int, tuple[object, ...]]]) -> list[Planned]:
    """Every row's target, or SheetRefused listing every bad row (and a row repeated)."""
    planned: list[Planned] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, ...], int] = {}
    count = 0
    for line, cells in rows:
        count += 1
        try:
            target = plan_row(area, cells)
        except BadValue as exc:
            errors.append(RowError(line, str(exc)))
            continue
        earlier = seen.setdefault(_key(target), line)
        if earlier != line:
            errors.append(RowError(line, f"trùng với dòng {earlier}"))
            continue
        planned.append(target)
    if errors:
        raise SheetRefused(errors, count)
    if not planned:
        raise PageError(400, "Bảng tính không có dòng chỉ tiêu nào dưới dòng tiêu đề.")
    return planned


def read_sheet(raw: bytes) -> list[tuple[int, tuple[object, ...]]]:
    """The data rows of the first sheet, (line number, six cells); blank rows are skipped."""
    bad_file = PageError(400, "Tệp không phải bảng tính Excel (.xlsx) đọc được.")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise bad_file from None
    if len(members) > 200 or sum(m.file_size for m in members) > MAX_UNPACKED:
        raise PageError(400, "Bảng tính giải nén ra quá lớn: hãy chỉ để lại trang chỉ tiêu.")
    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a broken or foreign file
        raise bad_file from None
    try:
        if not book.worksheets:
            raise bad_file
        sheet = book.worksheets[0]
        lines = sheet.iter_rows(max_col=len(HEADERS), values_only=True)
        try:
            header = next(lines, None)
            found = tuple(_text(c).casefold() for c in (header or ()))
            if found != tuple(h.casefold() for h in HEADERS):
                raise PageError(
                    400,
                    "Dòng đầu của bảng tính phải là các cột: "
                    + " | ".join(HEADERS)
                    + ". Hãy dùng tệp mẫu.",
                )
            rows: list[tuple[int, tuple[object, ...]]] = []
            for line, cells in enumerate(lines, start=2):
                padded = tuple(cells) + (None,) * (len(HEADERS) - len(cells))
                if all(c is None or (isinstance(c, str) and not c.strip()) for c in padded):
                    continue
                if len(rows) == MAX_ROWS:
                    raise PageError(400, f"Bảng tính có quá {thousands(MAX_ROWS)} dòng chỉ tiêu.")
                rows.append((line, padded))
        except (PageError, BadValue):
            raise
        except Exception:
            raise bad_file from None
        return rows
    finally:
        book.close()


def template_xlsx() -> bytes:
    """The sheet to fill in (headers only) and a second sheet explaining each column."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Chỉ tiêu"
    sheet.append(list(HEADERS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for letter, width in zip("ABCDEF", (10, 8, 24, 26, 14, 10), strict=True):
        sheet.column_dimensions[letter].width = width
    # Text columns stay text, so 04001 keeps its leading zero.
    for letter in "ABCD":
        sheet.column_dimensions[letter].number_format = "@"
    sheet.freeze_panes = "A2"
    guide = book.create_sheet("Hướng dẫn")
    for line in (
        ("Cột", "Cách ghi"),
        ("Tháng", "YYYY-MM (2026-12) hoặc MM/YYYY (12/2026)"),
        ("Xã", "Mã xã 5 chữ số (04001)"),
        ("Thôn/bản", "Để trống: chỉ tiêu của cả xã"),
        ("Nhân viên thu", "Tên hoặc mã nhân viên: chỉ tiêu của riêng người đó (thôn/bản để trống)"),
        ("Chương trình", "BHYT (BHYT hộ gia đình) hoặc BHXH (BHXH tự nguyện)"),
        ("Chỉ tiêu", f"Số người tham gia mới, số nguyên từ 0 đến {thousands(MAX_COUNT)}"),
        (
            "",
            f"Tối đa {thousands(MAX_ROWS)} dòng, tệp tối đa 2 MB."
            " Một dòng sai thì cả tệp không được lưu.",
        ),
        ("Ví dụ", "2026-12 | 04001 | Bản Phố | | BHYT | 30"),
        ("Ví dụ", "12/2026 | 04001 | | Nguyễn Thị Lan | BHXH | 5"),
    ):
        guide.append(list(line))
    guide.column_dimensions["A"].width = 16
    guide.column_dimensions["B"].width = 80
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def read_upload(request: Request, login: Login) -> tuple[str, bytes]:
    """The uploaded file's name and bytes from a multipart form whose CSRF token must match;
    the body is read with a cap before any of it is parsed."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise PageError(400, "Hãy chọn tệp bảng tính rồi bấm Tải lên.")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_BODY:
            raise PageError(400, "Tệp quá lớn: tối đa 2 MB.")
    body = bytes(raw)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(
            max_files=1, max_fields=4, max_part_size=64 * 1024
        )
    except Exception:  # a malformed multipart body
        raise PageError(400, "Không đọc được tệp gửi lên.") from None
    try:
        sent = form.get("csrf")
        if not isinstance(sent, str) or not auth.csrf_ok(login.token, sent):
            raise PageError(403, "Phiên làm việc không hợp lệ (thiếu mã CSRF). Hãy tải lại trang.")
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise PageError(400, "Hãy chọn tệp bảng tính (.xlsx) để tải lên.")
        data = await upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise PageError(400, "Tệp quá lớn: tối đa 2 MB.")
        if not data:
            raise PageError(400, "Tệp trống.")
        return _text(upload.filename[:255])[:128], data
    finally:
        await form.close()


@frozen
class AreaRow:
    commune_code: str
    village: str
    scheme: str
    count: int
    achieved: int
    set_by: str
    updated_at: str

    @property
    def percent(self) -> int | None:
        return round(100 * self.achieved / self.count) if self.count else None


def area_rows(
    conn: Connection, communes: Communes, month: str, progress: overview.Progress
) -> list[AreaRow]:
    """The month's commune and village targets in scope, with what was achieved there."""
    achieved = {(p.key, p.scheme): p.achieved for p in progress.communes}
    for p in progress.villages:
        commune, village = p.key.split("|", 1)
        key = (f"{commune}|{' '.join(village.split()).casefold()}", p.scheme)
        achieved[key] = achieved.get(key, 0) + p.achieved
    rows = conn.execute(
        sa.select(area_targets)
        .where(area_targets.c.month == month, in_scope(area_targets.c.commune_code, communes))
        .order_by(area_targets.c.commune_code, area_targets.c.village, area_targets.c.scheme)
    ).all()
    out = []
    for r in rows:
        key = r.commune_code if not r.village else f"{r.commune_code}|{r.village.casefold()}"
        out.append(
            AreaRow(
                r.commune_code,
                r.village,
                r.scheme,
                int(r._mapping["count"]),
                achieved.get((key, r.scheme), 0),
                r.set_by,
                r.updated_at,
            )
        )
    return out


def apply(conn: Connection, login: Login, kit: PageKit, target: Planned) -> None:
    """Store one target (an agent's also goes to their laptops)."""
    if isinstance(target, AgentTarget):
        admin.set_target(
            conn,
            agent_id=target.agent_id,
            scheme=SHORT_SCHEME[target.scheme],
            month=target.month,
            count=target.count,
            clock=kit.clock,
        )
    else:
        admin.set_area_target(
            conn,
            commune_code=target.commune_code,
            village=target.village,
            scheme=target.scheme,
            month=target.month,
            count=target.count,
            set_by=login.supervisor.username,
            clock=kit.clock,
        )


def sentence(exc: BadValue) -> str:
    """A row's reason as a sentence of its own."""
    message = str(exc)
    return message[:1].upper() + message[1:] + "."


def _bad(exc: BadValue) -> PageError:
    return PageError(400, sentence(exc))


def add_routes(router: APIRouter, kit: PageKit) -> None:
    def chosen_month(month: str | None) -> str:
        try:
            return parse_month(month) if month else overview.month_of(kit.clock)
        except BadValue:
            return overview.month_of(kit.clock)

    def targets_page(
        request: Request,
        login: Login,
        month: str,
        *,
        saved: str = "",
        errors: SheetRefused | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        def load(conn: Connection) -> dict[str, Any]:
            progress = overview.progress(conn, login.communes, month, kit.clock)
            area = area_of(conn, login.communes, kit)
            return {
                # Each agent's schemes together (in the usual order), agents by name.
                "agent_rows": sorted(progress.agents, key=lambda r: (r.label, r.key)),
                "area_rows": area_rows(conn, login.communes, month, progress),
                "agents": area.agents,
                "communes": area.communes,
            }

        data = kit.db(load)
        context = {
            **data,
            "month": month,
            "month_label": f"{month[5:]}/{month[:4]}",
            "saved": saved,
            "errors": errors.errors[:SHOWN_ERRORS] if errors else [],
            "more_errors": max(len(errors.errors) - SHOWN_ERRORS, 0) if errors else 0,
            "error_rows": errors.rows if errors else 0,
            "headers": HEADERS,
            "max_count": thousands(MAX_COUNT),
            "max_rows": thousands(MAX_ROWS),
            "nav": "targets",
        }
        return render(request, "targets.html", context, login=login, status=status)

    @router.get(f"{PREFIX}/targets")
    def targets(
        request: Request, login: Signed, month: Month = None, saved: Saved = None
    ) -> HTMLResponse:
        shown = saved if saved and saved.isdigit() else ""
        return targets_page(request, login, chosen_month(month), saved=shown)

    def form_values(form: dict[str, str]) -> tuple[str, str, int]:
        try:
            return (
                parse_month(form.get("month", "")[:32]),
                parse_scheme(form.get("scheme", "")[:32]),
                parse_count(form.get("count", "")[:32]),
            )
        except BadValue as exc:
            raise _bad(exc) from None

    def done(month: str, saved: int) -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/targets?month={month}&saved={saved}", status_code=303)

    @router.post(f"{PREFIX}/targets/agent")
    async def agent_target(request: Request, login: Signed) -> RedirectResponse:
        form = await kit.checked_form(request, login)
        agent_id = form.get("agent_id", "")[:64]
        month, scheme, count = form_values(form)

        def save(conn: Connection) -> None:
            overview.require_agent(conn, agent_id, login.communes)
            name, agent_communes_ = agent_name_and_communes(conn, agent_id)
            target = AgentTarget(agent_id, name, tuple(agent_communes_), scheme, month, count)
            apply(conn, login, kit, target)
            log_action(
                conn,
                login,
                kit.clock,
                "target_set",
                target=agent_id,
                communes=agent_communes_,
                detail={"agent": name, "scheme": scheme, "month": month, "count": count},
            )

        await run_in_threadpool(kit.db, save)
        return done(month, 1)

    @router.post(f"{PREFIX}/targets/area")
    async def area_target(request: Request, login: Signed) -> RedirectResponse:
        form = await kit.checked_form(request, login)
        month, scheme, count = form_values(form)
        try:
            commune = parse_commune(form.get("commune_code", "")[:32])
            village = _text(form.get("village", "")[: MAX_CELL * 4])
        except BadValue as exc:
            raise _bad(exc) from None

        def save(conn: Connection) -> None:
            if login.communes is not None and commune not in login.communes:
                raise OutOfScope()
            try:
                area_of(conn, login.communes, kit).commune(commune)
            except BadValue as exc:
                raise ServerError(sentence(exc), "Unknown commune", code="bad_value") from None
            apply(conn, login, kit, AreaTarget(commune, village, scheme, month, count))
            log_action(
                conn,
                login,
                kit.clock,
                "target_set",
                target=f"{commune}/{village}" if village else commune,
                communes=[commune],
                detail={"village": village, "scheme": scheme, "month": month, "count": count},
            )

        await run_in_threadpool(kit.db, save)
        return done(month, 1)

    @router.post(f"{PREFIX}/targets/upload", response_model=None)
    async def upload(request: Request, login: Signed) -> Response:
        filename, data = await read_upload(request, login)
        rows = await run_in_threadpool(read_sheet, data)

        def save(conn: Connection) -> list[Planned]:
            planned = plan_sheet(area_of(conn, login.communes, kit), rows)
            touched: set[str] = set()
            for target in planned:
                apply(conn, login, kit, target)
                if isinstance(target, AgentTarget):
                    touched.update(target.communes)
                else:
                    touched.add(target.commune_code)
            log_action(
                conn,
                login,
                kit.clock,
                "targets_upload",
                target=filename,
                communes=sorted(touched),
                detail={
                    "file": filename,
                    "rows": len(planned),
                    "agent_targets": sum(isinstance(t, AgentTarget) for t in planned),
                    "area_targets": sum(isinstance(t, AreaTarget) for t in planned),
                },
            )
            return planned

        try:
            planned = await run_in_threadpool(kit.db, save)
        except SheetRefused as refused:
            month = chosen_month(request.query_params.get("month"))
            return await run_in_threadpool(
                partial(targets_page, request, login, month, errors=refused, status=400)
            )
        return done(planned[0].month, len(planned))

    @router.get(f"{PREFIX}/targets/template.xlsx")
    def template(login: Signed) -> Response:
        return Response(
            template_xlsx(),
            media_type=XLSX,
            headers={
                "Content-Disposition": 'attachment; filename="mau-chi-tieu.xlsx"',
                "Cache-Control": "no-store",
            },
        )
