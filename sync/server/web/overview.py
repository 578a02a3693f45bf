"""Scoped reads for the supervisor pages: agents, devices, enrolment codes, receipts, progress."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from dataclasses import field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from sync.protocol.clock import VIETNAM_TZ, Clock
from sync.protocol.fields import SCHEMES
from sync.protocol.frozen import kept_dataclass
from sync.server.admin import stored_receipt_signature
from sync.server.schema import (
    agent_communes,
    agents,
    cash_handovers,
    devices,
    enrol_codes,
    households,
    pledge_events,
    pledges,
    receipt_voids,
    receipts,
    targets,
)
from sync.server.web import refusals
from sync.server.web.scope import (
    AgentPartlyInScope,
    Communes,
    OutOfScope,
    in_scope,
    parse_stamp,
    visible_agent_ids,
)

T = TypeVar("T")

STUCK_AFTER = dt.timedelta(days=3)
# Outbox rows a laptop may report pending before it is flagged: well over a few days' visits,
# pledges and receipts, so only a laptop that has stopped getting its work out stands out.
PENDING_FLAG_ABOVE = 200


def _record(cls: type[T], row: Row[Any], **given: Any) -> T:
    """A row of a page from a result row: each field from the column of its name, unless given."""
    columns = row._mapping
    names = (f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    return cls(**{name: given[name] if name in given else columns[name] for name in names})


@kept_dataclass
class DeviceRow:
    id: str
    agent_id: str
    agent_name: str
    name: str
    enrolled_at: str
    last_seen_at: str | None
    pending: int | None
    revoked_at: str | None
    # Not seen for STUCK_AFTER.
    stuck: bool
    # Records the server refused and has not taken since (see refusals.still_refused).
    refused: int = 0

    @property
    def pending_high(self) -> bool:
        return (self.pending or 0) > PENDING_FLAG_ABOVE

    @property
    def flagged(self) -> bool:
        """Needs a supervisor's look: not seen for days, records refused, or too much pending."""
        return self.revoked_at is None and (self.stuck or self.refused > 0 or self.pending_high)


@kept_dataclass
class AgentRow:
    id: str
    name: str
    communes: list[str]
    devices: list[DeviceRow] = field(default_factory=list)
    # Deactivated agents keep their history here; no new device can be enrolled for them.
    deactivated: bool = False

    @property
    def active(self) -> list[DeviceRow]:
        return [d for d in self.devices if d.revoked_at is None]

    @property
    def last_seen_at(self) -> str | None:
        return max((d.last_seen_at for d in self.active if d.last_seen_at), default=None)

    @property
    def pending(self) -> int:
        return sum(d.pending or 0 for d in self.active)

    @property
    def stuck(self) -> bool:
        return any(d.stuck for d in self.active)

    @property
    def refused(self) -> int:
        return sum(d.refused for d in self.active)

    @property
    def pending_high(self) -> bool:
        return any(d.pending_high for d in self.active)

    @property
    def flagged(self) -> bool:
        return any(d.flagged for d in self.active)


def agents_in_scope(conn: Connection, communes: Communes, clock: Clock) -> list[AgentRow]:
    """Visible agents (only their in-scope communes listed), each with their devices."""
    rows = conn.execute(
        sa.select(agents.c.id, agents.c.name, agents.c.deactivated_at)
        .where(agents.c.id.in_(visible_agent_ids(communes)))
        .order_by(agents.c.name, agents.c.id)
    ).all()
    out = {
        r.id: AgentRow(id=r.id, name=r.name, communes=[], deactivated=r.deactivated_at is not None)
        for r in rows
    }
    for link in conn.execute(
        sa.select(agent_communes)
        .where(
            agent_communes.c.agent_id.in_(list(out)),
            in_scope(agent_communes.c.commune_code, communes),
        )
        .order_by(agent_communes.c.commune_code)
    ):
        out[link.agent_id].communes.append(link.commune_code)
    stale = clock.now() - STUCK_AFTER
    device_rows: list[Row[Any]] = list(
        conn.execute(
            sa.select(devices)
            .where(devices.c.agent_id.in_(list(out)))
            .order_by(devices.c.enrolled_at, devices.c.id)
        )
    )
    active = [d.id for d in device_rows if d.revoked_at is None]
    refused = refusals.counts_by_device(conn, active)
    for d in device_rows:
        seen = parse_stamp(d.last_seen_at or d.enrolled_at)
        agent = out[d.agent_id]
        stuck = d.revoked_at is None and seen is not None and seen < stale
        agent.devices.append(
            _record(
                DeviceRow,
                d,
                agent_name=agent.name,
                pending=d.last_pending_reported,
                stuck=stuck,
                refused=refused.get(d.id, 0),
            )
        )
    return list(out.values())


