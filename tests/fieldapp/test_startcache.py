"""What a start compiles or decompresses is kept for the next (fieldapp.startcache, on
sync.protocol.codecache): PySide6's support modules, which shiboken compiles from source at every
import, the start's regular expressions and the bundle's modules. The next process uses what was
kept, PySide6 and `re` behave as they do without it, and only the calls made while it serves are
answered from it."""

from __future__ import annotations

import ast
import builtins
import marshal
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fieldapp.startcache import KeptModules, QtSupportCode
from sync.protocol import codecache
from sync.protocol.codecache import KeptPatterns

ROOT = Path(__file__).resolve().parents[2]
SOURCE = b'"""A support module."""\n\ndef shown(x: int) -> str:\n    return f"{x:,}"\n'

# What a wrong call prints: shiboken's signature modules parse and print every overload.
WRONG_CALL = textwrap.dedent(
    """
    from PySide6.QtCore import QTimer
    try:
        QTimer.singleShot("x", "y")
    except TypeError as exc:
        print(exc)
    """
)


@pytest.fixture(autouse=True)
def _bytecode_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is written as bytecode is, whatever the shell running the tests says."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)


def _python(code: str, pycache: Path) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONPYCACHEPREFIX": str(pycache),
        "QT_QPA_PLATFORM": "offscreen",
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout


def test_the_app_compiles_pyside6_support_once_and_pyside6_works_alike(tmp_path: Path) -> None:
    """A process that imports the desktop app (ui) and ends as every command ends writes the
    file; the next one compiles none of the support modules, and PySide6's answer to a wrong
    call (made by those modules) is the one a bare PySide6 process gives."""
    script = (
        "import sys\nimport ui\nfrom fieldapp.startcache import PATTERNS, QT_SUPPORT\n"
        "print(QT_SUPPORT.used, QT_SUPPORT.compiled, QT_SUPPORT.path)\n"
        "print(PATTERNS.used, PATTERNS.compiled)\n"
        + WRONG_CALL
        + "sys.stdout.flush()\nfrom fieldapp.cli import finish\nfinish(0)\n"
    )
    first, second = (_python(script, tmp_path / "pycache") for _ in range(2))
    used, compiled, path = first.splitlines()[0].split()
    assert int(used) >= 10 and int(compiled) == int(used)  # shiboken's 14 in PySide6 6.11
    assert Path(path).is_relative_to(tmp_path / "pycache") and Path(path).exists()
    assert second.splitlines()[0].split()[:2] == [used, "0"]
    # shiboken's own patterns (three big ones), compiled by the first process only
    patterns, compiled_patterns = first.splitlines()[1].split()
    assert int(patterns) >= 3 and int(compiled_patterns) == int(patterns)
    assert second.splitlines()[1].split() == [patterns, "0"]

    bare = _python(WRONG_CALL, tmp_path / "bare-pycache")
    assert "Supported signatures:" in bare
    assert first.splitlines()[2:] == bare.splitlines() == second.splitlines()[2:]


def test_the_kept_code_is_what_the_built_in_compile_gives(tmp_path: Path) -> None:
    kept = QtSupportCode(tmp_path / "qt.marshal", keep_unused=False)
    code = kept.compile(SOURCE, "shibokensupport/shown.py", "exec")
    bare = compile(SOURCE, "shibokensupport/shown.py", "exec", dont_inherit=True)
    assert marshal.dumps(code) == marshal.dumps(bare)
    # Not this test module's `from __future__ import annotations`: shiboken's callers have none.
    namespace: dict[str, object] = {}
    exec(code, namespace)
    assert namespace["shown"].__annotations__ == {"x": int, "return": str}  # type: ignore[attr-defined]
    assert kept.save() is True

    again = QtSupportCode(kept.path, keep_unused=False)
    reused = again.compile(SOURCE, "shibokensupport/shown.py", "exec")
    assert again.compiled == 0 and again.used == 1
    assert marshal.dumps(reused) == marshal.dumps(bare)


