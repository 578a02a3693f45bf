"""The supervisor pages: routes, session cookie, CSRF checks and page rendering."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Connection, Engine

from sync.protocol.clock import Clock, iso_utc
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen
from sync.protocol.money import format_vnd
from sync.server import audit
from sync.server import devices as device_ops
from sync.server.web import auth, conflicts, coverage, exports, overview, people
from sync.server.web.scope import (
    HANDOVER_LABELS,
    SCHEME_LABELS,
    OutOfScope,
    iso_day,
    local_date,
    local_time,
)

T = TypeVar("T")

HERE = Path(__file__).parent
PREFIX = "/web"
SESSION_COOKIE = "fieldapp_session"
LOGIN_COOKIE = "fieldapp_login"
MAX_FORM = 64 * 1024
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["money"] = format_vnd
templates.env.filters["when"] = local_time
templates.env.filters["day"] = local_date
templates.env.filters["iso_day"] = iso_day
templates.env.filters["percent"] = coverage.percent_text
templates.env.globals["SCHEMES"] = SCHEME_LABELS
templates.env.globals["HANDOVER_LABELS"] = HANDOVER_LABELS

# No script runs on these pages, and nothing is loaded from elsewhere.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class PageError(Exception):
    """A failure shown to the supervisor as a page with a status code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LoginNeeded(Exception):
    """No valid session: the browser is sent to the login page."""


@frozen
class Login:
    """The signed-in supervisor and their session token (from the HttpOnly cookie)."""

    supervisor: auth.Supervisor
    token: str

    @property
    def csrf(self) -> str:
        return auth.csrf_token(self.token)

    @property
    def communes(self) -> frozenset[str] | None:
        return self.supervisor.communes


@frozen
class PageKit:
    """What a group of pages in a module of its own needs from the router that hosts it:
    `db(work)` runs work in one transaction (known failures become pages), and
    `checked_form(request, login)` reads a posted form whose CSRF token must match."""

    engine: Engine
    clock: Clock
    db: Callable[[Callable[[Connection], Any]], Any]
    checked_form: Callable[[Request, Login], Awaitable[dict[str, str]]]


