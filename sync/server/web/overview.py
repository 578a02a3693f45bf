"""Scoped reads for the supervisor pages: agents, devices, enrolment codes, receipts, progress."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.protocol.clock import VIETNAM_TZ, Clock
from sync.protocol.receipt_qr import receipt_signature
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
from sync.server.web.scope import Communes, in_scope, parse_stamp, visible_agent_ids

STUCK_AFTER = dt.timedelta(days=3)
SCHEMES = ("bhyt_household", "bhxh_voluntary")


@dataclass
class DeviceRow:
    id: str
    agent_id: str
    agent_name: str
    name: str
    enrolled_at: str
    last_seen_at: str | None
    pending: int | None
    revoked_at: str | None
    stuck: bool


@dataclass
class AgentRow:
    id: str
    name: str
    communes: list[str]
    devices: list[DeviceRow] = field(default_factory=list)

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


def agents_in_scope(conn: Connection, communes: Communes, clock: Clock) -> list[AgentRow]:
    """Visible agents (only their in-scope communes listed), each with their devices."""
    rows = conn.execute(
        sa.select(agents.c.id, agents.c.name)
        .where(agents.c.id.in_(visible_agent_ids(communes)))
        .order_by(agents.c.name, agents.c.id)
    ).all()
    out = {r.id: AgentRow(id=r.id, name=r.name, communes=[]) for r in rows}
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
    for d in conn.execute(
        sa.select(devices)
        .where(devices.c.agent_id.in_(list(out)))
        .order_by(devices.c.enrolled_at, devices.c.id)
    ):
        seen = parse_stamp(d.last_seen_at or d.enrolled_at)
        agent = out[d.agent_id]
        agent.devices.append(
            DeviceRow(
                id=d.id,
                agent_id=d.agent_id,
                agent_name=agent.name,
                name=d.name,
                enrolled_at=d.enrolled_at,
                last_seen_at=d.last_seen_at,
                pending=d.last_pending_reported,
                revoked_at=d.revoked_at,
                stuck=d.revoked_at is None and seen is not None and seen < stale,
            )
        )
    return list(out.values())


def agent_visible(conn: Connection, agent_id: str, communes: Communes) -> bool:
    found = conn.execute(
        sa.select(agents.c.id).where(
            agents.c.id == agent_id, agents.c.id.in_(visible_agent_ids(communes))
        )
    ).first()
    return found is not None


def enrol_codes_in_scope(conn: Connection, communes: Communes) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(enrol_codes, agents.c.name.label("agent_name"))
        .join(agents, agents.c.id == enrol_codes.c.agent_id)
        .where(enrol_codes.c.agent_id.in_(visible_agent_ids(communes)))
        .order_by(enrol_codes.c.created_at.desc())
        .limit(50)
    ).all()
    return [dict(r._mapping) for r in rows]


@dataclass
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
    out = []
    for r in conn.execute(query):
        issued_at = str(r.data.get("issued_at", ""))
        moment = parse_stamp(issued_at)
        sig = ""
        if moment is not None:
            sig = receipt_signature(
                receipt_id=r.id,
                series=r.series,
                number=r.number,
                amount=r.amount,
                issued_on=moment.astimezone(VIETNAM_TZ).date(),
                device_key=bytes(r.device_key),
            )
        out.append(
            ReceiptRow(
                id=r.id,
                series=r.series,
                number=r.number,
                amount=int(r.amount),
                payer_name=str(r.data.get("payer_name") or ""),
                issued_by=str(r.data.get("issued_by") or ""),
                issued_at=issued_at,
                commune_code=r.commune_code,
                voided=bool(r.voided),
                sig=sig,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Progress against targets


@dataclass
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


@dataclass
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
    names = {a.id: a.name for a in visible}
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
            sa.select(targets).where(targets.c.month == month, targets.c.agent_id.in_(list(names)))
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
    for a in visible:
        for code in a.communes:
            all_communes.add(code)
            for scheme in SCHEMES:
                commune_goal[(code, scheme)] += goal.get((a.id, scheme), 0)
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


@dataclass
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
    expected: int
    handed_over: int
    difference: int
    reason: str
    at: str
    corrections: int

    @property
    def state(self) -> str:
        """balanced | short (less than due) | over (more than due)."""
        if self.difference < 0:
            return "short"
        return "over" if self.difference > 0 else "balanced"


@dataclass
class HandoverSummary:
    """One agent's month: the days handed over and what the days' figures add up to."""

    agent_id: str
    agent_name: str
    days: int = 0
    expected: int = 0
    handed_over: int = 0
    difference: int = 0
    days_with_difference: int = 0


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
        sa.select(cash_handovers, agents.c.name.label("agent_name"), devices.c.name.label("device"))
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
        latest[key] = HandoverRow(
            id=r.id,
            agent_id=r.agent_id,
            agent_name=r.agent_name,
            device_id=r.device_id,
            device_name=r.device,
            day=r.day,
            scheme=r.scheme,
            expected=int(r.expected),
            handed_over=int(r.handed_over),
            difference=int(r.difference),
            reason=r.reason,
            at=r.at,
            corrections=0 if earlier is None else earlier.corrections + 1,
        )
    order = {"all": 0, **{scheme: n for n, scheme in enumerate(SCHEMES, start=1)}}
    return sorted(
        latest.values(),
        key=lambda h: (h.agent_name, h.agent_id, h.day, h.device_name, order.get(h.scheme, 9)),
    )


def handover_summaries(rows: list[HandoverRow]) -> list[HandoverSummary]:
    """Per agent: each device's day counts once — its whole-day handover when there is one,
    else the sum of its per-scheme handovers — so a day is never added up twice."""
    days: dict[tuple[str, str, str], list[HandoverRow]] = defaultdict(list)
    for row in rows:
        days[(row.agent_id, row.device_id, row.day)].append(row)
    out: dict[str, HandoverSummary] = {}
    agent_days: dict[str, set[str]] = defaultdict(set)
    differing_days: dict[str, set[str]] = defaultdict(set)
    for (agent_id, _device, day), found in days.items():
        whole = [h for h in found if h.scheme == "all"]
        counted = whole or found
        summary = out.setdefault(agent_id, HandoverSummary(agent_id, found[0].agent_name))
        summary.expected += sum(h.expected for h in counted)
        summary.handed_over += sum(h.handed_over for h in counted)
        summary.difference += sum(h.difference for h in counted)
        agent_days[agent_id].add(day)
        if any(h.difference for h in counted):
            differing_days[agent_id].add(day)
    for agent_id, summary in out.items():
        summary.days = len(agent_days[agent_id])
        summary.days_with_difference = len(differing_days[agent_id])
    return sorted(out.values(), key=lambda s: (s.agent_name, s.agent_id))
