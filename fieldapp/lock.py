"""The app lock: the agent's PIN (hashed, never stored), back-off after wrong tries, backup keys."""

from __future__ import annotations

import datetime as dt
import math
import os
import re

from fieldapp.store import Store
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen

# scrypt cost for the PIN hash and the backup key: 16 MiB and about 50 ms on a low-end laptop.
# The FABK1 backup container assumes these values; changing them needs a new container version.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32

FREE_ATTEMPTS = 3
FIRST_WAIT_SECONDS = 5
MAX_WAIT_SECONDS = 15 * 60
DEFAULT_IDLE_TIMEOUT = 300

# Keys in the store's meta table.
PIN_HASH = "lock.pin_hash"
KEY_SALT = "lock.key_salt"
FAILURES = "lock.failures"
LAST_FAILURE = "lock.last_failure"
IDLE_TIMEOUT = "lock.idle_timeout"

_PIN = re.compile(r"[0-9]{4,8}")


class PinFormatError(FieldappError):
    """A PIN that is not 4 to 8 digits."""

    def __init__(self) -> None:
        super().__init__(
            "Mã PIN phải gồm từ 4 đến 8 chữ số.",
            "The PIN must be 4 to 8 digits.",
            code="pin_format",
        )


class PinNotSetError(FieldappError):
    """The store has no PIN yet."""

    def __init__(self) -> None:
        super().__init__(
            "Chưa đặt mã PIN. Hãy đặt mã PIN trước (lệnh `fieldapp pin set`).",
            "No PIN has been set. Set one first (`fieldapp pin set`).",
            code="pin_not_set",
        )


class WrongPinError(FieldappError):
    """The PIN given does not match the stored one."""

    def __init__(self) -> None:
        super().__init__("Sai mã PIN.", "Wrong PIN.", code="pin_wrong")


