"""Printed documents as PDF: receipts, household flyers and BHYT renewal reminders."""

from __future__ import annotations

import importlib
from typing import Any

# The submodule that holds each public name, imported on first use: naming one of them does
# not pull in reportlab.
_WHERE = {
    "AUDIENCE_GROUPS": "flyer",
    "BhxhOption": "flyer",
    "Cancelled": "flyer",
    "FlyerData": "flyer",
    "FlyerTemplates": "flyer",
    "TemplateError": "flyer",
    "load_flyer_templates": "flyer",
    "render_flyers": "flyer",
    "ReminderData": "reminder",
    "ReminderPerson": "reminder",
    "load_reminder_templates": "reminder",
    "render_reminders": "reminder",
    "ReceiptDocument": "receipt",
    "render_receipt": "receipt",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
