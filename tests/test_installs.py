"""Two installs: the laptop runs without the server's packages and the server without Qt.

pyproject.toml declares them as the `laptop` and `server` extras. Each test here runs the real
code in a fresh interpreter in which the other install's packages cannot be imported, so a
server module that reached for Qt (or a laptop module for FastAPI) fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Import names of each install's own packages (beyond the standard library and the base).
LAPTOP_ONLY = ("PySide6", "shiboken6", "reportlab", "sqlite_utils", "cryptography", "httpx")
SERVER_ONLY = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg", "jinja2")

# Distribution names in pyproject.toml, as pip spells them.
LAPTOP_DISTS = ("pyside6-essentials", "sqlite-utils", "reportlab", "cryptography", "httpx")
SERVER_DISTS = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg", "jinja2")


def _extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    return {**extras, "base": project["dependencies"]}


def _names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        name = requirement.split(";")[0]
        for stop in "[<>=!~ ":
            name = name.split(stop)[0]
        names.add(name.strip().lower())
    return names


def test_each_install_lists_only_its_own_packages() -> None:
    """The server extra brings no Qt and no PDF library; the laptop extra no web server or
    database driver; the base holds only what both use."""
    extras = _extras()
    laptop, server, base = (_names(extras[k]) for k in ("laptop", "server", "base"))
    assert set(LAPTOP_DISTS) <= laptop and not laptop & set(SERVER_DISTS)
    assert set(SERVER_DISTS) <= server and not server & set(LAPTOP_DISTS)
    assert not base & (set(LAPTOP_DISTS) | set(SERVER_DISTS))
    assert {"fieldapp[laptop,server]"} <= {r.replace(" ", "") for r in extras["dev"]}


_BLOCKER = """
import importlib.abc, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ModuleNotFoundError(f"{name} is not part of this install", name=name)
        return None

sys.meta_path.insert(0, Refuse())
"""


def _run_without(blocked: tuple[str, ...], code: str, tmp_path: Path) -> str:
    script = f"BLOCKED = {blocked!r}\n" + _BLOCKER + textwrap.dedent(code)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FIELDAPP_LANG": "vi"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_the_server_runs_without_the_laptop_packages(tmp_path: Path) -> None:
    """Every module of sync/server and sync/protocol imports, the app is built over a SQLite
    file and answers its health check, and the command line's help prints — with Qt, reportlab,
    sqlite-utils, cryptography, httpx and the laptop core all unimportable."""
    code = f"""
        import importlib, pkgutil, sync.server, sync.protocol
        for package in (sync.server, sync.protocol):
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                if ".migrations" not in info.name:  # run by alembic, below
                    importlib.import_module(info.name)
        from fastapi.testclient import TestClient
        from sync.protocol import wire
        from sync.server.app import create_app
        app = create_app("sqlite:///{tmp_path / "server.sqlite3"}")
        print("health", TestClient(app).get(wire.HEALTH_PATH).status_code)
        from sync.server import cli
        try:
            cli.main(["--help"])
        except SystemExit as done:
            print("help", done.code)
    """
    # TestClient needs httpx: it is the test's client, not the server's.
    blocked = (*(n for n in LAPTOP_ONLY if n != "httpx"), "fieldapp", "ui")
    out = _run_without(blocked, code, tmp_path)
    assert "health 200" in out and "help 0" in out


def test_the_laptop_runs_without_the_server_packages(tmp_path: Path) -> None:
    """Every module of fieldapp, ui, sync.client and sync.protocol imports, and the field
    workflow of the self-check (a store, a household, a pledge, a receipt PDF) runs — with
    FastAPI, SQLAlchemy, Alembic, uvicorn, psycopg and Jinja2 all unimportable."""
    code = f"""
        import importlib, pkgutil, fieldapp, ui, sync.protocol
        names = ["sync.client"]
        for package in (fieldapp, ui, sync.protocol):
            prefix = package.__name__ + "."
            names += [i.name for i in pkgutil.walk_packages(package.__path__, prefix)]
        for name in names:
            if name != "fieldapp.cli.__main__":
                importlib.import_module(name)
        from pathlib import Path
        from fieldapp.selfcheck import run_self_check
        for line in run_self_check(Path({str(tmp_path / "data")!r})):
            print(line)
        print("imported", len(names))
    """
    out = _run_without((*SERVER_ONLY, "sync.server"), code, tmp_path)
    assert "imported" in out


def test_a_laptop_command_on_a_server_install_says_what_to_install(tmp_path: Path) -> None:
    """`fieldapp gui` where Qt is not installed ends with a message naming the laptop extra,
    not a traceback."""
    code = f"""
        import contextlib, io
        from fieldapp.cli import main
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["--data-dir", {str(tmp_path)!r}, "gui"])
        print("exit", code, err.getvalue())
    """
    out = _run_without(LAPTOP_ONLY, code, tmp_path)
    assert "exit 1" in out and "pip install 'fieldapp[laptop]'" in out and "PySide6" in out
