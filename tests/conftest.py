"""Shared fixtures: a fresh database per test, the fake Slack, and the real bot over HTTP.

Databases: every test that asks for `db_url` runs on SQLite and, when TEST_DATABASE_URL
names a PostgreSQL server (an admin connection, e.g. postgresql://postgres@127.0.0.1/postgres),
on PostgreSQL too. With CI=true a PostgreSQL run that cannot happen is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from storage.db import Database
from tests.harness import BotHarness, FakeClock
from tests.in_process import InProcessBot

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "")


def _pg_unavailable_reason() -> str | None:
    if not PG_ADMIN_URL:
        return "TEST_DATABASE_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/postgres)"
    try:
        engine = create_engine(_admin_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at TEST_DATABASE_URL is not reachable: {exc}"
    return None


def _admin_url() -> str:
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _pg_url_for(database: str) -> str:
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    reason = _pg_unavailable_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true requires the PostgreSQL tests to run: {reason}")
        pytest.skip(reason)
    name = f"circlebot_tmpl_{uuid.uuid4().hex[:8]}"
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(_pg_url_for(name))
    db.upgrade()
    db.dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def fresh_postgres_database(template: str) -> Iterator[str]:
    name = f"circlebot_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _pg_url_for(name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "circlebot.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    with fresh_postgres_database(request.getfixturevalue("pg_template")) as url:
        yield url


@pytest.fixture
def postgres_url(pg_template: str) -> Iterator[str]:
    """Only PostgreSQL, for what only PostgreSQL has (advisory locks)."""
    with fresh_postgres_database(pg_template) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """Only SQLite, for tests of behaviour that does not depend on the database."""
    path = tmp_path / "circlebot.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bot(db_url: str, clock: FakeClock) -> Iterator[BotHarness]:
    """The whole bot (Bolt app behind waitress) talking to a fresh fake Slack."""
    with BotHarness.running(db_url, clock) as harness:
        yield harness


@pytest.fixture
def sqlite_bot(sqlite_url: str, clock: FakeClock) -> Iterator[BotHarness]:
    with BotHarness.running(sqlite_url, clock) as harness:
        yield harness


@pytest.fixture
def in_process_bot(db_url: str, clock: FakeClock) -> Iterator[InProcessBot]:
    """The same bot and fake Slack, with requests dispatched in process (no HTTP server)."""
    with InProcessBot.running(db_url, clock) as harness:
        yield harness


@pytest.fixture
def sqlite_in_process_bot(sqlite_url: str, clock: FakeClock) -> Iterator[InProcessBot]:
    with InProcessBot.running(sqlite_url, clock) as harness:
        yield harness
