"""Stored batches are keyed by (device, batch id): a batch id seen in a USB file cannot be taken."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from sync.protocol.errors import FieldappError
from sync.server.cli import main as server_main
from sync.server.schema import MIGRATIONS, agents, batches, devices, open_engine
from tests.sync import client_fixtures
from tests.sync.client_fixtures import COMMUNE, OTHER, laptop_factory, server_counts
from tests.sync.conftest import START, Server, household

BATCH_ID = "01937b2a-0000-7000-8000-00000000b001"

MakeLaptop = Callable[[str], client_fixtures.Laptop]


def _stored_batches(server: Server) -> list[tuple[str, str]]:
    with server.engine.connect() as conn:
        rows = conn.execute(sa.select(batches.c.device_id, batches.c.batch_id))
        return sorted((row.device_id, row.batch_id) for row in rows)


def test_an_empty_batch_under_a_laptops_batch_id_does_not_block_it(server: Server) -> None:
    """Another device posts an empty batch with the laptop's batch id first: the laptop's batch
    is still applied, once, and each device keeps getting its own stored ack on a retry."""
    owner = server.laptop(server.add_agent("Trần Thị Bình", [COMMUNE]))
    squatter = server.laptop(server.add_agent("Lê Văn Cường", [OTHER]))
    batch = owner.batch([owner.record("household", household(COMMUNE))])
    squat = squatter.batch([])
    squat["batch_id"] = batch["batch_id"]
    taken_first = squatter.upload(squat)
    assert taken_first.status_code == 200, taken_first.text
    assert taken_first.json()["accepted"] == [] and taken_first.json()["refused"] == []

    applied = owner.upload(batch)
    assert applied.status_code == 200, applied.text
    assert applied.json()["accepted"] == [1] and applied.json()["refused"] == []
    server.clock.advance(minutes=5)
    retried = owner.upload(batch)
    assert retried.status_code == 200 and retried.json() == applied.json()
    assert squatter.upload(squat).json() == taken_first.json()
    assert server.count("households") == 1
    assert server.count("changes WHERE entity = 'household'") == 1
    assert _stored_batches(server) == sorted(
        [(owner.device_id, batch["batch_id"]), (squatter.device_id, batch["batch_id"])]
    )


def test_the_same_batch_id_from_two_devices_is_two_batches(server: Server) -> None:
    """Two devices of one agent happen to send the same batch id: both batches are applied."""
    agent = server.add_agent("Trần Thị Bình", [COMMUNE])
    one, two = server.laptop(agent, "một"), server.laptop(agent, "hai")
    first = one.batch([one.record("household", household(COMMUNE))])
    second = two.batch([two.record("household", household(COMMUNE))])
    second["batch_id"] = first["batch_id"]
    answers = [one.upload(first), two.upload(second)]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert [a.json()["accepted"] for a in answers] == [[1], [1]]
    assert server.count("households") == 2
    assert len(_stored_batches(server)) == 2


@pytest.fixture
def laptops(server: Server, tmp_path: Path) -> Iterator[MakeLaptop]:
    yield from laptop_factory(server, tmp_path)


def test_a_usb_batch_whose_id_was_taken_over_http_is_imported_once(
    server: Server, laptops: MakeLaptop, tmp_path: Path
) -> None:
    """The batch id read off a USB file is posted first by another device; importing the file
    (twice) at the office still applies it once, its ack clears the laptop's outbox, and the
    laptop's next network sync sends nothing again."""
    laptop = laptops("a")
    laptop.enrol(server.add_agent("Trần Thị Bình", [COMMUNE]))
    laptop.add_household()
    with laptop.client() as client:
        exported = client.export_batches(tmp_path / "lo.fieldapp")
    assert exported.ok and len(exported.files) == 1
    path = exported.files[0]
    seen_in_clear = json.loads(path.read_bytes())["batch"]["batch_id"]

    squatter = server.laptop(server.add_agent("Lê Văn Cường", [OTHER]))
    squat = squatter.batch([])
    squat["batch_id"] = seen_in_clear
    assert squatter.upload(squat).status_code == 200

    imported = ["--database-url", server.database_url, "import", str(path)]
    assert server_main(imported) == 0
    assert server_main(imported) == 0
    with laptop.client() as client:
        acked = client.apply_ack_file(Path(f"{path}.ack"))
    assert acked.ok and acked.accepted == exported.sent and not acked.refused
    assert laptop.pending() == 0
    assert server_counts(server)["household"] == 1
    result = laptop.sync()
    assert result.ok and result.sent == 0
    assert server_counts(server)["household"] == 1
    with server.engine.connect() as conn:
        via = dict(
            conn.execute(
                sa.select(batches.c.device_id, batches.c.via).where(
                    batches.c.batch_id == seen_in_clear
                )
            ).all()
        )
    assert via == {squatter.device_id: "http", laptop.ws.store.meta("server_device_id"): "file"}