class LockedOut(FieldappError):
    """Too many wrong PINs: the next attempt is allowed only after `seconds`."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        minutes, rest = divmod(seconds, 60)
        wait_vi = f"{minutes} phút {rest} giây" if minutes else f"{rest} giây"
        wait_en = f"{minutes} min {rest} s" if minutes else f"{rest} s"
        super().__init__(
            f"Nhập sai mã PIN quá nhiều lần. Hãy thử lại sau {wait_vi}.",
            f"Too many wrong PINs. Try again in {wait_en}.",
            code="pin_locked_out",
        )


def _scrypt(pin: str, salt: bytes) -> bytes:
    # hashlib and hmac load OpenSSL (about 3 ms): imported when a PIN is checked, not when
    # the app starts.
    import hashlib

    return hashlib.scrypt(
        pin.encode("ascii"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=64 * 1024 * 1024,
        dklen=KEY_BYTES,
    )


def key_from_pin(pin: str, salt: bytes) -> bytes:
    """The 32-byte encryption key for a PIN and a key salt (what a backup file records)."""
    _require_format(pin)
    return _scrypt(pin, salt)


def _require_format(pin: str) -> None:
    if not _PIN.fullmatch(pin):
        raise PinFormatError()


def _matches(encoded: str, pin: str) -> bool:
    import hashlib
    import hmac

    scheme, n, r, p, salt, digest = encoded.split("$")
    if scheme != "scrypt":
        return False
    found = hashlib.scrypt(
        pin.encode("ascii", "replace"),
        salt=bytes.fromhex(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=64 * 1024 * 1024,
        dklen=len(digest) // 2,
    )
    return hmac.compare_digest(found, bytes.fromhex(digest))


def wait_after(failures: int) -> int:
    """Seconds to wait after `failures` wrong PINs in a row before the next try is checked."""
    if failures < FREE_ATTEMPTS:
        return 0
    doublings: int = min(failures - FREE_ATTEMPTS, 20)
    return min(FIRST_WAIT_SECONDS * (1 << doublings), MAX_WAIT_SECONDS)


@frozen
class Attempt:
    """What one try at the lock screen gave."""

    # The backup key when the PIN was right, else None.
    key: bytes | None
    # After a wrong PIN: seconds before the next try is checked (0 while tries are free).
    wait: int

    @property
    def ok(self) -> bool:
        return self.key is not None


class PinLock:
    """The agent's PIN on one store: set it, check it with back-off, derive the backup key."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def has_pin(self) -> bool:
        return self.store.meta(PIN_HASH) is not None

    def set_pin(self, pin: str, *, current: str | None = None) -> bytes:
        """Set the PIN (4–8 digits); changing an existing PIN needs the `current` one.

        Returns the backup key that goes with the new PIN.
        """
        _require_format(pin)
        if self.has_pin() and (current is None or not self.check(current)):
            raise WrongPinError()
        salt = os.urandom(SALT_BYTES)
        digest = _scrypt(pin, salt).hex()
        encoded = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest}"
        store = self.store
        with store.transaction():
            store.set_meta(PIN_HASH, encoded)
            store.set_meta(FAILURES, "0")
            # The key salt outlives PIN changes: each backup file carries the salt it was
            # made with.
            if store.meta(KEY_SALT) is None:
                store.set_meta(KEY_SALT, os.urandom(SALT_BYTES).hex())
        return key_from_pin(pin, self.key_salt())

    def seconds_to_wait(self) -> int:
        """How long the lock screen must wait before accepting another try (0 when it need
        not)."""
        failures = int(self.store.meta(FAILURES) or 0)
        wait = wait_after(failures)
        last = self.store.meta(LAST_FAILURE)
        if not wait or last is None:
            return 0
        # A clock moved backwards counts as no time elapsed, never as a lock that lasts for
        # ever.
        now = self.store.clock.now()
        elapsed = max(0.0, (now - dt.datetime.fromisoformat(last)).total_seconds())
        return max(0, math.ceil(wait - elapsed))

    def check(self, pin: str) -> bool:
        """True for the right PIN. Raises LockedOut while a back-off wait is running."""
        store = self.store
        encoded = store.meta(PIN_HASH)
        if encoded is None:
            raise PinNotSetError()
        with store.transaction():
            remaining = self.seconds_to_wait()
            if remaining:
                raise LockedOut(remaining)
            # The try is counted before the PIN is checked, so cutting the power (or killing
            # the app) in the middle of a check cannot be used to get unlimited free tries.
            failures = int(store.meta(FAILURES) or 0)
            store.set_meta(FAILURES, str(failures + 1))
            store.set_meta(LAST_FAILURE, store.clock.now().isoformat())
        if not _PIN.fullmatch(pin) or not _matches(encoded, pin):
            return False
        store.set_meta(FAILURES, "0")
        return True

    def unlock(self, pin: str) -> bytes | None:
        """The backup key when the PIN is right, None when it is wrong (the try is counted);
        raises LockedOut while a back-off wait is running."""
        if not self.check(pin):
            return None
        return key_from_pin(pin, self.key_salt())

    def attempt(self, pin: str) -> Attempt:
        """A try at the lock screen: the key when right, else how long to wait before the next;
        raises LockedOut while a back-off wait is running."""
        key = self.unlock(pin)
        return Attempt(key, 0 if key is not None else self.seconds_to_wait())

    def derive_key(self, pin: str) -> bytes:
        """The key for encrypting backups and exported files; raises WrongPinError."""
        key = self.unlock(pin)
        if key is None:
            raise WrongPinError()
        return key

    def key_salt(self) -> bytes:
        salt = self.store.meta(KEY_SALT)
        if salt is None:
            raise PinNotSetError()
        return bytes.fromhex(salt)

    def idle_timeout(self) -> int:
        """Seconds without input before the app locks itself (300 by default)."""
        value = self.store.meta(IDLE_TIMEOUT)
        try:
            seconds = int(value) if value is not None else DEFAULT_IDLE_TIMEOUT
        except ValueError:
            return DEFAULT_IDLE_TIMEOUT
        return seconds if seconds > 0 else DEFAULT_IDLE_TIMEOUT

    def set_idle_timeout(self, seconds: int) -> None:
        """Change the idle timeout; between 30 seconds and one hour."""
        if not 30 <= seconds <= 3600:
            raise FieldappError(
                "Thời gian tự khoá phải từ 30 giây đến 60 phút.",
                "The idle timeout must be between 30 seconds and 60 minutes.",
                code="idle_timeout_range",
            )
        self.store.set_meta(IDLE_TIMEOUT, str(seconds))
