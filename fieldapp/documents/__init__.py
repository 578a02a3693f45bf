"""Printed documents as PDF: receipts, household flyers and the receipt QR code."""

from fieldapp.documents.flyer import (
    AUDIENCE_GROUPS,
    BhxhOption,
    Cancelled,
    FlyerData,
    FlyerTemplates,
    TemplateError,
    load_flyer_templates,
    render_flyers,
)
from fieldapp.documents.qr import (
    QrPayloadError,
    parse_receipt_qr,
    receipt_qr_payload,
    receipt_signature,
    verification_code,
    verify_receipt_qr,
)
from fieldapp.documents.receipt import ReceiptDocument, render_receipt

__all__ = [
    "AUDIENCE_GROUPS",
    "BhxhOption",
    "Cancelled",
    "FlyerData",
    "FlyerTemplates",
    "QrPayloadError",
    "ReceiptDocument",
    "TemplateError",
    "load_flyer_templates",
    "parse_receipt_qr",
    "receipt_qr_payload",
    "receipt_signature",
    "render_flyers",
    "render_receipt",
    "verification_code",
    "verify_receipt_qr",
]