# -- the migration ------------------------------------------------------------------------------


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        if down:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)


def _add_device(engine: Engine, device_id: str, agent_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            devices.insert().values(
                id=device_id,
                agent_id=agent_id,
                name=device_id[-4:],
                token_hash=device_id.replace("-", "")[:32] * 2,
                device_key=b"k" * 32,
                enrolled_at="2026-11-23T01:00:00.000Z",
            )
        )


def _add_batch(engine: Engine, device_id: str, received_at: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO batches (batch_id, device_id, received_at, via, ack) "
                "VALUES (:batch_id, :device_id, :received_at, 'file', :ack)"
            ),
            {
                "batch_id": BATCH_ID,
                "device_id": device_id,
                "received_at": received_at,
                "ack": json.dumps({"batch_id": BATCH_ID, "accepted": [1]}),
            },
        )


def _rows(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT device_id, batch_id, received_at FROM batches"))
        return sorted((row.device_id, row.batch_id, row.received_at) for row in rows)


def test_migration_0004_keeps_stored_batches_and_keys_them_per_device(database_url: str) -> None:
    """Upgrading keeps every stored ack; afterwards one batch id may be stored once per device.
    Downgrading while two devices share a batch id is refused with the reason and changes
    nothing; once they no longer do, it gives back the one-column key and keeps the rows."""
    engine = open_engine(database_url)
    one, two = "01937b2a-0000-7000-8000-0000000000d1", "01937b2a-0000-7000-8000-0000000000d2"
    try:
        _migrate(engine, "0003")
        with engine.begin() as conn:
            conn.execute(agents.insert().values(id="a1", name="A", created_at=START.isoformat()))
        for device_id in (one, two):
            _add_device(engine, device_id, "a1")
        _add_batch(engine, one, "2026-11-23T02:00:00.000Z")

        _migrate(engine, "0004")
        assert _rows(engine) == [(one, BATCH_ID, "2026-11-23T02:00:00.000Z")]
        _add_batch(engine, two, "2026-11-23T03:00:00.000Z")
        with pytest.raises(sa.exc.IntegrityError):
            _add_batch(engine, one, "2026-11-23T04:00:00.000Z")
        both = _rows(engine)
        assert len(both) == 2

        with pytest.raises(FieldappError) as refused:
            _migrate(engine, "0003", down=True)
        assert refused.value.code == "batch_id_shared"
        assert BATCH_ID in refused.value.vi and BATCH_ID in refused.value.en
        assert _rows(engine) == both
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM batches WHERE device_id = :d"), {"d": two})

        _migrate(engine, "0003", down=True)
        assert _rows(engine) == [(one, BATCH_ID, "2026-11-23T02:00:00.000Z")]
        with pytest.raises(sa.exc.IntegrityError):
            _add_batch(engine, two, "2026-11-23T06:00:00.000Z")
        assert "ix_batches_device_id" in {
            index["name"] for index in sa.inspect(engine).get_indexes("batches")
        }
    finally:
        engine.dispose()
