"""Vietnamese text handling: NFC at the boundary, folding for search, Vietnamese sort order."""

from __future__ import annotations

import re
import unicodedata

# Characters that carry no meaning in names but sneak in from copy-paste and IMEs; NUL too,
# which PostgreSQL cannot store.
_INVISIBLE_CHARS = "\u200b\u200c\u200d\u2060\ufeff\u00ad\x00"
_INVISIBLE = dict.fromkeys(map(ord, _INVISIBLE_CHARS), None)
_SPACES = re.compile(r"\s+")


def nfc(text: str) -> str:
    """Normalise to NFC (Unikey's "tổ hợp" mode types NFD) and drop zero-width characters."""
    return unicodedata.normalize("NFC", text.translate(_INVISIBLE))


# Anything `clean` would change inside a text: an invisible character, white space other than
# a plain space, or two white space characters in a row.
_UNCLEAN = re.compile(f"[{re.escape(_INVISIBLE_CHARS)}]|[^\\S ]|\\s\\s")


def clean(text: str | None) -> str:
    """NFC, invisible characters removed, runs of white space collapsed, ends trimmed."""
    if text is None:
        return ""
    # Most text arrives clean (typed on this laptop, read back from the store): only its ends
    # can need trimming, and it is not rebuilt.
    if _UNCLEAN.search(text) is None and unicodedata.is_normalized("NFC", text):
        return text.strip(" ")
    return clean_fully(text)


def clean_fully(text: str) -> str:
    """What `clean` does, every step taken whatever the text."""
    return _SPACES.sub(" ", nfc(text)).strip()


_D_MAP = str.maketrans({"đ": "d", "Đ": "d", "Ð": "d", "ð": "d"})


def fold(text: str) -> str:
    """Fold for search: strip tone and vowel marks, đ/Đ → d, lower case.

    "Nguyễn Thị Hương" → "nguyen thi huong"; "Hoà" and "Hòa" both → "hoa".
    """
    decomposed = unicodedata.normalize("NFD", text.translate(_INVISIBLE))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.translate(_D_MAP).lower()).strip()


# Vietnamese alphabet order: a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y,
# then tones in the order ngang, huyền, hỏi, ngã, sắc, nặng (dictionary order).
_BASE_ORDER = "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz"
_BASE_RANK = {ch: i for i, ch in enumerate(_BASE_ORDER)}
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}
_LETTER_MARKS = {"\u0306", "\u0302", "\u031b"}  # breve, circumflex, horn


def _letter_key(word: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    letters: list[int] = []
    tones: list[int] = []
    for ch in word.lower():
        if ch in "đð":
            letters.append(_BASE_RANK["đ"])
            tones.append(0)
            continue
        parts = unicodedata.normalize("NFD", ch)
        base, marks = parts[0], parts[1:]
        letter = unicodedata.normalize(
            "NFC", base + "".join(m for m in marks if m in _LETTER_MARKS)
        )
        tone = next((_TONES[m] for m in marks if m in _TONES), 0)
        letters.append(_BASE_RANK.get(letter, 100 + ord(letter[0])))
        tones.append(tone)
    return tuple(letters), tuple(tones)


def word_sort_key(word: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sort key of one word in Vietnamese letter order (Đ after D, not after Z)."""
    return _letter_key(clean(word))


def village_sort_key(village: str) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Villages in Vietnamese letter order, word by word from the first ("Bản …" before
    "Thôn …"), unlike people's names, which sort by the given name."""
    return [word_sort_key(w) for w in village.split()]


def _name_keys(full_name: str) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    words = clean(full_name).split(" ")
    if words == [""]:
        return []
    given, family, middle = words[-1], words[0] if len(words) > 1 else "", words[1:-1]
    return [word_sort_key(given), word_sort_key(family), *(word_sort_key(w) for w in middle)]


def name_sort_key(
    full_name: str,
) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]:
    """Sort a full name the Vietnamese way: given name first, then family name, then middle.

    "Nguyễn Văn An" sorts under "An", before "Trần Thị Bình". Tones only break ties.
    """
    keys = _name_keys(full_name)
    return tuple(k[0] for k in keys), tuple(k[1] for k in keys)


def name_sort_text(full_name: str) -> str:
    """A text key that SQLite can ORDER BY and index, equivalent to name_sort_key.

    Each letter becomes two base-36 digits of its rank; tones are appended after the letters so
    that they only break ties.
    """
    letters, tones = name_sort_key(full_name)
    parts = ["".join(_rank_code(r) for r in word) for word in letters]
    tone_part = "".join("".join(str(t) for t in word) for word in tones)
    return " ".join(parts) + "|" + tone_part


def _rank_code(rank: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    rank = min(rank, 36 * 36 - 1)
    return digits[rank // 36] + digits[rank % 36]
