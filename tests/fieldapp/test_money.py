"""Tests for đồng formatting, rounding and amounts in Vietnamese words."""

from __future__ import annotations

import itertools
import math
import unicodedata
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.protocol.money import MAX_IN_WORDS, amount_in_words, format_vnd, round_half_up

VECTORS = [
    (0, "Không đồng"),
    (1_053_000, "Một triệu không trăm năm mươi ba nghìn đồng"),
    (1_015, "Một nghìn không trăm mười lăm đồng"),
    (205, "Hai trăm lẻ năm đồng"),
    (21, "Hai mươi mốt đồng"),
    (15, "Mười lăm đồng"),
    (25, "Hai mươi lăm đồng"),
    (14, "Mười bốn đồng"),
    (1_021, "Một nghìn không trăm hai mươi mốt đồng"),
    (105_000, "Một trăm lẻ năm nghìn đồng"),
    (2_906_280, "Hai triệu chín trăm lẻ sáu nghìn hai trăm tám mươi đồng"),
    (1_000_000_000, "Một tỷ đồng"),
    (1_366_200, "Một triệu ba trăm sáu mươi sáu nghìn hai trăm đồng"),
    (10, "Mười đồng"),
    (11, "Mười một đồng"),
    (1_000_000, "Một triệu đồng"),
    (1_000_005, "Một triệu không trăm lẻ năm đồng"),
    (5, "Năm đồng"),
    (1, "Một đồng"),
    (24, "Hai mươi bốn đồng"),
    (101, "Một trăm lẻ một đồng"),
    (111, "Một trăm mười một đồng"),
    (3_142_260, "Ba triệu một trăm bốn mươi hai nghìn hai trăm sáu mươi đồng"),
    (18_098_148, "Mười tám triệu không trăm chín mươi tám nghìn một trăm bốn mươi tám đồng"),
    (
        999_999_999_999,
        "Chín trăm chín mươi chín tỷ chín trăm chín mươi chín triệu "
        "chín trăm chín mươi chín nghìn chín trăm chín mươi chín đồng",
    ),
]


@pytest.mark.parametrize(("amount", "words"), VECTORS)
def test_amount_in_words_vectors(amount: int, words: str) -> None:
    assert amount_in_words(amount) == words


@pytest.mark.parametrize("bad", [-1, MAX_IN_WORDS + 1, 10**15, True, False, 1.0, "100", None])
def test_amount_in_words_refuses_out_of_range_and_non_int(bad: object) -> None:
    with pytest.raises(ValueError):
        amount_in_words(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "0 đ"),
        (999, "999 đ"),
        (1_000, "1.000 đ"),
        (1_366_200, "1.366.200 đ"),
        (50_600_000, "50.600.000 đ"),
        (-1_000, "-1.000 đ"),
        (1_000_000_000, "1.000.000.000 đ"),
    ],
)
def test_format_vnd(amount: int, text: str) -> None:
    assert format_vnd(amount) == text
    assert "\u00a0" not in format_vnd(amount)


@pytest.mark.parametrize("bad", [True, 1.5, "1000"])
def test_format_vnd_refuses_non_int(bad: object) -> None:
    with pytest.raises(ValueError):
        format_vnd(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        (Fraction(1, 2), 1),
        (Fraction(3, 2), 2),
        (Fraction(5, 2), 3),
        (Fraction(49, 100), 0),
        (Fraction(-1, 2), -1),
        (Fraction(-7, 5), -1),
        (7, 7),
    ],
)
def test_round_half_up(value: Fraction, rounded: int) -> None:
    assert round_half_up(value) == rounded


@given(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.integers(min_value=1, max_value=10**6),
)
def test_round_half_up_is_the_nearest_whole_with_halves_away_from_zero(
    numerator: int, denominator: int
) -> None:
    """Against the definition, worked in Fractions: floor(|x| + 1/2), with the sign of x."""
    value = Fraction(numerator, denominator)
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    assert round_half_up(value) == (-magnitude if value < 0 else magnitude)


# An independent reader of the words, to check the writer across the whole range.
_DIGIT_WORDS = {
    "không": 0,
    "một": 1,
    "mốt": 1,
    "hai": 2,
    "ba": 3,
    "bốn": 4,
    "năm": 5,
    "lăm": 5,
    "sáu": 6,
    "bảy": 7,
    "tám": 8,
    "chín": 9,
}
_SCALE_WORDS = {"nghìn": 1_000, "triệu": 1_000_000, "tỷ": 1_000_000_000}


def parse_words(text: str) -> int:
    words = text.lower().split(" ")
    assert words[-1] == "đồng"
    total = group = 0
    pending: int | None = None
    for word in words[:-1]:
        if word in _DIGIT_WORDS:
            assert pending is None, text
            pending = _DIGIT_WORDS[word]
        elif word == "trăm":
            assert pending is not None, text
            group += pending * 100
            pending = None
        elif word == "mươi":
            assert pending is not None and pending >= 2, text
            group += pending * 10
            pending = None
        elif word == "mười":
            group += 10
        elif word == "lẻ":
            assert group % 100 == 0 and pending is None, text
        elif word in _SCALE_WORDS:
            total += (group + (pending or 0)) * _SCALE_WORDS[word]
            group, pending = 0, None
        else:
            raise AssertionError(f"unexpected word {word!r} in {text!r}")
    return total + group + (pending or 0)


@given(st.integers(min_value=0, max_value=MAX_IN_WORDS))
def test_amount_in_words_reads_back(amount: int) -> None:
    text = amount_in_words(amount)
    assert parse_words(text) == amount
    assert unicodedata.normalize("NFC", text) == text
    assert "  " not in text
    assert text == text.strip()
    assert text[0].isupper()
    assert text[1:] == text[1:].lower()
    assert text.endswith("đồng")


@given(st.integers(min_value=0, max_value=MAX_IN_WORDS))
def test_amount_in_words_special_units(amount: int) -> None:
    words = amount_in_words(amount).lower().split(" ")
    for before, word in itertools.pairwise(words):
        if word == "mốt":
            assert before == "mươi"
        if word == "lăm":
            assert before in ("mươi", "mười")
        if word == "lẻ":
            assert before == "trăm"
    assert "tư" not in words


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_format_vnd_reads_back(amount: int) -> None:
    text = format_vnd(amount)
    assert text.endswith(" đ")
    assert int(text[:-2].replace(".", "")) == amount
