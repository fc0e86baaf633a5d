"""The database goes away in the middle of a fan-out, then comes back.

First for real: PostgreSQL stops under a running `circlebot serve` and starts again.
The machine's shared PostgreSQL is never touched: the test runs its own throwaway cluster
(initdb into a temporary directory, pg_ctl on a free port; as root, through the `postgres`
account, because initdb refuses to run as root), and stops and starts that one for real.

What must hold: /healthz says the database is gone (503, "degraded") and back (200); the
scheduler survives the failed ticks and takes the advisory lock again on a new connection
(the old one died with the server); and in the end every check-in was sent exactly once: the
messages Slack accepted while the database was down are recorded as sent when it is back, not
sent again.

Then, in process and on both databases, the two places a fan-out touches the database while
messages are in flight, with the failure injected: recording outcomes, and reading what was
just claimed.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from bot.app import make_deliverer
from bot.core.scheduler import ADVISORY_LOCK_KEY, PostgresLeadership
from bot.delivery import engine as delivery_module
from bot.delivery.engine import Deliverer, DeliveryConfig, _GroupWriter
from bot.sandbox.fake_slack import FakeSlack
from storage.db import Database
from storage.models import DeliveryStatus
from tests.bot.delivery.test_engine import MONDAY_0900_LONDON, deliveries, dms_to, set_up_checkin
from tests.conftest import IN_CI
from tests.harness import ANA, BEN, BotHarness
from tests.processes.test_processes import free_port
from tests.reliability.test_server_kill import (
    Output,
    delivered,
    seed_checkin_due_now,
    start_serve,
    statuses,
    stop_serve,
    wait_until,
)

pytestmark = pytest.mark.slow

PEOPLE = 40


def _postgres_bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return versions[-1].parent if versions else None


class PrivatePostgres:
    """A PostgreSQL cluster of our own, in a temporary directory, on a free port."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        # Not under pytest's tmp_path: as root that is private to root, and the server runs
        # as `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="circlebot-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")  # KeyError: no such account
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [*self._as, str(self.bin_dir / tool), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr.strip()}")

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: like a restart by the operator, every session is cut off at once."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _postgres_bin_dir()
    reason = None if bin_dir else "no PostgreSQL server binaries (pg_ctl, initdb) found"
    cluster = None
    if bin_dir is not None:
        try:
            cluster = PrivatePostgres(bin_dir)
            cluster.init()
            cluster.start()
        except (OSError, KeyError, RuntimeError, subprocess.TimeoutExpired) as exc:
            reason = f"could not start a private PostgreSQL cluster: {exc}"
    if reason is not None:
        if cluster is not None:
            cluster.destroy()
        if IN_CI:
            pytest.fail(f"CI=true requires the database outage test to run: {reason}")
        pytest.skip(reason)
    assert cluster is not None
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(team_id="T1") as fake:
        yield fake


