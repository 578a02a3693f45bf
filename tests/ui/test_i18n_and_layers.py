"""Static checks on ui/: every tr() string has English, and no store access below the core."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import resources
from fieldapp.model import VISIT_MATERIALS as MATERIALS
from fieldapp.model import VISIT_TOPICS as TOPICS

UI = Path(__file__).resolve().parents[2] / "ui"


def _tr_literals() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(UI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "tr"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found[node.args[0].value] = f"{path.name}:{node.lineno}"
    return found


def test_every_tr_string_has_english() -> None:
    """Each tr("…") literal in ui/ (and the visit topics shown through tr) is in en.json."""
    catalogue = json.loads(resources.read_text("i18n", "en.json"))
    wanted = _tr_literals()
    for text in (*TOPICS, *MATERIALS):
        wanted.setdefault(text, "fieldapp.model")
    missing = {text: where for text, where in wanted.items() if not catalogue.get(text)}
    assert not missing, missing
    for text, english in catalogue.items():
        # Placeholders must survive translation, or str.format would fail at run time.
        assert set(re.findall(r"{\w+}", text)) == set(re.findall(r"{\w+}", english)), text


def test_ui_has_no_store_access() -> None:
    """ui/ never imports sqlite3 or sqlite_utils, never writes SQL, never opens threads itself."""
    for path in sorted(UI.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] in ("sqlite3", "sqlite_utils") for n in names), path
        assert not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE)\s+\w", source), path
        assert ".store.conn" not in source and ".store.query" not in source, path
        if path.name != "operations.py":
            assert "QThread" not in source and "ThreadPoolExecutor" not in source, path
