"""`circlebot serve` killed with SIGKILL while its scheduler is sending, then restarted.

The tick variant is in tests/processes/test_delivery_processes.py; here the sends come from the real
scheduler thread of a serving process. The crash window resolves to at-least-once (see
bot/delivery/engine.py): everyone gets their check-in, and a duplicate is possible only for the
sends that were in flight at the kill (at most SEND_CONCURRENCY of them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.sandbox.fake_slack import FakeSlack, FakeUser
from storage.db import Database
from storage.models import DeliveryStatus
from tests.factories import add_participant, make_circle, weekly
from tests.processes.test_delivery_processes import delivered, statuses
from tests.processes.test_processes import free_port

pytestmark = pytest.mark.slow

CONCURRENCY = 4
PEOPLE = 40


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(team_id="T1") as fake:
        yield fake


def seed_checkin_due_now(db_url: str, fake: FakeSlack, people: int) -> list[str]:
    """`people` participants whose weekly check-in is due this very minute (wall clock)."""
    user_ids = [f"UR{i:04d}" for i in range(people)]
    for i, user_id in enumerate(user_ids):
        fake.add_user(FakeUser(id=user_id, name=f"r{i}", tz="UTC"))
    just_now = datetime.now(UTC).replace(second=0, microsecond=0)
    db = Database(db_url)
    db.upgrade()
    with db.session() as s:
        circle = make_circle(s)
        for user_id in user_ids:
            add_participant(s, circle, user_id, "UTC")
        weekly(
            s,
            circle,
            "checkin",
            just_now.weekday(),
            f"{just_now:%H:%M}",
            created_at=just_now - timedelta(days=1),
            anchor=just_now.date(),
        )
    db.dispose()
    return user_ids


def start_serve(
    fake: FakeSlack, db_url: str, cwd: Path, port: int, **env: str
) -> subprocess.Popen[str]:
    """`circlebot serve` ticking every second, with short leases so a restart takes over soon."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    full_env.update(
        SLACK_BOT_TOKEN=fake.bot_token,
        SLACK_SIGNING_SECRET=fake.signing_secret,
        SLACK_API_URL=fake.api_url,
        DATABASE_URL=db_url,
        TICK_SECONDS="1",
        SEND_CONCURRENCY=str(CONCURRENCY),
        DELIVERY_LEASE_SECONDS="2",
    )
    full_env.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port), "--host", "127.0.0.1"],
        env=full_env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class Output:
    """A process's output, collected as it comes (a pipe nobody reads would block it)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self._stream = process.stdout
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            with self._lock:
                self._lines.append(line)

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def finish(self) -> str:
        """All of it, once the process has ended."""
        self._thread.join(timeout=15)
        return self.text


def stop_serve(process: subprocess.Popen[str]) -> None:
    """SIGTERM, and SIGKILL if it has not stopped within 15 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_until(
    condition: Callable[[], bool],
    what: str,
    *,
    process: subprocess.Popen[str],
    log: Output,
    timeout: float = 60,
) -> None:
    """Poll `condition` until it holds; fail saying what did not happen, with the log."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"serve exited ({process.returncode}) before {what}:\n{log.finish()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s:\n{log.text}")
        time.sleep(0.05)


def all_sent(db_url: str, people: list[str], fake: FakeSlack) -> bool:
    return set(delivered(fake)) == set(people) and statuses(db_url) == Counter(
        {DeliveryStatus.SENT: len(people)}
    )


def test_serve_killed_mid_fan_out_then_restarted_loses_nobody(
    fake: FakeSlack, db_url: str, tmp_path: Path
) -> None:
    people = seed_checkin_due_now(db_url, fake, PEOPLE)
    fake.set_rate_limit("chat.postMessage", 10, per_seconds=1)  # a fan-out of a few seconds
    first = start_serve(fake, db_url, tmp_path, free_port())
    log = Output(first)
    try:
        wait_until(
            lambda: sum(delivered(fake).values()) >= 10,
            "the first sends",
            process=first,
            log=log,
        )
    finally:
        first.kill()  # SIGKILL: no chance to record anything
        first.wait(timeout=10)
    before_restart = delivered(fake)
    assert 10 <= sum(before_restart.values()) < len(people), log.finish()  # mid fan-out

    fake.clear_rate_limits()
    second = start_serve(fake, db_url, tmp_path, free_port())
    log = Output(second)
    try:
        # The restarted scheduler sends what is pending and, once the dead process's leases
        # (2 s) have run out, what it had claimed.
        wait_until(
            lambda: all_sent(db_url, people, fake),
            "every delivery sent",
            process=second,
            log=log,
        )
    finally:
        stop_serve(second)
    assert second.returncode == 0, log.finish()

    counts = delivered(fake)
    assert set(counts) == set(people), "somebody lost their check-in"
    duplicates = sum(counts.values()) - len(people)
    assert duplicates <= CONCURRENCY, f"{duplicates} duplicates; at most the sends in flight"
    assert all(n <= 2 for n in counts.values()), counts
    print(f"serve SIGKILLed after {sum(before_restart.values())} sends: {duplicates} duplicate(s)")
