"""Alembic migrations of the provincial server's database."""
