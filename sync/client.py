"""The laptop's sync client: enrol, upload the outbox in batches, pull changes, USB batch files."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
import os
import random as random_module
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import field
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import httpx

from fieldapp import refusals, syncstate
from fieldapp.store import loads
from fieldapp.syncstate import RefusedRecord, StoredBatch
from fieldapp.workspace import Workspace
from sync.protocol import signing, wire
from sync.protocol.errors import FieldappError, ProtocolError
from sync.protocol.frozen import frozen, kept_dataclass
from sync.protocol.hlc import hlc_format, hlc_parse
from sync.protocol.i18n import say
from sync.protocol.ids import is_uuid
from sync.protocol.loopback import is_loopback

# Records per batch: the most the server takes (a batch is also cut at
# syncstate.BATCH_BYTES). Each batch is a request and a transaction of its own on the server,
# so a day's or a week's outbox goes in a few of them: 20,000 records took 1.3-1.6 s in
# batches of 500 and 1.1-1.2 s in batches of 2,000 on the benchmark machine. A batch of
# 2,000 typical records is about 100 KB of gzip, some four seconds at 256 kbit/s: a cut
# link costs at most that much resent.
DEFAULT_BATCH_SIZE = wire.MAX_BATCH_RECORDS
DEFAULT_PAGE_SIZE = 500
CA_FILE_ENV = "FIELDAPP_CA_FILE"
# Store meta: the plain http:// server URL the agent agreed to use although it is not this
# machine. Kept per URL, so a different address asks again.
PLAIN_HTTP_KEY = "plain_http_accepted"
# SyncError.code of a refused plain-HTTP server, so the desktop app can ask and try again.
PLAIN_HTTP_REFUSED = "insecure_server"

# Statuses worth another try: the server or a proxy was busy, not the request wrong.
_RETRY_STATUS = frozenset({408, 429})

Progress = Callable[[int, int], None]

# wire.encode_body's compression: on the agents' 3G links the bytes saved by level 6 are
# worth far more than the millisecond of CPU a batch a lower level would save.
_GZIP_LEVEL = 6


@frozen
class _Outgoing:
    """A claimed batch, encoded and with its headers, ready to be posted."""

    batch_id: str
    records: int
    body: bytes
    headers: dict[str, str]


class SyncError(FieldappError):
    """A sync step failed; `status` is the HTTP status when the server answered."""

    def __init__(
        self,
        vi: str,
        en: str,
        *,
        code: str,
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        self.status = status
        self.retryable = retryable
        super().__init__(vi, en, code=code)


class Cancelled(SyncError):
    """The agent cancelled; whatever was acknowledged so far stays acknowledged."""

    def __init__(self) -> None:
        super().__init__("Đã huỷ đồng bộ", "Sync cancelled", code="cancelled")


@kept_dataclass
class SyncResult:
    """What one sync did: counts, refusals with reasons, and the errors that stopped it."""

    sent: int = 0
    accepted: int = 0
    refused: list[RefusedRecord] = field(default_factory=list)
    pulled: int = 0
    skipped: int = 0
    conflicts: int = 0
    errors: list[FieldappError] = field(default_factory=list)
    cancelled: bool = False
    files: list[Path] = field(default_factory=list)
    # Households that left this laptop's communes: (head's name, the commune they went to).
    moved: list[tuple[str, str]] = field(default_factory=list)
    # Changes to demo data, kept on this laptop and never sent.
    kept_local: int = 0

    @property
    def ok(self) -> bool:
        """True only when everything sent was acknowledged and accepted and nothing failed."""
        return not (self.errors or self.refused or self.cancelled)

    def message(self, lang: str | None = None) -> str:
        return "; ".join(e.message(lang) for e in self.errors)

    def moved_notes(self) -> list[str]:
        """A line for each household the province moved out of this laptop's communes."""
        return [
            say(
                f"Hộ {name} đã được chuyển sang xã {to}: hộ này không còn trong danh sách của "
                "máy (lịch sử thăm, cam kết và biên lai vẫn được giữ).",
                f"The household of {name} was moved to commune {to}: it is no longer in this "
                "laptop's lists (its visits, pledges and receipts are kept).",
            )
            for name, to in self.moved
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "sent": self.sent,
            "accepted": self.accepted,
            "refused": [r.as_dict() for r in self.refused],
            "pulled": self.pulled,
            "skipped": self.skipped,
            "conflicts": self.conflicts,
            "cancelled": self.cancelled,
            "errors": [{"code": e.code, "vi": e.vi, "en": e.en} for e in self.errors],
            "files": [str(p) for p in self.files],
            "moved": [{"head_name": name, "commune_code": to} for name, to in self.moved],
            "kept_local": self.kept_local,
        }

    def kept_local_note(self) -> str | None:
        """A line saying how many demo changes stayed on the laptop, when there are any."""
        if not self.kept_local:
            return None
        n = self.kept_local
        return say(
            f"{n} thay đổi của dữ liệu mẫu được giữ lại trên máy, không gửi lên máy chủ.",
            f"{n} change(s) to demo data kept on this laptop, not sent to the server.",
        )


