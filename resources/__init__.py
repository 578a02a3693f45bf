"""The one way to reach shipped resources (fonts, policy tables, flyer templates, the receipt form).

Works from a source checkout, an installed wheel and a PyInstaller bundle alike, so the build
spec has a single folder to collect.
"""

from __future__ import annotations

import sys
from pathlib import Path


def root() -> Path:
    """The folder that holds the resources."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent


def path(*parts: str) -> Path:
    """Path of a resource below the resources folder, e.g. path("fonts", "DejaVuSans.ttf")."""
    return root().joinpath(*parts)


def read_text(*parts: str) -> str:
    """Text of a UTF-8 resource file."""
    return path(*parts).read_text(encoding="utf-8")
