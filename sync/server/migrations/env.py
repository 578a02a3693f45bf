"""Alembic environment: runs on the connection handed over by schema.migrate."""

from __future__ import annotations

from alembic import context

from sync.server.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through sync.server.schema.migrate(engine)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
