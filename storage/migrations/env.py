"""Alembic environment: migrations run against the engine handed over by storage.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata

# The full-text search index of migration 0005 is not in the models: the SQLite FTS5 table
# (with the shadow tables FTS5 creates beside it, named <table>_data, _idx, ...) and the
# PostgreSQL expression index. Autogenerate must neither drop them nor report them.
SEARCH_INDEX_TABLE = "reflection_answer_fts"
SEARCH_INDEX = "ix_reflection_answer_search"

# Several processes may start at once on a new release (two `tick`s, a `serve` and a cron
# job). On PostgreSQL they take this transaction-level advisory lock first, so one migrates
# and the others then find the schema current. (SQLite's BEGIN IMMEDIATE already serialises.)
MIGRATION_LOCK_KEY = 0x43424D4947  # "CBMIG"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's filter on what it reflects from the database."""
    if name is None:
        return True
    if type_ == "table":
        return name != SEARCH_INDEX_TABLE and not name.startswith(SEARCH_INDEX_TABLE + "_")
    if type_ == "index":
        return name != SEARCH_INDEX
    return True


def run_migrations() -> None:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            include_name=include_name,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            context.run_migrations()
        connection.commit()


run_migrations()
