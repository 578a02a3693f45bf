"""Saying things in two languages: every message is written as a (Vietnamese, English) pair.

The core, the command line, the desktop app and the server all write text the same way —
``say("Đã lưu", "Saved")`` for text shown now, ``FieldappError(vi, en)`` for an error whose
language is chosen when it is shown — and one setting decides which half is used: the language
chosen in the app (``set_language``), else ``FIELDAPP_LANG`` (``en`` for English), else
Vietnamese.
"""

from __future__ import annotations

import os

LANGUAGES = ("vi", "en")

_chosen: str | None = None


def language() -> str:
    """The language messages are shown in now: "vi" or "en"."""
    if _chosen is not None:
        return _chosen
    return "en" if os.environ.get("FIELDAPP_LANG", "vi").lower().startswith("en") else "vi"


def set_language(lang: str | None) -> None:
    """Choose the language for this process (the app's language menu); None goes back to
    FIELDAPP_LANG. An unknown code means Vietnamese."""
    global _chosen
    _chosen = None if lang is None else (lang if lang in LANGUAGES else "vi")


def say(vi: str, en: str, *, lang: str | None = None) -> str:
    """The Vietnamese text, or the English one when the language (or `lang`) is English."""
    return en if (lang or language()) == "en" else vi
