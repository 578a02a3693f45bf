"""The groups of supervisor pages that live in modules of their own, each adding its routes to
the router with `add_routes(router, kit)` (see routes.PageKit)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from sync.server.web import audit_pages
from sync.server.web.routes import PageKit

PAGE_GROUPS: tuple[Callable[[APIRouter, PageKit], None], ...] = (audit_pages.add_routes,)
