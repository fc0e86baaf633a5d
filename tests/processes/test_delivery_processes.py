"""Exactly-once delivery across real processes: SIGKILL mid fan-out, concurrent ticks,
scheduler leadership moving to another process when the leader dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.sandbox.fake_slack import FakeSlack, FakeUser
from storage.db import Database
from storage.models import Delivery, DeliveryStatus
from tests.factories import add_participant, make_circle, utc, weekly

pytestmark = pytest.mark.slow

AT = "2026-12-07T09:00:30Z"
CONCURRENCY = 4


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(team_id="T1") as fake:
        yield fake


def seed(db_url: str, fake: FakeSlack, people: int) -> list[str]:
    user_ids = [f"UP{i:04d}" for i in range(people)]
    for i, user_id in enumerate(user_ids):
        fake.add_user(FakeUser(id=user_id, name=f"p{i}", tz="Europe/London"))
    db = Database(db_url)
    with db.session() as s:
        circle = make_circle(s)
        for user_id in user_ids:
            add_participant(s, circle, user_id, "Europe/London")
        weekly(s, circle, "checkin", 0, "09:00", created_at=utc(2026, 12, 4))
    db.dispose()
    return user_ids


def tick(fake: FakeSlack, db_url: str, cwd: Path, **env: str) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    full_env.update(
        SLACK_BOT_TOKEN=fake.bot_token,
        SLACK_API_URL=fake.api_url,
        DATABASE_URL=db_url,
        SEND_CONCURRENCY=str(CONCURRENCY),
        DELIVERY_LEASE_SECONDS="2",
        **env,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "tick", "--at", AT],
        env=full_env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def delivered(fake: FakeSlack) -> Counter[str]:
    return Counter(
        str(c.args["channel"]) for c in fake.calls_to("chat.postMessage") if c.status == 200
    )


def statuses(db_url: str) -> Counter[str]:
    db = Database(db_url)
    with db.session() as s:
        result = Counter(d.status for d in s.exec(select(Delivery)).all())
    db.dispose()
    return result


def test_sigkill_mid_fan_out_then_restart_loses_nobody(
    fake: FakeSlack, db_url: str, tmp_path: Path
) -> None:
    """The code takes the at-least-once side of the crash window (see bot/delivery/engine.py)."""
    people = seed(db_url, fake, 60)
    fake.set_rate_limit("chat.postMessage", 10, per_seconds=1)  # slow the fan-out down
    first = tick(fake, db_url, tmp_path)
    deadline = time.monotonic() + 60
    while sum(delivered(fake).values()) < 15:
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    before_restart = delivered(fake)
    assert 15 <= sum(before_restart.values()) < len(people)  # killed mid fan-out

    time.sleep(2.2)  # the dead process's leases (2 s) run out
    fake.clear_rate_limits()
    second = tick(fake, db_url, tmp_path)
    output, _ = second.communicate(timeout=60)
    assert second.returncode == 0, output

    counts = delivered(fake)
    assert set(counts) == set(people), "somebody lost their check-in"
    duplicates = sum(counts.values()) - len(people)
    assert duplicates <= CONCURRENCY, f"{duplicates} duplicates; at most the sends in flight"
    assert statuses(db_url) == Counter({DeliveryStatus.SENT: len(people)})
    print(f"SIGKILL after {sum(before_restart.values())} sends: {duplicates} duplicate(s)")


def test_two_concurrent_tick_processes_send_one_message_each(
    fake: FakeSlack, db_url: str, tmp_path: Path
) -> None:
    people = seed(db_url, fake, 40)
    processes = [tick(fake, db_url, tmp_path) for _ in range(2)]
    outputs = [p.communicate(timeout=60)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert delivered(fake) == Counter({user_id: 1 for user_id in people})
    assert statuses(db_url) == Counter({DeliveryStatus.SENT: 40})
    sent = [int(o.split("sent ")[1].split(";")[0]) for o in outputs]
    assert sum(sent) == 40


def test_tick_refuses_an_instant_without_a_zone(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "tick", "--at", "2026-12-07T14:00:00"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "has no time zone; add Z for UTC, e.g. 2026-12-07T14:00:00Z" in result.stderr


LOCK_HOLDER = """
import sys, time
from bot.core.scheduler import PostgresLeadership
from storage.db import Database
leader = PostgresLeadership(Database(sys.argv[1]))
assert leader.acquire()
print("leader", flush=True)
time.sleep(600)
"""


def test_scheduler_leadership_moves_when_the_leader_dies(postgres_url: str) -> None:
    from bot.core.scheduler import PostgresLeadership

    db_url = postgres_url
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, db_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "leader"
        follower = PostgresLeadership(Database(db_url))
        assert not follower.acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not follower.acquire():
            assert time.monotonic() < deadline, "the lock was not released by the dead leader"
            time.sleep(0.2)
        assert follower.acquire()  # and it stays the leader
        follower.release()
    finally:
        if holder.poll() is None:
            holder.kill()


def test_sqlite_allows_one_scheduler_per_database_file(sqlite_url: str) -> None:
    from bot.core.scheduler import FileLeadership

    first, second = FileLeadership(Database(sqlite_url)), FileLeadership(Database(sqlite_url))
    assert first.acquire() and first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_serve_delivers_due_work_by_itself(fake: FakeSlack, db_url: str, tmp_path: Path) -> None:
    """The real scheduler thread (APScheduler) ticks and sends, with the wall clock."""
    from datetime import UTC, datetime, timedelta

    from tests.processes.test_processes import free_port, stop

    fake.add_user(FakeUser(id="UNOW", name="now", tz="UTC"))
    just_now = datetime.now(UTC).replace(second=0, microsecond=0)
    db = Database(db_url)
    db.upgrade()
    with db.session() as s:
        circle = make_circle(s)
        add_participant(s, circle, "UNOW", "UTC")
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(
        SLACK_BOT_TOKEN=fake.bot_token,
        SLACK_SIGNING_SECRET=fake.signing_secret,
        SLACK_API_URL=fake.api_url,
        DATABASE_URL=db_url,
        TICK_SECONDS="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(free_port()), "--host", "127.0.0.1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        [call] = fake.wait_for(
            lambda c: c.method == "chat.postMessage" and c.args.get("channel") == "UNOW",
            timeout=30,
        )
        assert call.status == 200
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    assert statuses(db_url) == Counter({DeliveryStatus.SENT: 1})
