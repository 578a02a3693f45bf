"""The server's migrations build exactly the tables schema.py describes, down to constraints."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.server.schema import metadata, migrate, open_engine
from tests.sync.conftest import PG_URL


def _described(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every table as the database itself describes it: columns, keys, indexes, constraints."""
    inspector = sa.inspect(engine)
    out: dict[str, dict[str, Any]] = {}
    for table in sorted(inspector.get_table_names()):
        if table == "alembic_version":
            continue
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (str(u["name"]), tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "checks": sorted(
                (c["name"], " ".join(c["sqltext"].split()))
                for c in inspector.get_check_constraints(table)
            ),
        }
    return out


@pytest.fixture
def created_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database of the same kind, for the tables metadata.create_all makes."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'created.sqlite3'}"
        return
    assert PG_URL is not None
    schema = f"created_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_migrated_database_equals_the_one_schema_py_creates(
    database_url: str, created_url: str
) -> None:
    """Upgrading an empty database to head gives what metadata.create_all gives: the same
    columns with the same types and nullability, keys, indexes, unique and check constraints.

    The migration scripts share steps (sync/server/migrations/steps.py); this holds them to it.
    """
    migrated, created = open_engine(database_url), open_engine(created_url)
    try:
        migrate(migrated)
        metadata.create_all(created)
        assert _described(migrated) == _described(created)
    finally:
        migrated.dispose()
        created.dispose()
