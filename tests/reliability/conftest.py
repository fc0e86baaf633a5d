"""Fixtures of the reliability suite: Hypothesis profiles, and one bot per module and database.

Fuzz tests run many examples through the real HTTP path; starting a bot (and cloning a
PostgreSQL database) per example would cost seconds, so those modules share one bot per
database (`shared_bot`) and write properties that hold whatever state earlier examples left.

Hypothesis: `deadline=None` (an example is a signed HTTP round trip, its time varies with the
machine) and, in CI, `derandomize=True` with no example database, so a CI run is repeatable.
Locally the examples are random on each run; `python -m bench.fuzz` runs the same properties
with many more examples.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.conftest import IN_CI, fresh_postgres_database
from tests.harness import BotHarness, FakeClock

PROFILE = "reliability-ci" if IN_CI else "reliability"
settings.register_profile(
    "reliability",
    deadline=None,
    database=None,  # no .hypothesis directory in the project
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("reliability-ci", settings.get_profile("reliability"), derandomize=True)


def fuzz_settings(max_examples: int) -> settings:
    """The suite's settings with `max_examples` (kept modest: the suite has a time budget)."""
    return settings(settings.get_profile(PROFILE), max_examples=max_examples)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A freshly migrated database of each kind, for the whole module."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path_factory.mktemp("reliability") / "circlebot.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    with fresh_postgres_database(request.getfixturevalue("pg_template")) as url:
        yield url


@pytest.fixture(scope="module")
def shared_clock(shared_db_url: str) -> FakeClock:
    """The bot's clock, fresh for each database (tests of a module may move it)."""
    return FakeClock()


@pytest.fixture(scope="module")
def shared_bot(shared_db_url: str, shared_clock: FakeClock) -> Iterator[BotHarness]:
    """One bot (Bolt behind waitress, fake Slack) per module and database."""
    with BotHarness.running(shared_db_url, shared_clock) as harness:
        yield harness