def agent_visible(conn: Connection, agent_id: str, communes: Communes) -> bool:
    """True when every commune of the agent is in scope (see visible_agent_ids)."""
    found = conn.execute(
        sa.select(agents.c.id).where(
            agents.c.id == agent_id, agents.c.id.in_(visible_agent_ids(communes))
        )
    ).first()
    return found is not None


def require_agent(conn: Connection, agent_id: str, communes: Communes) -> None:
    """Before acting on an agent (or their devices): refused unless all of their communes are in
    scope; an agent with none in scope is as unknown (404), one with only some is a 403."""
    if agent_visible(conn, agent_id, communes):
        return
    shared = conn.execute(
        sa.select(agent_communes.c.agent_id).where(
            agent_communes.c.agent_id == agent_id,
            in_scope(agent_communes.c.commune_code, communes),
        )
    ).first()
    raise OutOfScope() if shared is None else AgentPartlyInScope()


def enrol_codes_in_scope(conn: Connection, communes: Communes) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(enrol_codes, agents.c.name.label("agent_name"))
        .join(agents, agents.c.id == enrol_codes.c.agent_id)
        .where(enrol_codes.c.agent_id.in_(visible_agent_ids(communes)))
        .order_by(enrol_codes.c.created_at.desc())
        .limit(50)
    ).all()
    return [dict(r._mapping) for r in rows]


@kept_dataclass
class ReceiptRow:
    id: str
    series: str
    number: int
    amount: int
    payer_name: str
    issued_by: str
    issued_at: str
    commune_code: str
    voided: bool
    sig: str


