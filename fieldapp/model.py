"""Domain records of the local store, as read back by the services."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from fieldapp.store import loads

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
VISIT_OUTCOMES = ("not_home", "consulted", "pledged", "refused", "paid", "follow_up")
# What an agent talks about and leaves behind; free text is allowed too.
VISIT_TOPICS = (
    "BHYT hộ gia đình",
    "BHXH tự nguyện",
    "Hỗ trợ của Nhà nước",
    "Lương hưu",
    "Đóng một lần 5 năm",
)
VISIT_MATERIALS = ("Tờ rơi BHYT", "Tờ rơi BHXH tự nguyện", "Bảng mức đóng")
SCHEMES = ("bhyt_household", "bhxh_voluntary")
PLEDGE_STATUSES = ("pledged", "paid", "cancelled")
SEXES = ("male", "female")

# The fields of a household an agent edits; each is merged on its own clock when synced.
HOUSEHOLD_FIELDS = (
    "province_code",
    "commune_code",
    "village",
    "head_name",
    "address",
    "phone",
    "groups",
    "best_months",
    "notes",
)
# The fields of a member an agent edits.
MEMBER_EDITABLE_FIELDS = (
    "full_name",
    "date_of_birth",
    "sex",
    "relation",
    "cccd",
    "bhxh_code",
    "ethnicity",
    "bhyt_card",
    "bhyt_expiry",
    "covered_by",
    "bhxh_status",
)
# A member's fields that travel to other devices: the editable ones, the household it belongs
# to, whether it was removed, and the warnings stored with it.
MEMBER_FIELDS = ("household_id", *MEMBER_EDITABLE_FIELDS, "removed", "warnings")


@dataclass(frozen=True)
class Household:
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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Household:
        return cls(
            id=row["id"],
            province_code=row["province_code"],
            commune_code=row["commune_code"],
            village=row["village"],
            head_name=row["head_name"],
            address=row["address"],
            phone=row["phone"],
            groups=tuple(loads(row["groups"])),
            best_months=tuple(loads(row["best_months"])),
            notes=row["notes"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class Member:
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
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Member:
        return cls(
            id=row["id"],
            household_id=row["household_id"],
            full_name=row["full_name"],
            date_of_birth=row["date_of_birth"],
            sex=row["sex"],
            relation=row["relation"],
            cccd=row["cccd"],
            bhxh_code=row["bhxh_code"],
            ethnicity=row["ethnicity"],
            bhyt_card=row["bhyt_card"],
            bhyt_expiry=row["bhyt_expiry"],
            covered_by=row["covered_by"],
            bhxh_status=row["bhxh_status"],
            removed=bool(row["removed"]),
            warnings=tuple(loads(row["warnings"])),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class Visit:
    id: str
    household_id: str
    agent_id: str
    at: str
    outcome: str
    topics: tuple[str, ...]
    materials: tuple[str, ...]
    next_visit: str | None
    notes: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Visit:
        return cls(
            id=row["id"],
            household_id=row["household_id"],
            agent_id=row["agent_id"],
            at=row["at"],
            outcome=row["outcome"],
            topics=tuple(loads(row["topics"])),
            materials=tuple(loads(row["materials"])),
            next_visit=row["next_visit"],
            notes=row["notes"],
        )


@dataclass(frozen=True)
class PledgeEvent:
    id: str
    pledge_id: str
    status: str
    at: str
    reason: str
    receipt_id: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> PledgeEvent:
        return cls(
            id=row["id"],
            pledge_id=row["pledge_id"],
            status=row["status"],
            at=row["at"],
            reason=row["reason"],
            receipt_id=row["receipt_id"],
        )


@dataclass(frozen=True)
class Pledge:
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
    def from_row(cls, row: sqlite3.Row, history: tuple[PledgeEvent, ...] = ()) -> Pledge:
        return cls(
            id=row["id"],
            household_id=row["household_id"],
            member_id=row["member_id"],
            scheme=row["scheme"],
            params=loads(row["params"]),
            gross=int(row["gross"]),
            central_support=int(row["central_support"]),
            local_support=int(row["local_support"]),
            payable=int(row["payable"]),
            policy_version=row["policy_version"],
            start_date=row["start_date"],
            due_date=row["due_date"],
            created_at=row["created_at"],
            history=history,
        )
