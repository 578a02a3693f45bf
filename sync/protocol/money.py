"""Integer đồng: rounding exact amounts, figures with separators, amounts in Vietnamese words."""

from __future__ import annotations

from fractions import Fraction

MAX_IN_WORDS = 999_999_999_999

_DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
# Scales of the three-digit groups, highest first; "nghìn" is the receipt form (not "ngàn").
_SCALES = ((1_000_000_000, "tỷ"), (1_000_000, "triệu"), (1_000, "nghìn"), (1, ""))


def _require_int(amount: object) -> int:
    # bool is an int subclass; True đồng is always a bug upstream.
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"amount must be an int number of đồng, got {type(amount).__name__}")
    return amount


def round_half_up(value: Fraction | int) -> int:
    """Round an exact amount to whole đồng, halves away from zero (the convention on receipts)."""
    # On the numerator and denominator as integers: a quote rounds dozens of amounts, and each
    # Fraction operation builds a new Fraction (normalised by a gcd).
    if isinstance(value, int):
        return int(value)
    exact = value if isinstance(value, Fraction) else Fraction(value)
    numerator, denominator = exact.numerator, exact.denominator
    magnitude, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        magnitude += 1
    return -magnitude if numerator < 0 else magnitude


def format_vnd(amount: int) -> str:
    """Figures with dots between thousands and a trailing "đ": 1366200 → "1.366.200 đ"."""
    amount = _require_int(amount)
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount):,} đ".replace(",", ".")


def _tens_and_units(tens: int, units: int) -> list[str]:
    if tens == 0:
        return [] if units == 0 else [_DIGITS[units]]
    words = ["mười"] if tens == 1 else [_DIGITS[tens], "mươi"]
    if units == 1 and tens >= 2:
        words.append("mốt")
    elif units == 5:
        words.append("lăm")
    elif units != 0:
        words.append(_DIGITS[units])
    return words


def _group_words(group: int, *, leading: bool) -> list[str]:
    hundreds, rest = divmod(group, 100)
    tens, units = divmod(rest, 10)
    if leading and hundreds == 0:
        return _tens_and_units(tens, units)
    # An inner group is always read with its hundreds ("không trăm") so that the figure
    # cannot be misread when written by hand; "lẻ" marks a missing tens digit.
    words = [_DIGITS[hundreds], "trăm"]
    if tens == 0 and units != 0:
        words += ["lẻ", _DIGITS[units]]
    else:
        words += _tens_and_units(tens, units)
    return words


def amount_in_words(amount: int) -> str:
    """The amount in Vietnamese words as on receipts: 205 → "Hai trăm lẻ năm đồng"."""
    amount = _require_int(amount)
    if not 0 <= amount <= MAX_IN_WORDS:
        raise ValueError(f"amount must be between 0 and {MAX_IN_WORDS:,} đồng, got {amount:,}")
    if amount == 0:
        return "Không đồng"
    words: list[str] = []
    remaining = amount
    for scale, name in _SCALES:
        group, remaining = divmod(remaining, scale)
        if group == 0:
            continue
        words += _group_words(group, leading=not words)
        if name:
            words.append(name)
    words.append("đồng")
    text = " ".join(words)
    return text[0].upper() + text[1:]
