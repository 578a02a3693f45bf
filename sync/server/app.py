"""The provincial server's HTTP API (FastAPI): health, enrolment, upload, pull, receipt check."""

from __future__ import annotations

import contextlib
import gc
import gzip
import json
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from sync.protocol import wire
from sync.protocol.clock import Clock, SystemClock, iso_utc
from sync.protocol.errors import FieldappError
from sync.protocol.ids import is_uuid
from sync.server import admin, batches, devices, feed, models, web
from sync.server.checkpoints import WalCheckpointer
from sync.server.errors import ServerError
from sync.server.ratelimit import RateLimiter
from sync.server.schema import migrate, open_engine

T = TypeVar("T")

OPENAPI_PATH = Path(__file__).with_name("openapi.json")

MAX_ENROL_BODY = 16 * 1024
# Change-feed pages: gzip -6 on bodies worth it (a nearly empty page goes as it is).
_GZIP_LEVEL = 6
_GZIP_MIN_BYTES = 512
_bearer = HTTPBearer(auto_error=False, description="the device token from enrolment")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
# The outbox rows a laptop reports pending: plain digits that fit the 32-bit column they are
# kept in. Anything else (20 digits, a non-ASCII digit, a sign) is a 400, not a guess.
MAX_PENDING = 2**31 - 1
Pending = Annotated[
    int | None,
    Header(
        alias=wire.PENDING_HEADER,
        ge=0,
        le=MAX_PENDING,
        description="outbox rows still pending on the laptop, shown to supervisors",
    ),
]
# Why each error status is answered, as documented on the endpoints that can answer it.
_ERROR_MEANINGS = {
    400: "Bad request: malformed JSON or gzip, a bad query parameter, or a message that breaks "
    "the protocol",
    401: "Missing, unknown or revoked device token",
    403: "Refused: an unknown, used or expired enrolment code, or a batch naming another device",
    413: "Body too large, before or after decompression, or a batch with more than "
    f"{wire.MAX_BATCH_RECORDS} records",
    415: "Content-Encoding other than gzip or identity",
    426: "Protocol version not supported: the laptop must be updated",
    429: "Too many requests from this device: try again after Retry-After seconds",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "whole seconds to wait before the next request",
        "schema": {"type": "integer"},
    }
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses; every error body is an ErrorBody."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": models.ErrorBody, "description": _ERROR_MEANINGS[status]}
        if status == 429:
            out[status]["headers"] = _RETRY_AFTER
    return out


async def _one_value_each(request: Request) -> None:
    """Refuse a query parameter given twice (?since=1&since=9): which value is meant would be a
    guess, and FastAPI would silently take the last."""
    params = request.query_params
    repeated = sorted({key for key in params if len(params.getlist(key)) > 1})
    if repeated:
        named = ", ".join(repeated)
        raise ServerError(
            f"Tham số truy vấn bị lặp lại: {named}",
            f"Query parameter given more than once: {named}",
            code="bad_request",
        )


# On every endpoint that takes query parameters.
_QUERY_CHECKS = [Depends(_one_value_each)]


def _error(status: int, code: str, vi: str, en: str) -> JSONResponse:
    return JSONResponse({"code": code, "vi": vi, "en": en}, status_code=status)


