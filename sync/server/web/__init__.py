"""Supervisor web pages (server-rendered, no scripts) mounted on the provincial server."""

from sync.server.web.routes import install, receipt_check_page, wants_html

__all__ = ["install", "receipt_check_page", "wants_html"]
