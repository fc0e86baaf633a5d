"""full-text search of reflection answers (the learnings library)

The index lives in the database and follows `reflection_answer` by itself, so every writer
(the reflection modal, an edit, forget-me deleting rows, retention setting `text` to NULL) keeps
it in step without calling anything:

- SQLite: an FTS5 external-content table `reflection_answer_fts` (rowid = reflection_answer.id;
  it stores only the index, the text stays in reflection_answer) kept in step by three
  triggers. Words are split by unicode61, case and diacritics folded, no stemming.
- PostgreSQL: a GIN index on the expression to_tsvector('circlebot_search', text), a text
  search configuration made here: `simple` (lower case, no stemming, no stop words, like
  SQLite) with diacritics removed through the unaccent extension where the server has it.
  Queries must use exactly that expression. The extension stays on downgrade (others may use it).

Every answer is indexed whatever its kind; bot/reflections/learnings.py searches only the written kinds.
Neither object is in the models: storage/migrations/env.py leaves them out of autogenerate.

Careful in later migrations: on SQLite a batch_alter_table of reflection_answer recreates the
table, which drops these triggers; recreate them (and run 'rebuild') in that migration.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

"""
from typing import Sequence, Union

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

logger = logging.getLogger(__name__)


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FTS = 'reflection_answer_fts'
PG_INDEX = 'ix_reflection_answer_search'
PG_CONFIG = 'circlebot_search'

SQLITE_UPGRADE = (
    f"""
    CREATE VIRTUAL TABLE {FTS} USING fts5(
        text,
        content='reflection_answer',
        content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )
    """,
    # An external-content index must be told the old text to forget it, so each change
    # removes the old row's words before adding the new ones (one trigger: a fixed order).
    f"""
    CREATE TRIGGER {FTS}_insert AFTER INSERT ON reflection_answer BEGIN
        INSERT INTO {FTS}(rowid, text) VALUES (new.id, new.text);
    END
    """,
    f"""
    CREATE TRIGGER {FTS}_delete AFTER DELETE ON reflection_answer BEGIN
        INSERT INTO {FTS}({FTS}, rowid, text) VALUES ('delete', old.id, old.text);
    END
    """,
    f"""
    CREATE TRIGGER {FTS}_update AFTER UPDATE ON reflection_answer BEGIN
        INSERT INTO {FTS}({FTS}, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO {FTS}(rowid, text) VALUES (new.id, new.text);
    END
    """,
    # Answers written before this revision.
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
)

SQLITE_DOWNGRADE = (
    f"DROP TRIGGER IF EXISTS {FTS}_update",
    f"DROP TRIGGER IF EXISTS {FTS}_delete",
    f"DROP TRIGGER IF EXISTS {FTS}_insert",
    f"DROP TABLE IF EXISTS {FTS}",
)


def _require_fts5() -> None:
    options = {row[0] for row in op.get_bind().exec_driver_sql('PRAGMA compile_options')}
    if 'ENABLE_FTS5' not in options:
        raise RuntimeError(
            'This SQLite library was built without FTS5, which the learnings search needs. '
            'Use a Python whose sqlite3 has FTS5 (the official builds do), or PostgreSQL.'
        )


def upgrade() -> None:
    """Upgrade schema."""
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        _require_fts5()
        for statement in SQLITE_UPGRADE:
            op.execute(statement)
    elif dialect == 'postgresql':
        op.execute(f"CREATE TEXT SEARCH CONFIGURATION {PG_CONFIG} (COPY = simple)")
        if _unaccent_installed():
            op.execute(
                f"ALTER TEXT SEARCH CONFIGURATION {PG_CONFIG} "
                "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple"
            )
        op.execute(
            f"CREATE INDEX {PG_INDEX} ON reflection_answer "
            f"USING gin (to_tsvector('{PG_CONFIG}'::regconfig, text))"
        )


def _unaccent_installed() -> bool:
    """Install unaccent if the server ships it and we may; searching still works without."""
    bind = op.get_bind()
    shipped = bind.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'"
    ).first()
    if shipped is not None:
        try:
            with bind.begin_nested():  # a refusal (privileges) must not abort the migration
                bind.exec_driver_sql('CREATE EXTENSION IF NOT EXISTS unaccent')
        except DBAPIError:
            logger.warning('could not create the unaccent extension: search keeps accents')
    installed = bind.exec_driver_sql(
        "SELECT 1 FROM pg_extension WHERE extname = 'unaccent'"
    ).first()
    return installed is not None


def downgrade() -> None:
    """Downgrade schema."""
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        for statement in SQLITE_DOWNGRADE:
            op.execute(statement)
    elif dialect == 'postgresql':
        op.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
        op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {PG_CONFIG}")
