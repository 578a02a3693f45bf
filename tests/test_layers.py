"""Layering: the core and sync never import the UI or Qt; the UI never touches SQLite directly."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every module an import statement in the file names, at any depth of the code."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _violations(package: str, forbidden: set[str]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in _imports(path):
            if _top(module) in forbidden:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


@pytest.mark.parametrize("package", ["fieldapp", "sync"])
def test_core_and_sync_never_import_the_ui_or_qt(package: str) -> None:
    """No module under fieldapp/ or sync/ imports PySide6 or ui, not even inside a function."""
    assert (ROOT / package).is_dir()
    assert _violations(package, {"PySide6", "ui", "shiboken6"}) == []


def test_ui_never_opens_sqlite_itself() -> None:
    """No module under ui/ imports sqlite3 or sqlite_utils: data goes through fieldapp."""
    assert (ROOT / "ui").is_dir()
    assert _violations("ui", {"sqlite3", "sqlite_utils"}) == []


def test_the_import_scan_sees_nested_imports(tmp_path: Path) -> None:
    """The scan finds imports inside functions and ignores relative imports of a local name."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "def f():\n"
        "    from ui.app import run\n"
        "    import PySide6.QtCore\n"
        "from . import ui\n",
        encoding="utf-8",
    )
    assert [m for _, m in _imports(sample)] == ["os", "ui.app", "PySide6.QtCore"]


def test_the_ui_reaches_the_server_only_through_the_sync_client() -> None:
    """ui/ may use sync.client (and the sync command group); never the wire format, the server
    or an HTTP library of its own — so there is one place that talks to the server."""
    allowed = {"sync.client", "sync.cli"}
    found = []
    for path in sorted((ROOT / "ui").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "sync":
                    modules = [f"sync.{alias.name}" for alias in node.names]
                else:
                    modules = [node.module]
            for module in modules:
                if _top(module) == "httpx" or (_top(module) == "sync" and module not in allowed):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {module}")
    assert found == []