def log_action(
    conn: Connection,
    login: Login,
    clock: Clock,
    action: str,
    *,
    target: str | None = None,
    communes: Iterable[str] = (),
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a supervisor's action in the audit log, in the action's own transaction."""
    audit.record(
        conn,
        clock=clock,
        actor=login.supervisor.username,
        actor_kind="supervisor",
        action=action,
        target=target,
        communes=communes,
        detail=detail,
    )


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    login: Login | None = None,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, name, {"login": login, **context}, status_code=status
    )
    response.headers.update(_HEADERS)
    return response


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _safe_next(target: str | None) -> str:
    # Only our own pages: no scheme, no host, no "//evil".
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return PREFIX + "/"


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body (the pages send nothing else), first value of each field."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("", "application/x-www-form-urlencoded"):
        raise PageError(415, "Biểu mẫu không hợp lệ.")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM:
            raise PageError(413, "Dữ liệu gửi lên quá lớn.")
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def signed_in(request: Request) -> Login:
    """The session behind the cookie, or a redirect to the login page."""
    token = request.cookies.get(SESSION_COOKIE, "")
    supervisor = None
    if token:
        engine: Engine = request.app.state.engine
        clock: Clock = request.app.state.web_clock
        with engine.begin() as conn:
            supervisor = auth.session_supervisor(conn, token=token, clock=clock)
    if supervisor is None:
        raise LoginNeeded()
    return Login(supervisor, token)


Signed = Annotated[Login, Depends(signed_in)]
# Query parameters of the pages by month: the month (YYYY-MM, else this one) and one agent.
Month = Annotated[str | None, Query()]
AgentFilter = Annotated[str | None, Query(max_length=64)]
# The day of the coverage page (checked by coverage.day_asked, so a bad one gets a clear page).
OnDay = Annotated[str | None, Query()]


def install(app: FastAPI, engine: Engine, clock: Clock) -> None:
    """Add the supervisor pages, their stylesheet and their error pages to the API app."""
    app.state.engine = engine
    app.state.web_clock = clock
    app.include_router(build_router(engine, clock))
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="web-static")

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> HTMLResponse:
        return render(request, "error.html", {"message": exc.message}, status=exc.status)

    @app.exception_handler(LoginNeeded)
    async def _login_needed(request: Request, exc: LoginNeeded) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PREFIX}/login?next={quote(target)}", status_code=303)


def build_router(engine: Engine, clock: Clock) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def db(work: Callable[[Connection], T]) -> T:
        """Run work in one transaction; known failures become pages (404 stays 404)."""
        try:
            with engine.begin() as conn:
                return work(conn)
        except OutOfScope:
            raise PageError(404, "Không tìm thấy trang hoặc bản ghi này.") from None
        except FieldappError as exc:
            raise PageError(getattr(exc, "status", 400), exc.vi) from None

    async def checked_form(request: Request, login: Login) -> dict[str, str]:
        form = await read_form(request)
        if not auth.csrf_ok(login.token, form.get("csrf", "")):
            raise PageError(403, "Phiên làm việc không hợp lệ (thiếu mã CSRF). Hãy tải lại trang.")
        return form

    def month_or_now(month: str | None) -> str:
        return month if month and _MONTH.match(month) else overview.month_of(clock)

    def month_shown(month: str) -> dict[str, str]:
        return {"month": month, "month_label": f"{month[5:]}/{month[:4]}"}

    @router.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    # -- login ---------------------------------------------------------------------------------

    def login_page(request: Request, *, error: str = "", status: int = 200) -> HTMLResponse:
        nonce = secrets.token_urlsafe(24)
        response = render(
            request,
            "login.html",
            {"nonce": nonce, "error": error, "next": _safe_next(request.query_params.get("next"))},
            status=status,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=3600,
            httponly=True,
            samesite="lax",
            secure=_secure(request),
            path=PREFIX,
        )
        return response

    @router.get(f"{PREFIX}/login")
    def login_form(request: Request) -> HTMLResponse:
        return login_page(request)

    @router.post(f"{PREFIX}/login")
    async def login_submit(request: Request) -> Response:
        form = await read_form(request)
        # Login CSRF: the form's nonce must match the cookie set with the form.
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        if not cookie or not secrets.compare_digest(cookie, form.get("csrf", "")):
            return login_page(request, error="Phiên đăng nhập đã hết hạn. Hãy thử lại.", status=403)
        username, password = form.get("username", ""), form.get("password", "")
        # Behind the TLS proxy this is the browser's address (uvicorn reads X-Forwarded-For
        # from the proxy it trusts).
        address = request.client.host if request.client is not None else None
        try:
            token = await run_in_threadpool(
                lambda: auth.log_in(
                    engine, username=username, password=password, address=address, clock=clock
                )
            )
        except auth.LoginLocked as exc:
            return login_page(request, error=exc.vi, status=exc.status)
        if token is None:
            return login_page(request, error="Sai tên đăng nhập hoặc mật khẩu.", status=401)
        response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=auth.SESSION_HOURS * 3600,
            httponly=True,
            samesite="lax",
            secure=_secure(request),
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
        return response

    @router.post(f"{PREFIX}/logout")
    async def logout(request: Request, login: Signed) -> RedirectResponse:
        await checked_form(request, login)
        await run_in_threadpool(db, lambda conn: auth.log_out(conn, token=login.token))
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- dashboard -----------------------------------------------------------------------------

    @router.get(f"{PREFIX}/")
    def dashboard(request: Request, login: Signed, month: Month = None) -> HTMLResponse:
        chosen = month_or_now(month)

        def load(conn: Connection) -> dict[str, Any]:
            return {
                "agents": overview.agents_in_scope(conn, login.communes, clock),
                "progress": overview.progress(conn, login.communes, chosen, clock),
                "open_conflicts": len(conflicts.list_conflicts(conn, login.communes)),
                "handovers": overview.handover_summaries(
                    overview.handovers_in_scope(conn, login.communes, chosen)
                ),
            }

        data = db(load)
        stuck = sum(1 for a in data["agents"] for d in a.active if d.stuck)
        return render(
            request,
            "dashboard.html",
            {**data, **month_shown(chosen), "stuck": stuck, "nav": "dashboard"},
            login=login,
        )

    # -- devices and enrolment codes -----------------------------------------------------------

    def devices_page(
        request: Request, login: Login, *, new_code: dict[str, Any] | None = None
    ) -> HTMLResponse:
        def load(conn: Connection) -> dict[str, Any]:
            return {
                "agents": overview.agents_in_scope(conn, login.communes, clock),
                "codes": overview.enrol_codes_in_scope(conn, login.communes),
            }

        data = db(load)
        return render(
            request,
            "devices.html",
            {**data, "new_code": new_code, "now": iso_utc(clock.now()), "nav": "devices"},
            login=login,
        )

    @router.get(f"{PREFIX}/devices")
    def devices(request: Request, login: Signed) -> HTMLResponse:
        return devices_page(request, login)

    @router.post(f"{PREFIX}/devices/enrol-code")
    async def enrol_code(request: Request, login: Signed) -> HTMLResponse:
        form = await checked_form(request, login)
        agent_id = form.get("agent_id", "")
        try:
            hours = float(form.get("valid_hours", "72") or "72")
        except ValueError:
            raise PageError(400, "Thời hạn phải là một số giờ.") from None

        def make(conn: Connection) -> dict[str, Any]:
            overview.require_agent(conn, agent_id, login.communes)
            code = device_ops.new_enrol_code(
                conn, agent_id=agent_id, clock=clock, valid_hours=hours
            )
            name, agent_communes = device_ops.agent_name_and_communes(conn, agent_id)
            until = clock.now() + dt.timedelta(hours=hours)
            log_action(
                conn,
                login,
                clock,
                "enrol_code",
                target=agent_id,
                communes=agent_communes,
                detail={"agent": name, "valid_hours": hours},
            )
            return {"code": f"{code[:5]}-{code[5:]}", "agent": name, "until": until}

        new_code = await run_in_threadpool(db, make)
        # Shown once: the page answers the POST itself and is never cached.
        return await run_in_threadpool(devices_page, request, login, new_code=new_code)

    # -- conflicts -----------------------------------------------------------------------------

    @router.get(f"{PREFIX}/conflicts")
    def conflict_list(
        request: Request, login: Signed, all: Annotated[int, Query(ge=0, le=1)] = 0
    ) -> HTMLResponse:
        rows = db(
            lambda conn: conflicts.list_conflicts(conn, login.communes, include_resolved=bool(all))
        )
        return render(
            request,
            "conflicts.html",
            {"conflicts": rows, "show_all": bool(all), "nav": "conflicts"},
            login=login,
        )

    @router.get(f"{PREFIX}/conflicts/{{conflict_id}}")
    def conflict_page(request: Request, login: Signed, conflict_id: int) -> HTMLResponse:
        row = db(lambda conn: conflicts.get_conflict(conn, conflict_id, login.communes))
        return render(request, "conflict.html", {"c": row, "nav": "conflicts"}, login=login)

    @router.post(f"{PREFIX}/conflicts/{{conflict_id}}")
    async def conflict_resolve(
        request: Request, login: Signed, conflict_id: int
    ) -> RedirectResponse:
        form = await checked_form(request, login)
        choice = form.get("choice")
        if choice not in ("server", "incoming"):
            raise PageError(400, "Hãy chọn một trong hai giá trị.")

        def settle(conn: Connection) -> None:
            commune = conflicts.get_conflict(conn, conflict_id, login.communes).commune_code
            settled = conflicts.resolve(
                conn,
                conflict_id=conflict_id,
                choice="server" if choice == "server" else "incoming",
                communes=login.communes,
                supervisor=login.supervisor.username,
                clock=clock,
            )
            log_action(
                conn,
                login,
                clock,
                "conflict_resolve",
                target=f"{settled.entity}/{settled.entity_id}",
                communes=[commune] if commune else [],
                detail={"field": settled.field, "choice": choice, "closed": len(settled.closed)},
            )

        await run_in_threadpool(db, settle)
        return RedirectResponse(f"{PREFIX}/conflicts/{conflict_id}?done=1", status_code=303)

    # -- people who share a CCCD -----------------------------------------------------------------

    @router.get(f"{PREFIX}/people")
    def people_page(
        request: Request, login: Signed, done: Annotated[int, Query(ge=0, le=10_000)] = 0
    ) -> HTMLResponse:
        groups, merges = db(
            lambda conn: (
                people.shared_cccd(conn, login.communes),
                people.recent_merges(conn, login.communes),
            )
        )
        context = {"groups": groups, "merges": merges, "done": done, "nav": "people"}
        return render(request, "people.html", context, login=login)

    @router.post(f"{PREFIX}/people/merge")
    async def people_merge(request: Request, login: Signed) -> RedirectResponse:
        form = await checked_form(request, login)

        def merge(conn: Connection) -> people.Merged:
            merged = people.merge(
                conn,
                keep=form.get("keep", "")[:64],
                communes=login.communes,
                supervisor=login.supervisor.username,
                clock=clock,
            )
            log_action(
                conn,
                login,
                clock,
                "people_merge",
                target=merged.kept,
                communes=merged.communes,
                detail={"merged": list(merged.merged)},
            )
            return merged

        merged = await run_in_threadpool(db, merge)
        return RedirectResponse(f"{PREFIX}/people?done={len(merged.merged)}", status_code=303)

    # -- receipts ------------------------------------------------------------------------------

    @router.get(f"{PREFIX}/receipts")
    def receipt_list(request: Request, login: Signed) -> HTMLResponse:
        rows = db(lambda conn: overview.receipts_in_scope(conn, login.communes, limit=500))
        return render(request, "receipts.html", {"receipts": rows, "nav": "receipts"}, login=login)

    # -- cash handovers ------------------------------------------------------------------------

    @router.get(f"{PREFIX}/handovers")
    def handover_list(
        request: Request, login: Signed, month: Month = None, agent: AgentFilter = None
    ) -> HTMLResponse:
        chosen = month_or_now(month)

        def load(conn: Connection) -> dict[str, Any]:
            return {
                "agents": overview.agents_in_scope(conn, login.communes, clock),
                "handovers": overview.handovers_in_scope(
                    conn, login.communes, chosen, agent_id=agent or None
                ),
            }

        data = db(load)
        return render(
            request,
            "handovers.html",
            {**data, **month_shown(chosen), "agent": agent or "", "nav": "handovers"},
            login=login,
        )

    # -- BHYT coverage against targets ---------------------------------------------------------

    def coverage_on(on: str | None) -> dt.date:
        try:
            return coverage.day_asked(on, clock.today())
        except FieldappError as exc:
            raise PageError(400, exc.vi) from None

    @router.get(f"{PREFIX}/coverage")
    def coverage_page(
        request: Request,
        login: Signed,
        on: OnDay = None,
        saved: Annotated[str | None, Query(max_length=5)] = None,
    ) -> HTMLResponse:
        day = coverage_on(on)
        data = db(lambda conn: coverage.coverage(conn, login.communes, day))
        context = {
            "page": data,
            "on": day.isoformat(),
            "today": clock.today().isoformat(),
            "saved": saved if saved and saved.isdigit() else "",
            "renew_months": coverage.RENEW_WITHOUT_WAIT_MONTHS,
            "nav": "coverage",
        }
        return render(request, "coverage.html", context, login=login)

    @router.post(f"{PREFIX}/coverage/target")
    async def coverage_target(request: Request, login: Signed) -> RedirectResponse:
        form = await checked_form(request, login)

        def save(conn: Connection) -> coverage.Target:
            target = coverage.set_target(
                conn,
                commune_code=form.get("commune_code", "")[:16],
                percent=form.get("percent", "")[:16],
                due_on=form.get("due_on", "")[:16],
                communes=login.communes,
                supervisor=login.supervisor.username,
                clock=clock,
            )
            log_action(
                conn,
                login,
                clock,
                "coverage_target",
                target=target.commune_code,
                communes=[target.commune_code],
                detail={
                    "percent_tenths": target.percent_tenths,
                    "due_on": target.due_on.isoformat(),
                },
            )
            return target

        target = await run_in_threadpool(db, save)
        return RedirectResponse(f"{PREFIX}/coverage?saved={target.commune_code}", status_code=303)

    # -- exports -------------------------------------------------------------------------------

    def download(kind: str, name: str, table: Callable[[Connection], exports.Table]) -> Response:
        """A table as a CSV or XLSX attachment."""
        if kind not in ("csv", "xlsx"):
            raise PageError(404, "Không có định dạng này.")
        data = db(table)
        if kind == "csv":
            body, media = exports.to_csv(data), "text/csv; charset=utf-8"
        else:
            body = exports.to_xlsx(data, title=name)
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            body,
            media_type=media,
            headers={
                "Content-Disposition": f'attachment; filename="{name}.{kind}"',
                "Cache-Control": "no-store",
            },
        )

    @router.get(PREFIX + "/export/progress.{kind}")
    def export_progress(login: Signed, kind: str, month: Month = None) -> Response:
        chosen = month_or_now(month)
        return download(
            kind,
            f"tien-do-{chosen}",
            lambda conn: exports.progress_table(
                overview.progress(conn, login.communes, chosen, clock)
            ),
        )

    @router.get(PREFIX + "/export/coverage.{kind}")
    def export_coverage(login: Signed, kind: str, on: OnDay = None) -> Response:
        day = coverage_on(on)
        return download(
            kind,
            f"bao-phu-bhyt-{day.isoformat()}",
            lambda conn: exports.coverage_table(coverage.coverage(conn, login.communes, day)),
        )

    @router.get(PREFIX + "/export/receipts.{kind}")
    def export_receipts(login: Signed, kind: str) -> Response:
        return download(
            kind,
            "bien-lai",
            lambda conn: exports.receipts_table(overview.receipts_in_scope(conn, login.communes)),
        )

    @router.get(PREFIX + "/export/handovers.{kind}")
    def export_handovers(
        login: Signed, kind: str, month: Month = None, agent: AgentFilter = None
    ) -> Response:
        chosen = month_or_now(month)
        return download(
            kind,
            f"nop-tien-{chosen}",
            lambda conn: exports.handovers_table(
                overview.handovers_in_scope(conn, login.communes, chosen, agent_id=agent or None)
            ),
        )

    # The administration pages live in modules of their own (they import this one).
    from sync.server.web.pages import PAGE_GROUPS

    kit = PageKit(engine=engine, clock=clock, db=db, checked_form=checked_form)
    for add_routes in PAGE_GROUPS:
        add_routes(router, kit)
    return router


def wants_html(request: Request) -> bool:
    """A browser asks for text/html first; API clients and scripts get JSON."""
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept


def receipt_check_page(request: Request, status: dict[str, Any]) -> HTMLResponse:
    """The public page a receipt's QR code opens: only what is printed on the receipt."""
    return render(request, "receipt_check.html", {"r": status})
