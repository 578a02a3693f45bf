"""/web/books: each agent's receipt books with the numbers used, voided and left; allocate a
range, or register a book an agent started by hand on the laptop so that its receipts verify.

A commune supervisor sees and acts on the agents all of whose communes are theirs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import field
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.engine import Connection

from sync.protocol.clock import Clock
from sync.protocol.fields import MAX_BOOK_SIZE, MAX_RECEIPT_NUMBER
from sync.protocol.frozen import frozen, kept_dataclass
from sync.server import admin
from sync.server.devices import agent_name_and_communes
from sync.server.schema import receipt_books, receipt_voids, receipts
from sync.server.web import overview
from sync.server.web.routes import PREFIX, Login, PageError, PageKit, Signed, log_action, render
from sync.server.web.scope import Communes, visible_agent_ids

# What a laptop accepts as a series (fieldapp.receipts).
_SERIES = re.compile(r"^[0-9A-Z][0-9A-Z/.-]{0,19}$")
ORIGIN_LABELS = {"allocated": "Tỉnh cấp", "hand_entered": "Tự nhập trên máy"}
DONE_MESSAGES = {
    "allocate": "Đã cấp quyển biên lai. Máy của nhân viên thu nhận quyển này ở lần đồng bộ tới.",
    "register": "Đã đăng ký quyển tự nhập. Biên lai của quyển này được nhận từ lần gửi tới.",
}
Done = Annotated[str | None, Query(max_length=16)]


@frozen
class BookRow:
    id: str
    series: str
    first: int
    last: int
    origin: str
    created_at: str
    used: int
    voided: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    @property
    def remaining(self) -> int:
        return max(self.size - self.used, 0)

    @property
    def origin_label(self) -> str:
        return ORIGIN_LABELS.get(self.origin, self.origin)


@kept_dataclass
class AgentBooks:
    id: str
    name: str
    communes: list[str]
    books: list[BookRow] = field(default_factory=list)


def books_in_scope(conn: Connection, communes: Communes, clock: Clock) -> list[AgentBooks]:
    """Every visible agent with their books; a receipt is counted in the book whose series
    and range hold its number (ranges of a series never overlap), whichever device sent it."""
    used = sa.func.count(sa.distinct(receipts.c.id))
    voided = sa.func.count(sa.distinct(receipt_voids.c.receipt_id))
    rows = conn.execute(
        sa.select(receipt_books, used.label("used"), voided.label("voided"))
        .select_from(
            receipt_books.outerjoin(
                receipts,
                sa.and_(
                    receipts.c.series == receipt_books.c.series,
                    receipts.c.number.between(receipt_books.c.first, receipt_books.c.last),
                ),
            ).outerjoin(receipt_voids, receipt_voids.c.receipt_id == receipts.c.id)
        )
        .where(receipt_books.c.agent_id.in_(visible_agent_ids(communes)))
        .group_by(*receipt_books.c)
        .order_by(receipt_books.c.created_at, receipt_books.c.series, receipt_books.c.first)
    ).all()
    out = {
        a.id: AgentBooks(a.id, a.name, a.communes)
        for a in overview.agents_in_scope(conn, communes, clock)
    }
    for r in rows:
        agent = out.get(r.agent_id)
        if agent is not None:
            agent.books.append(
                BookRow(r.id, r.series, r.first, r.last, r.origin, r.created_at, r.used, r.voided)
            )
    return list(out.values())


def thousands(n: int) -> str:
    """A whole number as Vietnamese write it: 9.999.999."""
    return f"{n:,}".replace(",", ".")


def _series(form: dict[str, str]) -> str:
    series = unicodedata.normalize("NFC", form.get("series", "")[:64]).strip().upper()
    if not _SERIES.match(series):
        raise PageError(
            400,
            "Ký hiệu biên lai chỉ gồm chữ không dấu, số, '-', '/', '.' (1–20 ký tự),"
            " bắt đầu bằng chữ hoặc số.",
        )
    return series


def _number(form: dict[str, str], name: str, label: str) -> int:
    text = form.get(name, "").strip().replace(".", "")
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise PageError(
            400, f"{label} phải là số nguyên dương (tối đa {thousands(MAX_RECEIPT_NUMBER)})."
        )
    return int(text)


def _range(form: dict[str, str]) -> tuple[int, int]:
    first = _number(form, "first", "Số đầu")
    last = _number(form, "last", "Số cuối")
    if not 1 <= first <= last:
        raise PageError(400, f"Số đầu ({first}) phải từ 1 và không lớn hơn số cuối ({last}).")
    if last > MAX_RECEIPT_NUMBER or last - first + 1 > MAX_BOOK_SIZE:
        raise PageError(
            400,
            f"Số cuối tối đa {thousands(MAX_RECEIPT_NUMBER)}, một quyển tối đa"
            f" {thousands(MAX_BOOK_SIZE)} số.",
        )
    return first, last


def add_routes(router: APIRouter, kit: PageKit) -> None:
    @router.get(f"{PREFIX}/books")
    def books_page(request: Request, login: Signed, done: Done = None) -> HTMLResponse:
        agents = kit.db(lambda conn: books_in_scope(conn, login.communes, kit.clock))
        context = {
            "agents": agents,
            "done": DONE_MESSAGES.get(done or "", ""),
            "nav": "books",
        }
        return render(request, "books.html", context, login=login)

    async def add_book(request: Request, login: Login, *, hand_entered: bool) -> str:
        form = await kit.checked_form(request, login)
        agent_id = form.get("agent_id", "")[:64]
        series = _series(form)
        first, last = _range(form)
        laptop_book_id = form.get("book_id", "").strip()[:64]

        def add(conn: Connection) -> None:
            overview.require_agent(conn, agent_id, login.communes)
            if hand_entered:
                book_id = admin.register_hand_entered_book(
                    conn,
                    agent_id=agent_id,
                    book_id=laptop_book_id or None,
                    series=series,
                    first=first,
                    last=last,
                    clock=kit.clock,
                )
            else:
                book_id = admin.add_receipt_book(
                    conn,
                    agent_id=agent_id,
                    series=series,
                    first=first,
                    last=last,
                    clock=kit.clock,
                )
            name, agent_communes = agent_name_and_communes(conn, agent_id)
            log_action(
                conn,
                login,
                kit.clock,
                "book_register" if hand_entered else "book_allocate",
                target=book_id,
                communes=agent_communes,
                detail={"agent": name, "series": series, "first": first, "last": last},
            )

        await run_in_threadpool(kit.db, add)
        return "register" if hand_entered else "allocate"

    @router.post(f"{PREFIX}/books/allocate")
    async def allocate(request: Request, login: Signed) -> RedirectResponse:
        done = await add_book(request, login, hand_entered=False)
        return RedirectResponse(f"{PREFIX}/books?done={done}", status_code=303)

    @router.post(f"{PREFIX}/books/register")
    async def register(request: Request, login: Signed) -> RedirectResponse:
        done = await add_book(request, login, hand_entered=True)
        return RedirectResponse(f"{PREFIX}/books?done={done}", status_code=303)
