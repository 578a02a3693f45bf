"""Domain records of the local store, as read back by the services."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from dataclasses import field
from typing import Any, Self, TypeVar, get_origin, get_type_hints

from fieldapp.store import loads
from sync.protocol.fields import (
    FIELDS,
    HOUSEHOLD,
    MEMBER,
    PLEDGE,
    PLEDGE_EVENT,
    VISIT,
    synced_fields,
)
from sync.protocol.frozen import frozen

T = TypeVar("T")

# Household groups an agent records (DESIGN.md data model); labels for display live in the UI.
HOUSEHOLD_GROUPS = (
    "poor",
    "near_poor",
    "ethnic_minority",
    "farmer",
    "agri_average",
    "household_business",
    "cooperative",
    "village_cadre",
    "island",
    "student",
    "young_migrant",
)
VISIT_OUTCOMES = FIELDS[VISIT]["outcome"].choices
# What an agent talks about and leaves behind; free text is allowed too.
VISIT_TOPICS = (
    "BHYT hộ gia đình",
    "BHXH tự nguyện",
    "Hỗ trợ của Nhà nước",
    "Lương hưu",
    "Đóng một lần 5 năm",
)
VISIT_MATERIALS = ("Tờ rơi BHYT", "Tờ rơi BHXH tự nguyện", "Bảng mức đóng")
SCHEMES = FIELDS[PLEDGE]["scheme"].choices
PLEDGE_STATUSES = FIELDS[PLEDGE_EVENT]["status"].choices
SEXES = FIELDS[MEMBER]["sex"].choices

# The fields of a household an agent edits; each is merged on its own clock when synced.
HOUSEHOLD_FIELDS = synced_fields(HOUSEHOLD)
# A member's fields that travel to other devices: the editable ones, the household it belongs
# to, whether it was removed, and the warnings stored with it.
MEMBER_FIELDS = synced_fields(MEMBER)
# The fields of a member an agent edits.
MEMBER_EDITABLE_FIELDS = tuple(
    name for name in MEMBER_FIELDS if name not in ("household_id", "removed", "warnings")
)


def _reader(hint: Any) -> Callable[[Any], Any] | None:
    """How a column's stored value becomes a field's value, by the field's type (None: as is).

    Tuples and dicts are kept as JSON text and flags as 0/1; a field declared int is made an
    int whatever numeric type SQLite hands back.
    """
    origin = get_origin(hint)
    if origin is tuple:
        return lambda text: tuple(loads(text))
    if origin is dict:
        return loads
    if hint is bool:
        return bool
    if hint is int:
        return int
    return None


_READERS: dict[type, tuple[tuple[str, Callable[[Any], Any] | None], ...]] = {}


def read_row(cls: type[T], row: sqlite3.Row, **given: Any) -> T:
    """A dataclass from a store row: each field from the column of the same name, unless given."""
    readers = _READERS.get(cls)
    if readers is None:
        hints = get_type_hints(cls)
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        readers = _READERS[cls] = tuple((f.name, _reader(hints[f.name])) for f in fields)
    values = dict(given)
    for name, read in readers:
        if name not in values:
            values[name] = row[name] if read is None else read(row[name])
    return cls(**values)


class Stored:
    """A record the store holds as one row: `from_row` reads it back."""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Self:
        return read_row(cls, row)


@frozen
class Household(Stored):
    """A household as the store keeps it: where it lives, its head, and what the agent noted."""

    id: str
    province_code: str
    commune_code: str
    village: str
    head_name: str
    address: str
    phone: str | None
    groups: tuple[str, ...]
    best_months: tuple[int, ...]
    notes: str
    created_at: str
    updated_at: str
    # The commune it moved to, when the province says it left this laptop's communes.
    moved_to: str | None = None


@frozen
class Member(Stored):
    """A person of a household: identity, cards and what they take part in."""

    id: str
    household_id: str
    full_name: str
    date_of_birth: str | None
    sex: str | None
    relation: str
    cccd: str | None
    bhxh_code: str | None
    ethnicity: str
    bhyt_card: str | None
    bhyt_expiry: str | None
    covered_by: str | None
    bhxh_status: str
    removed: bool
    warnings: tuple[dict[str, str], ...]
    # Participation (fieldapp.participation): the recorded BHYT group (None: read from the
    # card or the household), the card's first valid day (bhyt_expiry is its last), and the
    # BHXH state: participating, chosen income, last day paid, supported months used.
    bhyt_group: str | None = field(default=None, kw_only=True)
    bhyt_valid_from: str | None = field(default=None, kw_only=True)
    bhxh_participating: bool = field(default=False, kw_only=True)
    bhxh_income: int | None = field(default=None, kw_only=True)
    bhxh_paid_through: str | None = field(default=None, kw_only=True)
    bhxh_supported_months: int = field(default=0, kw_only=True)
    old_id: str | None = field(default=None, kw_only=True)
    # The person's own phone, in national form "0xxxxxxxxx".
    phone: str | None = field(default=None, kw_only=True)
    created_at: str
    updated_at: str

    @property
    def bhyt_group_effective(self) -> str:
        """The group this member's BHYT is counted in (recorded, card prefix, or household)."""
        from fieldapp.participation import bhyt_group_of

        return bhyt_group_of(
            bhyt_group=self.bhyt_group, bhyt_card=self.bhyt_card, covered_by=self.covered_by
        )


@frozen
class Visit(Stored):
    """A visit to a household: when, its outcome, what was talked about and handed over."""

    id: str
    household_id: str
    agent_id: str
    at: str
    outcome: str
    topics: tuple[str, ...]
    materials: tuple[str, ...]
    next_visit: str | None
    notes: str


@frozen
class PledgeEvent(Stored):
    """A step in a pledge's life (pledged, paid, cancelled, superseded), with its reason and
    receipt."""

    id: str
    pledge_id: str
    status: str
    at: str
    reason: str
    receipt_id: str | None


@frozen
class Pledge(Stored):
    """What a member pledged to pay for a scheme, and how the amount was worked out."""

    id: str
    household_id: str
    member_id: str
    scheme: str
    params: dict[str, Any]
    gross: int
    central_support: int
    local_support: int
    payable: int
    policy_version: str
    start_date: str
    due_date: str
    created_at: str
    history: tuple[PledgeEvent, ...] = field(default=())

    @property
    def status(self) -> str:
        return self.history[-1].status if self.history else "pledged"

    @classmethod
    def from_row(cls, row: sqlite3.Row, history: tuple[PledgeEvent, ...] = ()) -> Self:
        return read_row(cls, row, history=history)
