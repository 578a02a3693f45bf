"""A member's BHYT group as the laptop and the provincial server both read it (DOMAIN.md §2).

The group is what the agent recorded; failing that, the card number's two-letter prefix says
it; failing that, the free text of who pays ("Hộ nghèo", "Công ty …") names it or at least says
someone else pays; failing all, a person joins through the household. Insured members whose
group is in BHYT_COVERED_GROUPS are "covered elsewhere": the state, an employer or a school pays.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from sync.protocol.fields import BHYT_COVERED_GROUPS, BHYT_GROUPS

__all__ = [
    "BHYT_COVERED_GROUPS",
    "CARD_PREFIXES",
    "GROUP_WORDS",
    "bhyt_group_of",
    "covered_elsewhere",
    "group_from_card",
    "group_from_text",
]

# The card number's first two letters (QĐ 1351/QĐ-BHXH "mã đối tượng"), by group.
CARD_PREFIXES: Mapping[str, tuple[str, ...]] = {
    "household": ("GD",),
    "near_poor": ("CN",),
    "student": ("HS", "SV"),
    "agri_average": ("GB",),
    "poor": ("HN",),
    "ethnic_minority": ("DT", "DK"),
    "child_under_6": ("TE",),
    "pensioner": ("HT", "TB", "MS"),
    "employee": ("DN", "HX", "CH", "NN", "TK", "HC", "XK"),
    "social_aid": ("BT",),
    "merit": ("CC", "CK", "CB", "KC"),
    "other_covered": ("QN", "CA", "CY", "TQ", "TA", "TC", "TY", "TN", "XB", "XN", "NO", "HG"),
}
_GROUP_OF_PREFIX = {prefix: group for group, codes in CARD_PREFIXES.items() for prefix in codes}
_CARD_PREFIX = re.compile(r"([A-Za-z]{2})\d")

# How lists and agents write the groups in words (folded: no diacritics, lower case); the
# first that the folded text contains wins, so "cận nghèo" comes before "nghèo".
GROUP_WORDS: tuple[tuple[str, str], ...] = (
    ("can ngheo", "near_poor"),
    ("ngheo", "poor"),
    ("hoc sinh", "student"),
    ("sinh vien", "student"),
    ("muc song trung binh", "agri_average"),
    ("dan toc", "ethnic_minority"),
    ("tre em", "child_under_6"),
    ("duoi 6", "child_under_6"),
    ("huu", "pensioner"),
    ("lao dong", "employee"),
    ("doanh nghiep", "employee"),
    ("bao tro", "social_aid"),
    ("co cong", "merit"),
    ("ho gia dinh", "household"),
)

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\x00"), None)
_SPACES = re.compile(r"\s+")
_D_MAP = str.maketrans({"đ": "d", "Đ": "d", "Ð": "d", "ð": "d"})


def _fold(text: str) -> str:
    """No tone or vowel marks, đ → d, lower case, single spaces ("Hộ Nghèo" → "ho ngheo")."""
    decomposed = unicodedata.normalize("NFD", text.translate(_INVISIBLE))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.translate(_D_MAP).lower()).strip()


def group_from_card(card: str | None) -> str | None:
    """The group a 15-character card's prefix gives ("GD4151512345678" → "household").

    None for a card that prints only the 10 digits, or a prefix not in the table.
    """
    if not card:
        return None
    match = _CARD_PREFIX.match(card.strip())
    if match is None:
        return None
    return _GROUP_OF_PREFIX.get(match.group(1).upper())


def group_from_text(text: str | None) -> str | None:
    """A group from a code ("near_poor"), a card prefix ("CN") or words ("Hộ cận nghèo")."""
    if not text or not text.strip():
        return None
    value = text.strip()
    if value in BHYT_GROUPS:
        return value
    if len(value) == 2 and value.upper() in _GROUP_OF_PREFIX:
        return _GROUP_OF_PREFIX[value.upper()]
    folded = _fold(value)
    for words, group in GROUP_WORDS:
        if words in folded:
            return group
    return None


def bhyt_group_of(*, bhyt_group: str | None, bhyt_card: str | None, covered_by: str | None) -> str:
    """The group a member's BHYT is counted in: recorded, from the card, or the household.

    `covered_by` is the free text agents wrote before groups were recorded: when it names no
    group it still says someone else pays.
    """
    if bhyt_group:
        return bhyt_group
    from_card = group_from_card(bhyt_card)
    if from_card is not None:
        return from_card
    if covered_by and covered_by.strip():
        return group_from_text(covered_by) or "other_covered"
    return "household"


def covered_elsewhere(group: str) -> bool:
    """Whether someone other than the household pays for this group's cards."""
    return group in BHYT_COVERED_GROUPS
