"""Pledges: what a member promised, computed from the rules in force, and its status events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from fieldapp import calculator
from fieldapp.calculator import ContributionResult
from fieldapp.errors import NotFoundError, Problem, ValidationError
from fieldapp.model import Pledge, PledgeEvent
from fieldapp.policy import Policy
from fieldapp.store import Store, dumps, loads
from fieldapp.text import clean
from sync.protocol.clock import iso_utc
from sync.protocol.errors import FieldappError

# Household groups that carry a BHXH tự nguyện central-support share (DOMAIN.md §3).
BHXH_SUPPORT_GROUPS = ("poor", "near_poor", "ethnic_minority", "island")

# Allowed status changes; a status change is a new event, never an overwrite.
_TRANSITIONS = {"pledged": {"paid", "cancelled"}, "paid": set(), "cancelled": set()}


def bhxh_groups_of(household_groups: Sequence[str]) -> list[str]:
    """The BHXH support groups a household's recorded groups give; "other" when none."""
    groups = [g for g in household_groups if g in BHXH_SUPPORT_GROUPS]
    return groups or ["other"]


class Pledges:
    """Compute, record and settle pledges for BHYT hộ gia đình and BHXH tự nguyện."""

    def __init__(self, store: Store, *, policy: Callable[[], Policy]) -> None:
        self.store = store
        self._policy = policy

    @property
    def policy(self) -> Policy:
        return self._policy()

    # -- quotes (no writes) ---------------------------------------------------------------

    def quote_bhyt(
        self,
        *,
        members: int,
        months: int,
        on: dt.date,
        province: str | None = None,
        support_group: str | None = None,
    ) -> ContributionResult:
        return calculator.bhyt_household(
            self.policy,
            members=members,
            months=months,
            on=on,
            province=province,
            support_group=support_group,
        )

    def quote_bhxh(
        self,
        *,
        income: int,
        months: int,
        groups: Sequence[str],
        on: dt.date,
        province: str | None = None,
        lump_years: int | None = None,
        back_months: int | None = None,
    ) -> ContributionResult:
        return calculator.bhxh_voluntary(
            self.policy,
            income=income,
            months=months,
            groups=groups,
            on=on,
            province=province,
            lump_years=lump_years,
            back_months=back_months,
        )

    # -- pledges --------------------------------------------------------------------------

    def pledge_bhyt_household(
        self,
        household_id: str,
        *,
        member_ids: Sequence[str],
        months: int,
        start: dt.date,
        support_group: str | None = None,
    ) -> list[Pledge]:
        """One pledge per member, each at its position on the household ladder (1st, 2nd…)."""
        household = self._household(household_id)
        members = self._members(household_id, member_ids)
        covered = [m["full_name"] for m in members if m["covered_by"]]
        if covered:
            raise ValidationError(
                [
                    Problem(
                        "member_ids",
                        "covered_elsewhere",
                        "Các thành viên đã có thẻ BHYT theo nhóm khác, không tham gia theo hộ: "
                        + ", ".join(covered),
                        "These members are covered by another group and do not join through "
                        "the household: " + ", ".join(covered),
                    )
                ]
            )
        province = household["province_code"]
        totals = [
            self.quote_bhyt(
                members=n,
                months=months,
                on=start,
                province=province,
                support_group=support_group,
            )
            for n in range(1, len(members) + 1)
        ]
        due = calculator.due_date("bhyt_household", months, start)
        created: list[str] = []
        with self.store.transaction():
            previous: ContributionResult | None = None
            for position, (member, total) in enumerate(zip(members, totals, strict=True), 1):
                # The share of the n-th member is what the n-member household pays beyond the
                # (n-1)-member one, so the pledges add up to the household's total exactly.
                share = {
                    k: getattr(total, k) - (getattr(previous, k) if previous else 0)
                    for k in ("gross", "central_support", "local_support", "payable")
                }
                previous = total
                params = {
                    "months": months,
                    "position": position,
                    "household_members": len(members),
                    "support_group": support_group,
                }
                created.append(
                    self._insert(
                        household_id=household_id,
                        member_id=member["id"],
                        scheme="bhyt_household",
                        params=params,
                        amounts=share,
                        policy_version=total.policy_version,
                        start=start,
                        due=due,
                    )
                )
        return [self.get(pid) for pid in created]

    def pledge_bhxh(
        self,
        member_id: str,
        *,
        income: int,
        months: int,
        start: dt.date,
        groups: Sequence[str] | None = None,
        lump_years: int | None = None,
        back_months: int | None = None,
    ) -> Pledge:
        member = self.store.one("SELECT * FROM member WHERE id = ?", (member_id,))
        if member is None:
            raise NotFoundError("thành viên", "member", member_id)
        household = self._household(member["household_id"])
        if groups is None:
            groups = bhxh_groups_of(loads(household["groups"]))
        result = self.quote_bhxh(
            income=income,
            months=months,
            groups=groups,
            on=start,
            province=household["province_code"],
            lump_years=lump_years,
            back_months=back_months,
        )
        due = calculator.due_date("bhxh_voluntary", result.months, start, mode=result.mode)
        params: dict[str, Any] = {
            "income": income,
            "months": result.months,
            "groups": list(groups),
            "mode": result.mode,
        }
        if lump_years:
            params["lump_years"] = lump_years
        if back_months:
            params["back_months"] = back_months
        with self.store.transaction():
            pledge_id = self._insert(
                household_id=household["id"],
                member_id=member_id,
                scheme="bhxh_voluntary",
                params=params,
                amounts={
                    "gross": result.gross,
                    "central_support": result.central_support,
                    "local_support": result.local_support,
                    "payable": result.payable,
                },
                policy_version=result.policy_version,
                start=start,
                due=due,
            )
        return self.get(pledge_id)

    def mark_paid(self, pledge_id: str, *, receipt_id: str | None = None) -> Pledge:
        return self._change_status(pledge_id, "paid", reason="", receipt_id=receipt_id)

    def cancel(self, pledge_id: str, *, reason: str) -> Pledge:
        if not clean(reason):
            raise ValidationError(
                [
                    Problem(
                        "reason",
                        "reason_required",
                        "Cần ghi lý do huỷ cam kết.",
                        "A reason is required to cancel a pledge.",
                    )
                ]
            )
        return self._change_status(pledge_id, "cancelled", reason=clean(reason), receipt_id=None)

    def get(self, pledge_id: str) -> Pledge:
        row = self.store.one("SELECT * FROM pledge WHERE id = ?", (pledge_id,))
        if row is None:
            raise NotFoundError("cam kết", "pledge", pledge_id)
        return Pledge.from_row(row, self._history(pledge_id))

    def of_household(self, household_id: str) -> list[Pledge]:
        rows = self.store.query(
            "SELECT * FROM pledge WHERE household_id = ? ORDER BY created_at, id", (household_id,)
        )
        return [Pledge.from_row(r, self._history(r["id"])) for r in rows]

    def count(self) -> int:
        return int(self.store.scalar("SELECT count(*) FROM pledge"))

    # -- internals ------------------------------------------------------------------------

    def _history(self, pledge_id: str) -> tuple[PledgeEvent, ...]:
        rows = self.store.query(
            "SELECT * FROM pledge_event WHERE pledge_id = ? ORDER BY at, rowid", (pledge_id,)
        )
        return tuple(PledgeEvent.from_row(r) for r in rows)

    def _household(self, household_id: str) -> Any:
        row = self.store.one("SELECT * FROM household WHERE id = ?", (household_id,))
        if row is None:
            raise NotFoundError("hộ gia đình", "household", household_id)
        return row

    def _members(self, household_id: str, member_ids: Sequence[str]) -> list[Any]:
        if not member_ids:
            raise ValidationError(
                [
                    Problem(
                        "member_ids",
                        "no_members",
                        "Chọn ít nhất một thành viên.",
                        "Choose at least one member.",
                    )
                ]
            )
        if len(set(member_ids)) != len(member_ids):
            raise ValidationError(
                [
                    Problem(
                        "member_ids",
                        "duplicate_member",
                        "Một thành viên được chọn hai lần.",
                        "A member was chosen twice.",
                    )
                ]
            )
        rows = []
        for member_id in member_ids:
            row = self.store.one("SELECT * FROM member WHERE id = ? AND removed = 0", (member_id,))
            if row is None or row["household_id"] != household_id:
                raise NotFoundError("thành viên của hộ", "member of the household", member_id)
            rows.append(row)
        return rows

    def _insert(
        self,
        *,
        household_id: str,
        member_id: str,
        scheme: str,
        params: dict[str, Any],
        amounts: dict[str, int],
        policy_version: str,
        start: dt.date,
        due: dt.date,
    ) -> str:
        pledge_id = self.store.new_id()
        now = self.store.now_iso()
        data = {
            "id": pledge_id,
            "household_id": household_id,
            "member_id": member_id,
            "scheme": scheme,
            "params": params,
            **amounts,
            "policy_version": policy_version,
            "start_date": start.isoformat(),
            "due_date": due.isoformat(),
            "created_at": now,
        }
        self.store.conn.execute(
            "INSERT INTO pledge (id, household_id, member_id, scheme, params, gross, "
            "central_support, local_support, payable, policy_version, start_date, due_date, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                pledge_id,
                household_id,
                member_id,
                scheme,
                dumps(params),
                amounts["gross"],
                amounts["central_support"],
                amounts["local_support"],
                amounts["payable"],
                policy_version,
                data["start_date"],
                data["due_date"],
                now,
            ),
        )
        self.store.append_outbox(
            entity="pledge", entity_id=pledge_id, op="insert", hlc=self.store.tick(), data=data
        )
        self.record_event(pledge_id, "pledged", reason="", receipt_id=None)
        return pledge_id

    def record_event(
        self, pledge_id: str, status: str, *, reason: str, receipt_id: str | None
    ) -> None:
        """Append a status event with its outbox row, inside the caller's transaction."""
        event_id = self.store.new_id()
        data = {
            "id": event_id,
            "pledge_id": pledge_id,
            "status": status,
            "at": iso_utc(self.store.clock.now()),
            "reason": reason,
            "receipt_id": receipt_id,
        }
        self.store.conn.execute(
            "INSERT INTO pledge_event (id, pledge_id, status, at, reason, receipt_id) "
            "VALUES (:id, :pledge_id, :status, :at, :reason, :receipt_id)",
            data,
        )
        self.store.append_outbox(
            entity="pledge_event", entity_id=event_id, op="insert", hlc=self.store.tick(), data=data
        )

    def _change_status(
        self, pledge_id: str, status: str, *, reason: str, receipt_id: str | None
    ) -> Pledge:
        with self.store.transaction():
            current = self.get(pledge_id).status
            if status not in _TRANSITIONS[current]:
                raise FieldappError(
                    f"Không thể chuyển cam kết từ «{current}» sang «{status}».",
                    f"A pledge cannot go from '{current}' to '{status}'.",
                    code="bad_transition",
                )
            self.record_event(pledge_id, status, reason=reason, receipt_id=receipt_id)
        return self.get(pledge_id)