@frozen
class SyncStatus:
    """Where this laptop stands, without asking the server."""

    pending: int
    refused: list[RefusedRecord]
    last_sync: dict[str, Any] | None
    server_url: str | None
    cursor: int
    agent_id: str | None
    agent_name: str | None
    server_device_id: str | None
    # What the agent can do about each refused record, by its outbox row (fieldapp.refusals).
    actions: dict[int, tuple[str, ...]] = field(default_factory=dict)
    # Records of this laptop given the enrolled agent (the re-stamp log), oldest first.
    restamps: tuple[refusals.Restamp, ...] = ()

    @property
    def enrolled(self) -> bool:
        return self.server_device_id is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "refused": [
                {**r.as_dict(), "actions": list(self.actions.get(r.seq, ()))} for r in self.refused
            ],
            "last_sync": self.last_sync,
            "server_url": self.server_url,
            "cursor": self.cursor,
            "enrolled": self.enrolled,
            "agent_id": self.agent_id,
            "agent_name": self.agent_name,
            "server_device_id": self.server_device_id,
            "restamps": [dataclasses.asdict(r) for r in self.restamps],
        }


@frozen
class Enrolment:
    device_id: str
    agent_id: str
    agent_name: str
    communes: list[str]
    server_url: str
    # This laptop's own work from before enrolment, now carrying the enrolled agent.
    restamped: tuple[refusals.Restamp, ...] = ()

    def restamped_note(self) -> str | None:
        """A line saying how many records made before enrolment now carry the agent."""
        if not self.restamped:
            return None
        n = len(self.restamped)
        return say(
            f"{n} bản ghi làm trước khi đăng ký đã được ghi lại cho {self.agent_name} "
            "(xem nhật ký ghi lại); chúng sẽ được gửi ở lần đồng bộ tới.",
            f"{n} record(s) made before enrolment now carry {self.agent_name} (see the "
            "re-stamp log); they go out with the next sync.",
        )


def status(workspace: Workspace) -> SyncStatus:
    """Pending and refused records, the last run and the server this laptop syncs with."""
    store = workspace.store
    return SyncStatus(
        pending=syncstate.pending_count(store),
        refused=syncstate.refused_records(store),
        last_sync=syncstate.last_run(store),
        server_url=store.meta("server_url"),
        cursor=syncstate.cursor(store),
        agent_id=store.meta("agent_id"),
        agent_name=store.meta("agent_name"),
        server_device_id=store.meta("server_device_id"),
        actions=refusals.refused_actions(store),
        restamps=tuple(refusals.restamps(store)),
    )