def health(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, {}  # not listening yet


def test_postgres_restart_mid_fan_out_loses_and_duplicates_nothing(
    private_postgres: PrivatePostgres, fake: FakeSlack, tmp_path: Path
) -> None:
    db_url = private_postgres.url
    people = seed_checkin_due_now(db_url, fake, PEOPLE)
    fake.set_rate_limit("chat.postMessage", 10, per_seconds=1)  # a fan-out of a few seconds
    port = free_port()
    # Leases long enough to outlast the outage: the bot waits that long to record outcomes.
    serve = start_serve(fake, db_url, tmp_path, port, DELIVERY_LEASE_SECONDS="20")
    log = Output(serve)
    try:
        wait_until(lambda: health(port)[0] == 200, "/healthz answering 200", process=serve, log=log)
        wait_until(
            lambda: sum(delivered(fake).values()) >= 5, "the first sends", process=serve, log=log
        )

        private_postgres.stop()  # mid fan-out: some sends are in flight, most are to come
        assert sum(delivered(fake).values()) < len(people), "the fan-out ended before the outage"
        wait_until(
            lambda: health(port) == (503, {"status": "degraded", "database": False}),
            "/healthz reporting the outage",
            process=serve,
            log=log,
        )
        wait_until(
            lambda: "delivery updates wait for it" in log.text,
            "the fan-out's writer waiting for the database",
            process=serve,
            log=log,
        )
        private_postgres.start()
        wait_until(
            lambda: health(port) == (200, {"status": "ok", "database": True}),
            "/healthz reporting the recovery",
            process=serve,
            log=log,
        )
        fake.clear_rate_limits()
        wait_until(
            lambda: statuses(db_url) == Counter({DeliveryStatus.SENT: len(people)}),
            "every delivery recorded as sent",
            process=serve,
            log=log,
        )
        wait_until(
            lambda: log.text.count("this process is now the scheduler") == 2,
            "the scheduler taking the advisory lock again",
            process=serve,
            log=log,
        )
    finally:
        stop_serve(serve)
    output = log.finish()
    assert serve.returncode == 0, output
    assert delivered(fake) == Counter({user_id: 1 for user_id in people}), output


# --- in process, failure injected ---------------------------------------------------------


def unreachable() -> OperationalError:
    return OperationalError("UPDATE delivery", {}, Exception("server closed the connection"))


def deliverer_with_wall_clock(
    bot: BotHarness, lease: timedelta
) -> tuple[Deliverer, list[datetime]]:
    wall = [datetime.now(UTC)]
    deliverer = make_deliverer(
        bot.db,
        bot.services.client,
        config=DeliveryConfig(lease=lease),
        clock=lambda: wall[0],
    )
    return deliverer, wall


def test_outcomes_wait_for_the_database_instead_of_being_sent_again(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_up_checkin(bot, (ANA, "Europe/London"), (BEN, "Europe/London"))
    deliverer, _wall = deliverer_with_wall_clock(bot, timedelta(seconds=30))
    write_once = _GroupWriter._write_once
    failures = [3]  # the database is away for the first outcomes written

    def flaky(writer: _GroupWriter, batch: list[Any]) -> None:
        if failures[0] and any(op.kind == "record" for op in batch):
            failures[0] -= 1
            raise unreachable()
        write_once(writer, batch)

    monkeypatch.setattr(_GroupWriter, "_write_once", flaky)
    report = deliverer.tick(MONDAY_0900_LONDON)
    assert (report.sent, report.failed, report.retrying) == (2, 0, 0)
    assert failures == [0]
    assert {r.status for r in deliveries(bot)} == {DeliveryStatus.SENT}
    assert deliverer.tick(MONDAY_0900_LONDON).sent == 0
    assert len(dms_to(bot, ANA)) == 1 and len(dms_to(bot, BEN)) == 1


def test_a_database_away_longer_than_the_lease_ends_the_tick_and_the_claim_is_retaken(
    sqlite_bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the lease the writer gives up (another sender may own the row by then), and the
    at-least-once rule applies: the message is sent again once the lease has run out."""
    bot = sqlite_bot
    set_up_checkin(bot, (ANA, "Europe/London"))
    deliverer, wall = deliverer_with_wall_clock(bot, timedelta(seconds=0.3))
    write_once = _GroupWriter._write_once

    def down_for_outcomes(writer: _GroupWriter, batch: list[Any]) -> None:
        if any(op.kind == "record" for op in batch):
            raise unreachable()
        write_once(writer, batch)

    monkeypatch.setattr(_GroupWriter, "_write_once", down_for_outcomes)
    with pytest.raises(OperationalError):
        deliverer.tick(MONDAY_0900_LONDON)
    monkeypatch.undo()
    [row] = deliveries(bot)
    assert row.status == DeliveryStatus.SENDING  # claimed, sent, outcome lost
    wall[0] += timedelta(seconds=1)
    assert deliverer.tick(MONDAY_0900_LONDON).sent == 1
    assert len(dms_to(bot, ANA)) == 2  # the documented duplicate of the crash window
    assert [r.status for r in deliveries(bot)] == [DeliveryStatus.SENT]


def test_a_database_error_while_reading_claimed_deliveries_fails_none_of_them(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_up_checkin(bot, (ANA, "Europe/London"), (BEN, "Europe/London"))
    deliverer, wall = deliverer_with_wall_clock(bot, timedelta(seconds=60))
    load = delivery_module._load_for_building

    def away(session: Any, ids: list[int]) -> Any:
        raise unreachable()

    monkeypatch.setattr(delivery_module, "_load_for_building", away)
    with pytest.raises(OperationalError):
        deliverer.tick(MONDAY_0900_LONDON)
    monkeypatch.setattr(delivery_module, "_load_for_building", load)
    assert {r.status for r in deliveries(bot)} == {DeliveryStatus.SENDING}  # none failed
    assert bot.calls("chat.postMessage") == []
    wall[0] += timedelta(seconds=61)  # the claims' lease runs out: a later tick sends them
    assert deliverer.tick(MONDAY_0900_LONDON).sent == 2
    assert {r.status for r in deliveries(bot)} == {DeliveryStatus.SENT}
    assert len(dms_to(bot, ANA)) == 1 and len(dms_to(bot, BEN)) == 1


def lock_holder(admin: Connection) -> tuple[int, str] | None:
    """The session holding the scheduler's advisory lock in this database, and its state."""
    row = admin.execute(
        text(
            "SELECT l.pid, a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND ((l.classid::bigint << 32) | l.objid::bigint) = :key"
        ),
        {"key": ADVISORY_LOCK_KEY},
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))


def test_the_scheduler_takes_its_lock_again_at_once_when_its_session_is_cut(
    postgres_url: str,
) -> None:
    """What a PostgreSQL restart does to the leader, on the shared server: its session ends
    (pg_terminate_backend, as a fast shutdown does) and the lock with it."""
    db = Database(postgres_url)
    leader = PostgresLeadership(db)
    try:
        with db.engine.connect() as admin:
            admin.execution_options(isolation_level="AUTOCOMMIT")
            assert leader.acquire() and leader.acquire()
            holder = lock_holder(admin)
            assert holder is not None
            pid, state = holder
            # Between ticks the lock's session is idle, not "idle in transaction" (which
            # idle_in_transaction_session_timeout would end, taking leadership with it).
            assert state == "idle"
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            # The next tick notices and takes the lock again on a new session, without
            # skipping a turn.
            assert leader.acquire()
            new_holder = lock_holder(admin)
            assert new_holder is not None and new_holder[0] != pid
            assert new_holder[1] == "idle"
    finally:
        leader.release()
        db.dispose()
