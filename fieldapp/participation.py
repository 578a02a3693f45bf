"""A person's participation: their BHYT group and card, their BHXH state (DOMAIN.md §2–§3).

BHYT is per person: each member belongs to one group, and only the household group pays on
the ladder. The group is what the agent recorded; failing that, the card number's two-letter
prefix says it; failing that, a person joins through the household (the rules themselves are
in sync.protocol.participation_codes, shared with the server).
"""

from __future__ import annotations

from collections.abc import Iterable

from fieldapp.text import fold
from sync.protocol.fields import BHYT_COVERED_GROUPS, BHYT_GROUPS, BHYT_PAYING_GROUPS

# The group rules are shared with the provincial server, which counts coverage the same way.
from sync.protocol.participation_codes import bhyt_group_of, group_from_card, group_from_text

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

# BHXH central-support groups that belong to the household (poverty status, residence); the
# ethnic-minority support belongs to the person (DOMAIN.md §3).
BHXH_HOUSEHOLD_GROUPS = ("poor", "near_poor", "island")
_MAJORITY = {"kinh", "viet"}


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
