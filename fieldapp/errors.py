"""The laptop core's errors and warnings: findings about a field, refused input, missing records."""

from __future__ import annotations

import dataclasses
from typing import Literal

from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen
from sync.protocol.i18n import say

Severity = Literal["error", "warning"]


@frozen
class Problem:
    """One finding about one field: an error blocks the change, a warning is stored with it."""

    field: str
    code: str
    vi: str
    en: str
    severity: Severity = "error"

    def message(self, lang: str | None = None) -> str:
        return say(self.vi, self.en, lang=lang)

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


class ValidationError(FieldappError):
    """Input refused: one or more problems of severity "error"."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = [p for p in problems if p.severity == "error"]
        self.warnings = [p for p in problems if p.severity == "warning"]
        vi = "; ".join(p.vi for p in self.problems)
        en = "; ".join(p.en for p in self.problems)
        super().__init__(vi, en, code=self.problems[0].code if self.problems else "invalid")


class NotFoundError(FieldappError):
    """A record that was asked for does not exist."""

    def __init__(self, what_vi: str, what_en: str, ident: str) -> None:
        super().__init__(
            f"Không tìm thấy {what_vi}: {ident}", f"{what_en} not found: {ident}", code="not_found"
        )


class StoreVersionError(FieldappError):
    """The database was written by a newer version of the app."""


def raise_if_errors(problems: list[Problem]) -> list[Problem]:
    """Raise ValidationError when any problem is an error; otherwise return the warnings."""
    if any(p.severity == "error" for p in problems):
        raise ValidationError(problems)
    return [p for p in problems if p.severity == "warning"]
