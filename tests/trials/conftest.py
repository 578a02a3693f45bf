"""The real sync server fixtures, shared with the sync tests."""

from tests.sync.conftest import database_url, pg_schema, server  # noqa: F401
