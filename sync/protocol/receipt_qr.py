"""Receipt QR payloads: signed text that lets anyone check a printed receipt.

Offline form (version 1), what the receipt's QR code holds when no server is configured::

    FA1|<receipt_id>|<series>|<number>|<amount>|<YYYYMMDD>|<sig>

- ``receipt_id``: the receipt's UUIDv7; ``series``: the receipt book's ký hiệu (e.g. LC-NTA-24);
  ``number``: the receipt number in plain decimal (no zero padding); ``amount``: integer đồng;
  ``YYYYMMDD``: the issue date in Vietnam.
- ``sig``: the first 16 lower-case hex characters of HMAC-SHA256(device_key, text) where
  ``text`` is everything before ``|<sig>``, encoded as UTF-8. The device key is the secret the
  laptop received at enrolment; the provincial server holds the same key per device, so it can
  check any receipt, and a supervisor's laptop with the key can check one offline.

Online form, used when a verification server is configured::

    https://<server>/r/<receipt_id>?s=<sig>

The server looks the receipt up by id and recomputes ``sig`` from its own record with
``receipt_signature``; the URL therefore carries no amounts and cannot be edited into a valid
one for a different amount.

The verification code printed under the QR (``verification_code``) is the same signature
re-encoded as 8 characters in two groups ("7KQM-3XWD") from an alphabet without 0/O and 1/I,
so a payer can type it on the verification page together with series and number.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sync.protocol.frozen import frozen

PREFIX = "FA1"
SIG_HEX_CHARS = 16
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

_SIG_RE = re.compile(r"^[0-9a-f]{16}$")
_DATE_RE = re.compile(r"^\d{8}$")
_FIELD_RE = re.compile(r"^[^|\s]+$")


class QrPayloadError(ValueError):
    """A QR payload that is not one of the receipt formats."""


def _check_field(name: str, value: str) -> str:
    if not _FIELD_RE.match(value):
        raise ValueError(f"{name} must be non-empty without '|' or spaces, got {value!r}")
    return value


def _check_int(name: str, value: object) -> int:
    # bool is an int subclass; a receipt numbered True is a bug upstream.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


def is_signature(text: object) -> bool:
    """True for a receipt signature's form: 16 hex characters (either case)."""
    return isinstance(text, str) and _SIG_RE.match(text.lower()) is not None


def _sign(text: str, device_key: bytes) -> str:
    digest = hmac.new(device_key, text.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:SIG_HEX_CHARS]


@frozen
class ReceiptSeal:
    """What a receipt's signature covers: its id, book series, number, amount and issue date."""

    receipt_id: str
    series: str
    number: int
    amount: int
    issued_on: dt.date

    def text(self) -> str:
        """The signed text (the FA1 form without its signature)."""
        parts = (
            PREFIX,
            _check_field("receipt_id", self.receipt_id),
            _check_field("series", self.series),
            str(_check_int("number", self.number)),
            str(_check_int("amount", self.amount)),
            self.issued_on.strftime("%Y%m%d"),
        )
        return "|".join(parts)

    def signature(self, device_key: bytes) -> str:
        """The 16-hex-character signature (what both QR forms carry)."""
        return _sign(self.text(), device_key)

    def qr_payload(self, device_key: bytes, *, server_url: str | None = None) -> str:
        """The QR text: the offline FA1 form, or the URL form when a server is set."""
        sig = self.signature(device_key)
        if server_url:
            return verification_url(server_url=server_url, receipt_id=self.receipt_id, sig=sig)
        return f"{self.text()}|{sig}"


def receipt_signature(*, device_key: bytes, **seal: Any) -> str:
    """The 16-hex-character signature of a receipt given by the fields of a ReceiptSeal."""
    return ReceiptSeal(**seal).signature(device_key)


def receipt_qr_payload(*, device_key: bytes, server_url: str | None = None, **seal: Any) -> str:
    """The QR text of a receipt given by the fields of a ReceiptSeal: the offline FA1 form,
    or the URL form when a server is set."""
    return ReceiptSeal(**seal).qr_payload(device_key, server_url=server_url)


