"""Fixtures for the core: workspaces on real SQLite files with a fixed clock, and demo copies."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fieldapp.demo import DEMO_COMMUNE, DEMO_PROVINCE, create_demo
from fieldapp.model import Household
from fieldapp.store import STORE_FILENAME, Store
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock

NOW = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)
DEMO_HOUSEHOLDS = 120

# Tables whose rows a change may touch; search_index is the FTS5 table.
TABLES = ("household", "member", "visit", "pledge", "pledge_event", "outbox", "search_index")


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
    folder = tmp_path_factory.mktemp("demo-template")
    ws = Workspace.open(folder, clock=FixedClock(NOW))
    create_demo(ws, households=DEMO_HOUSEHOLDS, seed=2026)
    ws.close()
    path = folder / STORE_FILENAME
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture
def demo_workspace(tmp_path: Path, demo_store_file: Path, clock: FixedClock) -> Iterator[Workspace]:
    """A private copy of the demo store, opened with the fixed clock."""
    folder = tmp_path / "demo"
    folder.mkdir()
    shutil.copyfile(demo_store_file, folder / STORE_FILENAME)
    ws = Workspace.open(folder, clock=clock)
    yield ws
    ws.close()


def _counts(store: Store) -> dict[str, int]:
    return {table: int(store.scalar(f"SELECT count(*) FROM {table}")) for table in TABLES}


@pytest.fixture
def counts() -> Callable[[Store], dict[str, int]]:
    """Row counts of every table a change may write, to compare before and after."""
    return _counts


@pytest.fixture
def add_household(workspace: Workspace) -> Callable[..., Household]:
    """Add a household to the workspace with sensible defaults; keyword arguments override."""

    def add(**overrides: Any) -> Household:
        values: dict[str, Any] = {
            "province_code": DEMO_PROVINCE,
            "commune_code": DEMO_COMMUNE,
            "village": "Thôn Nậm Mòn",
            "head_name": "Lê Văn An",
            "phone": "0912345678",
            "groups": ["farmer"],
            "best_months": [7, 8],
        }
        values.update(overrides)
        return workspace.households.add(**values)

    return add


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
