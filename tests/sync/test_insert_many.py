"""insert_many: a batch's rows go to SQLite's driver without SQLAlchemy's per-row processing,
and every engine stores exactly what SQLAlchemy's own executemany stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from sync.server.schema import (
    JsonText,
    changes,
    dumps_json,
    insert_many,
    metadata,
    open_engine,
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = open_engine(database_url)
    metadata.create_all(made)
    yield made
    made.dispose()


def _feed_rows(prefix: str) -> list[dict[str, Any]]:
    """Change-feed rows with every kind of JSON value the server writes: encoded once
    (JsonText), None (a visit's field clocks), and a plain value left to the encoder."""
    data: list[Any] = [
        JsonText(json.dumps({"full_name": "Lò Thị Hương", "n": 1})),
        {"head_name": "Giàng Seo Sử", "best_months": [10, 11]},
        JsonText(json.dumps(["Tờ rơi BHYT"])),
    ]
    clocks: list[Any] = [None, JsonText(json.dumps({"head_name": "h1"})), {"notes": "h2"}]
    return [
        {
            "entity": "visit",
            "entity_id": f"{prefix}-{i}",
            "commune_code": "04001" if i % 2 else None,
            "agent_id": None,
            "origin_device_id": "0190f1c2-0000-7000-8000-00000000a9e1",
            "data": data[i % 3],
            "field_hlc": clocks[i % 3],
            "hlc": f"{1_796_000_000_000 + i:015d}-00000-0190f1c2",
            "created_at": "2026-12-06T08:00:00.000Z",
        }
        for i in range(9)
    ]


def _read(engine: Engine, prefix: str) -> list[tuple[Any, ...]]:
    """The rows as the database holds them (JSON as text), in feed order."""
    cast = "" if engine.dialect.name == "sqlite" else "::text"
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT entity_id, commune_code, agent_id, origin_device_id, data{cast}, "
                f"field_hlc{cast}, hlc, created_at FROM changes WHERE entity_id LIKE :p "
                "ORDER BY cursor"
            ),
            {"p": f"{prefix}-%"},
        )
        return [(row[0].split("-", 1)[1], *row[1:]) for row in rows]


def test_rows_are_stored_as_sqlalchemy_stores_them(engine: Engine) -> None:
    """The same rows written by insert_many and by SQLAlchemy's executemany read back
    identical, JSON text included (None as JSON null, not SQL NULL), in list order."""
    with engine.begin() as conn:
        insert_many(conn, changes, _feed_rows("ours"))
        conn.execute(changes.insert(), _feed_rows("theirs"))
    ours, theirs = _read(engine, "ours"), _read(engine, "theirs")
    assert ours == theirs
    assert [row[0] for row in ours] == [str(i) for i in range(9)]
    assert ours[0][5] is not None and json.loads(ours[0][5]) is None
    assert json.loads(ours[1][4]) == {"head_name": "Giàng Seo Sử", "best_months": [10, 11]}


def test_sqlite_rows_go_to_the_driver_as_they_are(engine: Engine) -> None:
    """On SQLite the rows skip SQLAlchemy's compiled statement: one executemany of the
    driver's own SQL; elsewhere SQLAlchemy writes them."""
    executed: list[tuple[str, bool, bool]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(_c: Any, _cur: Any, sql: str, _p: Any, context: Any, many: bool) -> None:
        executed.append((sql.split("(")[0].strip(), many, context.compiled is None))

    with engine.begin() as conn:
        insert_many(conn, changes, _feed_rows("seen"))
        insert_many(conn, changes, [])
    inserts = [e for e in executed if e[0].startswith("INSERT")]
    driver = engine.dialect.name == "sqlite"
    assert inserts == [("INSERT INTO changes", True, driver)]


def test_a_column_that_needs_processing_takes_sqlalchemys_path(tmp_path: Any) -> None:
    """A table with a column SQLAlchemy converts (a DATETIME on SQLite) is written through
    SQLAlchemy, so the value is stored as it would be."""
    import datetime as dt

    engine = open_engine(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    other = sa.MetaData()
    table = sa.Table(
        "moments",
        other,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("data", sa.JSON),
    )
    other.create_all(engine)
    at = dt.datetime(2026, 12, 6, 8, 0, 0)
    with engine.begin() as conn:
        insert_many(conn, table, [{"id": 1, "at": at, "data": None}])
        conn.execute(table.insert(), [{"id": 2, "at": at, "data": None}])
        stored = conn.exec_driver_sql("SELECT id, at, data FROM moments ORDER BY id").fetchall()
    engine.dispose()
    assert stored[0][1:] == stored[1][1:]
    assert stored[0][1].startswith("2026-12-06 08:00:00")


def test_json_columns_hold_compact_text_and_take_what_orjson_refuses(engine: Engine) -> None:
    """Stored JSON is compact UTF-8 (Vietnamese as it is, not as \\u escapes); a value the
    fast encoder refuses (an integer past 64 bits, a lone surrogate) is encoded by the json
    module instead of failing the write, and every value reads back as it was."""
    assert dumps_json({"head_name": "Giàng Seo Sử", "n": [1, None]}) == (
        '{"head_name":"Giàng Seo Sử","n":[1,null]}'
    )
    assert dumps_json({"n": 2**70}) == '{"n": 1180591620717411303424}'
    assert dumps_json(["\ud800"]) == '["\\ud800"]'
    values = [{"full_name": "Lò Thị Hương"}, {"n": 2**70}, None]
    with engine.begin() as conn:
        for row, value in zip(_feed_rows("odd"), values, strict=False):
            insert_many(conn, changes, [{**row, "data": value}])
    assert [json.loads(row[4]) for row in _read(engine, "odd")] == values