def verification_url(*, server_url: str, receipt_id: str, sig: str) -> str:
    """``https://<server>/r/<receipt_id>?s=<sig>``; a bare host name gets https://."""
    base = server_url.strip().rstrip("/")
    if "://" not in base:
        base = "https://" + base
    return f"{base}/r/{_check_field('receipt_id', receipt_id)}?s={sig}"


def parse_receipt_qr(payload: str) -> dict[str, Any]:
    """Split a QR payload into its fields; raises QrPayloadError on anything else.

    The FA1 form gives form="FA1", receipt_id, series, number (int), amount (int), issued_on
    (date), sig and signed_text; the URL form gives form="url", server, receipt_id and sig.
    """
    payload = payload.strip()
    if payload.startswith(PREFIX + "|"):
        return _parse_offline(payload)
    if payload.startswith(("https://", "http://")):
        return _parse_url(payload)
    raise QrPayloadError(f"not a receipt QR payload: {payload[:40]!r}")


def _parse_offline(payload: str) -> dict[str, Any]:
    parts = payload.split("|")
    if len(parts) != 7:
        raise QrPayloadError(f"expected 7 fields separated by '|', got {len(parts)}")
    _, receipt_id, series, number, amount, day, sig = parts
    if not (number.isdigit() and amount.isdigit()):
        raise QrPayloadError("number and amount must be decimal digits")
    if not _DATE_RE.match(day):
        raise QrPayloadError(f"date must be YYYYMMDD, got {day!r}")
    if not _SIG_RE.match(sig):
        raise QrPayloadError("signature must be 16 lower-case hex characters")
    try:
        issued_on = dt.datetime.strptime(day, "%Y%m%d").date()
    except ValueError as exc:
        raise QrPayloadError(f"not a date: {day!r}") from exc
    return {
        "form": PREFIX,
        "receipt_id": receipt_id,
        "series": series,
        "number": int(number),
        "amount": int(amount),
        "issued_on": issued_on,
        "sig": sig,
        "signed_text": payload[: -(len(sig) + 1)],
    }


def _parse_url(payload: str) -> dict[str, Any]:
    url = urlsplit(payload)
    match = re.fullmatch(r"(.*)/r/([^/]+)", url.path)
    sigs = parse_qs(url.query).get("s", [])
    if not url.netloc or match is None or len(sigs) != 1 or not _SIG_RE.match(sigs[0]):
        raise QrPayloadError(f"not a receipt verification URL: {payload[:60]!r}")
    return {
        "form": "url",
        "server": f"{url.scheme}://{url.netloc}{match.group(1)}",
        "receipt_id": match.group(2),
        "sig": sigs[0],
    }


def verify_receipt_qr(payload: str, device_key: bytes) -> bool:
    """True when an FA1 payload's signature matches the device key.

    The URL form carries no amounts, so it cannot be checked here: the server checks it against
    its record with ``receipt_signature``; this function returns False for it.
    """
    try:
        fields = parse_receipt_qr(payload)
    except QrPayloadError:
        return False
    if fields["form"] != PREFIX:
        return False
    expected = _sign(fields["signed_text"], device_key)
    return hmac.compare_digest(expected, fields["sig"])


def verification_code(sig: str) -> str:
    """A short code for typing by hand, from the signature: 8 characters grouped 4-4."""
    if not _SIG_RE.match(sig):
        raise ValueError("signature must be 16 lower-case hex characters")
    # The top 40 bits of the signature, five bits per character.
    value = int(sig, 16) >> (SIG_HEX_CHARS * 4 - 40)
    chars = [CODE_ALPHABET[(value >> shift) & 0x1F] for shift in range(35, -1, -5)]
    return "".join(chars[:4]) + "-" + "".join(chars[4:])


def normalize_verification_code(typed: str) -> str:
    """A typed code in its printed form: upper case, spaces and separators dropped, regrouped."""
    text = re.sub(r"[\s\-_.]", "", typed.upper())
    if len(text) != 8:
        return text
    return text[:4] + "-" + text[4:]
