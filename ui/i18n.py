"""Interface language: Vietnamese source strings, English from resources/i18n/en.json."""

from __future__ import annotations

import json
import logging
from functools import cache

import resources

log = logging.getLogger(__name__)

LANGUAGES = ("vi", "en")
_language = "vi"


@cache
def _catalogue(lang: str) -> dict[str, str]:
    if lang == "vi":
        return {}
    try:
        return dict(json.loads(resources.read_text("i18n", f"{lang}.json")))
    except (OSError, ValueError):
        # A broken catalogue must not stop the agent from working: fall back to Vietnamese.
        log.exception("cannot load the %s catalogue", lang)
        return {}


def language() -> str:
    """The current interface language, "vi" or "en"."""
    return _language


def set_language(lang: str) -> None:
    """Switch the language; widgets pick it up when their retranslate() runs."""
    global _language
    _language = lang if lang in LANGUAGES else "vi"


def tr(text: str) -> str:
    """The given Vietnamese string in the current language (itself when there is no entry)."""
    if _language == "vi":
        return text
    return _catalogue(_language).get(text, text)
