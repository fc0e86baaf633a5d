"""Schema, migrations and sessions on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect
from sqlmodel import select

from storage.db import Database
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import Circle, Membership, Person, Role


@pytest.fixture
def db(db_url: str):  # type: ignore[no-untyped-def]
    database = Database(db_url)
    yield database
    database.dispose()


def test_migrations_produce_exactly_the_models(db: Database) -> None:
    assert current_revision(db.engine) == head_revision(db.engine)
    # `alembic check` runs autogenerate through env.py (which leaves the search index's
    # dialect-specific objects out) and raises if the models and the database differ.
    from alembic import command

    from storage.migrate import alembic_config

    command.check(alembic_config(db.engine))


def test_downgrade_to_nothing_and_back(db: Database) -> None:
    upgrade(db.engine, "head")
    from alembic import command

    from storage.migrate import alembic_config

    command.downgrade(alembic_config(db.engine), "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    db.upgrade()
    assert {"circle", "membership", "person"} <= set(inspect(db.engine).get_table_names())


def test_every_workspace_table_carries_team_id(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert tables
    for table in tables:
        if table.startswith("reflection_answer_fts"):
            continue  # SQLite FTS5's own tables: an index of reflection_answer, which has it
        if table == "seen_request":
            continue  # signatures of accepted requests (bot/core/replay.py): no workspace's data
        columns = {c["name"] for c in inspect(db.engine).get_columns(table)}
        assert "team_id" in columns, f"{table} has no team_id"


def test_datetimes_round_trip_as_aware_utc(db: Database) -> None:
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    with db.session() as session:
        session.add(
            Circle(team_id="T1", channel_id="C1", name="x", created_by="U1", created_at=moment)
        )
    with db.session() as session:
        circle = session.exec(select(Circle)).one()
    assert circle.created_at == moment
    assert circle.created_at.tzinfo is not None and circle.created_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"), db.session() as session:
        session.add(
            Circle(
                team_id="T1",
                channel_id="C1",
                name="x",
                created_by="U1",
                created_at=datetime(2026, 1, 1),
            )
        )
    with db.session() as session:
        assert session.exec(select(Circle)).all() == []


def test_a_failing_unit_of_work_leaves_nothing_behind(db: Database) -> None:
    now = datetime.now(UTC)
    with pytest.raises(RuntimeError), db.session() as session:
        session.add(
            Circle(team_id="T1", channel_id="C1", name="x", created_by="U1", created_at=now)
        )
        session.flush()
        raise RuntimeError("crash midway")
    with db.session() as session:
        assert session.exec(select(Circle)).all() == []


def test_one_live_circle_per_channel_is_enforced_by_the_database(db: Database) -> None:
    now = datetime.now(UTC)
    with db.session() as session:
        session.add(
            Circle(team_id="T1", channel_id="C1", name="a", created_by="U1", created_at=now)
        )
    with pytest.raises(Exception, match=r"(?i)unique"), db.session() as session:
        session.add(
            Circle(team_id="T1", channel_id="C1", name="b", created_by="U1", created_at=now)
        )
    # Another workspace may use the same channel id; an archived circle does not count.
    with db.session() as session:
        session.add(
            Circle(team_id="T2", channel_id="C1", name="c", created_by="U1", created_at=now)
        )
        first = session.exec(select(Circle).where(Circle.name == "a")).one()
        first.archived_at = now
    with db.session() as session:
        session.add(
            Circle(team_id="T1", channel_id="C1", name="d", created_by="U1", created_at=now)
        )


def test_concurrent_writers_from_threads_do_not_fail(db: Database) -> None:
    """Read-then-write transactions from 8 threads (BEGIN IMMEDIATE + busy timeout on SQLite)."""
    now = datetime.now(UTC)
    with db.session() as session:
        circle = Circle(team_id="T1", channel_id="C1", name="x", created_by="U0", created_at=now)
        session.add(circle)
        session.flush()
        circle_id = circle.id
    errors: list[BaseException] = []

    def worker(thread: int) -> None:
        for i in range(25):
            try:
                with db.session() as session:
                    existing = session.exec(
                        select(Membership).where(Membership.circle_id == circle_id)
                    ).all()
                    session.add(
                        Membership(
                            team_id="T1",
                            circle_id=circle_id,  # type: ignore[arg-type]
                            user_id=f"U{thread}X{i}",
                            role=Role.PARTICIPANT if len(existing) % 2 else Role.LEADER,
                            added_by="U0",
                            added_at=now,
                        )
                    )
                    session.merge(Person(team_id="T1", user_id=f"U{thread}", refreshed_at=now))
            except BaseException as exc:  # collect, don't hide
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.session() as session:
        assert len(session.exec(select(Membership)).all()) == 200


def test_healthcheck(db: Database) -> None:
    assert db.is_reachable()
    broken = Database("postgresql://postgres@127.0.0.1:1/none")
    assert not broken.is_reachable()
    broken.dispose()


def test_processes_starting_together_on_postgresql_migrate_once(pg_template: str) -> None:
    """Four processes upgrade one empty database at once: the migration lock lets one migrate
    and the others find the schema current (without it, one fails on a duplicate index)."""
    import subprocess
    import sys
    import uuid

    from sqlalchemy import create_engine, text

    from tests.conftest import _admin_url, _pg_url_for

    del pg_template  # only for its check that PostgreSQL is available (and CI's fail-not-skip)
    name = f"circlebot_race_{uuid.uuid4().hex[:8]}"
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        code = (
            "from storage.db import Database; "
            f"Database({_pg_url_for(name)!r}).upgrade(); print('migrated')"
        )
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", code],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        results = [process.communicate(timeout=120) for process in processes]
        assert [out.strip() for out, _err in results] == ["migrated"] * 4, results
        database = Database(_pg_url_for(name))
        assert current_revision(database.engine) == head_revision(database.engine)
        database.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
