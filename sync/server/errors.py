"""Errors the server reports to laptops and supervisors, with an HTTP status."""

from __future__ import annotations

from sync.protocol.errors import FieldappError


class ServerError(FieldappError):
    """A request or command that cannot be carried out; `status` is the HTTP status."""

    def __init__(self, vi: str, en: str, *, code: str, status: int = 400) -> None:
        self.status = status
        super().__init__(vi, en, code=code)
