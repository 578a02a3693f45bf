"""The agent's end-of-day report, cash handover reconciliation and monthly target progress."""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import itertools
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fieldapp.errors import Problem, ValidationError
from fieldapp.model import SCHEMES, VISIT_OUTCOMES, Stored
from fieldapp.text import clean
from sync.protocol.clock import VIETNAM_TZ, iso_utc
from sync.protocol.frozen import frozen
from sync.protocol.money import format_vnd

if TYPE_CHECKING:
    from fieldapp.workspace import Workspace

# More than anyone carries home from a day in the villages: a typo, not a handover.
MAX_HANDOVER = 10_000_000_000
HANDOVER_SCOPES = ("all", *SCHEMES)
# The outbox entity of a cash handover; its data is Handover.as_dict().
HANDOVER_ENTITY = "cash_handover"
# How targets name schemes: the server sends the full name, supervisors type the short one.
_TARGET_SCHEMES = {
    "bhyt": "bhyt_household",
    "bhyt_household": "bhyt_household",
    "bhxh": "bhxh_voluntary",
    "bhxh_voluntary": "bhxh_voluntary",
}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def recorded_here(entity: str, column: str) -> str:
    """SQL condition: the record was written on this laptop (it has its own outbox row).

    Pulled records of other agents in the same villages land in the same tables without one;
    the outbox is never pruned, so it tells the agent's own work apart for good.
    """
    return f"{column} IN (SELECT entity_id FROM outbox WHERE entity = '{entity}')"


def day_bounds(day: dt.date) -> tuple[str, str]:
    """The agent's local day as a half-open range of stored UTC timestamps."""
    start = dt.datetime.combine(day, dt.time(), VIETNAM_TZ)
    return iso_utc(start), iso_utc(start + dt.timedelta(days=1))


def _month_numbers(month: str) -> tuple[int, int]:
    """(year, month number) of a YYYY-MM month; refused when malformed."""
    match = _MONTH.match(month)
    if match is None:
        raise ValidationError(
            [
                Problem(
                    "month",
                    "bad_month",
                    f"Tháng không hợp lệ: {month} (cần dạng YYYY-MM).",
                    f"Invalid month: {month} (expected YYYY-MM).",
                )
            ]
        )
    return int(match.group(1)), int(match.group(2))


def _month_bounds(month: str) -> tuple[str, str]:
    year, number = _month_numbers(month)
    first = dt.date(year, number, 1)
    following = dt.date(year + number // 12, number % 12 + 1, 1)
    return day_bounds(first)[0], day_bounds(following)[0]


def local_iso(iso: str) -> str:
    """A stored UTC timestamp as Vietnam time, e.g. 2026-11-23T10:00:00+07:00."""
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(VIETNAM_TZ).isoformat(timespec="seconds")


@frozen
class Tally:
    """How many records and how much money (int đồng)."""

    count: int = 0
    amount: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@frozen
class VoidedReceipt:
    """A voided receipt as the report lists it: which one, how much, why."""

    series: str
    number: int
    scheme: str
    amount: int
    reason: str
    issued_on: str
    voided_at: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@frozen
class Handover(Stored):
    """One recorded cash handover; difference = handed_over - expected (negative: short)."""

    id: str
    day: str
    scheme: str
    expected: int
    handed_over: int
    difference: int
    reason: str
    at: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@frozen
class DayReport:
    """Everything the agent accounts for at the end of one local day; money is int đồng.

    Receipts count on the day they were issued. `voided` are that day's receipts voided since
    (their money is not to be handed over); `earlier_voided` are receipts of earlier days
    voided on this day, listed because a handover already made for them may need correcting.
    """

    day: dt.date
    agent_id: str
    agent_name: str
    organisation: str
    generated_at: str
    visits: Mapping[str, int]
    pledges: Mapping[str, Tally]
    receipts_issued: Mapping[str, Tally]
    receipts_voided: Mapping[str, Tally]
    voided: tuple[VoidedReceipt, ...]
    earlier_voided: tuple[VoidedReceipt, ...]
    cash: Mapping[str, int]
    pending_sync: int
    handovers: Mapping[str, Handover]

    @property
    def visits_total(self) -> int:
        return sum(self.visits.values())

    @property
    def cash_total(self) -> int:
        return sum(self.cash.values())

    def expected(self, scheme: str = "all") -> int:
        """Cash to hand over for one scheme, or for the whole day with "all"."""
        return self.cash_total if scheme == "all" else self.cash[scheme]

    @property
    def handover(self) -> Handover | None:
        """The latest whole-day handover, if one was recorded."""
        return self.handovers.get("all")

    @property
    def reconciliation(self) -> str:
        """not_reconciled | balanced | difference | outdated (receipts changed since)."""
        if not self.handovers:
            return "not_reconciled"
        if any(h.expected != self.expected(h.scheme) for h in self.handovers.values()):
            return "outdated"
        if any(h.difference for h in self.handovers.values()):
            return "difference"
        return "balanced"

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "agent_id": self.agent_id,
            "agent_name": self.agent_name,
            "organisation": self.organisation,
            "generated_at": self.generated_at,
            "visits": dict(self.visits),
            "visits_total": self.visits_total,
            "pledges": {k: v.as_dict() for k, v in self.pledges.items()},
            "receipts_issued": {k: v.as_dict() for k, v in self.receipts_issued.items()},
            "receipts_voided": {k: v.as_dict() for k, v in self.receipts_voided.items()},
            "voided": [v.as_dict() for v in self.voided],
            "earlier_voided": [v.as_dict() for v in self.earlier_voided],
            "cash": dict(self.cash),
            "cash_total": self.cash_total,
            "pending_sync": self.pending_sync,
            "handovers": {k: v.as_dict() for k, v in self.handovers.items()},
            "reconciliation": self.reconciliation,
        }


