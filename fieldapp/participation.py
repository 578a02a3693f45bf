"""A person's participation: their BHYT group and card, their BHXH state (DOMAIN.md §2–§3).

BHYT is per person: each member belongs to one group, and only the household group pays on
the ladder. The group is what the agent recorded; failing that, the card number's two-letter
prefix says it; failing that, a person joins through the household.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from fieldapp.text import fold
from sync.protocol.fields import BHYT_COVERED_GROUPS, BHYT_GROUPS, BHYT_PAYING_GROUPS

__all__ = [
    "BHXH_HOUSEHOLD_GROUPS",
    "BHYT_COVERED_GROUPS",
    "BHYT_GROUPS",
    "BHYT_PAYING_GROUPS",
    "bhxh_groups_of_person",
    "bhyt_group_of",
    "group_from_card",
    "group_from_text",
    "is_minority",
]

# The card number's first two letters (QĐ 1351/QĐ-BHXH "mã đối tượng"), by group.
_PREFIXES: Mapping[str, tuple[str, ...]] = {
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
_GROUP_OF_PREFIX = {prefix: group for group, codes in _PREFIXES.items() for prefix in codes}
_CARD_PREFIX = re.compile(r"([A-Za-z]{2})\d")

# How lists and agents write the groups in words (folded: no diacritics, lower case).
_WORDS: tuple[tuple[str, str], ...] = (
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

# BHXH central-support groups that belong to the household (poverty status, residence); the
# ethnic-minority support belongs to the person (DOMAIN.md §3).
BHXH_HOUSEHOLD_GROUPS = ("poor", "near_poor", "island")
_MAJORITY = {"kinh", "viet"}


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
    folded = fold(value)
    for words, group in _WORDS:
        if words in folded:
            return group
    return None


def bhyt_group_of(*, bhyt_group: str | None, bhyt_card: str | None, covered_by: str | None) -> str:
    """The group a member's BHYT is counted in: recorded, from the card, or the household.

    `covered_by` is the free text agents wrote before groups were recorded ("Hộ nghèo",
    "Công ty …"): when it names no group it still says someone else pays.
    """
    if bhyt_group:
        return bhyt_group
    from_card = group_from_card(bhyt_card)
    if from_card is not None:
        return from_card
    if covered_by and covered_by.strip():
        return group_from_text(covered_by) or "other_covered"
    return "household"


def is_minority(ethnicity: str | None) -> bool | None:
    """Whether a recorded ethnicity is a minority one; None when nothing is recorded."""
    if not ethnicity or not ethnicity.strip():
        return None
    return fold(ethnicity).strip() not in _MAJORITY


def bhxh_groups_of_person(
    household_groups: Iterable[str], ethnicity: str | None
) -> tuple[list[str], bool]:
    """The BHXH support groups of one person, and whether the ethnic group was assumed.

    Poverty and island residence come from the household; the ethnic-minority support from
    the person's own ethnicity (a Kinh spouse in a Mông household gets no minority share).
    When the person's ethnicity is not recorded, the household's ethnic-minority mark stands
    in for it, and the second value says so (the caller shows a note).
    """
    recorded = list(household_groups)
    groups = [g for g in recorded if g in BHXH_HOUSEHOLD_GROUPS]
    minority = is_minority(ethnicity)
    assumed = False
    if minority is None:
        if "ethnic_minority" in recorded:
            groups.append("ethnic_minority")
            assumed = True
    elif minority:
        groups.append("ethnic_minority")
    return groups or ["other"], assumed
