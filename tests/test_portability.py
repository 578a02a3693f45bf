"""The laptop code runs on Windows too: nothing in it assumes POSIX paths, calls or a shell.

The checks read the source (this machine cannot run Windows); docs/WINDOWS.md lists them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What runs on an agent's laptop: the core, the desktop app and the sync client side.
LAPTOP = [
    *sorted((ROOT / "fieldapp").rglob("*.py")),
    *sorted((ROOT / "ui").rglob("*.py")),
    ROOT / "sync" / "client.py",
    *sorted((ROOT / "sync" / "protocol").rglob("*.py")),
]
POSIX_ONLY_MODULES = {"fcntl", "pwd", "grp", "termios", "resource", "posix"}
POSIX_ONLY_CALLS = {"fork", "forkpty", "getuid", "geteuid", "getgid", "setsid", "killpg", "chown"}
# A literal absolute POSIX path ("/tmp/x", "/home/…", "/usr/…"); URLs and "/r/<id>" routes are
# not file paths, so only well-known system roots are looked for.
POSIX_PATH = re.compile(r"""^/(tmp|home|usr|var|etc|opt|media|mnt|dev)(/|$)""")
# Only printing.py may name CUPS programs, and it refuses them on Windows with a message.
CUPS_PROGRAMS = {"lp", "lpstat", "cancel"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _findings(path: Path) -> Iterator[str]:
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            for name in names:
                if name and name.split(".")[0] in POSIX_ONLY_MODULES:
                    yield f"{where}:{node.lineno} imports {name}"
        elif isinstance(node, ast.Attribute) and node.attr in POSIX_ONLY_CALLS:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                yield f"{where}:{node.lineno} calls os.{node.attr}"
        elif isinstance(node, ast.keyword) and node.arg == "shell":
            if not (isinstance(node.value, ast.Constant) and node.value.value is False):
                yield f"{where}:{node.value.lineno} runs a program through a shell"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if POSIX_PATH.match(node.value):
                yield f"{where}:{node.lineno} names the POSIX path {node.value!r}"
            if node.value in CUPS_PROGRAMS and path.name != "printing.py":
                yield f"{where}:{node.lineno} runs the CUPS program {node.value!r}"
        elif isinstance(node, ast.Call) and _is_open_without_encoding(node):
            yield f"{where}:{node.lineno} opens a text file without encoding="


def _is_open_without_encoding(call: ast.Call) -> bool:
    """A text file opened, read or written with no encoding: on Windows Python would use the
    ANSI code page instead of UTF-8. Covers open(), Path.open(mode), read_text(), write_text()."""
    func = call.func
    if any(k.arg == "encoding" for k in call.keywords):
        return False
    if isinstance(func, ast.Name) and func.id == "open":
        mode = _mode(call, position=1)
        return bool(call.args) and "b" not in (mode or "r")
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "open":  # only Path.open(mode) is a file: other .open() are services
        mode = _mode(call, position=0)
        return mode is not None and "b" not in mode
    if func.attr == "read_text":  # Path.read_text(encoding); resources.read_text(*parts)
        return not call.args
    if func.attr == "write_text":  # Path.write_text(data, encoding)
        return len(call.args) < 2
    return False


def _mode(call: ast.Call, *, position: int) -> str | None:
    """The mode string of an open call, when it is written as a literal."""
    candidates = call.args[position : position + 1] + [
        k.value for k in call.keywords if k.arg == "mode"
    ]
    for node in candidates:
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and set(text) <= set("rwxabt+"):
            return text
    return None


@pytest.mark.parametrize("path", LAPTOP, ids=lambda p: str(p.relative_to(ROOT)))
def test_laptop_code_assumes_nothing_posix(path: Path) -> None:
    """No POSIX-only module or call, no shell, no /tmp-style path, text files opened as UTF-8."""
    assert list(_findings(path)) == []


def test_the_checker_finds_what_it_looks_for(tmp_path: Path) -> None:
    """Each rule fires on a planted example, so a clean result above means something."""
    planted = tmp_path / "planted.py"
    planted.write_text(
        "import fcntl\n"
        "import os, subprocess\n"
        "os.fork()\n"
        "subprocess.run('ls', shell=True)\n"
        "open('/tmp/x.txt')\n"
        "subprocess.run(['lp', 'f.pdf'])\n"
        "from pathlib import Path\n"
        "Path('a.txt').read_text()\n",
        encoding="utf-8",
    )
    found = "\n".join(_findings(planted))
    for expected in (
        "imports fcntl",
        "calls os.fork",
        "through a shell",
        "POSIX path '/tmp/x.txt'",
        "CUPS program 'lp'",
        "without encoding=",
    ):
        assert expected in found, (expected, found)