@frozen
class TargetProgress:
    """A month's target for one scheme against the people newly covered by paid pledges.

    `daily[i]` is how many people were first counted on day i + 1 of the month (they add up to
    `achieved`); `elapsed_days` is how many days of the month have begun by the clock (0 for a
    month still to come, every day for a month gone by). The target pace is linear: by the end
    of day d, target × d / days_in_month people.
    """

    scheme: str
    month: str
    target: int | None
    achieved: int
    daily: tuple[int, ...] = ()
    elapsed_days: int = 0

    @property
    def percent(self) -> float | None:
        """Achieved as a percentage of the target (one decimal); None without a target."""
        if not self.target:
            return None
        return round(self.achieved * 100 / self.target, 1)

    @property
    def days_in_month(self) -> int:
        year, number = _month_numbers(self.month)
        return calendar.monthrange(year, number)[1]

    @property
    def cumulative(self) -> tuple[int, ...]:
        """People counted by the end of each day of the month (as many entries as `daily`)."""
        return tuple(itertools.accumulate(self.daily))

    def pace(self, day: int) -> float | None:
        """People the linear target pace asks for by the end of `day`; None without a target."""
        if not self.target:
            return None
        return self.target * day / self.days_in_month

    @property
    def expected_by_now(self) -> int | None:
        """People the pace asks for by the end of today (rounded up to whole people)."""
        if not self.target:
            return None
        return -(-self.target * self.elapsed_days // self.days_in_month)

    @property
    def on_pace(self) -> bool | None:
        """True when the people counted so far keep up with the pace; None without a target."""
        due = self.expected_by_now
        return None if due is None else self.achieved >= due

    def as_dict(self) -> dict[str, Any]:
        """The fields with the figures derived from them."""
        derived = ("percent", "expected_by_now", "on_pace")
        return {**dataclasses.asdict(self), **{name: getattr(self, name) for name in derived}}


# -- the day report ---------------------------------------------------------------------------

# A receipt covers pledges of one scheme only (Receipts.issue), so its first pledge names it.
_RECEIPT_SCHEME = "(SELECT p.scheme FROM pledge p WHERE p.id = json_extract(r.pledge_ids, '$[0]'))"


def _by_scheme(rows: list[Any]) -> dict[str, Tally]:
    found = {row["scheme"]: Tally(int(row["n"]), int(row["amount"] or 0)) for row in rows}
    return {scheme: found.get(scheme, Tally()) for scheme in SCHEMES}


# -- reconciliation ---------------------------------------------------------------------------


# -- targets ----------------------------------------------------------------------------------


class Reports:
    """The agent's figures on one workspace: the day's report, cash handovers, month targets."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.store = ws.store

    def _voided_rows(self, where: str, params: dict[str, str]) -> tuple[VoidedReceipt, ...]:
        rows = self.store.query(
            "SELECT r.series, r.number, r.amount, r.issued_at, v.reason, v.at AS voided_at, "
            f"{_RECEIPT_SCHEME} AS scheme "
            "FROM receipt r JOIN receipt_void v ON v.receipt_id = r.id "
            f"WHERE {recorded_here('receipt', 'r.id')} AND {where} ORDER BY r.series, r.number",
            params,
        )
        return tuple(
            VoidedReceipt(
                series=row["series"],
                number=int(row["number"]),
                scheme=row["scheme"],
                amount=int(row["amount"]),
                reason=row["reason"],
                issued_on=local_iso(row["issued_at"])[:10],
                voided_at=local_iso(row["voided_at"]),
            )
            for row in rows
        )

    def day(self, day: dt.date) -> DayReport:
        """The agent's figures for one local day (Vietnam time), read in one consistent snapshot."""
        start, end = day_bounds(day)
        span = {"start": start, "end": end}
        store = self.store
        with store.transaction():
            outcomes = {
                row["outcome"]: int(row["n"])
                for row in store.query(
                    "SELECT outcome, count(*) AS n FROM visit v "
                    f"WHERE v.at >= :start AND v.at < :end AND {recorded_here('visit', 'v.id')} "
                    "GROUP BY outcome",
                    span,
                )
            }
            pledges = _by_scheme(
                store.query(
                    "SELECT scheme, count(*) AS n, sum(payable) AS amount FROM pledge p "
                    f"WHERE p.created_at >= :start AND p.created_at < :end "
                    f"AND {recorded_here('pledge', 'p.id')} GROUP BY scheme",
                    span,
                )
            )
            receipts = (
                f"SELECT {_RECEIPT_SCHEME} AS scheme, count(*) AS n, sum(r.amount) AS amount "
                "FROM receipt r WHERE r.issued_at >= :start AND r.issued_at < :end "
                f"AND {recorded_here('receipt', 'r.id')}"
            )
            voided_ids = "SELECT receipt_id FROM receipt_void"
            issued = _by_scheme(store.query(receipts + " GROUP BY scheme", span))
            voided_tally = _by_scheme(
                store.query(receipts + f" AND r.id IN ({voided_ids}) GROUP BY scheme", span)
            )
            # Counted on its own rather than as issued minus voided: the two must agree, and a
            # test holds them to it.
            kept = _by_scheme(
                store.query(receipts + f" AND r.id NOT IN ({voided_ids}) GROUP BY scheme", span)
            )
            voided = self._voided_rows("r.issued_at >= :start AND r.issued_at < :end", span)
            earlier = self._voided_rows(
                "r.issued_at < :start AND v.at >= :start AND v.at < :end", span
            )
            handovers = self.latest_handovers(day)
            pending = self.ws.pending_sync()
            organisation = self.ws.receipts.header()["collector_org"]
        return DayReport(
            day=day,
            agent_id=self.ws.agent_id,
            agent_name=self.ws.agent_name,
            organisation=organisation,
            generated_at=store.now_iso(),
            visits={outcome: outcomes.get(outcome, 0) for outcome in VISIT_OUTCOMES},
            pledges=pledges,
            receipts_issued=issued,
            receipts_voided=voided_tally,
            voided=voided,
            earlier_voided=earlier,
            cash={scheme: kept[scheme].amount for scheme in SCHEMES},
            pending_sync=pending,
            handovers=handovers,
        )

    def latest_handovers(self, day: dt.date) -> dict[str, Handover]:
        """The handover that counts for each scheme (or "all") of a day: the latest row."""
        rows = self.store.query(
            "SELECT * FROM cash_handover h WHERE day = ? AND seq = "
            "(SELECT max(seq) FROM cash_handover WHERE day = h.day AND scheme = h.scheme) "
            "ORDER BY scheme",
            (day.isoformat(),),
        )
        return {row["scheme"]: Handover.from_row(row) for row in rows}

    def handover_history(self, day: dt.date) -> list[Handover]:
        """Every handover row of a day, oldest first, corrections included."""
        rows = self.store.query(
            "SELECT * FROM cash_handover WHERE day = ? ORDER BY seq", (day.isoformat(),)
        )
        return [Handover.from_row(row) for row in rows]

    def reconcile(
        self, day: dt.date, handed_over: int, reason: str = "", *, scheme: str = "all"
    ) -> Handover:
        """Record the cash handed over for a day against what the day's receipts say is due.

        The row and its outbox row are written in one transaction: each handover is an immutable
        fact that reaches the provincial server like a visit or a receipt. A correction is a new
        row (and a new fact); earlier rows are never changed.
        """
        reason = clean(reason)
        problems: list[Problem] = []
        if isinstance(handed_over, bool) or not isinstance(handed_over, int):
            problems.append(
                Problem(
                    "handed_over",
                    "not_whole_dong",
                    "Số tiền nộp phải là số nguyên đồng.",
                    "The amount handed over must be whole đồng.",
                )
            )
        elif handed_over < 0:
            problems.append(
                Problem(
                    "handed_over",
                    "negative_amount",
                    "Số tiền nộp không được âm.",
                    "The amount handed over cannot be negative.",
                )
            )
        elif handed_over > MAX_HANDOVER:
            problems.append(
                Problem(
                    "handed_over",
                    "amount_too_large",
                    f"Số tiền nộp quá lớn (tối đa {format_vnd(MAX_HANDOVER)}); hãy kiểm tra lại.",
                    f"The amount handed over is too large (at most {format_vnd(MAX_HANDOVER)}); "
                    "check it again.",
                )
            )
        if scheme not in HANDOVER_SCOPES:
            problems.append(
                Problem(
                    "scheme",
                    "bad_scheme",
                    f"Loại không hợp lệ: {scheme} (all, bhyt_household, bhxh_voluntary).",
                    f"Unknown scheme: {scheme} (all, bhyt_household, bhxh_voluntary).",
                )
            )
        if day > self.store.clock.today():
            problems.append(
                Problem(
                    "day",
                    "day_in_future",
                    "Không thể đối chiếu tiền cho một ngày chưa tới.",
                    "A day that has not come yet cannot be reconciled.",
                )
            )
        if problems:
            raise ValidationError(problems)
        with self.store.transaction() as conn:
            # Expected is read in the same transaction as the write, so a receipt issued or voided
            # meanwhile cannot slip between the two.
            expected = self.day(day).expected(scheme)
            difference = handed_over - expected
            if difference and not reason:
                short = difference < 0
                gap, due = format_vnd(abs(difference)), format_vnd(expected)
                raise ValidationError(
                    [
                        Problem(
                            "reason",
                            "reason_required",
                            f"Số tiền nộp {'thiếu' if short else 'thừa'} {gap} so với số phải nộp "
                            f"{due}: cần ghi lý do chênh lệch.",
                            f"The amount handed over is {gap} "
                            f"{'short of' if short else 'over'} the {due} due: "
                            "a reason for the difference is required.",
                        )
                    ]
                )
            handover_id = self.store.new_id()
            conn.execute(
                "INSERT INTO cash_handover (id, day, scheme, expected, handed_over, difference, "
                "reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    handover_id,
                    day.isoformat(),
                    scheme,
                    expected,
                    handed_over,
                    difference,
                    reason,
                    self.store.now_iso(),
                ),
            )
            row = conn.execute(
                "SELECT * FROM cash_handover WHERE id = ?", (handover_id,)
            ).fetchone()
            handover = Handover.from_row(row)
            self.store.append_outbox(
                entity=HANDOVER_ENTITY,
                entity_id=handover.id,
                op="insert",
                hlc=self.store.tick(),
                data=handover.as_dict(),
            )
        return handover

    def month_progress(self, month: str) -> list[TargetProgress]:
        """Each scheme's target for the month against the distinct members newly covered.

        A member counts when a paid event of one of their pledges, recorded on this laptop, falls
        in the month (Vietnam time) and its receipt was not voided since. Several target rows for a
        scheme and month add up; a scheme without one has target None.
        """
        start, end = _month_bounds(month)
        year, number = _month_numbers(month)
        days = calendar.monthrange(year, number)[1]
        today = self.store.clock.today()
        if (today.year, today.month) < (year, number):
            elapsed = 0
        elif (today.year, today.month) > (year, number):
            elapsed = days
        else:
            elapsed = today.day
        targets: dict[str, int] = {}
        for row in self.store.query("SELECT scheme, count FROM target WHERE month = ?", (month,)):
            scheme = _TARGET_SCHEMES.get(str(row["scheme"]).strip().lower())
            if scheme is not None:
                targets[scheme] = targets.get(scheme, 0) + int(row["count"])
        # Each member once per scheme, on the day of their first counting payment of the month.
        daily = {scheme: [0] * days for scheme in SCHEMES}
        for row in self.store.query(
            "SELECT p.scheme, p.member_id, min(e.at) AS first_at "
            "FROM pledge_event e JOIN pledge p ON p.id = e.pledge_id "
            "WHERE e.status = 'paid' AND e.at >= :start AND e.at < :end "
            f"AND {recorded_here('pledge_event', 'e.id')} "
            "AND (e.receipt_id IS NULL OR e.receipt_id NOT IN "
            "(SELECT receipt_id FROM receipt_void)) "
            "GROUP BY p.scheme, p.member_id",
            {"start": start, "end": end},
        ):
            if row["scheme"] in daily:
                day = dt.date.fromisoformat(local_iso(row["first_at"])[:10])
                daily[row["scheme"]][day.day - 1] += 1
        return [
            TargetProgress(
                scheme=scheme,
                month=month,
                target=targets.get(scheme),
                achieved=sum(daily[scheme]),
                daily=tuple(daily[scheme]),
                elapsed_days=elapsed,
            )
            for scheme in SCHEMES
        ]
