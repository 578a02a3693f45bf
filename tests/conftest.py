"""What every test shares: each starts with the language taken from FIELDAPP_LANG again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync.protocol import i18n


@pytest.fixture(autouse=True)
def _language_from_the_environment() -> Iterator[None]:
    """A test that chose a language (as the app's menu does) leaves no choice behind."""
    i18n.set_language(None)
    yield
    i18n.set_language(None)