def test_a_changed_text_or_name_is_compiled_anew_and_the_old_one_dropped(tmp_path: Path) -> None:
    """A new PySide6 brings new texts: they are compiled, and the file keeps only those used."""
    kept = QtSupportCode(tmp_path / "qt.marshal", keep_unused=False)
    kept.compile(SOURCE, "shibokensupport/shown.py", "exec")
    kept.save()

    newer = QtSupportCode(kept.path, keep_unused=False)
    changed = SOURCE.replace(b"{x:,}", b"{x:_}")
    namespace: dict[str, object] = {}
    exec(newer.compile(changed, "shibokensupport/shown.py", "exec"), namespace)
    assert namespace["shown"](1234567) == "1_234_567"  # type: ignore[operator]
    renamed = newer.compile(SOURCE, "shibokensupport/other.py", "exec")
    assert renamed.co_filename == "shibokensupport/other.py"
    assert newer.compiled == 2
    assert newer.save() is True
    assert newer.path is not None
    assert sorted(QtSupportCode(newer.path)._load()) == [
        ("shibokensupport/other.py", SOURCE),
        ("shibokensupport/shown.py", changed),
    ]


@pytest.mark.parametrize(
    ("source", "filename", "mode", "flags"),
    [
        (SOURCE, "ours.py", "exec", 0),  # not one of shiboken's files
        (SOURCE.decode(), "shibokensupport/shown.py", "exec", 0),  # text, not bytes
        (b"1 + 1", "shibokensupport/shown.py", "eval", 0),
        (SOURCE, "shibokensupport/shown.py", "exec", ast.PyCF_ONLY_AST),
    ],
    ids=["other-file", "str-source", "eval", "flags"],
)
def test_other_calls_go_to_the_built_in_compile_and_are_not_kept(
    tmp_path: Path, source: str | bytes, filename: str, mode: str, flags: int
) -> None:
    kept = QtSupportCode(tmp_path / "qt.marshal", keep_unused=False)
    with kept.serving():
        made = compile(source, filename, mode, flags)
        assert compile("2 * 3", "<string>", "eval") is not None
    assert made is not None
    if flags:
        assert isinstance(made, ast.Module)
    assert kept.used == 0 and kept.compiled == 0
    assert kept.save() is False and not (tmp_path / "qt.marshal").exists()


def test_compile_is_the_built_in_again_after_serving_even_on_error(tmp_path: Path) -> None:
    kept = QtSupportCode(tmp_path / "qt.marshal")
    built_in = builtins.compile
    with kept.serving():
        assert builtins.compile == kept.compile
        exec(compile(SOURCE, "shibokensupport/shown.py", "exec"), {})
    assert builtins.compile is built_in
    with pytest.raises(RuntimeError), kept.serving():
        raise RuntimeError("an import failed")
    assert builtins.compile is built_in
    assert kept.used == 1


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01garbage",
        marshal.dumps((b"another python", {})),
        marshal.dumps((codecache._MAGIC, {("shibokensupport/shown.py", "text"): 1})),
        marshal.dumps((codecache._MAGIC, {("a", b"b", "c"): compile("1", "x", "eval")})),
    ],
    ids=["garbage", "other-python", "wrong-entries", "wrong-key"],
)
def test_a_bad_file_is_ignored_and_replaced(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "qt.marshal"
    path.write_bytes(content)
    kept = QtSupportCode(path, keep_unused=False)
    namespace: dict[str, object] = {}
    exec(kept.compile(SOURCE, "shibokensupport/shown.py", "exec"), namespace)
    assert namespace["shown"](1000) == "1,000"  # type: ignore[operator]
    assert kept.compiled == 1 and kept.save() is True
    assert list(QtSupportCode(path)._load()) == [("shibokensupport/shown.py", SOURCE)]


def test_the_bundle_loads_shiboken_through_its_first_run_time_hook() -> None:
    """build.spec names ui/qt_hook.py first among the run-time hooks (custom hooks run before
    PyInstaller's, whose PySide6 hook imports QtCore), and the hook loads shiboken while
    QT_SUPPORT serves."""
    spec = (ROOT / "build.spec").read_text(encoding="utf-8")
    assert 'runtime_hooks=[str(ROOT / "ui" / "qt_hook.py")]' in spec
    hook = ast.parse((ROOT / "ui" / "qt_hook.py").read_text(encoding="utf-8"))
    served = [node for node in hook.body if isinstance(node, ast.With)]
    assert len(served) == 1
    assert ast.unparse(served[0].items[0].context_expr) == "serving_start_up()"
    assert [ast.unparse(node) for node in served[0].body] == ["import shiboken6"]


# Patterns of the kinds the modules loaded at start compile: verbose, named groups, bytes,
# flags given and set inline, look-behind, Unicode classes.
PATTERNS = [
    (r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})", 0),
    (
        r"""
        \b (?P<name>[A-Za-z_]\w*)   # a name
        \s* = \s* (?P<value>.+?) $   # its value
     """,
        re.VERBOSE | re.MULTILINE,
    ),
    (r"(?i)nguyễn\s+thị", 0),
    (r"(?<![\d+])(?:\+84[ .\-]?|0)\d(?:[ .\-]?\d){8}(?!\d)", 0),
    (rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.ASCII),
    (r"[\u200b\u200c\u200d\u2060\ufeff\xad\x00]|[^\S ]|\s\s", re.IGNORECASE),
    (r"(a)(b)?(?:c)(?P<d>d)\2", re.DOTALL),
]
TEXTS = [
    "2026-12-07",
    "  head = Lò Văn A\nvillage = Bản Phố",
    "NGUYỄN  THỊ Hương",
    "0912 345 678",
    "# -*- coding: utf-8 -*-",
    "a\u200bb  c",
    "abdb",
]


