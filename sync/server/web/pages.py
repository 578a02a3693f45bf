"""The groups of supervisor pages that live in modules of their own, each adding its routes to
the router with `add_routes(router, kit)` (see routes.PageKit)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from sync.server.web import (
    agents_pages,
    audit_pages,
    batches_pages,
    books_pages,
    policy_pages,
    targets_pages,
)
from sync.server.web.routes import PageKit

PAGE_GROUPS: tuple[Callable[[APIRouter, PageKit], None], ...] = (
    audit_pages.add_routes,
    agents_pages.add_routes,
    batches_pages.add_routes,
    books_pages.add_routes,
    targets_pages.add_routes,
    policy_pages.add_routes,
)
