"""A BHYT card's status on a day, shared by the laptop and the provincial server.

A person is insured on a day when a card is valid that day, whoever pays for it; a card that
ended is lapsed; someone with no card on record (or a paid card that has not started yet) is
not insured. The coverage rate is insured ÷ residents, in percent to one decimal.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Literal

from sync.protocol.money import round_half_up

Status = Literal["insured", "expiring", "lapsed", "never"]

# How soon a card's end makes it "expiring", in days, unless asked otherwise.
EXPIRING_DAYS = 30


def person_status(
    *,
    valid_from: dt.date | None,
    valid_to: dt.date | None,
    on: dt.date,
    within: int = EXPIRING_DAYS,
) -> Status:
    """A card's status on a day: no card, not yet or no longer valid, valid (and how long)."""
    if valid_to is None:
        return "never"
    if valid_to < on:
        return "lapsed"
    if valid_from is not None and valid_from > on:
        # Paid, waiting for the card to start: not insured yet.
        return "never"
    return "expiring" if (valid_to - on).days <= within else "insured"


def rate_percent(insured: int, residents: int) -> float:
    """Insured ÷ residents in percent, to one decimal (0 for nobody)."""
    if residents <= 0:
        return 0.0
    return round_half_up(Fraction(insured * 1000, residents)) / 10
