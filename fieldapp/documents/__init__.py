"""Printed documents as PDF: receipts, household flyers and the receipt QR code."""

from __future__ import annotations

import importlib
from typing import Any

# The submodule that holds each public name. They are imported on first use, so that the
# receipt QR helpers (used by the store and the server) do not pull in reportlab.
_WHERE = {
    "AUDIENCE_GROUPS": "flyer",
    "BhxhOption": "flyer",
    "Cancelled": "flyer",
    "FlyerData": "flyer",
    "FlyerTemplates": "flyer",
    "TemplateError": "flyer",
    "load_flyer_templates": "flyer",
    "render_flyers": "flyer",
    "QrPayloadError": "qr",
    "parse_receipt_qr": "qr",
    "receipt_qr_payload": "qr",
    "receipt_signature": "qr",
    "verification_code": "qr",
    "verify_receipt_qr": "qr",
    "ReceiptDocument": "receipt",
    "render_receipt": "receipt",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
