"""/web/batches: a batch file an agent brought on a USB stick, uploaded by a supervisor and
applied exactly as `fieldapp-server import` applies it; /web/refusals: what is still refused.

The file is hostile until its signature checks out against the key of the device it names:
its size is capped before it is read, and every failure is a page saying what was wrong,
with nothing applied.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, cast

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.types import Message

from sync.protocol import signing, wire
from sync.protocol.clock import iso_utc
from sync.protocol.frozen import frozen
from sync.server import batches as batch_ops
from sync.server import devices as device_ops
from sync.server import feed
from sync.server.schema import agents, batch_uploads, batches, devices
from sync.server.web import auth, overview, refusals
from sync.server.web.routes import PREFIX, Login, PageError, PageKit, Signed, log_action, render
from sync.server.web.scope import Communes, OutOfScope, visible_agent_ids

# A batch file is the batch's JSON in a signed envelope: held to the bound the HTTP upload
# puts on the same JSON once decompressed, plus room for the envelope and the form around it.
MAX_FILE = wire.MAX_BATCH_DECOMPRESSED + 64 * 1024
MAX_BODY = MAX_FILE + 64 * 1024
RECENT = 50
REFUSALS_PAGE = 100
FILENAME_LIMIT = 120
PageNumber = Annotated[int, Query(ge=1, le=100_000)]
DeviceFilter = Annotated[str | None, Query(max_length=64)]

_TOO_LARGE = (
    "Tệp quá lớn: một tệp đồng bộ không quá "
    f"{MAX_FILE // (1024 * 1024)} MB. Hãy kiểm tra lại đã chọn đúng tệp .fabatch chưa."
)
_NO_FILE = "Chưa chọn tệp: hãy chọn tệp .fabatch nhân viên thu mang đến rồi bấm Tải lên."
_BAD_FORM = "Biểu mẫu tải lên không hợp lệ. Hãy tải lại trang và thử lại."
_NOT_YOURS = (
    "Thiết bị ghi trong tệp không thuộc địa bàn của bạn; tệp không được nhận. Hãy chuyển tệp"
    " cho cán bộ phụ trách xã của nhân viên thu này hoặc cán bộ cấp tỉnh."
)


class _Forged(PageError):
    """The form's CSRF token does not match the session: the plain error page, no form."""

    def __init__(self) -> None:
        super().__init__(403, "Phiên làm việc không hợp lệ (thiếu mã CSRF). Hãy tải lại trang.")


@frozen
class Upload:
    """A batch file uploaded on this page, and what it did."""

    id: int
    uploaded_at: str
    uploaded_by: str
    device_id: str
    device_name: str
    agent_name: str
    batch_id: str
    filename: str
    size: int
    applied: int
    refused: int
    # What the batch held, from its stored ack: an upload that applied none of a batch with
    # records had been received before (over the network, by the CLI or here).
    records: int

    @property
    def again(self) -> bool:
        return self.applied == 0 and self.refused == 0 and self.records > 0


def _uploads(conn: Connection, communes: Communes) -> sa.Select[Any]:
    return (
        sa.select(
            batch_uploads,
            devices.c.name.label("device_name"),
            agents.c.name.label("agent_name"),
            batches.c.ack,
        )
        .join(devices, devices.c.id == batch_uploads.c.device_id)
        .join(agents, agents.c.id == devices.c.agent_id)
        .outerjoin(
            batches,
            sa.and_(
                batches.c.device_id == batch_uploads.c.device_id,
                batches.c.batch_id == batch_uploads.c.batch_id,
            ),
        )
        .where(devices.c.agent_id.in_(visible_agent_ids(communes)))
    )


def _upload(row: Any) -> Upload:
    ack = row.ack if isinstance(row.ack, dict) else {}
    records = len(ack.get("accepted") or []) + len(ack.get("refused") or [])
    return Upload(
        id=row.id,
        uploaded_at=row.uploaded_at,
        uploaded_by=row.uploaded_by,
        device_id=row.device_id,
        device_name=row.device_name,
        agent_name=row.agent_name,
        batch_id=row.batch_id,
        filename=row.filename,
        size=row.size,
        applied=row.applied,
        refused=row.refused,
        records=records,
    )


