"""Fixtures for the core: workspaces on real SQLite files with a fixed clock, and demo copies."""

from __future__ import annotations

import datetime as dt
import functools
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from fieldapp.cli import main
from fieldapp.demo import create_demo
from fieldapp.model import Household
from fieldapp.store import STORE_FILENAME, Store
from fieldapp.workspace import Workspace
from sync.protocol.clock import Clock, FixedClock
from tests.fieldapp.samples import new_household

NOW = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)
DEMO_HOUSEHOLDS = 120

# Tables whose rows a change may touch; search_index is the FTS5 table.
TABLES = ("household", "member", "visit", "pledge", "pledge_event", "outbox", "search_index")

# What stores_nothing gives: a context for a change that must raise this error.
Refused = Callable[
    [type[BaseException]], AbstractContextManager[pytest.ExceptionInfo[BaseException]]
]
# What fails_half_way gives: a context in which inserts into this table fail.
FailsHalfWay = Callable[[str], AbstractContextManager[None]]


def build_demo_store(folder: Path, households: int) -> Path:
    """A demo commune built in folder and closed, so that everything is in the main file."""
    ws = Workspace.open(folder, clock=FixedClock(NOW))
    create_demo(ws, households=households, seed=2026)
    ws.close()
    return folder / STORE_FILENAME


@contextmanager
def opened_copy(store_file: Path, folder: Path, clock: Clock) -> Iterator[Workspace]:
    """A private copy of a store file in a new folder, open with the clock until the end."""
    folder.mkdir()
    shutil.copyfile(store_file, folder / STORE_FILENAME)
    ws = Workspace.open(folder, clock=clock)
    try:
        yield ws
    finally:
        ws.close()


@pytest.fixture
def clock() -> FixedClock:
    """The agent's clock, fixed at 10:00 on 23 November 2026 in Vietnam."""
    return FixedClock(NOW)


@pytest.fixture
def workspace(tmp_path: Path, clock: FixedClock) -> Iterator[Workspace]:
    """An empty workspace on a real store file."""
    ws = Workspace.open(tmp_path / "data", clock=clock)
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def demo_store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo commune built once; closed so that everything is in the main file, not the WAL."""
    path = build_demo_store(tmp_path_factory.mktemp("demo-template"), DEMO_HOUSEHOLDS)
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture
def demo_workspace(tmp_path: Path, demo_store_file: Path, clock: FixedClock) -> Iterator[Workspace]:
    """A private copy of the demo store, opened with the fixed clock."""
    with opened_copy(demo_store_file, tmp_path / "demo", clock) as ws:
        yield ws


def _counts(store: Store) -> dict[str, int]:
    return {table: int(store.scalar(f"SELECT count(*) FROM {table}")) for table in TABLES}


@pytest.fixture
def counts() -> Callable[[Store], dict[str, int]]:
    """Row counts of every table a change may write, to compare before and after."""
    return _counts


@pytest.fixture
def stores_nothing(workspace: Workspace) -> Refused:
    """A context for a change that must raise the given error and leave every table as it was."""

    @contextmanager
    def refused(
        error: type[BaseException],
    ) -> Iterator[pytest.ExceptionInfo[BaseException]]:
        before = _counts(workspace.store)
        with pytest.raises(error) as caught:
            yield caught
        assert _counts(workspace.store) == before

    return refused


@pytest.fixture
def add_household(workspace: Workspace) -> Callable[..., Household]:
    """Add a household to the workspace with sensible defaults; keyword arguments override."""
    return functools.partial(new_household, workspace)


@pytest.fixture
def fail_on_insert(workspace: Workspace) -> Callable[[str], None]:
    """Make every later INSERT into a table fail, as a crash half-way through a change would."""

    def simulated_failure() -> None:
        raise OSError("simulated failure")

    # A failing SQL function surfaces as sqlite3.OperationalError, like a disk error would.
    workspace.store.conn.create_function("simulated_failure", 0, simulated_failure)

    def install(table: str) -> None:
        workspace.store.conn.execute(
            f"CREATE TEMP TRIGGER fail_{table} BEFORE INSERT ON main.{table} "
            "BEGIN SELECT simulated_failure(); END"
        )

    return install


@pytest.fixture
def fails_half_way(fail_on_insert: Callable[[str], None], stores_nothing: Refused) -> FailsHalfWay:
    """A context in which every INSERT into a table fails: the change inside must raise and
    leave every table as it was, as after a crash half-way through."""

    @contextmanager
    def failing(table: str) -> Iterator[None]:
        fail_on_insert(table)
        with stores_nothing(sqlite3.OperationalError):
            yield

    return failing


def outbox_rows(ws: Workspace) -> list[dict[str, Any]]:
    """The outbox in order, each row's data and base read from JSON."""
    return [
        {
            **dict(r),
            "data": json.loads(r["data"]),
            "base": None if r["base"] is None else json.loads(r["base"]),
        }
        for r in ws.store.query("SELECT * FROM outbox ORDER BY seq")
    ]


def field_clocks(ws: Workspace, table: str, record_id: str) -> dict[str, str]:
    """The clock stamp of each field of a household or member row."""
    clocks: dict[str, str] = json.loads(
        ws.store.scalar(f"SELECT clocks FROM {table} WHERE id = ?", (record_id,))
    )
    return clocks


def run_fieldapp(ws: Workspace, *argv: str) -> int:
    """Run the `fieldapp` command line on the workspace's data folder; its exit code."""
    return main(["--data-dir", str(ws.data_dir), *argv])


def check_imports_without_qt(module: str) -> None:
    """Import a module in a fresh interpreter; fail if Qt or the desktop app came in with it."""
    code = (
        f"import sys, {module}; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'ui')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
