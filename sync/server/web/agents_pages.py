"""/web/agents: the agents of a supervisor's communes — add one, change their communes, stop one
who left — and /web/devices/{id}/revoke: take a lost or stolen laptop's access away.

A commune supervisor sees and acts on only the agents all of whose communes are theirs, and gives
an agent only their own communes; the province's administrators act on every agent. Every
action is written to the audit log in its own transaction; a refused one changes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

import segno
import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from sqlalchemy.engine import Connection

from sync.protocol.frozen import frozen
from sync.server import admin
from sync.server import devices as device_ops
from sync.server.schema import agent_communes, agents, devices
from sync.server.web.overview import require_agent
from sync.server.web.routes import PREFIX, Login, PageError, PageKit, Signed, log_action, render
from sync.server.web.routes import templates as page_templates
from sync.server.web.scope import Communes, OutOfScope, visible_agent_ids

NAME_LIMIT = 100
REASON_LIMIT = 500
COMMUNES_TEXT_LIMIT = 200
COMMUNES_PER_AGENT = 20
ID_LIMIT = 64
_COMMUNE = re.compile(r"[0-9]{5}")
_SEPARATORS = re.compile(r"[\s,;]+")

# What the list says after an action (the redirect names it; anything else says nothing).
DONE = {
    "added": "Đã thêm nhân viên thu.",
    "communes": "Đã đổi xã phụ trách; máy của nhân viên sẽ nhận thay đổi ở lần đồng bộ tới.",
    "unchanged": "Các xã phụ trách không thay đổi.",
    "deactivated": "Đã ngừng hoạt động nhân viên thu và thu hồi các thiết bị của họ.",
}
# Looked up in DONE only, so any text is harmless (and a long one is not a 422).
Done = Annotated[str | None, Query()]


def qr_svg(text: str) -> Markup:
    """A QR code of the text as inline SVG (no script, no request: the page's CSP allows it).

    A full-size QR code, not a Micro QR one, which phone cameras mostly cannot read.
    """
    code = segno.make(text, error="m", micro=False)
    svg = code.svg_inline(
        scale=5, border=4, dark="#000", light="#fff", svgclass="qr", title=f"Mã QR: {text}"
    )
    # segno's own markup around the code, which is letters, digits and "-" only.
    return Markup(svg)


page_templates.env.filters["qr_svg"] = qr_svg


@frozen
class AgentListing:
    id: str
    name: str
    communes: list[str]
    devices: int
    active_devices: int
    deactivated_at: str | None


@frozen
class DeviceListing:
    id: str
    name: str
    enrolled_at: str
    last_seen_at: str | None
    revoked_at: str | None


def agents_listed(
    conn: Connection, communes: Communes, *, agent_id: str | None = None
) -> list[AgentListing]:
    """The visible agents (see scope.visible_agent_ids), active ones first, with device counts."""
    query = sa.select(agents.c.id, agents.c.name, agents.c.deactivated_at).where(
        agents.c.id.in_(visible_agent_ids(communes))
    )
    if agent_id is not None:
        query = query.where(agents.c.id == agent_id)
    rows = conn.execute(
        query.order_by(agents.c.deactivated_at.is_not(None), agents.c.name, agents.c.id)
    ).all()
    ids = [r.id for r in rows]
    links: dict[str, list[str]] = {i: [] for i in ids}
    for link in conn.execute(
        sa.select(agent_communes)
        .where(agent_communes.c.agent_id.in_(ids))
        .order_by(agent_communes.c.commune_code)
    ):
        links[link.agent_id].append(link.commune_code)
    active = sa.case((devices.c.revoked_at.is_(None), 1), else_=0)
    counts = {
        r.agent_id: (int(r.total), int(r.active or 0))
        for r in conn.execute(
            sa.select(
                devices.c.agent_id,
                sa.func.count().label("total"),
                sa.func.sum(active).label("active"),
            )
            .where(devices.c.agent_id.in_(ids))
            .group_by(devices.c.agent_id)
        )
    }
    return [
        AgentListing(
            id=r.id,
            name=r.name,
            communes=links[r.id],
            devices=counts.get(r.id, (0, 0))[0],
            active_devices=counts.get(r.id, (0, 0))[1],
            deactivated_at=r.deactivated_at,
        )
        for r in rows
    ]


def agent_devices(conn: Connection, agent_id: str) -> list[DeviceListing]:
    rows = conn.execute(
        sa.select(
            devices.c.id,
            devices.c.name,
            devices.c.enrolled_at,
            devices.c.last_seen_at,
            devices.c.revoked_at,
        )
        .where(devices.c.agent_id == agent_id)
        .order_by(devices.c.enrolled_at, devices.c.id)
    ).all()
    return [DeviceListing(**r._mapping) for r in rows]


def one_agent(conn: Connection, agent_id: str, communes: Communes) -> AgentListing:
    """An agent the supervisor may act on: 404 when unknown or out of scope, 403 when only
    some of the agent's communes are theirs."""
    if len(agent_id) > ID_LIMIT:
        raise OutOfScope()
    require_agent(conn, agent_id, communes)
    (agent,) = agents_listed(conn, communes, agent_id=agent_id)
    return agent


def agent_name(form: dict[str, str]) -> str:
    """The name typed on the form: NFC (Unikey may send NFD), spaces collapsed, bounded."""
    name = " ".join(unicodedata.normalize("NFC", form.get("name", "")[: NAME_LIMIT * 4]).split())
    if not name:
        raise PageError(400, "Hãy nhập họ và tên nhân viên thu.")
    if len(name) > NAME_LIMIT:
        raise PageError(400, f"Họ và tên dài quá {NAME_LIMIT} ký tự.")
    if any(unicodedata.category(ch)[0] == "C" for ch in name):
        raise PageError(400, "Họ và tên có ký tự không hợp lệ.")
    return name


def communes_asked(text: str, login: Login) -> list[str]:
    """Commune codes typed on a form (separated by commas or spaces): 5 digits each, at least
    one, and for a commune supervisor only their own communes."""
    if len(text) > COMMUNES_TEXT_LIMIT:
        raise PageError(400, f"Danh sách mã xã dài quá {COMMUNES_TEXT_LIMIT} ký tự.")
    codes = [code for code in _SEPARATORS.split(text.strip()) if code]
    if not codes:
        raise PageError(400, "Hãy nhập ít nhất một mã xã (5 chữ số).")
    bad = [code for code in codes if not _COMMUNE.fullmatch(code)]
    if bad:
        shown = ", ".join(f"“{code[:12]}”" for code in bad[:5])
        raise PageError(400, f"Mã xã phải gồm đúng 5 chữ số: {shown}.")
    chosen = sorted(set(codes))
    if len(chosen) > COMMUNES_PER_AGENT:
        raise PageError(400, f"Một nhân viên thu được giao tối đa {COMMUNES_PER_AGENT} xã.")
    if login.communes is not None:
        outside = [code for code in chosen if code not in login.communes]
        if outside:
            raise PageError(
                403,
                f"Bạn chỉ giao được các xã thuộc địa bàn của mình; không giao được xã "
                f"{', '.join(outside)}.",
            )
    return chosen


def reason_given(form: dict[str, str]) -> str:
    reason = " ".join(unicodedata.normalize("NFC", form.get("reason", "")).split())
    if len(reason) > REASON_LIMIT:
        raise PageError(400, f"Lý do dài quá {REASON_LIMIT} ký tự.")
    return reason


def add_routes(router: APIRouter, kit: PageKit) -> None:
    clock = kit.clock

    def done_at(where: str) -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/agents?done={where}", status_code=303)

    # -- the list, and adding an agent ---------------------------------------------------------

    @router.get(f"{PREFIX}/agents")
    def agent_list(request: Request, login: Signed, done: Done = None) -> HTMLResponse:
        rows = kit.db(lambda conn: agents_listed(conn, login.communes))
        context = {
            "agents": rows,
            "done": DONE.get(done or "", ""),
            "name_limit": NAME_LIMIT,
            "nav": "agents",
        }
        return render(request, "agents.html", context, login=login)

    @router.post(f"{PREFIX}/agents")
    async def agent_add(request: Request, login: Signed) -> RedirectResponse:
        form = await kit.checked_form(request, login)
        name = agent_name(form)
        communes = communes_asked(form.get("communes", ""), login)

        def add(conn: Connection) -> str:
            agent_id = admin.add_agent(conn, name=name, communes=communes, clock=clock)
            log_action(
                conn,
                login,
                clock,
                "agent_add",
                target=agent_id,
                communes=communes,
                detail={"name": name, "communes": communes},
            )
            return agent_id

        await run_in_threadpool(kit.db, add)
        return done_at("added")

    # -- changing an agent's communes ----------------------------------------------------------

    @router.get(f"{PREFIX}/agents/{{agent_id}}/communes")
    def communes_form(request: Request, login: Signed, agent_id: str) -> HTMLResponse:
        agent = kit.db(lambda conn: one_agent(conn, agent_id, login.communes))
        context = {"agent": agent, "step": "communes", "nav": "agents"}
        return render(request, "agent_change.html", context, login=login)

    @router.post(f"{PREFIX}/agents/{{agent_id}}/communes")
    async def communes_change(request: Request, login: Signed, agent_id: str) -> RedirectResponse:
        form = await kit.checked_form(request, login)
        communes = communes_asked(form.get("communes", ""), login)

        def change(conn: Connection) -> bool:
            agent = one_agent(conn, agent_id, login.communes)
            before, after = admin.set_agent_communes(
                conn, agent_id=agent_id, communes=communes, clock=clock
            )
            if before == after:
                return False
            log_action(
                conn,
                login,
                clock,
                "agent_communes",
                target=agent_id,
                communes=[*before, *after],
                detail={"agent": agent.name, "before": before, "after": after},
            )
            return True

        changed = await run_in_threadpool(kit.db, change)
        return done_at("communes" if changed else "unchanged")

    # -- deactivating an agent who left --------------------------------------------------------

    @router.get(f"{PREFIX}/agents/{{agent_id}}/deactivate")
    def deactivate_form(request: Request, login: Signed, agent_id: str) -> HTMLResponse:
        def load(conn: Connection) -> dict[str, Any]:
            agent = one_agent(conn, agent_id, login.communes)
            return {"agent": agent, "devices": agent_devices(conn, agent_id)}

        context = {**kit.db(load), "step": "deactivate", "nav": "agents"}
        return render(request, "agent_change.html", context, login=login)

    @router.post(f"{PREFIX}/agents/{{agent_id}}/deactivate")
    async def deactivate(request: Request, login: Signed, agent_id: str) -> RedirectResponse:
        form = await kit.checked_form(request, login)
        reason = reason_given(form)

        def stop(conn: Connection) -> None:
            agent = one_agent(conn, agent_id, login.communes)
            revoked = admin.deactivate_agent(
                conn,
                agent_id=agent_id,
                clock=clock,
                actor=login.supervisor.username,
                reason=reason,
            )
            log_action(
                conn,
                login,
                clock,
                "agent_deactivate",
                target=agent_id,
                communes=agent.communes,
                detail={"agent": agent.name, "devices_revoked": len(revoked), "reason": reason},
            )

        await run_in_threadpool(kit.db, stop)
        return done_at("deactivated")

    # -- revoking one device -------------------------------------------------------------------

    def device_in_scope(conn: Connection, device_id: str, communes: Communes) -> dict[str, Any]:
        device = device_ops.get(conn, device_id) if len(device_id) <= ID_LIMIT else None
        if device is None:
            raise OutOfScope()
        agent = one_agent(conn, device.agent_id, communes)
        (shown,) = [d for d in agent_devices(conn, agent.id) if d.id == device.id]
        return {"agent": agent, "device": shown}

    @router.get(f"{PREFIX}/devices/{{device_id}}/revoke")
    def revoke_form(request: Request, login: Signed, device_id: str) -> HTMLResponse:
        data = kit.db(lambda conn: device_in_scope(conn, device_id, login.communes))
        context = {**data, "reason_limit": REASON_LIMIT, "nav": "devices"}
        return render(request, "device_revoke.html", context, login=login)

    @router.post(f"{PREFIX}/devices/{{device_id}}/revoke")
    async def revoke(request: Request, login: Signed, device_id: str) -> RedirectResponse:
        form = await kit.checked_form(request, login)
        reason = reason_given(form)

        def take_away(conn: Connection) -> None:
            device_in_scope(conn, device_id, login.communes)
            # devices.revoke writes the audit entry (device_revoke) in this transaction.
            device_ops.revoke(
                conn,
                device_id=device_id,
                clock=clock,
                actor=login.supervisor.username,
                actor_kind="supervisor",
                reason=reason,
            )

        await run_in_threadpool(kit.db, take_away)
        # The confirmation page now says the device was revoked, and when.
        return RedirectResponse(f"{PREFIX}/devices/{device_id}/revoke", status_code=303)
