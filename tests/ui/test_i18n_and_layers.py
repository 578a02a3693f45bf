"""Static checks: every message is a (Vietnamese, English) pair written one way, and ui/ holds
no store access below the core."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from fieldapp.model import VISIT_MATERIALS, VISIT_TOPICS
from sync.protocol import i18n
from sync.protocol.labels import topic_label

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "ui"
PACKAGES = ("fieldapp", "ui", "sync")
# Helpers of the past that each said things in two languages their own way.
OTHER_WAYS = {"tr", "vi_en", "_t", "current_language"}


def _python_files() -> list[Path]:
    return [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]


def _say_calls() -> list[tuple[str, str, str]]:
    """(where, vi, en) of every say("…", "…") call with two literal texts."""
    found = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "say"
                and len(node.args) == 2
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
            ):
                vi, en = (a.value for a in node.args)  # type: ignore[attr-defined]
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", vi, en))
    return found


def test_every_pair_has_both_languages_and_the_same_placeholders() -> None:
    """Each say(vi, en) has two non-empty texts whose {placeholders} match (str.format would
    fail at run time otherwise) and whose English is not the Vietnamese left untranslated."""
    calls = _say_calls()
    assert len(calls) > 400
    for where, vi, en in calls:
        assert vi.strip() and en.strip(), where
        assert set(re.findall(r"{\w*}", vi)) == set(re.findall(r"{\w*}", en)), where
        has_vietnamese = re.search(r"[ăâđêôơưĂÂĐÊÔƠƯàáảãạèéẻẽẹìíỉĩịòóỏõọùúủũụỳýỷỹỵ]", vi)
        if has_vietnamese:
            assert en != vi, where


def test_there_is_one_way_to_say_things_in_two_languages() -> None:
    """No module defines or calls another bilingual helper than sync.protocol.i18n's."""
    found = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in OTHER_WAYS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} defines {node.name}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in OTHER_WAYS
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} calls {node.func.id}")
    assert found == []


@pytest.mark.parametrize("text", [*VISIT_TOPICS, *VISIT_MATERIALS])
def test_visit_topics_and_materials_are_shown_in_english_too(text: str) -> None:
    """The listed topics and materials (stored in Vietnamese) have an English label."""
    try:
        i18n.set_language("en")
        assert topic_label(text) != text
        i18n.set_language("vi")
        assert topic_label(text) == text
    finally:
        i18n.set_language(None)


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
        assert ".store" not in source, f"{path.name} reaches the store past the workspace"
        if path.name != "operations.py":
            assert "QThread" not in source and "ThreadPoolExecutor" not in source, path
