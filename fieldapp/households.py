"""Households: create, edit, read and list, with validation and sync records."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fieldapp.errors import NotFoundError, Problem, raise_if_errors
from fieldapp.model import HOUSEHOLD_FIELDS, HOUSEHOLD_GROUPS, Household
from fieldapp.records import insert_mergeable, reindex_household, update_mergeable
from fieldapp.store import Store
from fieldapp.text import clean, name_sort_text, village_sort_key
from fieldapp.validation import check_phone, check_required_name, normalise_phone

_EDITABLE = HOUSEHOLD_FIELDS


def _check(values: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    if "province_code" in values and not re.fullmatch(r"\d{2}", values["province_code"] or ""):
        problems.append(
            Problem(
                "province_code",
                "province_code",
                "Mã tỉnh phải gồm 2 chữ số.",
                "The province code must be 2 digits.",
            )
        )
    if "commune_code" in values and not re.fullmatch(r"\d{5}", values["commune_code"] or ""):
        problems.append(
            Problem(
                "commune_code",
                "commune_code",
                "Mã xã phải gồm 5 chữ số.",
                "The commune code must be 5 digits.",
            )
        )
    if "village" in values and not values["village"]:
        problems.append(
            Problem(
                "village",
                "village_required",
                "Chưa nhập thôn/bản.",
                "The village is required.",
            )
        )
    if "head_name" in values:
        problems += check_required_name(values["head_name"], field="head_name")
    if "phone" in values:
        problems += check_phone(values["phone"])
    for group in values.get("groups", ()):
        if group not in HOUSEHOLD_GROUPS:
            problems.append(
                Problem(
                    "groups",
                    "unknown_group",
                    f"Nhóm hộ không hợp lệ: {group}. Các nhóm: {', '.join(HOUSEHOLD_GROUPS)}.",
                    f"Unknown household group: {group}. Groups: {', '.join(HOUSEHOLD_GROUPS)}.",
                )
            )
    for month in values.get("best_months", ()):
        if not isinstance(month, int) or isinstance(month, bool) or not 1 <= month <= 12:
            problems.append(
                Problem(
                    "best_months",
                    "bad_month",
                    f"Tháng không hợp lệ: {month} (1–12).",
                    f"Invalid month: {month} (1–12).",
                )
            )
    return problems


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key in ("province_code", "commune_code", "village", "head_name", "address", "notes"):
        if key in out:
            out[key] = clean(out[key])
    if "phone" in out:
        out["phone"] = normalise_phone(out["phone"]) if out["phone"] else None
    if "groups" in out:
        out["groups"] = list(dict.fromkeys(out["groups"]))
    if "best_months" in out:
        out["best_months"] = sorted(set(out["best_months"]))
    return out


# Households in this laptop's lists: not moved to a commune it does not serve.
_HERE = "WHERE moved_to IS NULL"


class Households:
    """Household records of the agent's villages."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(
        self,
        *,
        province_code: str,
        commune_code: str,
        village: str,
        head_name: str,
        address: str = "",
        phone: str | None = None,
        groups: Iterable[str] = (),
        best_months: Iterable[int] = (),
        notes: str = "",
        import_key: str | None = None,
    ) -> Household:
        values = _normalise(
            {
                "province_code": province_code,
                "commune_code": commune_code,
                "village": village,
                "head_name": head_name,
                "address": address,
                "phone": phone,
                "groups": list(groups),
                "best_months": list(best_months),
                "notes": notes,
            }
        )
        raise_if_errors(_check(values))
        household_id = self.store.new_id()
        with self.store.transaction() as conn:
            insert_mergeable(self.store, "household", {"id": household_id, **values})
            if import_key is not None:
                conn.execute(
                    "UPDATE household SET import_key = ? WHERE id = ?", (import_key, household_id)
                )
            reindex_household(conn, household_id)
        return self.get(household_id)

    def update(self, household_id: str, **changes: Any) -> Household:
        unknown = set(changes) - set(_EDITABLE)
        if unknown:
            raise TypeError(f"not editable: {', '.join(sorted(unknown))}")
        values = _normalise(changes)
        raise_if_errors(_check(values))
        with self.store.transaction() as conn:
            row = conn.execute("SELECT * FROM household WHERE id = ?", (household_id,)).fetchone()
            if row is None:
                raise NotFoundError("hộ gia đình", "household", household_id)
            if update_mergeable(self.store, "household", row, values, always=("commune_code",)):
                reindex_household(conn, household_id)
        return self.get(household_id)

    def check(self, **values: Any) -> list[Problem]:
        """Problems the given household fields would raise, without saving (for live forms)."""
        return _check(_normalise(values))

    def get(self, household_id: str) -> Household:
        row = self.store.one("SELECT * FROM household WHERE id = ?", (household_id,))
        if row is None:
            raise NotFoundError("hộ gia đình", "household", household_id)
        return Household.from_row(row)

    def by_import_key(self, import_key: str) -> Household | None:
        row = self.store.one("SELECT * FROM household WHERE import_key = ?", (import_key,))
        return None if row is None else Household.from_row(row)

    def villages(self) -> list[str]:
        """Villages that have households, in Vietnamese order."""
        names = [r[0] for r in self.store.query(f"SELECT DISTINCT village FROM household {_HERE}")]
        return sorted(names, key=village_sort_key)

    def in_village(self, village: str) -> list[Household]:
        rows = self.store.query(
            f"SELECT * FROM household {_HERE} AND village = ?", (clean(village),)
        )
        return sorted(
            (Household.from_row(r) for r in rows), key=lambda h: name_sort_text(h.head_name)
        )

    def count(self) -> int:
        return int(self.store.scalar(f"SELECT count(*) FROM household {_HERE}"))