def _not_enrolled() -> SyncError:
    return SyncError(
        "Máy này chưa đăng ký với máy chủ; hãy chạy `fieldapp sync enrol`",
        "This laptop is not enrolled with a server; run `fieldapp sync enrol`",
        code="not_enrolled",
    )


def needs_plain_http_consent(server_url: str) -> bool:
    """Whether talking to server_url would carry the enrolment code, the device token and key
    and residents' records in clear across a network: plain http:// to a host that is not this
    machine (127.0.0.0/8, ::1, localhost). Such a server is used only once the agent agrees."""
    try:
        url = httpx.URL(server_url)
    except httpx.InvalidURL:
        return False  # the request itself fails, with its own reason
    return url.scheme == "http" and not is_loopback(url.host)


def _plain_http_refused(server_url: str) -> SyncError:
    return SyncError(
        f"Máy chủ {server_url} dùng http:// không mã hoá: mã đăng ký, khoá của máy này và dữ "
        "liệu người dân sẽ đi qua mạng ở dạng ai trên đường truyền cũng đọc và sửa được. Hãy "
        "dùng địa chỉ https:// của máy chủ, hoặc xác nhận chấp nhận rủi ro này "
        "(dòng lệnh: --allow-insecure).",
        f"The server {server_url} uses plain http:// (no encryption): the enrolment code, this "
        "laptop's key and residents' records would cross the network where anyone on the way "
        "can read and change them. Use the server's https:// address, or confirm that you "
        "accept this risk (command line: --allow-insecure).",
        code=PLAIN_HTTP_REFUSED,
    )


@functools.cache
def system_roots() -> ssl.SSLContext:
    """The system's certificate roots, loaded once per process (~50 ms each time otherwise)."""
    return ssl.create_default_context()