def create_app(
    engine_or_url: Engine | str,
    *,
    clock: Clock | None = None,
    rate_limit: RateLimiter | None = None,
) -> FastAPI:
    """The API over a database (brought to the newest schema first)."""
    engine = open_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    migrate(engine)
    the_clock: Clock = clock or SystemClock()
    limiter = rate_limit or RateLimiter.from_env()  # per device, on upload and pull

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # On SQLite, the write-ahead log is copied back on a thread of its own while serving.
        app.state.checkpointer = WalCheckpointer.start_for(engine)
        try:
            yield
        finally:
            if app.state.checkpointer is not None:
                app.state.checkpointer.stop()
                app.state.checkpointer = None

    app = FastAPI(
        title="fieldapp provincial sync server",
        version=str(wire.PROTOCOL_VERSION),
        description="Sync API between collection agents' laptops and the provincial server.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.checkpointer = None
    # Request bodies are read by hand (gzip, size limits), so FastAPI does not know their
    # models: their schemas are added to the document's components here.
    schemas: dict[str, Any] = {}
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _finish_openapi(generate(), schemas)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]

    def in_transaction(work: Callable[[Any], T]) -> Callable[[], T]:
        def run() -> T:
            with engine.begin() as conn:
                return work(conn)

        return run

    async def device_for(
        credentials: HTTPAuthorizationCredentials | None, pending: int | None
    ) -> devices.Device:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ServerError(
                "Thiếu mã xác thực thiết bị",
                "Missing device token",
                code="unauthorized",
                status=401,
            )
        token = credentials.credentials

        def authorised(conn: Any) -> devices.Device:
            device = devices.authenticate(conn, token=token, clock=the_clock, pending=pending)
            limiter.check(device.id, conn)  # the database's bucket: every worker shares it
            return device

        return await run_in_threadpool(in_transaction(authorised))

    @app.exception_handler(FieldappError)
    async def _fieldapp_error(request: Request, exc: FieldappError) -> JSONResponse:
        status = getattr(exc, "status", 400)
        response = _error(status, exc.code, exc.vi, exc.en)
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        if getattr(exc, "retry_after", None) is not None:
            response.headers["Retry-After"] = str(exc.retry_after)  # type: ignore[attr-defined]
        return response

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return _error(400, "bad_request", f"Yêu cầu không hợp lệ: {where}", f"Bad request: {where}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(
            exc.status_code, f"http_{exc.status_code}", f"Lỗi HTTP: {exc.detail}", str(exc.detail)
        )
        # Starlette's own headers, such as the Allow of a 405 that RFC 9110 requires.
        response.headers.update(exc.headers or {})
        return response

    @app.get(wire.HEALTH_PATH, response_model=models.Health, summary="Is the server up (no auth)")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "protocol": wire.PROTOCOL_VERSION,
            "server_time": iso_utc(the_clock.now()),
        }

    @app.post(
        wire.ENROL_PATH,
        summary="Exchange a one-time enrolment code for a device token and key",
        responses={200: {"model": models.EnrolResponseModel}, **_errors(400, 403, 413, 415)},
        openapi_extra=_json_body(models.EnrolRequestModel, schemas),
    )
    async def enrol(request: Request) -> JSONResponse:
        body = await _read_json(request, MAX_ENROL_BODY, MAX_ENROL_BODY)
        code, name = body.get("code"), body.get("device_name")
        wanted_id = body.get("device_id")
        if (
            not isinstance(code, str)
            or not isinstance(name, str)
            or re.fullmatch(models.DEVICE_NAME_PATTERN, name) is None
        ):
            raise ServerError(
                "Cần mã đăng ký (code) và tên thiết bị (device_name) có chữ, không có ký tự "
                "điều khiển",
                "code and device_name are required strings; the name must show a character "
                "and hold no control characters",
                code="bad_request",
            )
        if wanted_id is not None and not is_uuid(wanted_id):
            raise ServerError(
                "device_id phải là UUID dạng 8-4-4-4-12 hoặc bỏ trống",
                "device_id must be a UUID in its 8-4-4-4-12 form, or absent",
                code="bad_request",
            )
        result = await run_in_threadpool(
            in_transaction(
                lambda conn: devices.enrol(
                    conn,
                    code=code,
                    device_name=name.strip(),
                    clock=the_clock,
                    device_id=wanted_id,
                )
            )
        )
        return JSONResponse(dict(result))

    @app.post(
        wire.BATCHES_PATH,
        summary="Upload a batch of outbox records (gzip JSON); idempotent by device and batch_id",
        responses={
            200: {"model": models.AckModel},
            **_errors(400, 401, 403, 413, 415, 426, 429),
        },
        openapi_extra=_json_body(models.BatchModel, schemas, gzip=True),
    )
    async def upload(
        request: Request, credentials: Credentials, pending: Pending = None
    ) -> JSONResponse:
        device = await device_for(credentials, pending)
        body = await _read_json(request, wire.MAX_BATCH_COMPRESSED, wire.MAX_BATCH_DECOMPRESSED)
        batch = wire.validate_batch(body)
        ack = await run_in_threadpool(
            lambda: batches.receive(engine, device=device, batch=batch, clock=the_clock)
        )
        if app.state.checkpointer is not None:
            app.state.checkpointer.soon()
        return JSONResponse(dict(ack))

    @app.get(
        wire.CHANGES_PATH,
        summary="Pull the changes in this device's scope after a cursor",
        responses={200: {"model": models.ChangePageModel}, **_errors(400, 401, 429)},
        dependencies=_QUERY_CHECKS,
    )
    async def changes(
        request: Request,
        credentials: Credentials,
        since: Annotated[int, Query(ge=0, description="the cursor from the previous page")] = 0,
        limit: Annotated[int, Query(ge=1, le=wire.MAX_CHANGES_LIMIT)] = 500,
        pending: Pending = None,
    ) -> Response:
        device = await device_for(credentials, pending)
        since = min(since, 2**63 - 1)  # past any real cursor; larger overflows the database
        page = await run_in_threadpool(
            in_transaction(
                lambda conn: feed.page(
                    conn, agent_id=device.agent_id, device_id=device.id, since=since, limit=limit
                )
            )
        )
        gzip_ok = _accepts_gzip(request.headers.get("accept-encoding", ""))
        return await run_in_threadpool(_page_answer, page, gzip_ok)

    @app.get(
        wire.RECEIPT_VERIFY_PATH,
        summary="Check a receipt from its QR code (no auth; only what the receipt shows)",
        response_model=models.ReceiptStatus,
        responses=_errors(400),
        response_model_exclude_none=True,
        dependencies=_QUERY_CHECKS,
    )
    async def verify_receipt(
        id: Annotated[str, Query(max_length=64, description="receipt id")],
        sig: Annotated[str, Query(max_length=128, description="signature from the QR code")],
    ) -> dict[str, Any]:
        return await run_in_threadpool(
            in_transaction(lambda conn: admin.verify_receipt(conn, receipt_id=id, sig=sig))
        )

    @app.get(
        "/r/{receipt_id}",
        summary="The address a receipt's QR code holds (same answer as the verify endpoint)",
        response_model=models.ReceiptStatus,
        responses=_errors(400),
        response_model_exclude_none=True,
        dependencies=_QUERY_CHECKS,
    )
    async def verify_receipt_short(
        request: Request,
        receipt_id: Annotated[str, PathParam(max_length=64, description="receipt id")],
        s: Annotated[str, Query(max_length=128, description="signature from the QR code")],
    ) -> Any:
        status = await run_in_threadpool(
            in_transaction(lambda conn: admin.verify_receipt(conn, receipt_id=receipt_id, sig=s))
        )
        # A phone's browser scanning the QR code gets a page; scripts get the JSON.
        return web.receipt_check_page(request, status) if web.wants_html(request) else status

    web.install(app, engine, the_clock)
    return app