def recent_uploads(conn: Connection, communes: Communes, *, limit: int = RECENT) -> list[Upload]:
    """The latest uploads of devices of visible agents, newest first."""
    query = _uploads(conn, communes).order_by(batch_uploads.c.id.desc()).limit(limit)
    return [_upload(r) for r in conn.execute(query)]


def get_upload(conn: Connection, upload_id: int, communes: Communes) -> tuple[Upload, wire.Ack]:
    """One upload in scope and the stored ack of its batch; OutOfScope otherwise."""
    row = conn.execute(_uploads(conn, communes).where(batch_uploads.c.id == upload_id)).first()
    if row is None or not isinstance(row.ack, dict):
        raise OutOfScope()
    return _upload(row), cast(wire.Ack, row.ack)


def ack_file(conn: Connection, upload_id: int, communes: Communes) -> tuple[str, bytes]:
    """The signed ack file for an upload's batch, byte for byte what `fieldapp-server import`
    writes for it, and its file name (the batch file's name + .ack, as the CLI names it)."""
    upload, ack = get_upload(conn, upload_id, communes)
    device = device_ops.get(conn, upload.device_id)
    if device is None:  # devices are never deleted; kept for the type checker
        raise OutOfScope()
    return upload.filename + ".ack", signing.write_ack_file(ack, device.id, device.device_key)


def _file_name(given: str | None) -> str:
    """The uploaded file's own name, kept short and plain (ASCII, as the ack download's name
    must be): "lô ngày 23.fabatch" becomes "lo_ngay_23.fabatch"."""
    base = re.split(r"[\\/]", given or "")[-1].replace("đ", "d").replace("Đ", "D")
    folded = "".join(c for c in unicodedata.normalize("NFKD", base) if not unicodedata.combining(c))
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", folded).strip("._")
    return plain[-FILENAME_LIMIT:] or "lo.fabatch"


def receive_file(conn: Connection, *, raw: bytes, filename: str, login: Login, kit: PageKit) -> int:
    """Check the file's signature against the key of the device it names, apply its batch
    through batches.receive (once per device and batch id), record the upload and the audit
    entry, all in this transaction; the upload's id."""
    found: dict[str, device_ops.Device] = {}

    def key_lookup(device_id: str) -> bytes | None:
        device = device_ops.get(conn, device_id)
        if device is None:
            return None
        if not overview.agent_visible(conn, device.agent_id, login.communes):
            raise PageError(404, _NOT_YOURS)
        found[device_id] = device
        return device.device_key

    batch = signing.read_batch_file(raw, key_lookup)
    device = found[batch["device_id"]]
    if device.revoked_at is not None:
        raise PageError(
            403,
            f"Thiết bị “{device.name}” đã bị thu hồi; tệp của thiết bị này không được nhận.",
        )
    # Taken before the look-up so that two uploads of one file cannot both count as the first
    # (receive takes it again: a no-op on SQLite, re-entrant on PostgreSQL).
    feed.lock(conn)
    before = conn.execute(
        sa.select(batches.c.batch_id).where(
            batches.c.device_id == device.id, batches.c.batch_id == batch["batch_id"]
        )
    ).first()
    ack = batch_ops.receive_in(conn, device=device, batch=batch, clock=kit.clock, via="file")
    again = before is not None
    applied = 0 if again else len(ack["accepted"])
    refused = 0 if again else len(ack["refused"])
    upload_id = conn.execute(
        batch_uploads.insert().values(
            uploaded_at=iso_utc(kit.clock.now()),
            uploaded_by=login.supervisor.username,
            device_id=device.id,
            batch_id=batch["batch_id"],
            filename=filename,
            size=len(raw),
            applied=applied,
            refused=refused,
        )
    ).inserted_primary_key
    assert upload_id is not None
    _, communes = device_ops.agent_name_and_communes(conn, device.agent_id)
    log_action(
        conn,
        login,
        kit.clock,
        "batch_upload",
        target=device.id,
        communes=communes,
        detail={
            "device": device.name,
            "batch_id": batch["batch_id"],
            "file": filename,
            "applied": applied,
            "refused": refused,
            "again": again,
        },
    )
    return int(upload_id[0])


async def _capped_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise PageError(413, _TOO_LARGE)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise PageError(413, _TOO_LARGE)
    return bytes(raw)


