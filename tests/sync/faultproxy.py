"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1 that sync tests run in a thread.

Per request it picks one behaviour at random from a seeded generator: pass the request through,
cut the connection half-way through the request body, cut it half-way through the server's answer
(the server has already applied the request), answer 502 or 503 itself, hold the server's answer
past the client's timeout, or send the request to the server twice at the same time.

Each request goes to the server on a fresh connection with `Connection: close`, so the proxy only
has to frame bodies by Content-Length (requests) or by the end of the stream (answers).

It can also stand for a slow, unreliable link between the laptop and the proxy: `rate` limits
both directions to that many bytes per second (shared by every connection, as one 3G link is),
and `cut_every` / `cut_at` drop the connection part-way through an answer once that many bytes
of answers have crossed the link, so a long pull is cut in the middle of a page.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

PASS = "pass"
CUT_REQUEST = "cut_request"
CUT_RESPONSE = "cut_response"
BAD_GATEWAY = "502"
UNAVAILABLE = "503"
SLOW = "slow"
DUPLICATE = "duplicate"
FAULTS = (PASS, CUT_REQUEST, CUT_RESPONSE, BAD_GATEWAY, UNAVAILABLE, SLOW, DUPLICATE)
# Not drawn like the faults above: the link dropping after a number of bytes (cut_every, cut_at).
LINK_CUT = "link_cut"

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
MAX_REQUESTS_PER_CONNECTION = 10_000
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "content-length"}
)
_REASONS = {502: "Bad Gateway", 503: "Service Unavailable"}


class _Broken(Exception):
    """The peer sent something this proxy does not speak, or went away."""


@dataclass
class Seen:
    """One request as the proxy received it, what it did, and what the server answered."""

    method: str
    path: str
    body: bytes
    fault: str
    # Statuses of the server's answers (two for a duplicate; none when it was never forwarded).
    statuses: list[int] = field(default_factory=list)
    answers: list[bytes] = field(default_factory=list)
    # Bytes of the answer that reached the client, and whether the link dropped part-way.
    delivered: int = 0
    cut: bool = False


class _Pace:
    """One direction of the link: at most `rate` bytes a second, whichever connection sends.

    Each chunk books the link for len/rate seconds after the chunk before it and is let through
    once that time has passed, as if it had just crossed a link of that speed. A little slack
    lets a late wake-up catch up, so sleeping late does not slow the link down over time.
    """

    SLACK = 0.05

    def __init__(self, rate: float | None, stopping: threading.Event) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.stopping = stopping
        self.bytes = 0
        self._free_at = 0.0
        self._lock = threading.Lock()

    @property
    def chunk(self) -> int:
        """How much to send at once: about 50 ms of the link, within 1-64 KiB."""
        if self.rate is None:
            return 1 << 20
        return max(1024, min(65536, int(self.rate / 20)))

    def take(self, n: int) -> None:
        with self._lock:
            self.bytes += n
            if self.rate is None:
                return
            now = time.monotonic()
            self._free_at = max(self._free_at, now - self.SLACK) + n / self.rate
            wait = self._free_at - now
        if wait > 0:
            self.stopping.wait(wait)


class _Reader:
    """Buffered reads from a socket, bounded in size."""

    def __init__(self, sock: socket.socket, pace: _Pace | None = None) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.pace = pace

    def _fill(self) -> bool:
        chunk = self.sock.recv(self.pace.chunk if self.pace is not None else 65536)
        if not chunk:
            return False
        if self.pace is not None:
            self.pace.take(len(chunk))
        self.buffer += chunk
        return True

    def until(self, marker: bytes, limit: int) -> bytes | None:
        """Bytes up to and including marker; None at a clean end of stream before any byte."""
        while True:
            at = self.buffer.find(marker)
            if at >= 0:
                out = bytes(self.buffer[: at + len(marker)])
                del self.buffer[: at + len(marker)]
                return out
            if len(self.buffer) > limit:
                raise _Broken("head too long")
            if not self._fill():
                if self.buffer:
                    raise _Broken("stream ended inside a head")
                return None

    def exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not self._fill():
                raise _Broken("stream ended inside a body")
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def rest(self, limit: int) -> bytes:
        while self._fill():
            if len(self.buffer) > limit:
                raise _Broken("answer too long")
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


def _headers(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    out = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            out.append((name.strip(), value.strip()))
    return lines[0], out


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _dechunk(raw: bytes) -> bytes:
    out = bytearray()
    rest = raw
    for _ in range(1_000_000):
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += rest[:size]
        rest = rest[size + 2 :]
    raise _Broken("too many chunks")


@dataclass
class _Request:
    method: str
    path: str
    head_line: str
    headers: list[tuple[str, str]]
    body: bytes

    def upstream_bytes(self) -> bytes:
        lines = [self.head_line]
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() not in _HOP_BY_HOP]
        lines += [f"Content-Length: {len(self.body)}", "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1") + self.body


class FaultProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to `upstream` with injected faults.

    `weights` gives each behaviour's relative chance (missing ones are 0); only requests whose
    path starts with one of `fault_paths` get a fault, the rest pass. The first such requests
    get the faults in `opening`, in order (so a short run still meets each of them); the rest are
    drawn at random. `slow_seconds` must be longer than the client's timeout.

    `rate` (bytes a second, None: unlimited) paces what crosses between client and proxy, each
    direction on its own. Answers to requests on `fault_paths` are counted as they cross, and the
    connection is dropped when the count reaches a cut point: `cut_every` bytes after the
    previous cut (or the start), and at each of the counts in `cut_at`. A request so cut is
    marked `cut` in `seen`, and the bytes that got through count in `delivered`.
    """

    def __init__(
        self,
        upstream: str,
        *,
        seed: int,
        weights: Mapping[str, float],
        fault_paths: tuple[str, ...] = ("/",),
        opening: Sequence[str] = (),
        slow_seconds: float = 1.0,
        io_timeout: float = 30.0,
        rate: float | None = None,
        cut_every: int | None = None,
        cut_at: Iterable[int] = (),
    ) -> None:
        parts = urlsplit(upstream)
        if parts.hostname != "127.0.0.1" or parts.port is None:
            raise ValueError("the proxy only forwards to 127.0.0.1:<port>")
        unknown = (set(weights) | set(opening)) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}")
        if cut_every is not None and cut_every <= 0:
            raise ValueError("cut_every must be positive")
        self.upstream = (parts.hostname, parts.port)
        self.seed = seed
        self.kinds = [k for k in FAULTS if weights.get(k, 0) > 0]
        self.weights = [float(weights[k]) for k in self.kinds]
        self.fault_paths = fault_paths
        self.opening = list(opening)
        self.slow_seconds = slow_seconds
        self.io_timeout = io_timeout
        self.counts: Counter[str] = Counter()
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # The link: bytes from the clients (requests) and to them (answers).
        self.up = _Pace(rate, self._stopping)
        self.down = _Pace(rate, self._stopping)
        self.cut_every = cut_every
        self._cut_points = sorted(set(cut_at))
        # Bytes of answers on fault paths that have crossed the link, and where the last cut was.
        self.answered = 0
        self._last_cut = 0
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()

    # -- lifetime -----------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.1)
        self._listener = listener
        thread = threading.Thread(target=self._accept, name="faultproxy", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    @property
    def base_url(self) -> str:
        assert self._listener is not None, "start() first"
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for sock in list(self._open):
                _close(sock)
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def cuts(self) -> int:
        """How many answers the link dropped part-way (cut_every, cut_at)."""
        return self.counts[LINK_CUT]

    @property
    def wire_bytes(self) -> int:
        """Bytes that crossed the link both ways: requests and answers, heads included."""
        return self.up.bytes + self.down.bytes

    # -- connections --------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(self.io_timeout)
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            with self._lock:
                self._open.add(client)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        reader = _Reader(client, self.up)
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                if self._stopping.is_set():
                    return
                request = self._read_request(reader)
                if request is None or not self._handle(client, request):
                    return
        except (OSError, _Broken, ValueError):
            return
        finally:
            with self._lock:
                self._open.discard(client)
            _close(client)

    def _read_request(self, reader: _Reader) -> _Request | None:
        head = reader.until(b"\r\n\r\n", MAX_HEAD)
        if head is None:
            return None
        line, headers = _headers(head)
        method, path, _version = line.split(" ", 2)
        if _header(headers, "transfer-encoding") is not None:
            raise _Broken("chunked request bodies are not supported")
        length = int(_header(headers, "content-length") or 0)
        if length > MAX_BODY:
            raise _Broken("request body too large")
        return _Request(method, path, line, headers, reader.exactly(length))

    def _choose(self, request: _Request) -> tuple[Seen, random.Random]:
        with self._lock:
            index = len(self.seen)
            rng = random.Random(f"{self.seed}-{index}")
            kind = PASS
            if request.path.startswith(self.fault_paths):
                if self.opening:
                    kind = self.opening.pop(0)
                elif self.kinds:
                    kind = rng.choices(self.kinds, self.weights)[0]
            self.counts[kind] += 1
            seen = Seen(request.method, request.path, request.body, kind)
            self.seen.append(seen)
        return seen, rng

    def _handle(self, client: socket.socket, request: _Request) -> bool:
        """Serve one request; True when the client connection stays open for the next one."""
        seen, rng = self._choose(request)
        kind = seen.fault
        if kind == CUT_REQUEST:
            # The server gets the head and part of the body, then both sides lose the connection.
            upstream = self._connect()
            try:
                raw = request.upstream_bytes()
                upstream.sendall(raw[: len(raw) - len(request.body) // 2 - 1])
            finally:
                self._disconnect(upstream)
            return False
        if kind in (BAD_GATEWAY, UNAVAILABLE):
            status = int(kind)
            body = json.dumps(
                {"code": f"proxy_{status}", "vi": "Cổng trung gian lỗi", "en": _REASONS[status]}
            ).encode()
            answer = _response(status, _REASONS[status], [], body, keep_alive=True)
            return self._send(client, answer, seen, cuttable=False)
        if kind == DUPLICATE:
            copy: list[tuple[int, bytes, bytes]] = []

            def send_copy() -> None:
                with contextlib.suppress(OSError, _Broken, ValueError):
                    copy.append(self._exchange(request))

            twin = threading.Thread(target=send_copy, daemon=True)
            twin.start()
            status, head, body = self._exchange(request)
            twin.join(self.io_timeout)
            for answer in copy:
                seen.statuses.append(answer[0])
                seen.answers.append(answer[2])
        else:
            status, head, body = self._exchange(request)
        seen.statuses.append(status)
        seen.answers.append(body)
        line, headers = _headers(head)
        reason = line.split(" ", 2)[2] if line.count(" ") >= 2 else ""
        answer = _response(status, reason, headers, body, keep_alive=True)
        cuttable = request.path.startswith(self.fault_paths)
        if kind == CUT_RESPONSE:
            self._send(client, answer[: rng.randrange(len(answer))], seen, cuttable=cuttable)
            return False
        if kind == SLOW:
            self._stopping.wait(self.slow_seconds)
            self._send(client, answer, seen, cuttable=cuttable)
            return False
        return self._send(client, answer, seen, cuttable=cuttable)

    def _cut_point(self, size: int) -> int | None:
        """Reserve `size` bytes of the answer count; how many get through if the link drops in
        them (None: all of them). The caller holds the lock."""
        start = self.answered
        points = list(self._cut_points)
        if self.cut_every is not None:
            points.append(self._last_cut + self.cut_every)
        inside = [p for p in points if start <= p < start + size]
        if not inside:
            self.answered += size
            return None
        at = min(inside)
        self._cut_points = [p for p in self._cut_points if p > at]
        self._last_cut = at
        self.answered = at
        return at - start

    def _send(self, client: socket.socket, answer: bytes, seen: Seen, *, cuttable: bool) -> bool:
        """Send an answer across the paced link; False when the link dropped part-way (the
        client connection is then to be closed)."""
        limit = None
        if cuttable and (self.cut_every is not None or self._cut_points):
            with self._lock:
                limit = self._cut_point(len(answer))
                if limit is not None:
                    self.counts[LINK_CUT] += 1
                    seen.cut = True
        end = len(answer) if limit is None else limit
        step = self.down.chunk
        for at in range(0, end, step):
            piece = answer[at : min(end, at + step)]
            self.down.take(len(piece))
            client.sendall(piece)
            seen.delivered += len(piece)
        return limit is None

    def _connect(self) -> socket.socket:
        upstream = socket.create_connection(self.upstream, timeout=self.io_timeout)
        with self._lock:
            self._open.add(upstream)
        return upstream

    def _exchange(self, request: _Request) -> tuple[int, bytes, bytes]:
        """Send the request to the server and read its whole answer: (status, head, body)."""
        upstream = self._connect()
        try:
            upstream.sendall(request.upstream_bytes())
            reader = _Reader(upstream)
            head = reader.until(b"\r\n\r\n", MAX_HEAD)
            if head is None:
                raise _Broken("the server closed without answering")
            line, headers = _headers(head)
            rest = reader.rest(MAX_BODY)
            if (_header(headers, "transfer-encoding") or "").lower() == "chunked":
                body = _dechunk(rest)
            else:
                length = _header(headers, "content-length")
                body = rest if length is None else rest[: int(length)]
            return int(line.split(" ", 2)[1]), head, body
        finally:
            self._disconnect(upstream)

    def _disconnect(self, upstream: socket.socket) -> None:
        with self._lock:
            self._open.discard(upstream)
        _close(upstream)


def _response(
    status: int, reason: str, headers: list[tuple[str, str]], body: bytes, *, keep_alive: bool
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}".rstrip()]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in _HOP_BY_HOP]
    if not any(k.lower() == "content-type" for k, _ in headers):
        lines.append("Content-Type: application/json")
    lines += [
        f"Content-Length: {len(body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
    ]
    return "\r\n".join([*lines, "", ""]).encode("latin-1") + body


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