# The database `fieldapp-server run --workers N` gives each worker process it starts.
DATABASE_URL_ENV = "FIELDAPP_SERVER_DATABASE_URL"


def app_from_env() -> FastAPI:
    """The API over the database named by FIELDAPP_SERVER_DATABASE_URL, on the system clock:
    the factory each worker of `fieldapp-server run --workers N` calls (uvicorn --factory)."""
    url = os.environ.get(DATABASE_URL_ENV)
    if not url:
        raise RuntimeError(f"{DATABASE_URL_ENV} is not set")
    return ready_to_serve(create_app(url))


def ready_to_serve(app: FastAPI) -> FastAPI:
    """Set aside what the server built to start (modules, tables, routes) from the collector.

    A batch makes tens of thousands of short-lived objects; each full collection they trigger
    would walk every object of the running server as well. Frozen, those are skipped: an
    upload of 20,000 records took about an eighth less time. Objects made afterwards are
    collected as usual."""
    gc.collect()
    gc.freeze()
    return app


def _json_body(
    model: type[BaseModel], schemas: dict[str, Any], *, gzip: bool = False
) -> dict[str, Any]:
    """A request body described by a model whose schema (and those it uses) join `schemas`."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    note = "gzip-compressed JSON (Content-Encoding: gzip)" if gzip else "JSON"
    return {
        "requestBody": {
            "required": True,
            "description": note,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


def _finish_openapi(document: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Add the request bodies' schemas; drop the 422 FastAPI lists but this app never sends.

    Parameter errors are answered 400 with an ErrorBody (see the RequestValidationError
    handler), and each endpoint documents its 400.
    """
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.update(schemas)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
            for parameter in operation.get("parameters", []):
                _absent_not_null(parameter)
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in json.dumps(document):
            components.pop(unused, None)