async def read_upload(request: Request, login: Login) -> tuple[bytes, str]:
    """The uploaded file and its name from a multipart form whose CSRF token matches."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise PageError(400, _BAD_FORM)
    body = await _capped_body(request)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=4)
    except (MultiPartException, HTTPException):
        raise PageError(400, _BAD_FORM) from None
    try:
        csrf = form.get("csrf")
        if not isinstance(csrf, str) or not auth.csrf_ok(login.token, csrf):
            raise _Forged()
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise PageError(400, _NO_FILE)
        raw = await upload.read(MAX_FILE + 1)
        if len(raw) > MAX_FILE:
            raise PageError(413, _TOO_LARGE)
        if not raw:
            raise PageError(400, "Tệp rỗng: hãy chọn đúng tệp .fabatch.")
        return raw, _file_name(upload.filename)
    finally:
        await form.close()


def add_routes(router: APIRouter, kit: PageKit) -> None:
    def batches_page(
        request: Request, login: Login, *, error: str = "", status: int = 200
    ) -> HTMLResponse:
        rows = kit.db(lambda conn: recent_uploads(conn, login.communes))
        context = {
            "uploads": rows,
            "error": error,
            "max_mb": MAX_FILE // (1024 * 1024),
            "nav": "batches",
        }
        return render(request, "batches.html", context, status=status, login=login)

    @router.get(f"{PREFIX}/batches")
    def batch_list(request: Request, login: Signed) -> HTMLResponse:
        return batches_page(request, login)

    @router.post(f"{PREFIX}/batches")
    async def batch_upload(request: Request, login: Signed) -> Response:
        try:
            raw, filename = await read_upload(request, login)
            upload_id = await run_in_threadpool(
                kit.db,
                lambda conn: receive_file(conn, raw=raw, filename=filename, login=login, kit=kit),
            )
        except _Forged:
            raise
        except PageError as exc:
            # The form again, with what was wrong above it, so the next file is one click away.
            return await run_in_threadpool(
                batches_page, request, login, error=exc.message, status=exc.status
            )
        return RedirectResponse(f"{PREFIX}/batches/{upload_id}", status_code=303)

    @router.get(f"{PREFIX}/batches/{{upload_id}}")
    def batch_result(request: Request, login: Signed, upload_id: int) -> HTMLResponse:
        def load(conn: Connection) -> dict[str, Any]:
            upload, ack = get_upload(conn, upload_id, login.communes)
            return {
                "shown": upload,
                "ack": ack,
                "refused": [
                    {
                        **r,
                        "label": refusals.reason_label(r["code"]),
                        "fix": refusals.fix_for(r["code"]),
                        "entity_label": refusals.ENTITY_LABELS.get(r["entity"], r["entity"]),
                    }
                    for r in refusals.refusals_of(ack)
                ],
                "uploads": recent_uploads(conn, login.communes),
            }

        context = {
            **kit.db(load),
            "error": "",
            "max_mb": MAX_FILE // (1024 * 1024),
            "nav": "batches",
        }
        return render(request, "batches.html", context, login=login)

    @router.get(f"{PREFIX}/batches/{{upload_id}}/ack")
    def batch_ack(login: Signed, upload_id: int) -> Response:
        name, body = kit.db(lambda conn: ack_file(conn, upload_id, login.communes))
        return Response(
            body,
            media_type="application/octet-stream",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @router.get(f"{PREFIX}/refusals")
    def refusal_list(
        request: Request, login: Signed, page: PageNumber = 1, device: DeviceFilter = None
    ) -> HTMLResponse:
        def load(conn: Connection) -> dict[str, Any]:
            rows = refusals.still_refused(conn, login.communes)
            shown_devices = sorted(
                {(r.device_id, f"{r.device_name} — {r.agent_name}") for r in rows},
                key=lambda d: d[1],
            )
            if device:
                rows = [r for r in rows if r.device_id == device]
            return {"rows": rows, "devices": shown_devices}

        data = kit.db(load)
        rows = data["rows"]
        start = (page - 1) * REFUSALS_PAGE
        context = {
            "rows": rows[start : start + REFUSALS_PAGE],
            "total": len(rows),
            "page": page,
            "last_page": max(1, -(-len(rows) // REFUSALS_PAGE)),
            "devices": data["devices"],
            "device": device or "",
            "nav": "refusals",
        }
        return render(request, "refusals.html", context, login=login)
