"""Receipt books entered by hand are sent to the province: an outbox row with each new one, and
the ones entered before the upgrade enqueued once."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from fieldapp import migrations
from fieldapp.cli import main as fieldapp_main
from fieldapp.errors import ValidationError
from fieldapp.store import STORE_FILENAME, Store
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def test_a_book_entered_by_hand_writes_its_outbox_row(workspace: Workspace) -> None:
    """The row carries the book as stored (series in capitals), with this device's stamp."""
    book = workspace.receipts.add_book(series="lc-tay-26", first=1, last=50)
    [row] = workspace.store.query("SELECT * FROM outbox")
    assert (row["entity"], row["entity_id"], row["op"]) == ("receipt_book", book.id, "insert")
    assert json.loads(row["data"]) == {"id": book.id, "series": "LC-TAY-26", "first": 1, "last": 50}
    assert str(row["hlc"]).endswith(workspace.store.device_id)


def test_a_refused_book_writes_neither_row(workspace: Workspace) -> None:
    """An overlapping range is refused on the laptop: no book, no outbox row."""
    workspace.receipts.add_book(series="LC-TAY-26", first=1, last=50)
    with pytest.raises(ValidationError, match="trùng"):
        workspace.receipts.add_book(series="LC-TAY-26", first=50, last=60)
    assert workspace.store.scalar("SELECT count(*) FROM receipt_book") == 1
    assert workspace.store.scalar("SELECT count(*) FROM outbox") == 1


def test_the_command_line_book_goes_to_the_outbox(tmp_path: Path) -> None:
    """`fieldapp receipts book add` enters the book with its outbox row."""
    data = ["--data-dir", str(tmp_path)]
    book = ["receipts", "book", "add", "--series", "LC-TAY-26", "--from", "1", "--to", "50"]
    assert fieldapp_main([*data, *book]) == 0
    store = Store(tmp_path / STORE_FILENAME, clock=FixedClock(NOW))
    try:
        assert store.scalar("SELECT entity FROM outbox") == "receipt_book"
    finally:
        store.close()


def test_upgrade_enqueues_earlier_hand_entered_books_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store at version 11 with a book entered by hand and one from the server: only the
    hand-entered one joins the outbox, stamped after every stamp the store holds, once."""
    path = tmp_path / STORE_FILENAME
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:11])
        store = Store(path, clock=FixedClock(NOW))
        with store.transaction() as conn:
            for id_, series, source in (
                (store.new_id(), "LC-TAY-26", "manual"),
                (store.new_id(), "AA/26", "server"),
            ):
                conn.execute(
                    "INSERT INTO receipt_book (id, series, first_number, last_number, "
                    "next_number, source, created_at) VALUES (?, ?, 1, 50, 3, ?, ?)",
                    (id_, series, source, "2026-11-20T08:00:00.000Z"),
                )
            # A receipt from it waiting to be sent, as a version-11 laptop wrote it.
            conn.execute(
                "INSERT INTO outbox (entity, entity_id, op, hlc, data, created_at) "
                "VALUES ('receipt', ?, 'insert', ?, '{}', ?)",
                (store.new_id(), store.tick(), store.now_iso()),
            )
        newest = str(store.scalar("SELECT hlc FROM outbox"))
        hand = str(store.scalar("SELECT id FROM receipt_book WHERE source = 'manual'"))
        store.close()

    store = Store(path, clock=FixedClock(NOW))
    try:
        assert store.schema_version == migrations.latest_version()
        [row] = store.query("SELECT * FROM outbox WHERE entity = 'receipt_book'")
        assert row["entity_id"] == hand and row["state"] == "pending"
        assert json.loads(row["data"]) == {
            "id": hand,
            "series": "LC-TAY-26",
            "first": 1,
            "last": 50,
        }
        assert str(row["hlc"]) > newest and str(row["hlc"]).endswith(store.device_id)
        assert store.tick() > str(row["hlc"])
    finally:
        store.close()
    store = Store(path, clock=FixedClock(NOW))
    try:
        assert store.scalar("SELECT count(*) FROM outbox WHERE entity = 'receipt_book'") == 1
    finally:
        store.close()