@pytest.mark.parametrize(("pattern", "flags"), PATTERNS)
def test_a_kept_pattern_is_the_pattern_re_makes(
    tmp_path: Path, pattern: str | bytes, flags: int
) -> None:
    """The pattern built from the kept program equals re's own (same program, flags and text),
    has the same groups, and finds the same matches, in the run that compiles it and the next."""
    expected = re._compiler.compile(pattern, flags)  # type: ignore[attr-defined]
    kept = KeptPatterns(tmp_path / "patterns.marshal")
    made = kept.compile(pattern, flags)
    assert kept.save() is True
    again = KeptPatterns(kept.path)
    reused = again.compile(pattern, flags)
    assert again.compiled == 0 and again.used == 1
    for each in (made, reused):
        assert each == expected
        assert (each.pattern, each.flags, each.groups, each.groupindex) == (
            expected.pattern,
            expected.flags,
            expected.groups,
            expected.groupindex,
        )
        for text in TEXTS:
            subject = text.encode() if isinstance(pattern, bytes) else text
            assert [m.groups() for m in each.finditer(subject)] == [
                m.groups() for m in expected.finditer(subject)
            ]


def test_re_compiles_through_the_kept_patterns_only_while_served(tmp_path: Path) -> None:
    kept = KeptPatterns(tmp_path / "patterns.marshal")
    built_in = re._compiler.compile  # type: ignore[attr-defined]
    text = r"(?P<cccd>\d{12}) served"  # not in re's own cache: never compiled in this process
    with kept.serving():
        assert re.compile(text).groupindex == {"cccd": 1}
        with pytest.raises(re.error):
            re.compile(r"(unclosed")  # a bad pattern fails as in re, and is not kept
    assert re._compiler.compile is built_in  # type: ignore[attr-defined]
    assert kept.used == 2 and kept.compiled == 1
    re.compile(r"(?P<phone>\d{10}) not served")
    assert kept.used == 2
    assert kept.save() is True
    assert list(KeptPatterns(kept.path)._load()) == [(text, 0)]


def test_a_damaged_pattern_entry_is_made_anew(tmp_path: Path) -> None:
    """A program _sre refuses (or of the wrong shape) is compiled again, never used."""
    path = tmp_path / "patterns.marshal"
    pattern = r"(?P<d>\d+)x"
    path.write_bytes(
        marshal.dumps(
            (codecache._MAGIC, {(pattern, 0): (32, [17, 99999, 3], 1, {"d": 1}, (None, "d"))})
        )
    )
    kept = KeptPatterns(path)
    made = kept.compile(pattern, 0)
    assert made == re._compiler.compile(pattern, 0)  # type: ignore[attr-defined]
    assert made.match("42x").group("d") == "42"
    assert kept.compiled == 1 and kept.save() is True
    assert KeptPatterns(path).compile(pattern, 0) == made


