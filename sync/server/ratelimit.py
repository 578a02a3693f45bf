"""Per-device request limits on upload and pull: a token bucket for each device id, kept in the
server's database so that every worker process and every machine behind a proxy shares it.

The defaults are generous (10 requests a second, bursts of 30): a laptop that syncs normally
never meets them, a laptop stuck in a loop does. FIELDAPP_SERVER_RATE_LIMIT="RATE/BURST"
changes them ("10/30"); "off" turns the limit off. Each request takes its token with one
INSERT … ON CONFLICT DO UPDATE … RETURNING (as login lockouts are counted), so two workers
serving the same device at the same moment can never both take the last token.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from sync.protocol.frozen import kept_dataclass
from sync.server.errors import ServerError
from sync.server.schema import rate_buckets

ENV = "FIELDAPP_SERVER_RATE_LIMIT"
DEFAULT_RATE = 10.0
DEFAULT_BURST = 30


class RateLimited(ServerError):
    """HTTP 429; `retry_after` is the whole number of seconds to wait (the Retry-After header)."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"Thiết bị gửi quá nhiều yêu cầu; hãy thử lại sau {retry_after} giây",
            f"Too many requests from this device; try again in {retry_after} s",
            code="rate_limited",
            status=429,
        )


@kept_dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`rate` requests a second per key, with bursts up to `burst`; rate 0 means no limit.

    Given a connection, a key's bucket is the database's row (what the server does: shared by
    every worker); without one it lives in this object (one process on its own). `now` gives
    seconds on a clock every worker reads alike: the wall clock by default, since each
    process's monotonic clock starts somewhere else. `monotonic` is its older name.
    """

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        *,
        now: Callable[[], float] | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        if rate < 0 or burst < 1:
            raise ValueError("the rate must be >= 0 and the burst >= 1")
        self.rate = rate
        self.burst = burst
        self._now = now or monotonic or time.time
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> RateLimiter:
        """The limits FIELDAPP_SERVER_RATE_LIMIT sets ("RATE/BURST" or "off"), else defaults."""
        text = (environ if environ is not None else dict(os.environ)).get(ENV, "").strip()
        if not text:
            return cls()
        if text.lower() in ("off", "0", "none"):
            return cls(rate=0)
        rate_text, _, burst_text = text.partition("/")
        try:
            rate = float(rate_text)
            burst = int(burst_text) if burst_text else max(1, math.ceil(rate * 3))
            return cls(rate=rate, burst=burst)
        except ValueError:
            raise ValueError(f'{ENV} must look like "10/30" or "off", not {text!r}') from None

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def wait_needed(self, key: str, conn: Connection | None = None) -> float:
        """Take one token for `key`: 0 when the request may go ahead, else seconds to wait."""
        if not self.enabled:
            return 0.0
        now = self._now()
        if conn is not None:
            return self._take_stored(conn, key, now)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = self._refilled(bucket.tokens, bucket.at, now)
            bucket.at = max(bucket.at, now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def check(self, key: str, conn: Connection | None = None) -> None:
        """Raise RateLimited (429) when `key` has used up its requests for now."""
        wait = self.wait_needed(key, conn)
        if wait > 0:
            raise RateLimited(max(1, math.ceil(wait)))

    def _refilled(self, tokens: float, at: float, now: float) -> float:
        """The tokens a bucket holds at `now`; a clock that stepped back adds none."""
        return min(float(self.burst), tokens + max(0.0, now - at) * self.rate)

    def _take_stored(self, conn: Connection, key: str, now: float) -> float:
        """wait_needed on the database's bucket, in the caller's transaction.

        The row is created full less this request's token, or refilled and a token taken, in
        one statement; when the bucket holds less than a token the update is skipped (no row
        comes back) and only then is the bucket read, to say how long to wait.
        """
        t = rate_buckets
        at = sa.literal(now, sa.Float())
        burst = sa.literal(float(self.burst), sa.Float())
        elapsed = sa.case((t.c.refilled_at < at, at - t.c.refilled_at), else_=0.0)
        grown = t.c.tokens + elapsed * sa.literal(self.rate, sa.Float())
        refilled = sa.case((grown > burst, burst), else_=grown)
        insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(t)
        statement = (
            insert.values(key=key, tokens=float(self.burst) - 1.0, refilled_at=now)
            .on_conflict_do_update(
                index_elements=[t.c.key],
                set_={
                    "tokens": refilled - 1.0,
                    "refilled_at": sa.case((t.c.refilled_at < at, at), else_=t.c.refilled_at),
                },
                where=refilled >= 1.0,
            )
            .returning(t.c.tokens)
        )
        if conn.execute(statement).first() is not None:
            return 0.0
        row = conn.execute(sa.select(t.c.tokens, t.c.refilled_at).where(t.c.key == key)).one()
        return max(1e-9, (1.0 - self._refilled(row.tokens, row.refilled_at, now)) / self.rate)
