"""/web/audit: who did what and when — every supervisor action, enrolment and revocation.

The log is append-only; this page only reads it. A commune supervisor reads the entries of
their communes; the province's administrators read everything.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from sync.server import audit
from sync.server.web.routes import PREFIX, PageKit, Signed, render

PAGE_SIZE = 100
ActionFilter = Annotated[str | None, Query(max_length=48)]
Before = Annotated[int | None, Query(ge=1, le=2**62)]

ACTOR_KINDS = {"supervisor": "Cán bộ", "device": "Thiết bị", "operator": "Dòng lệnh máy chủ"}


def add_routes(router: APIRouter, kit: PageKit) -> None:
    @router.get(f"{PREFIX}/audit")
    def audit_page(
        request: Request, login: Signed, action: ActionFilter = None, before: Before = None
    ) -> HTMLResponse:
        chosen = action if action in audit.ACTION_LABELS else None
        rows = kit.db(
            lambda conn: audit.entries(
                conn, login.communes, action=chosen, limit=PAGE_SIZE + 1, before=before
            )
        )
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        context = {
            "entries": rows,
            "action": chosen or "",
            "actions": audit.ACTION_LABELS,
            "actor_kinds": ACTOR_KINDS,
            "older": rows[-1].id if more and rows else None,
            "nav": "audit",
        }
        return render(request, "audit.html", context, login=login)