class _Archive:
    """An archive as PyInstaller's reader is to its loaders: a table of contents and extract."""

    def __init__(self, modules: dict[str, str]) -> None:
        self.blobs = {
            name: marshal.dumps(compile(text, name, "exec")) for name, text in modules.items()
        }
        offset = 0
        self.toc: dict[str, tuple[int, int, int]] = {}
        for name, blob in self.blobs.items():
            self.toc[name] = (0, offset, len(blob))
            offset += len(blob)
        self.toc["data"] = (2, offset, 4)
        self.read: list[str] = []

    def extract(self, name: str, raw: bool = False) -> object:
        self.read.append(name)
        if name == "data":
            return b"data"
        return self.blobs[name] if raw else marshal.loads(self.blobs[name])


MODULE_TEXTS = {"fieldapp.money": "DONG = 'đồng'\n", "ui.today": "ROWS = 15\n"}


def _run(module: dict[str, str], path: Path, identity: tuple[int, int] = (100, 7)) -> tuple:
    archive = _Archive(module)
    kept = KeptModules(path)
    kept.serve(archive, identity, (0, 1))
    values = {}
    for name in module:
        namespace: dict[str, object] = {}
        exec(archive.extract(name), namespace)
        values[name] = {k: v for k, v in namespace.items() if k.isupper()}
    return kept, archive, values


def test_a_start_s_modules_are_read_from_the_kept_copy_the_next_time(tmp_path: Path) -> None:
    path = tmp_path / "modules.marshal"
    kept, archive, values = _run(MODULE_TEXTS, path)
    assert archive.read == ["fieldapp.money", "ui.today"] and kept.compiled == 2
    assert values == {"fieldapp.money": {"DONG": "đồng"}, "ui.today": {"ROWS": 15}}
    assert kept.save() is True

    again, archive, values = _run(MODULE_TEXTS, path)
    assert archive.read == [] and again.compiled == 0  # nothing read from the archive
    assert values == {"fieldapp.money": {"DONG": "đồng"}, "ui.today": {"ROWS": 15}}
    assert (
        archive.extract("data") == b"data"
        and archive.extract("ui.today", True) == archive.blobs["ui.today"]
    )


def test_another_build_of_the_archive_uses_nothing_kept_and_drops_it(tmp_path: Path) -> None:
    path = tmp_path / "modules.marshal"
    _run(MODULE_TEXTS, path)[0].save()
    changed = {**MODULE_TEXTS, "ui.today": "ROWS = 20\n"}
    kept, archive, values = _run(changed, path, identity=(100, 8))  # rebuilt: another time
    assert archive.read == ["fieldapp.money", "ui.today"]
    assert values["ui.today"] == {"ROWS": 20}
    assert kept.save() is True
    saved = marshal.loads(path.read_bytes())[1]
    assert sorted((key[0], key[1:3]) for key in saved) == [
        ("fieldapp.money", (100, 8)),
        ("ui.today", (100, 8)),
    ]  # the old build's entries are gone


def test_a_module_whose_entry_moved_is_read_again(tmp_path: Path) -> None:
    """Same build identity but another place in the archive: never the kept bytes."""
    path = tmp_path / "modules.marshal"
    _run(MODULE_TEXTS, path)[0].save()
    moved = {"ui.today": "ROWS = 15\n", "fieldapp.money": "DONG = 'đồng'\n"}  # other order
    _kept, archive, _values = _run(moved, path)
    assert sorted(archive.read) == ["fieldapp.money", "ui.today"]


def test_nothing_is_kept_once_the_start_is_over_and_damage_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "modules.marshal"
    archive = _Archive(MODULE_TEXTS)
    kept = KeptModules(path)
    kept.serve(archive, (1, 1), (0, 1))
    kept.recording = False  # startcache.start_up_done()
    exec(archive.extract("ui.today"), {})
    assert kept.compiled == 0 and kept.save() is False
    key = ("ui.today", 1, 1, *archive.toc["ui.today"][1:])
    path.write_bytes(marshal.dumps((codecache._MAGIC, {key: b"\x00damaged"})))
    again = KeptModules(path)
    again.serve(_Archive(MODULE_TEXTS), (1, 1), (0, 1))
    namespace: dict[str, object] = {}
    exec(again._archive.extract("ui.today"), namespace)
    assert namespace["ROWS"] == 15
