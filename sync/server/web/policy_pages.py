"""/web/policy: the province's local support lines, published to the laptops' calculators.

Everyone signed in may read the lines in force; only the province's administrators add a line
or end one (each change is a new version of the tables, see sync.server.policy_lines).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from sync.protocol.labels import BHYT_GROUP_LABELS, GROUPS, SCHEMES
from sync.server import policy_lines
from sync.server.web.routes import PREFIX, Login, PageError, PageKit, Signed, render

Published = Annotated[str | None, Query(max_length=64)]


def _group_labels() -> dict[str, dict[str, str]]:
    """Each scheme's group names: a household's groups for BHXH, a person's for BHYT."""
    every = {policy_lines.ALL_GROUPS: "Mọi người tham gia"}
    return {
        "bhxh_voluntary": {**{c: vi for c, (vi, _en) in GROUPS.items()}, **every},
        "bhyt_household": {**{c: vi for c, (vi, _en) in BHYT_GROUP_LABELS.items()}, **every},
    }


def _admin_only(login: Login) -> None:
    if login.communes is not None:
        raise PageError(
            403, "Chỉ cán bộ quản trị cấp tỉnh mới thay đổi chính sách hỗ trợ của địa phương."
        )


def add_routes(router: APIRouter, kit: PageKit) -> None:
    @router.get(f"{PREFIX}/policy")
    def policy_page(request: Request, login: Signed, published: Published = None) -> HTMLResponse:
        document = kit.db(policy_lines.newest_document)
        context = {
            "document": document,
            "lines": policy_lines.lines_of(document),
            "groups": {s: policy_lines.groups_of(document, s) for s in policy_lines.SCHEMES},
            "group_labels": _group_labels(),
            "scheme_labels": {code: vi for code, (vi, _en) in SCHEMES.items()},
            "published": published or "",
            "today": kit.clock.today().isoformat(),
            "can_edit": login.communes is None,
            "nav": "policy",
        }
        return render(request, "policy.html", context, login=login)

    @router.post(f"{PREFIX}/policy/lines")
    async def add_line(request: Request, login: Signed) -> RedirectResponse:
        form = await kit.checked_form(request, login)
        _admin_only(login)
        version = await run_in_threadpool(
            kit.db,
            lambda conn: policy_lines.add_line(
                conn, form=form, clock=kit.clock, actor=login.supervisor.username
            ),
        )
        return RedirectResponse(f"{PREFIX}/policy?published={version}", status_code=303)

    @router.post(f"{PREFIX}/policy/lines/end")
    async def end_line(request: Request, login: Signed) -> RedirectResponse:
        form = await kit.checked_form(request, login)
        _admin_only(login)
        version = await run_in_threadpool(
            kit.db,
            lambda conn: policy_lines.end_line(
                conn,
                index=form.get("index", "")[:8],
                to=form.get("to", "")[:16],
                clock=kit.clock,
                actor=login.supervisor.username,
            ),
        )
        return RedirectResponse(f"{PREFIX}/policy?published={version}", status_code=303)
