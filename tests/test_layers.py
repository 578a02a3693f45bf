"""Layering: who may import whom (DESIGN.md), checked on every import statement in the tree.

- `sync/protocol` and `sync/server` stand on the wire format alone: nothing from the laptop
  core (`fieldapp`), the desktop app (`ui`), the sync client or Qt;
- `fieldapp` and `sync` never import Qt or `ui` — except the command line's `gui` command,
  which opens the desktop app lazily, inside the function that runs it;
- `ui` never opens SQLite itself and reaches the server only through `sync.client`; of the
  shared package it takes the leaves (language, clock, money, ids, errors), never the wire
  format.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The leaves of sync/protocol that the desktop app may use; the rest is the wire format.
SHARED_LEAVES = {
    "sync.protocol.i18n",
    "sync.protocol.clock",
    "sync.protocol.money",
    "sync.protocol.ids",
    "sync.protocol.errors",
    "sync.protocol.labels",
    "sync.protocol.frozen",
}
# The one hand-over from the command line to the desktop app (module, function).
GUI_LAUNCH = ("fieldapp/cli/gui.py", "launch")


def _imports(path: Path) -> Iterator[tuple[int, str, bool]]:
    """Every module an import statement names, its line, and whether it is inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        inside = id(node) in nested
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, inside
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module in ("sync", "sync.protocol"):
                for alias in node.names:
                    yield node.lineno, f"{node.module}.{alias.name}", inside
            else:
                yield node.lineno, node.module, inside


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _where(path: Path, line: int, module: str) -> str:
    return f"{path.relative_to(ROOT)}:{line} imports {module}"


def _gui_launch_lines() -> set[int]:
    """Lines of the command line's gui launcher function."""
    path = ROOT / GUI_LAUNCH[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == GUI_LAUNCH[1]:
            return set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return set()


@pytest.mark.parametrize("package", ["sync/protocol", "sync/server"])
def test_the_wire_format_and_the_server_stand_alone(package: str) -> None:
    """sync/protocol and sync/server import nothing from fieldapp, ui, the client or Qt."""
    found = []
    for path in _files(package):
        for line, module, _ in _imports(path):
            if _top(module) in {"fieldapp", "ui", "PySide6", "shiboken6"} or module.startswith(
                ("sync.client", "sync.cli")
            ):
                found.append(_where(path, line, module))
            if package == "sync/protocol" and module.startswith("sync.server"):
                found.append(_where(path, line, module))
    assert found == []


@pytest.mark.parametrize("package", ["fieldapp", "sync"])
def test_core_and_sync_never_import_the_ui_or_qt(package: str) -> None:
    """No module under fieldapp/ or sync/ imports PySide6 or ui, not even inside a function,
    but for the gui command's launcher, and that one only inside its function."""
    launcher = _gui_launch_lines()
    assert launcher, "the gui command's launcher function was not found"
    found = []
    for path in _files(package):
        is_launcher_file = path == ROOT / GUI_LAUNCH[0]
        for line, module, inside in _imports(path):
            if _top(module) not in {"PySide6", "ui", "shiboken6"}:
                continue
            if is_launcher_file and inside and line in launcher and module.startswith("ui."):
                continue
            found.append(_where(path, line, module))
    assert found == []


def test_the_core_reaches_sync_only_through_the_shared_package() -> None:
    """fieldapp imports sync.protocol (shared) but never the server; only the command line's
    sync commands use the client."""
    found = []
    for path in _files("fieldapp"):
        for line, module, _ in _imports(path):
            if module.startswith("sync.server"):
                found.append(_where(path, line, module))
            if module.startswith("sync.client") and "cli" not in path.relative_to(ROOT).parts:
                found.append(_where(path, line, module))
    assert found == []


def test_ui_never_opens_sqlite_itself() -> None:
    """No module under ui/ imports sqlite3 or sqlite_utils: data goes through fieldapp."""
    found = [
        _where(path, line, module)
        for path in _files("ui")
        for line, module, _ in _imports(path)
        if _top(module) in {"sqlite3", "sqlite_utils"}
    ]
    assert found == []


def test_the_ui_reaches_the_server_only_through_the_sync_client() -> None:
    """ui/ may use sync.client and the shared leaves; never the wire format, the server or an
    HTTP library of its own — so there is one place that talks to the server."""
    found = []
    for path in _files("ui"):
        for line, module, _ in _imports(path):
            if _top(module) == "httpx" or (
                _top(module) == "sync"
                and not (module.startswith("sync.client") or module in SHARED_LEAVES)
            ):
                found.append(_where(path, line, module))
    assert found == []


def test_the_import_scan_sees_nested_imports(tmp_path: Path) -> None:
    """The scan finds imports inside functions, says so, and ignores relative imports."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "from sync.protocol import wire\n"
        "def f():\n"
        "    from ui.app import run\n"
        "    import PySide6.QtCore\n"
        "from . import ui\n",
        encoding="utf-8",
    )
    assert [(m, inside) for _, m, inside in _imports(sample)] == [
        ("os", False),
        ("sync.protocol.wire", False),
        ("ui.app", True),
        ("PySide6.QtCore", True),
    ]
