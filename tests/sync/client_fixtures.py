"""Laptops for sync client tests: real workspaces on SQLite files, enrolled with the real server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from fieldapp.workspace import Workspace
from sync.client import SyncClient
from sync.protocol.clock import FixedClock
from sync.server import admin
from sync.server.cli import main as server_main
from tests.sync.conftest import START, Server

COMMUNE = "04001"
OTHER = "04099"


class Crash(Exception):
    """Stands for the laptop losing power: nothing after it in the process runs."""


class Laptop:
    """One agent's laptop: a data folder with its store, its own clock, and sync clients."""

    def __init__(self, server: Server, data_dir: Path) -> None:
        self.server = server
        self.data_dir = data_dir
        self.clock = FixedClock(START + dt.timedelta(hours=1))
        self.ws = Workspace.open(data_dir, clock=self.clock)

    def reopen(self) -> None:
        """Close and open the store again, as after a restart of the app."""
        self.ws.close()
        self.ws = Workspace.open(self.data_dir, clock=self.clock)

    def client(self, **options: Any) -> SyncClient:
        return SyncClient(self.ws, **options)

    def enrol(self, agent_id: str) -> None:
        with self.client() as client:
            client.enrol(self.server.base_url, self.server.enrol_code(agent_id))
        # No reopening: the open workspace's services take the enrolled agent at once.

    def sync(self, **options: Any) -> Any:
        with self.client(**options) as client:
            return client.run()

    def carry_by_usb(self, folder: Path, *, imports: int) -> Any:
        """Export the pending batches to one file and import it at the office `imports` times,
        as an agent without a network does with a USB stick; what the export reported."""
        with self.client() as client:
            exported = client.export_batches(folder / "lo.fieldapp")
        assert exported.ok and len(exported.files) == 1
        for _ in range(imports):
            imported = [
                "--database-url",
                self.server.database_url,
                "import",
                str(exported.files[0]),
            ]
            assert server_main(imported) == 0
        return exported

    def pending(self) -> int:
        return int(self.ws.pending_sync())

    def add_household(self, commune: str = COMMUNE, head: str = "Nguyễn Văn An") -> str:
        home = self.ws.households.add(
            province_code="04",
            commune_code=commune,
            village="Bản Phố",
            head_name=head,
            phone="0912345678",
            groups=["farmer"],
            best_months=[7, 8],
        )
        return str(home.id)


def laptop_factory(server: Server, tmp_path: Path) -> Iterator[Callable[[str], Laptop]]:
    """Body of a fixture that makes laptops by name and closes them all at the end."""
    made: list[Laptop] = []

    def make(name: str) -> Laptop:
        laptop = Laptop(server, tmp_path / name)
        made.append(laptop)
        return laptop

    yield make
    for laptop in made:
        laptop.ws.close()


def server_counts(server: Server) -> dict[str, int]:
    with server.engine.begin() as conn:
        entities: dict[str, int] = admin.stats(conn)["entities"]
    return entities


def server_batches(server: Server) -> list[str]:
    with server.engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(sa.text("SELECT batch_id FROM batches"))]


class ForwardingTransport(httpx.BaseTransport):
    """The real HTTP transport to the real server, with a hook around each request."""

    def __init__(
        self, around: Callable[[httpx.Request, Callable[[], httpx.Response]], httpx.Response]
    ) -> None:
        self.inner = httpx.HTTPTransport()
        self.around = around
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)

        def forward() -> httpx.Response:
            response = self.inner.handle_request(request)
            response.read()
            return response

        return self.around(request, forward)

    def close(self) -> None:
        self.inner.close()
