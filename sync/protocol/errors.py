"""The error base of the product: every error raised on purpose carries its message in both
languages, on the laptop and on the server."""

from __future__ import annotations

from sync.protocol.i18n import say


class FieldappError(Exception):
    """Base of every error raised on purpose; carries a bilingual message and a stable code."""

    def __init__(self, vi: str, en: str, *, code: str = "error") -> None:
        self.vi = vi
        self.en = en
        self.code = code
        super().__init__(self.message())

    def message(self, lang: str | None = None) -> str:
        return say(self.vi, self.en, lang=lang)


class ProtocolError(FieldappError):
    """A message that does not follow the protocol; `status` is the HTTP status to answer with."""

    def __init__(self, vi: str, en: str, *, code: str, status: int = 400) -> None:
        self.status = status
        super().__init__(vi, en, code=code)