def _absent_not_null(parameter: dict[str, Any]) -> None:
    """An optional header or query parameter is left out, never null: FastAPI describes
    `int | None` as anyOf(integer, null), which only invites a client to send the text "null"."""
    schema = parameter.get("schema", {})
    options = schema.get("anyOf", [])
    if parameter.get("required") or {"type": "null"} not in options or len(options) != 2:
        return
    del schema["anyOf"]
    schema.update(next(option for option in options if option != {"type": "null"}))


async def _read_json(request: Request, max_raw: int, max_decompressed: int) -> dict[str, Any]:
    """Read a JSON body, gzip or not, never holding more than the limits in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_raw:
        raise wire.too_large(max_raw)
    raw = bytearray()
    try:
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > max_raw:
                raise wire.too_large(max_raw)
    except ClientDisconnect:
        # A connection lost mid-upload is everyday on a rural network, not a server fault.
        raise ServerError(
            "Kết nối bị ngắt khi đang nhận dữ liệu",
            "The connection dropped while the body was being received",
            code="client_disconnect",
        ) from None
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        return wire.decode_body(
            bytes(raw), max_compressed=max_raw, max_decompressed=max_decompressed
        )
    if encoding not in ("", "identity"):
        raise ServerError(
            f"Không hỗ trợ mã hoá nội dung {encoding!r}; hãy dùng gzip",
            f"Content-Encoding {encoding!r} not supported; use gzip",
            code="unsupported_encoding",
            status=415,
        )
    value = wire.parse_json(bytes(raw))
    if not isinstance(value, dict):
        raise ServerError(
            "Nội dung phải là một đối tượng JSON", "Body must be a JSON object", code="bad_json"
        )
    return value


def _accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header takes gzip (named or `*`, with a weight above 0)."""
    for item in header.split(","):
        name, _, params = item.partition(";")
        if name.strip().lower() not in ("gzip", "*"):
            continue
        weight = params.strip().lower()
        if weight.startswith("q="):
            try:
                if float(weight[2:]) <= 0:
                    continue
            except ValueError:
                continue
        return True
    return False


def _page_answer(page: wire.ChangePage, gzip_ok: bool) -> Response:
    """A page of the change feed as JSON, gzip-compressed when the client takes it (a first
    sync over a slow link is about a tenth of the plain bytes)."""
    answer = JSONResponse(dict(page), headers={"Vary": "Accept-Encoding"})
    if gzip_ok and len(answer.body) >= _GZIP_MIN_BYTES:
        answer.body = gzip.compress(answer.body, compresslevel=_GZIP_LEVEL, mtime=0)
        answer.headers["Content-Encoding"] = "gzip"
        answer.headers["Content-Length"] = str(len(answer.body))
    return answer


def openapi_text() -> str:
    """The API description as committed in openapi.json."""
    document = create_app("sqlite://").openapi()
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_openapi(path: Path = OPENAPI_PATH) -> None:
    """Regenerate openapi.json after changing the API."""
    path.write_text(openapi_text(), encoding="utf-8")