def receipts_in_scope(
    conn: Connection, communes: Communes, *, limit: int | None = None
) -> list[ReceiptRow]:
    """Receipts in scope, newest first, with the QR signature so the list links to the check."""
    voided = sa.select(receipt_voids.c.receipt_id)
    query = (
        sa.select(
            receipts,
            households.c.commune_code,
            devices.c.device_key,
            receipts.c.id.in_(voided).label("voided"),
        )
        .join(households, households.c.id == receipts.c.household_id)
        .join(devices, devices.c.id == receipts.c.device_id)
        .where(in_scope(households.c.commune_code, communes))
        .order_by(receipts.c.received_at.desc(), receipts.c.series, receipts.c.number.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        _record(
            ReceiptRow,
            r,
            payer_name=str(r.data.get("payer_name") or ""),
            issued_by=str(r.data.get("issued_by") or ""),
            issued_at=str(r.data.get("issued_at", "")),
            voided=bool(r.voided),
            sig=stored_receipt_signature(r, bytes(r.device_key)) or "",
        )
        for r in conn.execute(query)
    ]


# ---------------------------------------------------------------------------------------------
# Progress against targets


@kept_dataclass
class ProgressRow:
    """One bar: who or where, the target (None where targets are not set) and what was achieved."""

    level: str
    key: str
    label: str
    scheme: str
    target: int | None
    achieved: int

    @property
    def percent(self) -> int | None:
        if not self.target:
            return None
        return round(100 * self.achieved / self.target)


@kept_dataclass
class Progress:
    month: str
    agents: list[ProgressRow]
    communes: list[ProgressRow]
    villages: list[ProgressRow]

    def rows(self) -> list[ProgressRow]:
        return [*self.agents, *self.communes, *self.villages]

    def totals(self) -> dict[str, tuple[int, int]]:
        """Per scheme: (sum of targets, achieved) over the agents shown."""
        out: dict[str, tuple[int, int]] = {}
        for scheme in SCHEMES:
            rows = [r for r in self.communes if r.scheme == scheme]
            out[scheme] = (sum(r.target or 0 for r in rows), sum(r.achieved for r in rows))
        return out


def month_of(clock: Clock) -> str:
    return clock.today().strftime("%Y-%m")


def progress(conn: Connection, communes: Communes, month: str, clock: Clock) -> Progress:
    """Achieved = distinct members with a paid pledge event in the month (Vietnam time).

    An agent is credited with the payments their own devices recorded; a commune or village
    with those of households there. Targets are set per agent; a commune's target is the sum
    of the targets of the agents assigned to it.
    """
    visible = agents_in_scope(conn, communes, clock)
    # Every agent assigned to a commune in scope, seen or not: a commune's target is theirs.
    assigned = conn.execute(
        sa.select(agent_communes.c.agent_id, agent_communes.c.commune_code).where(
            in_scope(agent_communes.c.commune_code, communes)
        )
    ).all()
    agent_of_device = {
        r.id: r.agent_id for r in conn.execute(sa.select(devices.c.id, devices.c.agent_id))
    }
    paid: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    rows = conn.execute(
        sa.select(
            pledge_events.c.data,
            pledge_events.c.device_id,
            pledges.c.data.label("pledge"),
            households.c.commune_code,
            households.c.data.label("household"),
        )
        .join(pledges, pledges.c.id == pledge_events.c.pledge_id)
        .join(households, households.c.id == pledges.c.household_id)
        .where(in_scope(households.c.commune_code, communes))
    )
    for r in rows:
        if r.data.get("status") != "paid":
            continue
        moment = parse_stamp(str(r.data.get("at") or ""))
        if moment is None or moment.astimezone(VIETNAM_TZ).strftime("%Y-%m") != month:
            continue
        scheme, member = str(r.pledge.get("scheme")), str(r.pledge.get("member_id"))
        village = str(r.household.get("village") or "").strip() or "(không rõ thôn)"
        paid[("agent", agent_of_device.get(r.device_id, ""), scheme)].add(member)
        paid[("commune", r.commune_code, scheme)].add(member)
        paid[("village", f"{r.commune_code}|{village}", scheme)].add(member)
    goal = {
        (t.agent_id, t.scheme): int(t._mapping["count"])
        for t in conn.execute(
            sa.select(targets).where(
                targets.c.month == month,
                targets.c.agent_id.in_(sorted({link.agent_id for link in assigned})),
            )
        )
    }
    agent_rows = [
        ProgressRow(
            "agent",
            a.id,
            a.name,
            scheme,
            goal.get((a.id, scheme)),
            len(paid[("agent", a.id, scheme)]),
        )
        for scheme in SCHEMES
        for a in visible
    ]
    commune_goal: dict[tuple[str, str], int] = defaultdict(int)
    all_communes: set[str] = set()
    for link in assigned:
        all_communes.add(link.commune_code)
        for scheme in SCHEMES:
            commune_goal[(link.commune_code, scheme)] += goal.get((link.agent_id, scheme), 0)
    all_communes |= {key for level, key, _ in paid if level == "commune"}
    commune_rows = [
        ProgressRow(
            "commune",
            code,
            f"Xã {code}",
            scheme,
            commune_goal.get((code, scheme)) or None,
            len(paid[("commune", code, scheme)]),
        )
        for scheme in SCHEMES
        for code in sorted(all_communes)
    ]
    village_keys = sorted({key for level, key, _ in paid if level == "village"})
    village_rows = [
        ProgressRow(
            "village",
            key,
            f"{key.split('|', 1)[1]} (xã {key.split('|', 1)[0]})",
            scheme,
            None,
            len(paid[("village", key, scheme)]),
        )
        for scheme in SCHEMES
        for key in village_keys
        if paid[("village", key, scheme)]
    ]
    return Progress(month, agent_rows, commune_rows, village_rows)


# ---------------------------------------------------------------------------------------------
# Cash handed over at the end of each day


@kept_dataclass
class HandoverRow:
    """The handover that counts for one device, day and scheme ("all" = the whole day).

    `corrections` is how many earlier handovers of the same day and scheme it replaced.
    """

    id: str
    agent_id: str
    agent_name: str
    device_id: str
    device_name: str
    day: str
    scheme: str
    # When the agent recorded it, then what it says: money in đồng, and why they differ.
    at: str
    expected: int
    handed_over: int
    difference: int
    reason: str
    corrections: int

    @property
    def state(self) -> str:
        """balanced | short (less than due) | over (more than due)."""
        if self.difference < 0:
            return "short"
        return "over" if self.difference > 0 else "balanced"


@kept_dataclass
class HandoverSummary:
    """One agent's month: the days handed over and what the days' figures add up to."""

    agent_id: str
    agent_name: str
    days: int
    expected: int
    handed_over: int
    difference: int
    days_with_difference: int


def _month_days(month: str) -> tuple[str, str]:
    """The month's first day and the next month's first day, as ISO dates."""
    year, number = int(month[:4]), int(month[5:7])
    following = dt.date(year + number // 12, number % 12 + 1, 1)
    return f"{month}-01", following.isoformat()


def handovers_in_scope(
    conn: Connection, communes: Communes, month: str, *, agent_id: str | None = None
) -> list[HandoverRow]:
    """The month's handovers of visible agents, by agent and day; only the latest of each.

    A laptop records a correction as a new handover: per device, day and scheme, the one with
    the latest clock stamp counts (the laptop's own order) and the earlier ones are counted.
    """
    first, following = _month_days(month)
    query = (
        sa.select(
            cash_handovers,
            agents.c.name.label("agent_name"),
            devices.c.name.label("device_name"),
        )
        .join(agents, agents.c.id == cash_handovers.c.agent_id)
        .join(devices, devices.c.id == cash_handovers.c.device_id)
        .where(
            cash_handovers.c.agent_id.in_(visible_agent_ids(communes)),
            cash_handovers.c.day >= first,
            cash_handovers.c.day < following,
        )
        .order_by(cash_handovers.c.hlc)
    )
    if agent_id is not None:
        query = query.where(cash_handovers.c.agent_id == agent_id)
    latest: dict[tuple[str, str, str], HandoverRow] = {}
    for r in conn.execute(query):
        key = (r.device_id, r.day, r.scheme)
        earlier = latest.get(key)
        corrections = 0 if earlier is None else earlier.corrections + 1
        latest[key] = _record(HandoverRow, r, corrections=corrections)
    order = {"all": 0, **{scheme: n for n, scheme in enumerate(SCHEMES, start=1)}}
    return sorted(
        latest.values(),
        key=lambda h: (h.agent_name, h.agent_id, h.day, h.device_name, order.get(h.scheme, 9)),
    )


def handover_summaries(rows: list[HandoverRow]) -> list[HandoverSummary]:
    """Per agent: each device's day counts once — its whole-day handover when there is one,
    else the sum of its per-scheme handovers — so a day is never added up twice."""
    found: dict[tuple[str, str, str], list[HandoverRow]] = defaultdict(list)
    for row in rows:
        found[(row.agent_id, row.device_id, row.day)].append(row)
    # Per agent, each device's day with the handovers that count for it.
    days: dict[str, list[tuple[str, list[HandoverRow]]]] = defaultdict(list)
    for (agent_id, _device, day), handovers in found.items():
        whole = [h for h in handovers if h.scheme == "all"]
        days[agent_id].append((day, whole or handovers))
    out = []
    for agent_id, counted_days in days.items():
        counted = [h for _, handovers in counted_days for h in handovers]
        differing = {day for day, handovers in counted_days if any(h.difference for h in handovers)}
        out.append(
            HandoverSummary(
                agent_id=agent_id,
                agent_name=counted[0].agent_name,
                days=len({day for day, _ in counted_days}),
                expected=sum(h.expected for h in counted),
                handed_over=sum(h.handed_over for h in counted),
                difference=sum(h.difference for h in counted),
                days_with_difference=len(differing),
            )
        )
    return sorted(out, key=lambda s: (s.agent_name, s.agent_id))