class SyncClient(AbstractContextManager["SyncClient"]):
    """Talks to one provincial server for one workspace. Not thread-safe: one per worker thread.

    `sleep` and `random` are injectable so tests see the backoff without waiting for it.
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        server_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        page_size: int = DEFAULT_PAGE_SIZE,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = random_module.random,
        should_cancel: Callable[[], bool] | None = None,
        progress: Progress | None = None,
        allow_insecure: bool = False,
    ) -> None:
        self.workspace = workspace
        # The outbox, the cursor and the enrolment live in the store; this client is the one
        # part of the laptop that reads and writes them directly.
        self.store = workspace.store
        self._server_url = server_url
        self._transport = transport
        self._ca_file = ca_file if ca_file is not None else os.environ.get(CA_FILE_ENV) or None
        self._timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.batch_size = max(1, min(batch_size, wire.MAX_BATCH_RECORDS))
        self.page_size = max(1, min(page_size, wire.MAX_CHANGES_LIMIT))
        self._sleep = sleep
        self._random = random
        self._should_cancel = should_cancel or (lambda: False)
        self._progress = progress
        # The agent's go-ahead for a plain-HTTP server beyond this machine (see
        # needs_plain_http_consent); remembered in the store once used.
        self._allow_insecure = allow_insecure
        self._client: httpx.Client | None = None

    # -- lifetime -----------------------------------------------------------------------------

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def server_url(self) -> str | None:
        return self._server_url or self.store.meta("server_url")

    def _http(self) -> httpx.Client:
        if self._client is None:
            url = self.server_url
            if not url:
                raise _not_enrolled()
            # Certificates are always verified; a CA file only replaces the system's roots.
            verify = system_roots()
            if self._ca_file:
                try:
                    verify = ssl.create_default_context(cafile=os.fspath(self._ca_file))
                except (OSError, ssl.SSLError) as exc:
                    raise SyncError(
                        f"Không đọc được tệp chứng chỉ CA {os.fspath(self._ca_file)}: {exc}",
                        f"Cannot load the CA file {os.fspath(self._ca_file)}: {exc}",
                        code="bad_ca_file",
                    ) from None
            self._client = httpx.Client(
                base_url=url.rstrip("/"),
                transport=self._transport,
                verify=verify,
                timeout=self._timeout,
            )
        return self._client

    def reachable(self, *, timeout: float = 5.0) -> bool:
        """Whether the server answers its health check within timeout: one try, no retries.

        It goes through the same connection settings as a sync (a pinned CA file included),
        so a server that answers here is one a sync can reach.
        """
        try:
            response = self._http().get(wire.HEALTH_PATH, timeout=timeout)
        except (httpx.HTTPError, SyncError, ValueError):
            return False
        return response.status_code == 200

    # -- HTTP with retries --------------------------------------------------------------------

    def _check_cancel(self) -> None:
        if self._should_cancel():
            raise Cancelled()

    def _delay(self, attempt: int) -> float:
        # Full jitter: laptops coming back online together at the post office spread out.
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return ceiling * self._random()

    def _request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """One request, retried on network errors, timeouts, 5xx, 408 and 429.

        A non-idempotent request is retried only when it surely never reached the server.
        """
        self._refuse_plain_http()
        attempt = 0
        while True:
            self._check_cancel()
            retry_after = 0.0
            try:
                response = self._http().request(
                    method, path, content=content, json=json_body, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                problem = _network_problem(exc, retryable=idempotent or never_sent)
            else:
                if response.status_code == 200:
                    try:
                        body = wire.parse_json(response.content)
                    except ProtocolError as exc:
                        problem = SyncError(
                            f"Máy chủ trả lời không đọc được: {exc.vi}",
                            f"Unreadable answer from the server: {exc.en}",
                            code="bad_response",
                            status=200,
                            retryable=idempotent,
                        )
                    else:
                        if isinstance(body, dict):
                            return body
                        problem = SyncError(
                            "Máy chủ trả lời không đúng định dạng",
                            "The server's answer is not a JSON object",
                            code="bad_response",
                            status=200,
                        )
                else:
                    problem = _http_problem(response, idempotent=idempotent)
                    retry_after = _retry_after(response)
            if not problem.retryable:
                raise problem
            attempt += 1
            if attempt >= self.max_attempts:
                raise problem
            self._sleep(max(self._delay(attempt), min(retry_after, self.max_backoff)))

    def _plain_http_accepted(self, url: str) -> bool:
        return self._allow_insecure or self.store.meta(PLAIN_HTTP_KEY) == url

    def _refuse_plain_http(self) -> None:
        """Stop before anything is sent to a plain-HTTP server beyond this machine that the
        agent has not agreed to. (The health check in reachable() carries nothing secret.)"""
        url = self.server_url
        if url and needs_plain_http_consent(url) and not self._plain_http_accepted(url):
            raise _plain_http_refused(url)

    def _remember_plain_http(self) -> None:
        """Keep the agent's go-ahead for this plain-HTTP server, so later syncs do not ask."""
        url = self.server_url
        if url and self._allow_insecure and needs_plain_http_consent(url):
            self.store.set_meta(PLAIN_HTTP_KEY, url)

    def _auth_headers(self) -> dict[str, str]:
        token = self.store.meta("device_token")
        if not token:
            raise _not_enrolled()
        return {
            "Authorization": f"Bearer {token}",
            wire.PENDING_HEADER: str(syncstate.pending_count(self.store)),
        }

    # -- enrolment ----------------------------------------------------------------------------

    def enrol(
        self,
        server_url: str,
        code: str,
        *,
        device_name: str | None = None,
        allow_insecure: bool = False,
    ) -> Enrolment:
        """Exchange a one-time code for this laptop's token, server device id and device key.

        A plain http:// server that is not this machine is refused, nothing sent or stored,
        unless the agent agrees (allow_insecure); the agreement is then kept with the enrolment.
        """
        self.close()
        self._server_url = server_url.rstrip("/")
        self._allow_insecure = self._allow_insecure or allow_insecure
        request = wire.EnrolRequest(
            code=code.strip(),
            device_name=device_name or socket.gethostname() or "laptop",
            device_id=self.store.device_id,
        )
        body = self._request("POST", wire.ENROL_PATH, json_body=request, idempotent=False)
        keys = ("device_id", "token", "agent_id", "agent_name", "communes", "device_key")
        if any(k not in body for k in keys) or not is_uuid(body["device_id"]):
            raise SyncError(
                "Máy chủ trả lời đăng ký không đúng định dạng",
                "The server's enrolment answer is malformed",
                code="bad_response",
            )
        signing.decode_device_key(str(body["device_key"]))
        previous = self.store.meta("server_device_id")
        with self.store.transaction():
            meta = {
                "server_url": self._server_url,
                "verify_url": self._server_url,
                "device_token": str(body["token"]),
                "server_device_id": str(body["device_id"]),
                "agent_id": str(body["agent_id"]),
                "agent_name": str(body["agent_name"]),
                "device_key": str(body["device_key"]),
            }
            for key, value in meta.items():
                self.store.set_meta(key, value)
            self._remember_plain_http()
            if previous != body["device_id"]:
                # A new device identity: the feed and batch ids of the old one do not apply.
                self.store.set_meta(syncstate.CURSOR_KEY, "0")
                syncstate.forget_batch_ids(self.store)
            syncstate.apply_assignment(self.store, body["communes"])
            # Work made here before enrolment carries the laptop's own id as its agent; the
            # province takes it only under the enrolled agent (and another agent's stays theirs).
            restamped = refusals.restamp_own_work(self.store, cause="enrolment")
        syncstate.log_run(self.store, kind="enrol", ok=True, message=str(body["agent_name"]))
        return Enrolment(
            device_id=str(body["device_id"]),
            agent_id=str(body["agent_id"]),
            agent_name=str(body["agent_name"]),
            communes=[str(c) for c in body["communes"]],
            server_url=self._server_url,
            restamped=tuple(restamped),
        )

    # -- upload -------------------------------------------------------------------------------

    def _device_id(self) -> str:
        device_id = self.store.meta("server_device_id")
        if not device_id:
            raise _not_enrolled()
        return device_id

    def _device_key(self) -> bytes:
        key = self.store.meta("device_key")
        if not key:
            raise _not_enrolled()
        return signing.decode_device_key(key)

    def _wire_hlc(self, text: str, device_id: str) -> str:
        # The store's clock names the laptop's own id; the server knows the device by the id it
        # gave at enrolment and checks that records carry it. Deterministic, so a resent batch
        # has the same content.
        parsed = hlc_parse(text)
        if parsed.device_id == self.store.device_id:
            return hlc_format(parsed.wall_ms, parsed.counter, device_id)
        return text

    def wire_batch(self, batch: StoredBatch) -> wire.Batch:
        """The protocol form of a pending batch (batch_body encodes the same, faster)."""
        device_id = self._device_id()
        records: list[wire.Record] = []
        for row in batch.rows:
            local_only = syncstate.LOCAL_ONLY_FIELDS.get(row.entity, frozenset())
            stored_base: dict[str, str | None] | None = loads(row.base)
            base = (
                None
                if stored_base is None
                else {
                    k: None if v is None else self._wire_hlc(v, device_id)
                    for k, v in stored_base.items()
                }
            )
            records.append(
                wire.Record(
                    seq=row.seq,
                    entity=row.entity,
                    id=row.entity_id,
                    op="update" if row.op == "update" else "insert",
                    hlc=self._wire_hlc(row.hlc, device_id),
                    data={k: v for k, v in loads(row.data).items() if k not in local_only},
                    base=base,
                )
            )
        return wire.Batch(
            protocol=wire.PROTOCOL_VERSION,
            device_id=device_id,
            batch_id=batch.batch_id,
            seq_from=batch.rows[0].seq,
            seq_to=batch.rows[-1].seq,
            records=records,
        )

    def batch_body(self, batch: StoredBatch) -> bytes:
        """The gzip JSON body of a batch, straight from the outbox's stored JSON text.

        Byte for byte what `wire.encode_body(self.wire_batch(batch))` gives, without
        decoding and re-encoding every record: the stored text is already compact JSON with
        sorted keys, so only local-only fields and (for a device id the server assigned)
        clocks need rewriting.
        """
        device_id = self._device_id()
        own = self.store.device_id
        rewrite = device_id != own
        local_only = syncstate.LOCAL_ONLY_FIELDS
        parts: list[str] = []
        for row in batch.rows:
            data = row.data
            hidden = local_only.get(row.entity)
            if hidden and any(f'"{name}":' in data for name in hidden):
                data = _compact({k: v for k, v in json.loads(data).items() if k not in hidden})
            base = "null" if row.base is None else row.base
            hlc = row.hlc
            if rewrite:
                hlc = self._wire_hlc(hlc, device_id)
                if row.base is not None:
                    base = _compact(
                        {
                            k: None if v is None else self._wire_hlc(v, device_id)
                            for k, v in json.loads(row.base).items()
                        }
                    )
            parts.append(
                f'{{"seq":{row.seq:d},"entity":{encode_basestring(row.entity)},'
                f'"id":{encode_basestring(row.entity_id)},'
                f'"op":"{"update" if row.op == "update" else "insert"}",'
                f'"hlc":{encode_basestring(hlc)},"data":{data},"base":{base}}}'
            )
        text = (
            f'{{"protocol":{wire.PROTOCOL_VERSION:d},"device_id":{encode_basestring(device_id)},'
            f'"batch_id":{encode_basestring(batch.batch_id)},"seq_from":{batch.rows[0].seq:d},'
            f'"seq_to":{batch.rows[-1].seq:d},"records":[{",".join(parts)}]}}'
        )
        return gzip.compress(text.encode(), compresslevel=_GZIP_LEVEL, mtime=0)

    def _claim(self, exclude: str | None) -> _Outgoing | None:
        """Claim the next batch (its id committed on its rows) and encode it for posting."""
        batch = syncstate.claim_batch(self.store, limit=self.batch_size, exclude=exclude)
        if batch is None:
            return None
        headers = {
            **self._auth_headers(),
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        }
        return _Outgoing(batch.batch_id, len(batch.rows), self.batch_body(batch), headers)

    def _post(self, outgoing: _Outgoing) -> wire.Ack:
        """Post one batch and check the answer; writes nothing to the store, so it may run on a
        thread."""
        body = self._request(
            "POST", wire.BATCHES_PATH, content=outgoing.body, headers=outgoing.headers
        )
        return wire.validate_ack(body)

    def _take_ack(self, ack: wire.Ack, result: SyncResult, *, batch_id: str | None) -> int:
        """Mark the outbox from an ack (HTTP or file); returns how many rows it settled."""
        if batch_id is not None and ack["batch_id"] != batch_id:
            raise SyncError(
                "Xác nhận của máy chủ dành cho lô khác",
                "The server acknowledged a different batch",
                code="ack_mismatch",
            )
        outcome = syncstate.apply_ack(
            self.store,
            batch_id=ack["batch_id"],
            accepted=ack["accepted"],
            refused=[dict(r) for r in ack["refused"]],
        )
        result.accepted += outcome.accepted
        result.refused.extend(outcome.refused)
        result.conflicts += ack["conflicts"]
        if outcome.unacknowledged:
            result.errors.append(
                SyncError(
                    f"Máy chủ chưa xác nhận {outcome.unacknowledged} bản ghi; sẽ gửi lại lần sau",
                    f"The server did not acknowledge {outcome.unacknowledged} record(s); "
                    "they will be sent again next time",
                    code="unacknowledged",
                )
            )
        return outcome.accepted + len(outcome.refused)

    def upload(self, result: SyncResult | None = None) -> SyncResult:
        """Send pending outbox rows batch by batch, oldest first, one batch on the wire at a time.

        While the server applies one batch, this thread marks the previous ack and claims and
        encodes the next batch, so the laptop's work and the server's overlap. Every batch id
        is committed before its batch is sent; only what an ack names is marked.
        """
        result = result if result is not None else SyncResult()
        total = syncstate.pending_count(self.store)
        done = 0
        self._report(done, total)
        ready: _Outgoing | None = None
        flying: tuple[_Outgoing, Future[wire.Ack]] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldapp-upload") as sender:
            while True:
                answered: tuple[_Outgoing, wire.Ack] | None = None
                if flying is not None:
                    answered = (flying[0], flying[1].result())
                    flying = None
                if ready is not None and not self._should_cancel():
                    flying = (ready, sender.submit(self._post, ready))
                    result.sent += ready.records
                if answered is not None:
                    done += self._take_ack(answered[1], result, batch_id=answered[0].batch_id)
                    self._report(done, max(total, done))
                    if result.errors:
                        # Counts disagree with the server: stop and resend next time, never
                        # guess. A batch already on its way is applied by the server and
                        # acknowledged again when it is resent.
                        return result
                if flying is None:
                    self._check_cancel()
                    ready = self._claim(None)
                    if ready is None:
                        return result
                else:
                    ready = self._claim(flying[0].batch_id)

    # -- pull ---------------------------------------------------------------------------------

    def pull(self, result: SyncResult | None = None) -> SyncResult:
        """Apply the server's changes since the stored cursor, one transaction per page.

        While this thread applies a page, the next one is already being fetched: on a slow
        link the laptop's work hides behind the transfer instead of adding to it. Each page
        is applied with its own cursor in one transaction, so a cut or a cancel at any moment
        resumes from the last page applied; a page fetched but not applied is simply asked
        for again.
        """
        result = result if result is not None else SyncResult()
        since = syncstate.cursor(self.store)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldapp-pull") as fetcher:
            page = self._fetch_page(since, self._auth_headers())
            while True:
                more = page["more"] and page["cursor"] > since
                following: Future[wire.ChangePage] | None = None
                if more:
                    headers = self._auth_headers()
                    following = fetcher.submit(self._fetch_page, page["cursor"], headers)
                before = result.pulled

                def step(n: int, before: int = before) -> None:
                    self._report(before + n, 0)

                outcome = syncstate.apply_page(
                    self.store,
                    [dict(c) for c in page["changes"]],
                    new_cursor=page["cursor"],
                    on_change=step,
                )
                result.pulled += outcome.applied
                result.skipped += len(outcome.skipped)
                result.moved += outcome.moved
                if following is None:
                    return result
                since = page["cursor"]
                self._check_cancel()
                page = following.result()

    def _fetch_page(self, since: int, headers: dict[str, str]) -> wire.ChangePage:
        """One page of the change feed after a cursor, checked; writes nothing to the store, so
        it may run on a thread while a page is applied."""
        body = self._request(
            "GET",
            wire.CHANGES_PATH,
            params={"since": since, "limit": self.page_size},
            headers=headers,
        )
        return wire.validate_change_page(body)

    # -- a whole run --------------------------------------------------------------------------

    def run(self) -> SyncResult:
        """Upload, then pull; stops at a cancel or a failure, and logs the run."""
        result = SyncResult()
        try:
            self._refuse_plain_http()
            self._remember_plain_http()
            self.upload(result)
            if not result.errors:
                self.pull(result)
        except Cancelled:
            result.cancelled = True
        except FieldappError as exc:
            result.errors.append(exc)
        result.kept_local = syncstate.local_count(self.store)
        self._log("sync", result)
        return result

    def status(self) -> SyncStatus:
        return status(self.workspace)

    # -- files for a USB stick ----------------------------------------------------------------

    def export_batches(self, path: str | os.PathLike[str]) -> SyncResult:
        """Write every pending batch to a signed file: PATH, then PATH-2, PATH-3… if several.

        Batch ids are assigned exactly as for an upload, so the same batch may later go over
        HTTP or as a file and the server applies it once.
        """
        result = SyncResult()
        try:
            key = self._device_key()
            target = Path(path)
            for index, pending in enumerate(
                syncstate.all_batches(self.store, limit=self.batch_size)
            ):
                outgoing = self.wire_batch(pending)
                out = (
                    target
                    if index == 0
                    else target.with_name(f"{target.stem}-{index + 1}{target.suffix}")
                )
                tmp = out.with_name(out.name + ".tmp")
                tmp.write_bytes(signing.write_batch_file(outgoing, key))
                os.replace(tmp, out)
                result.files.append(out)
                result.sent += len(outgoing["records"])
        except FieldappError as exc:
            result.errors.append(exc)
        except OSError as exc:
            result.errors.append(_file_problem(path, exc))
        result.kept_local = syncstate.local_count(self.store)
        self._log("export", result)
        return result

    def apply_ack_file(self, path: str | os.PathLike[str]) -> SyncResult:
        """Read the server's signed ack file and mark the outbox as an HTTP ack would.

        A file that fails its signature check, or is for another device, changes nothing.
        """
        result = SyncResult()
        try:
            raw = Path(path).read_bytes()
            ack = signing.read_ack_file(raw, self._device_id(), self._device_key())
            self._take_ack(ack, result, batch_id=None)
        except FieldappError as exc:
            result.errors.append(exc)
        except OSError as exc:
            result.errors.append(_file_problem(path, exc))
        self._log("ack_file", result)
        return result

    # -- helpers ------------------------------------------------------------------------------

    def _report(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(done, total)

    def _log(self, kind: str, result: SyncResult) -> None:
        syncstate.log_run(
            self.store,
            kind=kind,
            ok=result.ok,
            sent=result.sent,
            accepted=result.accepted,
            refused=len(result.refused),
            pulled=result.pulled,
            message=result.message() or ("cancelled" if result.cancelled else ""),
        )


def _compact(value: Any) -> str:
    """JSON as wire.encode_body writes it (compact, UTF-8 text kept as is)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _network_problem(exc: httpx.TransportError, *, retryable: bool) -> SyncError:
    if isinstance(exc, httpx.TimeoutException):
        return SyncError(
            "Máy chủ không trả lời kịp (hết thời gian chờ)",
            "The server did not answer in time (timeout)",
            code="timeout",
            retryable=retryable,
        )
    return SyncError(
        f"Không kết nối được máy chủ: {exc}",
        f"Cannot reach the server: {exc}",
        code="network",
        retryable=retryable,
    )


def _http_problem(response: httpx.Response, *, idempotent: bool) -> SyncError:
    status_code = response.status_code
    vi, en, code = "", "", f"http_{status_code}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("vi"), str):
        vi, en, code = body["vi"], str(body.get("en", body["vi"])), str(body.get("code", code))
    retryable = status_code >= 500 or status_code in _RETRY_STATUS
    return SyncError(
        f"Máy chủ từ chối (HTTP {status_code}): {vi}".rstrip(": "),
        f"The server answered HTTP {status_code}: {en}".rstrip(": "),
        code=code,
        status=status_code,
        retryable=retryable and (idempotent or status_code in (429, 503)),
    )


def _retry_after(response: httpx.Response) -> float:
    text = response.headers.get("retry-after", "")
    return float(text) if text.isdigit() else 0.0


def _file_problem(path: str | os.PathLike[str], exc: OSError) -> SyncError:
    return SyncError(
        f"Lỗi tệp {os.fspath(path)}: {exc.strerror}",
        f"File error {os.fspath(path)}: {exc.strerror}",
        code="file_error",
    )
