"""Cleaning text: the quick path for text already clean gives what the full cleaning gives."""

from __future__ import annotations

import random

import pytest

from fieldapp.text import clean, clean_fully

# Letters with and without marks (NFC and NFD), every kind of white space the cleaning knows,
# the invisible characters it drops, and a combining mark on its own.
ALPHABET = [
    "a", "B", "ệ", "e\u0323\u0302", "đ", "Ư", "1", " ", "  ", "\t", "\n", "\r", "\u00a0",
    "\u2003", "\u3000", "\x1c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad",
    "\x00", "\u0301", "ﬁ", "Ω", "\u212b",
]  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "BHYT hộ gia đình",
        " Tờ rơi BHYT ",
        "Nguye\u0302\u0303n Thi\u0323 Hu\u031bo\u031bng",
        "Giàng\u00a0Seo Sử",
        "Giàng  Seo\tSử\n",
        "Sùng\u200bA Páo",
        "\u212b",
        "x\u3000",
    ],
)
def test_clean_gives_the_full_cleaning(text: str) -> None:
    assert clean(text) == clean_fully(text)


def test_clean_gives_the_full_cleaning_on_many_mixed_texts() -> None:
    """20,000 texts of 0-12 pieces drawn from the alphabet above, the same seed every run."""
    draw = random.Random(20261206)
    for _ in range(20_000):
        text = "".join(draw.choices(ALPHABET, k=draw.randint(0, 12)))
        assert clean(text) == clean_fully(text), repr(text)


def test_text_already_clean_comes_back_as_it_was() -> None:
    text = "Lò Văn Piếng"
    assert clean(text) == text
    assert clean(None) == ""
