"""Database engine, sessions, health and schema upgrades.

One `Database` per process. Every Slack request and every job opens exactly one session
through `Database.session()`, which commits on success and rolls back on any error, so a
failure midway never leaves half-written rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from storage.migrate import upgrade

logger = logging.getLogger(__name__)

READ_ONLY_OPTION = "circlebot_read_only"


class DatabaseUrlError(ValueError):
    """DATABASE_URL names a database this project cannot use."""


def normalise_url(raw: str) -> URL:
    """Parse DATABASE_URL, choosing the psycopg 3 driver for PostgreSQL URLs."""
    try:
        url = make_url(raw)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a long message
        raise DatabaseUrlError("expected sqlite:///path.db or postgresql://user@host/db") from exc
    backend = url.get_backend_name()
    if backend in ("postgres", "postgresql"):
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if url.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise DatabaseUrlError("SQLite URLs use the built-in driver: sqlite:///path.db")
        return url
    raise DatabaseUrlError(
        f"unsupported database {backend!r}; use sqlite:///path.db or postgresql://user@host/db"
    )


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout and BEGIN IMMEDIATE so threads can write concurrently.

    `secure_delete` overwrites what a delete or an update frees with zeros, so text cleared
    by retention or forget-me does not linger in the file's free space (many builds have it
    on already; this makes it so everywhere).

    pysqlite's own transaction handling is switched off (isolation_level=None) and every
    transaction starts with BEGIN IMMEDIATE: a read-then-write transaction started with a
    plain BEGIN gets SQLITE_BUSY at once instead of waiting (see docs/architecture.md).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Read-only sessions start deferred: in WAL mode readers never wait for the writer.
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(raw_url: str) -> Engine:
    """The engine for DATABASE_URL.

    `hide_parameters`: a database error's message (and SQLAlchemy's own logging) shows the
    statement but not its bound values, which are what people wrote (answers, action items).
    """
    url = normalise_url(raw_url)
    if url.get_backend_name() == "sqlite":
        in_memory = url.database in (None, "", ":memory:")
        if not in_memory and url.database:
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 5, "check_same_thread": False},
            poolclass=StaticPool if in_memory else None,
            hide_parameters=True,
            **({} if in_memory else {"pool_size": 20, "max_overflow": 20}),
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,  # reconnect transparently after a PostgreSQL restart
        pool_size=10,
        max_overflow=10,
        connect_args={"connect_timeout": 3},
        hide_parameters=True,
    )


class Database:
    def __init__(self, raw_url: str) -> None:
        self.url = normalise_url(raw_url)
        self.engine = make_engine(raw_url)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for logs."""
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commit when the block ends, roll back if it raises."""
        session = Session(self.engine, expire_on_commit=False)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reading only: on SQLite it does not take the write lock."""
        session = Session(
            self.engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False
        )
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def is_reachable(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception as exc:
            # One line per failed probe: health checks keep asking all through an outage.
            reason = str(getattr(exc, "orig", None) or exc).splitlines()
            logger.warning(
                "database %s is not reachable: %s",
                self.safe_url,
                reason[0] if reason else type(exc).__name__,
            )
            logger.debug("database unreachable", exc_info=True)
            return False

    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
