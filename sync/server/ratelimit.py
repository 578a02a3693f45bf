"""Per-device request limits on upload and pull: a token bucket in memory for each device id.

The defaults are generous (10 requests a second, bursts of 30): a laptop that syncs normally
never meets them, a laptop stuck in a loop does. FIELDAPP_SERVER_RATE_LIMIT="RATE/BURST"
changes them ("10/30"); "off" turns the limit off. The buckets live in the worker process:
behind several workers each one counts for itself, which only makes the limit looser.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sync.server.errors import ServerError

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


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`rate` requests a second per key, with bursts up to `burst`; rate 0 means no limit."""

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate < 0 or burst < 1:
            raise ValueError("the rate must be >= 0 and the burst >= 1")
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
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

    def wait_needed(self, key: str) -> float:
        """Take one token for `key`: 0 when the request may go ahead, else seconds to wait."""
        if not self.enabled:
            return 0.0
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def check(self, key: str) -> None:
        """Raise RateLimited (429) when `key` has used up its requests for now."""
        wait = self.wait_needed(key)
        if wait > 0:
            raise RateLimited(max(1, math.ceil(wait)))
