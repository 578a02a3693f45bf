"""Members of a household: add, edit, remove, with identity checks that warn or refuse."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fieldapp.errors import NotFoundError, Problem, raise_if_errors
from fieldapp.model import MEMBER_EDITABLE_FIELDS, SEXES, Member
from fieldapp.participation import BHYT_GROUPS
from fieldapp.periods import month_end
from fieldapp.records import insert_mergeable, reindex_household, update_mergeable
from fieldapp.store import Store
from fieldapp.text import clean, name_sort_text
from fieldapp.validation import (
    check_bhxh_code,
    check_bhyt_card,
    check_cccd,
    check_date_of_birth,
    check_phone,
    check_required_name,
    is_old_id_number,
    normalise_bhxh_code,
    normalise_bhyt_card,
    normalise_cccd,
    normalise_phone,
    old_id_warning,
)

if TYPE_CHECKING:
    from fieldapp.policy import Policy

_EDITABLE = MEMBER_EDITABLE_FIELDS
_PARTICIPATION = (
    "bhyt_group",
    "bhyt_valid_from",
    "bhxh_participating",
    "bhxh_income",
    "bhxh_paid_through",
    "bhxh_supported_months",
    "old_id",
    "phone",
)


def _iso(value: dt.date | str | None, field: str, problems: list[Problem]) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        problems.append(
            Problem(
                field,
                "bad_date",
                f"Ngày không hợp lệ: {value} (định dạng YYYY-MM-DD).",
                f"Invalid date: {value} (format YYYY-MM-DD).",
            )
        )
        return None


# Bounds of what a form or a list may say about a person's BHXH (DOMAIN.md §3): a monthly
# income far above any ceiling is a typo, and no one has used more than 1,200 months.
_WHOLE_BOUNDS = {
    "bhxh_income": (0, 1_000_000_000, "Mức thu nhập đóng BHXH", "BHXH income"),
    "bhxh_supported_months": (0, 1200, "Số tháng đã được hỗ trợ", "Supported months used"),
}


def _whole(key: str, value: object, problems: list[Problem]) -> int | None:
    low, high, vi, en = _WHOLE_BOUNDS[key]
    if value is None or value == "":
        return None if key == "bhxh_income" else 0
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value).replace(".", "").replace(",", "").strip())
        except ValueError:
            problems.append(
                Problem(key, "not_integer", f"{vi} phải là số nguyên", f"{en} must be a number")
            )
            return None
    if not low <= value <= high:
        problems.append(
            Problem(
                key,
                "out_of_range",
                f"{vi} phải từ {low:,} đến {high:,}".replace(",", "."),
                f"{en} must be between {low:,} and {high:,}",
            )
        )
        return None
    return value


def _check_participation(out: dict[str, Any], state: dict[str, Any]) -> list[Problem]:
    """The card's first valid day cannot follow its last."""
    if not {"bhyt_valid_from", "bhyt_expiry"} & set(out):
        return []
    start, end = state.get("bhyt_valid_from"), state.get("bhyt_expiry")
    if start and end and start > end:
        return [
            Problem(
                "bhyt_valid_from",
                "card_dates_reversed",
                f"Thẻ BHYT có giá trị từ {_vn(start)} nhưng hết hạn {_vn(end)}: ngày bắt đầu "
                "phải trước ngày hết hạn.",
                f"The BHYT card starts on {start} but ends on {end}: the start must come first.",
            )
        ]
    return []


def _vn(iso: str) -> str:
    return dt.date.fromisoformat(iso).strftime("%d/%m/%Y")


def _choice(
    field: str,
    value: Any,
    allowed: tuple[str, ...],
    problems: list[Problem],
    *,
    code: str,
    vi: str,
    en: str,
) -> str | None:
    """A coded value (None when blank); anything outside `allowed` is a problem on the field."""
    chosen = value or None
    if chosen is not None and chosen not in allowed:
        problems.append(Problem(field, code, vi, en))
    return chosen


def _blank_to_none(value: str | None) -> str | None:
    text = clean(value)
    return text or None


class Members:
    """People in households. Errors block a change; warnings are stored with the member."""

    def __init__(self, store: Store, *, policy: Callable[[], Policy] | None = None) -> None:
        self.store = store
        # The policy bounds the supported BHXH months a person can have used (loaded only
        # when that field is given).
        self._policy = policy

    def _prepare(
        self, values: dict[str, Any], merged: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Problem]]:
        """Normalise the given fields and check them against the member as it would become."""
        problems: list[Problem] = []
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key in ("date_of_birth", "bhyt_expiry", "bhyt_valid_from"):
                out[key] = _iso(value, key, problems)
            elif key == "bhxh_paid_through":
                # A month is paid whole: the last day paid is the month's last day.
                day = _iso(value, key, problems)
                out[key] = (
                    None if day is None else month_end(dt.date.fromisoformat(day)).isoformat()
                )
            elif key == "cccd":
                out[key] = normalise_cccd(value) if value else None
                if out[key] is not None and is_old_id_number(out[key]):
                    # A 9-digit CMND from before the CCCD: kept as the old ID, not refused.
                    old = out.pop(key)
                    out["cccd"] = None
                    out["old_id"] = old
                    problems.append(old_id_warning(old))
            elif key == "old_id":
                out[key] = normalise_cccd(value) if value else None
            elif key == "bhyt_group":
                out[key] = _choice(
                    key,
                    value,
                    BHYT_GROUPS,
                    problems,
                    code="bad_group",
                    vi=f"Nhóm tham gia BHYT không hợp lệ: {value}",
                    en=f"Unknown BHYT group: {value}",
                )
            elif key in ("bhxh_participating",):
                out[key] = bool(value)
            elif key in ("bhxh_income", "bhxh_supported_months"):
                out[key] = _whole(key, value, problems)
                if key == "bhxh_supported_months" and out[key] is not None:
                    problems += self._within_support_cap(out[key])
            elif key == "bhxh_code":
                out[key] = normalise_bhxh_code(value) if value else None
            elif key == "bhyt_card":
                out[key] = normalise_bhyt_card(value) if value else None
            elif key == "phone":
                # Checked as the household's phone is; kept in national form, so "+84 912…"
                # and "0912…" are the same number (and the search finds either).
                problems += check_phone(value)
                out[key] = normalise_phone(clean(value)) if value else None
            elif key == "covered_by":
                out[key] = _blank_to_none(value)
            elif key == "sex":
                out[key] = _choice(
                    key,
                    value,
                    SEXES,
                    problems,
                    code="bad_sex",
                    vi="Giới tính phải là nam hoặc nữ.",
                    en="Sex must be male or female.",
                )
            else:
                out[key] = clean(value)
        state = {**merged, **out}
        if "full_name" in out:
            problems += check_required_name(out["full_name"])
        dob = dt.date.fromisoformat(state["date_of_birth"]) if state.get("date_of_birth") else None
        if "date_of_birth" in out:
            problems += check_date_of_birth(dob, today=self.store.clock.today())
        if {"cccd", "sex", "date_of_birth"} & set(out):
            problems += check_cccd(state.get("cccd"), sex=state.get("sex"), date_of_birth=dob)
        if "bhxh_code" in out:
            problems += check_bhxh_code(out["bhxh_code"])
        if "bhyt_card" in out:
            problems += check_bhyt_card(out["bhyt_card"])
        problems += _check_participation(out, state)
        return out, problems

    def _within_support_cap(self, used: int) -> list[Problem]:
        """The policy's lifetime cap on supported BHXH months: a number above it is a typing
        mistake, refused rather than quietly capped when quoting."""
        if self._policy is None:
            return []
        cap = self._policy().max_supported_months(self.store.clock.today())
        if used <= cap:
            return []
        return [
            Problem(
                "bhxh_supported_months",
                "over_cap",
                f"Số tháng đã được hỗ trợ phải từ 0 đến {cap} (tối đa {cap} tháng trong đời), "
                f"nhận được {used}",
                f"Supported months used must be from 0 to {cap} (at most {cap} in a "
                f"lifetime); got {used}",
            )
        ]

    def add(
        self,
        household_id: str,
        *,
        full_name: str,
        date_of_birth: dt.date | str | None = None,
        sex: str | None = None,
        relation: str = "",
        cccd: str | None = None,
        bhxh_code: str | None = None,
        ethnicity: str = "",
        bhyt_card: str | None = None,
        bhyt_expiry: dt.date | str | None = None,
        covered_by: str | None = None,
        bhxh_status: str = "",
        import_key: str | None = None,
        **participation: Any,
    ) -> Member:
        """Add a person; `participation` takes the group, card, BHXH fields and phone by name."""
        unknown = set(participation) - set(_PARTICIPATION)
        if unknown:
            raise TypeError(f"not a member field: {', '.join(sorted(unknown))}")
        values, problems = self._prepare(
            {
                **participation,
                "full_name": full_name,
                "date_of_birth": date_of_birth,
                "sex": sex,
                "relation": relation,
                "cccd": cccd,
                "bhxh_code": bhxh_code,
                "ethnicity": ethnicity,
                "bhyt_card": bhyt_card,
                "bhyt_expiry": bhyt_expiry,
                "covered_by": covered_by,
                "bhxh_status": bhxh_status,
            },
            {},
        )
        warnings = raise_if_errors(problems)
        member_id = self.store.new_id()
        with self.store.transaction() as conn:
            if (
                conn.execute("SELECT 1 FROM household WHERE id = ?", (household_id,)).fetchone()
                is None
            ):
                raise NotFoundError("hộ gia đình", "household", household_id)
            insert_mergeable(
                self.store,
                "member",
                {
                    "id": member_id,
                    "household_id": household_id,
                    **values,
                    "sort_key": name_sort_text(values["full_name"]),
                    "removed": False,
                    "warnings": [w.as_dict() for w in warnings],
                },
            )
            if import_key is not None:
                conn.execute(
                    "UPDATE member SET import_key = ? WHERE id = ?", (import_key, member_id)
                )
            reindex_household(conn, household_id)
        return self.get(member_id)

    def check(self, member_id: str | None = None, **values: Any) -> list[Problem]:
        """Problems (errors and warnings) the given values would raise, without saving."""
        merged: dict[str, Any] = {}
        if member_id is not None:
            current = self.get(member_id)
            merged = {k: getattr(current, k) for k in _EDITABLE}
        return self._prepare(values, merged)[1]

    def update(self, member_id: str, **changes: Any) -> Member:
        unknown = set(changes) - set(_EDITABLE)
        if unknown:
            raise TypeError(f"not editable: {', '.join(sorted(unknown))}")
        current = self.get(member_id)
        merged = {k: getattr(current, k) for k in _EDITABLE}
        values, problems = self._prepare(changes, merged)
        warnings = raise_if_errors(problems)
        if {"cccd", "sex", "date_of_birth"} & set(values):
            values["warnings"] = [w.as_dict() for w in warnings]
        if "full_name" in values:
            values["sort_key"] = name_sort_text(values["full_name"])
        with self.store.transaction() as conn:
            row = conn.execute("SELECT * FROM member WHERE id = ?", (member_id,)).fetchone()
            if update_mergeable(self.store, "member", row, values, always=("household_id",)):
                reindex_household(conn, row["household_id"])
        return self.get(member_id)

    def remove(self, member_id: str) -> Member:
        """Mark a member as no longer in the household; the record and its history stay."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT * FROM member WHERE id = ?", (member_id,)).fetchone()
            if row is None:
                raise NotFoundError("thành viên", "member", member_id)
            update_mergeable(self.store, "member", row, {"removed": True}, always=("household_id",))
            reindex_household(conn, row["household_id"])
        return self.get(member_id)

    def get(self, member_id: str) -> Member:
        row = self.store.one("SELECT * FROM member WHERE id = ?", (member_id,))
        if row is None:
            raise NotFoundError("thành viên", "member", member_id)
        return Member.from_row(row)

    def by_import_key(self, import_key: str) -> Member | None:
        row = self.store.one("SELECT * FROM member WHERE import_key = ?", (import_key,))
        return None if row is None else Member.from_row(row)

    def by_cccd(self, cccd: str) -> Member | None:
        """The present member holding this CCCD number (the first one added, if two do)."""
        row = self.store.one(
            "SELECT * FROM member WHERE cccd = ? AND removed = 0 ORDER BY created_at, id LIMIT 1",
            (cccd,),
        )
        return None if row is None else Member.from_row(row)

    def of_household(self, household_id: str, *, include_removed: bool = False) -> list[Member]:
        rows = self.store.query(
            "SELECT * FROM member WHERE household_id = ?"
            + ("" if include_removed else " AND removed = 0")
            + " ORDER BY created_at, id",
            (household_id,),
        )
        return [Member.from_row(r) for r in rows]

    def count(self) -> int:
        return int(self.store.scalar("SELECT count(*) FROM member WHERE removed = 0"))
